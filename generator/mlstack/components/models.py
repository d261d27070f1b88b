"""Sample model workloads that prove the stack answers; each one toggleable.

Every environment; installed last, after the serving operators and their runtimes.
- `sklearnIris`: a KServe InferenceService on the v2 (Open Inference) protocol; its
  storage URI is a value (gs://, s3://, https://, or pvc://<claim>/<path> for a model on a
  PersistentVolumeClaim). On where KServe is enabled (derived from the environment).
- `seldonIris`: a Seldon Core v1 SeldonDeployment using the prepackaged SKLEARN_SERVER.
  On exactly where the environment opts in to Seldon (derived, never typed).
- `plainServer`: no operator at all, for users who bring their own image: a Deployment
  (RollingUpdate, 25% surge/unavailable) behind a LoadBalancer Service on port 80. Off
  until an image is given.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from cdk8s import ApiObject, JsonPatch
from constructs import Construct
from pydantic import Field, create_model, model_validator

from mlstack import ingress
from mlstack.components import emissary
from mlstack.environments import Environment
from mlstack.errors import UserError
from mlstack.lib.component import Component, only_if
from mlstack.lib.fields import MAX_REPLICAS, ImageRef, Port
from mlstack.lib.model import Values
from mlstack.lib.resources import resources
from mlstack.lib.samples import Sample
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

    @model_validator(mode="after")
    def _image_when_enabled(self) -> Self:
        if self.enabled and not self.image:
            raise ValueError("image: set your model server image when plainServer.enabled")
        return self


class ModelsValues(Values):
    sklearn_iris: SklearnIris = Field(  # type: ignore[valid-type]
        default_factory=SklearnIris, description="KServe sample (v2 protocol)."
    )
    seldon_iris: SeldonIris = Field(  # type: ignore[valid-type]
        default_factory=SeldonIris, description="Seldon sample."
    )
    plain_server: PlainServer = Field(
        default_factory=PlainServer, description="Plain Deployment + LoadBalancer Service."
    )


_PLAIN = "model-server"
_PLAIN_LABELS = {"app.kubernetes.io/component": _PLAIN}


class Models(Construct):
    def __init__(self, scope: Construct, id: str = "models") -> None:
        super().__init__(scope, id)
        isvc = ApiObject(
            self,
            "sklearn-iris",
            api_version="serving.kserve.io/v1beta1",
            kind="InferenceService",
            metadata={"name": "sklearn-iris"},
        )
        isvc.add_json_patch(
            JsonPatch.add(
                "/spec",
                {
                    "predictor": {
                        "model": {
                            "modelFormat": {"name": "sklearn"},
                            "protocolVersion": "v2",
                            "storageUri": slot("sklearnIris.storageUri"),
                        }
                    }
                },
            )
        )
        only_if(isvc, "sklearnIris.enabled")

        sdep = ApiObject(
            self,
            "iris-model",
            api_version="machinelearning.seldon.io/v1",
            kind="SeldonDeployment",
            metadata={"name": "iris-model"},
        )
        graph = {
            "name": "classifier",
            "implementation": "SKLEARN_SERVER",
            "modelUri": slot("seldonIris.modelUri"),
        }
        sdep.add_json_patch(
            JsonPatch.add(
                "/spec",
                {
                    "name": "iris",
                    "predictors": [{"name": "default", "replicas": 1, "graph": graph}],
                },
            )
        )
        only_if(sdep, "seldonIris.enabled")

        deployment = ApiObject(
            self,
            _PLAIN,
            api_version="apps/v1",
            kind="Deployment",
            metadata={"name": _PLAIN},
        )
        deployment.add_json_patch(JsonPatch.add("/spec", _plain_deployment_spec()))
        only_if(deployment, "plainServer.enabled")
        service = ApiObject(
            self, _PLAIN + "-svc", api_version="v1", kind="Service", metadata={"name": _PLAIN}
        )
        service.add_json_patch(
            JsonPatch.add(
                "/spec",
                {
                    "type": "LoadBalancer",
                    "selector": _PLAIN_LABELS,
                    "ports": [
                        {
                            "name": "http",
                            "port": 80,
                            "protocol": "TCP",
                            "targetPort": slot("plainServer.containerPort"),
                        }
                    ],
                },
            )
        )
        only_if(service, "plainServer.enabled")


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
            "spec": {
                "containers": [
                    {
                        "name": "server",
                        "image": slot("plainServer.image"),
                        "ports": [
                            {
                                "name": "http",
                                "containerPort": slot("plainServer.containerPort"),
                                "protocol": "TCP",
                            }
                        ],
                        "resources": slot("plainServer.resources"),
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]},
                        },
                    }
                ]
            },
        },
    }


def _env_values(env: Environment) -> dict[str, Any]:
    return {
        "sklearnIris": {"enabled": "kserve" in env.components},
        "seldonIris": {"enabled": SELDON in env.components},
    }


def check(env: Environment, values: dict[str, Any] | None) -> None:
    """A sample whose operator the environment lacks would be refused by the API server."""
    if values is None:
        return
    for key, needed in (("sklearnIris", "kserve"), ("seldonIris", SELDON)):
        if values[key]["enabled"] and needed not in env.components:
            raise UserError(
                f"values/{env.name}/models.yaml: {key}.enabled: {env.name} does not enable "
                f"{needed}: turn the sample off or enable {needed} in environments.py"
            )


def samples(env: Environment, values: dict[str, Any]) -> tuple[Sample, ...]:
    """What `make smoke` calls: each enabled sample, through the gateway that serves it.

    KServe routes on the Knative host `<name>-<namespace>.<domain>` (the domain template);
    Seldon routes on the path, through the Istio gateway or Emissary by the env's mode;
    the plain server is its own LoadBalancer Service.
    """
    gateway = ingress.ingress(env)
    istio = f"{gateway.namespace}/{gateway.service}"
    found = []
    if values["sklearnIris"]["enabled"]:
        host = f"sklearn-iris-{NAMESPACE}.{ingress.domain(env)}"
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
        via = (
            istio
            if env.seldon != "ambassador"
            else f"{emissary.COMPONENT.namespace}/{emissary.SERVICE}"
        )
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
    if values["plainServer"]["enabled"]:
        found.append(
            Sample(_PLAIN, NAMESPACE, "plain", "apps/v1", "Deployment", f"{NAMESPACE}/{_PLAIN}")
        )
    return tuple(found)


COMPONENT = Component(
    id="models",
    description="Sample models: KServe sklearn-iris, Seldon iris-model, plain model server.",
    values=ModelsValues,
    namespace=NAMESPACE,
    project="kserve",
    module=__name__,
    build=Models,
    needs=("model-runtimes",),
    env_values=_env_values,
    check=check,
    samples=samples,
    keywords=("kserve", "seldon", "samples"),
)
