"""Sample model workloads that prove the stack answers; each one toggleable.

Every environment; installed last, after the serving operators and their runtimes.
- `sklearnIris`: a KServe InferenceService on the v2 (Open Inference) protocol; its
  storage URI is a value (gs://, s3://, https://, or pvc://<claim>/<path> for a model on a
  PersistentVolumeClaim). On where KServe is enabled (derived from the environment).
- `seldonIris`: a Seldon Core v1 SeldonDeployment using the prepackaged SKLEARN_SERVER.
  On exactly where the environment's `seldon:` mode is set (derived, never typed).
- `plainServer`: no operator at all, for users who bring their own image: a Deployment
  (RollingUpdate, 25% surge/unavailable) behind a Service on port 80 (ClusterIP unless
  `serviceType: LoadBalancer`), hardened by lib/podsecurity.py. Off until an image is given.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from constructs import Construct
from pydantic import Field, create_model, model_validator

from mlstack import versions
from mlstack.errors import UserError
from mlstack.lib import helmtest, mirror, podsecurity
from mlstack.lib.component import spec_object
from mlstack.lib.facts import Facts
from mlstack.lib.fields import MAX_REPLICAS, ImageRef, Port
from mlstack.lib.model import Values
from mlstack.lib.resources import resources
from mlstack.lib.samples import RESPONSE_KEY, Protocol, Sample, request_body
from mlstack.lib.slots import slot

NAMESPACE = "models"
SELDON = "seldon-core-operator"
_URI = r"^(gs|s3|https?|pvc|hf|oci)://[^\s]+$"


def _sample(name: str, enabled: bool, what: str, uri: tuple[str, str, str]) -> type[Values]:
    """A toggleable sample: on/off and where its model is (key as in the CR, default, help)."""
    key, default, help_ = uri
    fields: dict[str, Any] = {
        "enabled": (bool, Field(enabled, description=f"Deploy {what}.")),
        key: (str, Field(default, pattern=_URI, description=help_)),
    }
    return create_model(name, __base__=Values, **fields)


SklearnIris = _sample(
    "SklearnIris",
    True,
    "the KServe InferenceService sklearn-iris (v2 protocol)",
    (
        "storage_uri",
        "gs://kfserving-examples/models/sklearn/1.0/model",
        "Where the model is: gs://, s3://, https:// or pvc://<claim>/<path>.",
    ),
)
SeldonIris = _sample(
    "SeldonIris",
    False,
    "the SeldonDeployment iris-model (on where the environment enables Seldon)",
    (
        "model_uri",
        "gs://seldon-models/v1.17.0-dev/sklearn/iris",
        "Where the scikit-learn model is (SKLEARN_SERVER loads it at start).",
    ),
)


Resources = resources("ServerResources", requests=("100m", "256Mi"), limits=("1", "1Gi"))


class PlainServer(Values):
    enabled: bool = Field(False, description="Deploy the bring-your-own-image model server.")
    image: ImageRef | Literal[""] = Field("", description="Your model server image (required).")
    replicas: int = Field(1, ge=1, le=MAX_REPLICAS, description="Pods behind the Service.")
    container_port: Port = Field(8080, description="Port the server listens on.")
    resources: Resources = Field(  # type: ignore[valid-type]
        default_factory=Resources, description="Container resources."
    )
    service_type: Literal["ClusterIP", "LoadBalancer"] = Field(
        "ClusterIP",
        description="ClusterIP (reach it through a port-forward) or LoadBalancer (public).",
    )
    health_path: str = Field(
        "/", pattern=r"^/[^\s]*$", description="HTTP path the liveness/readiness probes GET."
    )

    @model_validator(mode="after")
    def _image_when_enabled(self) -> Self:
        if self.enabled and not self.image:
            raise ValueError("image: set your model server image when plainServer.enabled")
        return self


def _curl() -> str:
    return versions.load().images["curl"].ref


class Tests(Values):
    image: ImageRef = Field(
        default_factory=_curl,
        description="Image of the `helm test` Pods that call each enabled sample in-cluster.",
    )


class ModelsValues(Values):
    image_pull_secrets: list[dict[str, str]] = mirror.pull_secrets_field()
    sklearn_iris: SklearnIris = Field(  # type: ignore[valid-type]
        default_factory=SklearnIris, description="KServe sample (v2 protocol)."
    )
    seldon_iris: SeldonIris = Field(  # type: ignore[valid-type]
        default_factory=SeldonIris, description="Seldon sample."
    )
    plain_server: PlainServer = Field(
        default_factory=PlainServer, description="Plain Deployment + LoadBalancer Service."
    )
    tests: Tests = Field(default_factory=Tests, description="`helm test` of the samples.")


_PLAIN = "model-server"
_PLAIN_LABELS = {"app.kubernetes.io/component": _PLAIN}


class Models(Construct):
    def __init__(self, scope: Construct, id: str = "models") -> None:
        super().__init__(scope, id)
        model = {
            "modelFormat": {"name": "sklearn"},
            "protocolVersion": "v2",
            "storageUri": slot("sklearnIris.storageUri"),
        }
        spec_object(
            self,
            "sklearn-iris",
            "serving.kserve.io/v1beta1",
            "InferenceService",
            "sklearn-iris",
            {
                "predictor": {
                    "automountServiceAccountToken": False,
                    "imagePullSecrets": slot("imagePullSecrets"),
                    "securityContext": {
                        "runAsNonRoot": True,
                        "seccompProfile": podsecurity.SECCOMP,
                    },
                    "model": model,
                }
            },
            when="sklearnIris.enabled",
        )
        graph = {
            "name": "classifier",
            "implementation": "SKLEARN_SERVER",
            "modelUri": slot("seldonIris.modelUri"),
        }
        predictor = {"name": "default", "replicas": 1, "graph": graph}
        spec_object(
            self,
            "iris-model",
            "machinelearning.seldon.io/v1",
            "SeldonDeployment",
            "iris-model",
            {"name": "iris", "predictors": [predictor]},
            when="seldonIris.enabled",
        )
        plain = "plainServer.enabled"
        deployment = _plain_deployment_spec()
        skips = podsecurity.checkov_skips(
            CKV_K8S_43="the image is the user's plainServer.image: a tag is accepted, a digest "
            "(image@sha256:...) pins it"
        )
        spec_object(
            self, _PLAIN, "apps/v1", "Deployment", _PLAIN, deployment, when=plain, annotations=skips
        )
        port = {
            "name": "http",
            "port": 80,
            "protocol": "TCP",
            "targetPort": slot("plainServer.containerPort"),
        }
        # The models namespace denies ingress by default (the namespaces release): the
        # plain server is a Service of its own, reached on its port from anywhere.
        allow = {
            "podSelector": {"matchLabels": _PLAIN_LABELS},
            "policyTypes": ["Ingress"],
            "ingress": [{"ports": [{"port": "http", "protocol": "TCP"}]}],
        }
        api = "networking.k8s.io/v1"
        spec_object(self, _PLAIN + "-np", api, "NetworkPolicy", _PLAIN, allow, when=plain)
        service = {
            "type": slot("plainServer.serviceType"),
            "selector": _PLAIN_LABELS,
            "ports": [port],
        }
        spec_object(self, _PLAIN + "-svc", "v1", "Service", _PLAIN, service, when=plain)
        SampleTests(self)


#: In-cluster address of each sample (the same request smoke sends through the gateway):
#: KServe's cluster-local route (Knative local gateway), Seldon's predictor Service
#: `<deployment>-<predictor>` on its REST port, the plain server's Service.
_IN_CLUSTER: tuple[tuple[str, str, Protocol, str], ...] = (
    (
        "sklearn-iris",
        "sklearnIris.enabled",
        "kserve-v2",
        f"http://sklearn-iris.{NAMESPACE}.svc.cluster.local/v2/models/sklearn-iris/infer",
    ),
    (
        "iris-model",
        "seldonIris.enabled",
        "seldon",
        f"http://iris-model-default.{NAMESPACE}.svc.cluster.local:8000/api/v1.0/predictions",
    ),
    (
        _PLAIN,
        "plainServer.enabled",
        "plain",
        f"http://{_PLAIN}.{NAMESPACE}.svc.cluster.local/predict",
    ),
)


class SampleTests(Construct):
    """`helm test models`: one Pod per enabled sample, calling it from inside the cluster."""

    def __init__(self, scope: Construct, id: str = "tests") -> None:
        super().__init__(scope, id)
        for sample, condition, protocol, url in _IN_CLUSTER:
            helmtest.request_test(
                self,
                f"test-{sample}",
                url=url,
                body=request_body(protocol),
                expect=RESPONSE_KEY[protocol],
                image_path="tests.image",
                condition=condition,
                pod={"imagePullSecrets": slot("imagePullSecrets")},
            )


def _plain_deployment_spec() -> dict[str, Any]:
    return {
        "replicas": slot("plainServer.replicas"),
        "selector": {"matchLabels": _PLAIN_LABELS},
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
        },
        "template": {
            "metadata": {"labels": _PLAIN_LABELS},
            "spec": podsecurity.hardened_pod(
                [_plain_container()], imagePullSecrets=slot("imagePullSecrets")
            ),
        },
    }


def _plain_container() -> dict[str, Any]:
    probe = {"httpGet": {"path": slot("plainServer.healthPath"), "port": "http"}}
    return {
        "name": "server",
        "image": slot("plainServer.image"),
        "imagePullPolicy": "Always",
        "ports": [
            {"name": "http", "containerPort": slot("plainServer.containerPort"), "protocol": "TCP"}
        ],
        "resources": slot("plainServer.resources"),
        "livenessProbe": {**probe, "periodSeconds": 10},
        "readinessProbe": {**probe, "periodSeconds": 5},
    }


def derive(facts: Facts) -> dict[str, Any]:
    moved = {"tests": {"image": mirror.moved(_curl(), facts.image_registry)}}
    return (
        mirror.glue_values(facts)
        | (moved if facts.image_registry else {})
        | {
            "sklearnIris": {"enabled": "kserve" in facts.enabled},
            "seldonIris": {"enabled": SELDON in facts.enabled},
        }
    )


def check(facts: Facts, values: dict[str, Any]) -> None:
    """A sample whose operator the environment lacks would be refused by the API server;
    an air-gapped cluster cannot pull the user's server from outside its registry."""
    plain, registry = values["plainServer"], facts.image_registry
    if plain["enabled"] and registry and not plain["image"].startswith(f"{registry}/"):
        raise UserError(
            f"{facts.file('models')}: plainServer.image: {plain['image']!r} is not under "
            f"imageRegistry {registry} ({facts.env_file}): mirror it and name it "
            f"{mirror.moved(plain['image'], registry)}"
        )
    for key, needed in (("sklearnIris", "kserve"), ("seldonIris", SELDON)):
        if values[key]["enabled"] and needed not in facts.enabled:
            raise UserError(
                f"{facts.file('models')}: {key}.enabled: {facts.env.name} does not enable "
                f"{needed}: turn the sample off or enable {needed} in {facts.env_file}"
            )


