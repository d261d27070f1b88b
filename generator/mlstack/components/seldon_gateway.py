"""The Istio Gateway Seldon Core publishes SeldonDeployments through (istio mode only).

Opt-in with Seldon (`seldon="istio"` in environments.py). The Seldon operator writes
VirtualServices bound to this Gateway (its `istio.gateway` value names it, from the same
constant); the Gateway's selector is the Istio ingress gateway's pod labels, derived per
environment by mlstack.ingress, so renaming the gateway release moves it too. A release
of its own because it is a custom resource of Istio, installed after the gateway.
"""

from __future__ import annotations

from typing import Any

from cdk8s import ApiObject, JsonPatch
from constructs import Construct
from pydantic import Field

from mlstack.components import seldon_core_operator as seldon
from mlstack.environments import Environment
from mlstack.errors import UserError
from mlstack.ingress import ingress
from mlstack.lib.component import Component
from mlstack.lib.fields import Labels
from mlstack.lib.model import Values
from mlstack.lib.slots import slot


class Server(Values):
    hosts: list[str] = Field(
        default_factory=lambda: ["*"],
        json_schema_extra={"minItems": 1},
        description="Hosts served over HTTP port 80 (SeldonDeployments route by path).",
    )


class SeldonGatewayValues(Values):
    selector: Labels = Field(
        default_factory=lambda: dict(ingress().pod_labels),
        json_schema_extra={"minProperties": 1},
        description="Pod labels of the Istio ingress gateway (derived; do not set by hand).",
    )
    http: Server = Field(default_factory=Server, description="The plain-HTTP server.")


class SeldonGateway(Construct):
    def __init__(self, scope: Construct, id: str = "seldon-gateway") -> None:
        super().__init__(scope, id)
        gateway = ApiObject(
            self,
            "gateway",
            api_version="networking.istio.io/v1",
            kind="Gateway",
            metadata={"name": seldon.GATEWAY_NAME},
        )
        server = {
            "port": {"number": 80, "name": "http", "protocol": "HTTP"},
            "hosts": slot("http.hosts"),
        }
        gateway.add_json_patch(
            JsonPatch.add("/spec", {"selector": slot("selector"), "servers": [server]})
        )


def _env_values(env: Environment) -> dict[str, Any]:
    return {"selector": dict(ingress(env).pod_labels)}


def check(env: Environment, values: dict[str, Any] | None) -> None:
    """A hand-set selector that no longer matches the gateway's pods would route nothing."""
    if values is None:
        return
    derived = ingress(env)
    if values["selector"] != derived.pod_labels:
        raise UserError(
            f"values/{env.name}/seldon-gateway.yaml: selector {values['selector']} differs from "
            f"the pod labels of {derived.release} {derived.pod_labels}: remove the override"
        )


COMPONENT = Component(
    id="seldon-gateway",
    description="Istio Gateway for Seldon Core (istio mode), selecting the ingress gateway.",
    values=SeldonGatewayValues,
    namespace=seldon.NAMESPACE,
    project="istio",
    module=__name__,
    build=SeldonGateway,
    needs=("istio-gateway",),
    env_values=_env_values,
    check=check,
    keywords=("seldon", "istio", "gateway"),
)
