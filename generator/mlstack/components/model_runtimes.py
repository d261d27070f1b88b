"""KServe model runtimes: a typed catalogue of ClusterServingRuntimes, each toggleable.

Every environment (KServe is everywhere). Installed after `kserve`, whose CRDs and
admission webhook must be serving first; KServe itself moved its runtimes into a separate
chart for that reason. The catalogue states the facts of each runtime (server, model
formats and versions, protocols, args) once, as data checked against KServe's own
definitions (tests/test_model_runtimes.py); images are pinned in data/versions.yaml
`images:`. Per runtime, `enabled`, `image` and `resources` are install-time values.
Args such as `--model_name={{.Name}}` are Go templates for the KServe controller and
reach the cluster literally (the chart writer escapes them for Helm).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from constructs import Construct
from pydantic import Field, create_model

from mlstack import versions
from mlstack.lib import mirror, podsecurity
from mlstack.lib.component import spec_object
from mlstack.lib.facts import Facts, ServingRuntime
from mlstack.lib.fields import ImageRef
from mlstack.lib.model import Values
from mlstack.lib.resources import resources
from mlstack.lib.slots import slot

#: KServe substitutes the InferenceService's name here when it builds the predictor.
MODEL_NAME = "--model_name={{.Name}}"


@dataclass(frozen=True)
class Format:
    """A model format a runtime serves; auto_select/priority None = not declared."""

    name: str
    version: str
    auto_select: bool | None = True
    priority: int | None = 1

    def spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "version": self.version}
        if self.auto_select is not None:
            out["autoSelect"] = self.auto_select
        if self.priority is not None:
            out["priority"] = self.priority
        return out


@dataclass(frozen=True)
class Runtime:
    key: str  # values key and file name
    name: str  # ClusterServingRuntime name, as KServe names it
    server_type: str
    image: str  # key of versions.yaml images:
    formats: tuple[Format, ...]
    protocols: tuple[str, ...]
    args: tuple[str, ...] = ()
    command: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    metrics_port: str = "8080"
    run_as_user: int | None = None
    #: /dev/shm as an in-memory volume (tokenizers and torch workers need it).
    shm: bool = False
    description: str = ""

    def default_image(self) -> str:
        return versions.load().images[self.image].ref


def _kserve_args(*extra: str) -> tuple[str, ...]:
    """Args of KServe's own Python model servers."""
    return (MODEL_NAME, "--model_dir=/mnt/models", "--http_port=8080", *extra)


def _formats(name: str, *versions_: str, priority: int = 1) -> tuple[Format, ...]:
    return tuple(Format(name, v, priority=priority) for v in versions_)


CATALOGUE: tuple[Runtime, ...] = (
    Runtime(
        "sklearn",
        "kserve-sklearnserver",
        "sklearnserver",
        "kserve-sklearnserver",
        _formats("sklearn", "1"),
        ("v1", "v2"),
        _kserve_args(),
        description="scikit-learn (KServe sklearnserver)",
    ),
    Runtime(
        "xgboost",
        "kserve-xgbserver",
        "xgbserver",
        "kserve-xgbserver",
        _formats("xgboost", "2"),
        ("v1", "v2"),
        _kserve_args("--nthread=1"),
        description="XGBoost (KServe xgbserver)",
    ),
    Runtime(
        "lightgbm",
        "kserve-lgbserver",
        "lgbserver",
        "kserve-lgbserver",
        _formats("lightgbm", "4"),
        ("v1", "v2"),
        _kserve_args("--nthread=1"),
        description="LightGBM (KServe lgbserver)",
    ),
    Runtime(
        "tensorflow",
        "kserve-tensorflow-serving",
        "tensorflow-serving",
        "tensorflow-serving",
        _formats("tensorflow", "1", "2", priority=2),
        ("v1", "grpc-v1"),
        (
            MODEL_NAME,
            "--port=9000",
            "--rest_api_port=8080",
            "--model_base_path=/mnt/models",
            "--rest_api_timeout_in_ms=60000",
        ),
        command=("/usr/bin/tensorflow_model_server",),
        run_as_user=1000,
        description="TensorFlow Serving",
    ),
    Runtime(
        "pytorch",
        "kserve-torchserve",
        "torchserve",
        "torchserve-kfs",
        _formats("pytorch", "1", priority=2),
        ("v1", "v2", "grpc-v2"),
        (
            "torchserve",
            "--start",
            "--model-store=/mnt/models/model-store",
            "--ts-config=/mnt/models/config/config.properties",
        ),
        env=(("TS_SERVICE_ENVELOPE", "{{.Labels.serviceEnvelope}}"),),
        metrics_port="8082",
        run_as_user=1000,
        description="PyTorch (TorchServe)",
    ),
    Runtime(
        "triton",
        "kserve-tritonserver",
        "tritonserver",
        "tritonserver",
        (
            Format("tensorrt", "8"),
            Format("tensorflow", "1"),
            Format("tensorflow", "2"),
            Format("onnx", "1"),
            Format("pytorch", "1", auto_select=None, priority=None),
            Format("triton", "2"),
        ),
        ("v2", "grpc-v2"),
        (
            "tritonserver",
            "--model-store=/mnt/models",
            "--grpc-port=9000",
            "--http-port=8080",
            "--allow-grpc=true",
            "--allow-http=true",
        ),
        metrics_port="8002",
        run_as_user=1000,
        description="NVIDIA Triton Inference Server",
    ),
    Runtime(
        "mlserver",
        "kserve-mlserver",
        "mlserver",
        "mlserver",
        (
            *_formats("sklearn", "0", "1", priority=2),
            *_formats("xgboost", "1", "2", priority=2),
            *_formats("lightgbm", "3", "4", priority=2),
            *_formats("mlflow", "1", "2"),
        ),
        ("v2",),
        env=(
            ("MLSERVER_MODEL_IMPLEMENTATION", "{{.Labels.modelClass}}"),
            ("MLSERVER_HTTP_PORT", "8080"),
            ("MLSERVER_GRPC_PORT", "9000"),
        ),
        description="Seldon MLServer (sklearn, xgboost, lightgbm, mlflow; v2 protocol)",
    ),
    Runtime(
        "huggingface",
        "kserve-huggingfaceserver",
        "huggingfaceserver",
        "kserve-huggingfaceserver",
        _formats("huggingface", "1"),
        ("v2", "v1"),
        (MODEL_NAME,),
        env=(("LMCACHE_USE_EXPERIMENTAL", "True"),),
        shm=True,
        description="Hugging Face transformers (KServe huggingfaceserver)",
    ),
    Runtime(
        "pmml",
        "kserve-pmmlserver",
        "pmmlserver",
        "kserve-pmmlserver",
        _formats("pmml", "3", "4"),
        ("v1", "v2"),
        _kserve_args(),
        description="PMML (KServe pmmlserver)",
    ),
    Runtime(
        "paddle",
        "kserve-paddleserver",
        "paddleserver",
        "kserve-paddleserver",
        _formats("paddle", "2"),
        ("v1", "v2"),
        _kserve_args(),
        description="PaddlePaddle (KServe paddleserver)",
    ),
)


