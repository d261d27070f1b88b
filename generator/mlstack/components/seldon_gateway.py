"""The Istio Gateway Seldon Core publishes SeldonDeployments through (istio mode only).

On exactly where the environment sets `seldon: istio`. The Seldon operator writes
VirtualServices bound to this Gateway (its `istio.gateway` value is derived from the same
fact); the Gateway's selector is the Istio ingress gateway's pod labels, derived per
environment (mlstack.lib.facts), so renaming the gateway release moves it too, and a
hand-written selector that differs is refused. A release of its own because it is a
custom resource of Istio, installed after the gateway.
"""

from __future__ import annotations

from typing import Any

from constructs import Construct
from pydantic import Field

from mlstack.lib.component import spec_object
from mlstack.lib.facts import SELDON_GATEWAY_NAME, Facts
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
        default_factory=dict,
        json_schema_extra={"minProperties": 1},
        description="Pod labels of the Istio ingress gateway (derived; do not set by hand).",
    )
    http: Server = Field(default_factory=Server, description="The plain-HTTP server.")


class SeldonGateway(Construct):
    def __init__(self, scope: Construct, id: str = "seldon-gateway") -> None:
        super().__init__(scope, id)
        server = {
            "port": {"number": 80, "name": "http", "protocol": "HTTP"},
            "hosts": slot("http.hosts"),
        }
        spec = {"selector": slot("selector"), "servers": [server]}
        spec_object(self, "gateway", "networking.istio.io/v1", "Gateway", SELDON_GATEWAY_NAME, spec)


def derive(facts: Facts) -> dict[str, Any]:
    return {"selector": dict(facts.gateway.pod_labels)}