def samples(facts: Facts, values: dict[str, Any]) -> tuple[Sample, ...]:
    """What `make smoke` calls: each enabled sample, through the gateway that serves it.

    KServe routes on the Knative host `<name>-<namespace>.<domain>` (the domain template);
    Seldon routes on the path, through the Istio gateway or Emissary by the env's mode;
    the plain server is its own LoadBalancer Service.
    """
    istio = facts.gateway.address
    found = []
    if values["sklearnIris"]["enabled"]:
        host = f"sklearn-iris-{NAMESPACE}.{facts.domain}"
        found.append(
            Sample(
                "sklearn-iris",
                NAMESPACE,
                "kserve-v2",
                "serving.kserve.io/v1beta1",
                "InferenceService",
                istio,
                host=host,
            )
        )
    if values["seldonIris"]["enabled"]:
        via = facts.ambassador_service if facts.seldon == "ambassador" else istio
        found.append(
            Sample(
                "iris-model",
                NAMESPACE,
                "seldon",
                "machinelearning.seldon.io/v1",
                "SeldonDeployment",
                via,
            )
        )
    plain = values["plainServer"]
    if plain["enabled"] and plain["serviceType"] == "LoadBalancer":  # ClusterIP: not reachable
        found.append(
            Sample(_PLAIN, NAMESPACE, "plain", "apps/v1", "Deployment", f"{NAMESPACE}/{_PLAIN}")
        )
    return tuple(found)