Resources = resources("RuntimeResources", requests=("1", "2Gi"), limits=("1", "2Gi"))


def _runtime_model(runtime: Runtime) -> type[Values]:
    return create_model(
        f"{runtime.key.capitalize()}Runtime",
        __base__=Values,
        enabled=(bool, Field(True, description=f"Register {runtime.name}.")),
        image=(
            ImageRef,
            Field(
                runtime.default_image(),
                description="Container image (default pinned in data/versions.yaml images:).",
            ),
        ),
        resources=(
            Resources,
            Field(default_factory=Resources, description="Predictor container resources."),
        ),
    )


_MODELS = {r.key: _runtime_model(r) for r in CATALOGUE}
Runtimes: type[Values] = create_model(  # type: ignore[call-overload]
    "Runtimes",
    __base__=Values,
    **{
        r.key: (_MODELS[r.key], Field(default_factory=_MODELS[r.key], description=r.description))
        for r in CATALOGUE
    },
)


class ModelRuntimesValues(Values):
    image_pull_secrets: list[dict[str, str]] = mirror.pull_secrets_field()
    runtimes: Runtimes = Field(
        default_factory=Runtimes, description="ClusterServingRuntimes, one per model server."
    )


def container(runtime: Runtime) -> dict[str, Any]:
    security: dict[str, Any] = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "privileged": False,
        "runAsNonRoot": True,
        # The runtime spec has no pod securityContext: seccomp is set per container.
        "seccompProfile": podsecurity.SECCOMP,
    }
    if runtime.run_as_user is not None:
        security["runAsUser"] = runtime.run_as_user
    out: dict[str, Any] = {
        "name": "kserve-container",
        "image": slot(f"runtimes.{runtime.key}.image"),
        "resources": slot(f"runtimes.{runtime.key}.resources"),
        "securityContext": security,
    }
    if runtime.command:
        out["command"] = list(runtime.command)
    if runtime.args:
        out["args"] = list(runtime.args)
    if runtime.env:
        out["env"] = [{"name": k, "value": v} for k, v in runtime.env]
    if runtime.shm:
        out["volumeMounts"] = [{"name": "devshm", "mountPath": "/dev/shm"}]
    return out


def spec(runtime: Runtime) -> dict[str, Any]:
    out: dict[str, Any] = {
        "annotations": {
            "prometheus.kserve.io/path": "/metrics",
            "prometheus.kserve.io/port": runtime.metrics_port,
        },
        "supportedModelFormats": [f.spec() for f in runtime.formats],
        "protocolVersions": list(runtime.protocols),
        "containers": [container(runtime)],
        "imagePullSecrets": slot("imagePullSecrets"),
    }
    if runtime.shm:
        out["hostIPC"] = False
        out["volumes"] = [{"name": "devshm", "emptyDir": {"medium": "Memory"}}]
    return out


class ModelRuntimes(Construct):
    """One ClusterServingRuntime per catalogue entry, each behind `runtimes.<key>.enabled`."""

    def __init__(self, scope: Construct, id: str = "model-runtimes") -> None:
        super().__init__(scope, id)
        for runtime in CATALOGUE:
            spec_object(
                self,
                runtime.key,
                "serving.kserve.io/v1alpha1",
                "ClusterServingRuntime",
                runtime.name,
                spec(runtime),
                when=f"runtimes.{runtime.key}.enabled",
                annotations={"serving.kserve.io/server-type": runtime.server_type},
            )


def serves(values: dict[str, Any]) -> tuple[ServingRuntime, ...]:
    """The runtimes these values register, as facts for the models' checks."""
    return tuple(
        ServingRuntime(
            name=r.name,
            formats=tuple(dict.fromkeys(f.name for f in r.formats)),
            auto_select=tuple(dict.fromkeys(f.name for f in r.formats if f.auto_select)),
            protocols=r.protocols,
        )
        for r in CATALOGUE
        if values["runtimes"][r.key]["enabled"]
    )


def derive(facts: Facts) -> dict[str, Any]:
    """Each runtime's image from environment.yaml `imageRegistry` (air-gapped clusters)."""
    secrets = mirror.glue_values(facts)
    if not facts.image_registry:
        return secrets
    return secrets | {
        "runtimes": {
            r.key: {"image": mirror.moved(r.default_image(), facts.image_registry)}
            for r in CATALOGUE
        }
    }
