"""The Istio Gateway Seldon Core publishes SeldonDeployments through (istio mode only).

On exactly where the environment sets `seldon: istio`. The Seldon operator writes
VirtualServices bound to this Gateway (its `istio.gateway` value is derived from the same
fact); the Gateway's selector is the Istio ingress gateway's pod labels, derived per
environment (mlstack.lib.facts), so renaming the gateway release moves it too, and a
hand-written selector that differs is refused. With TLS on (environment.yaml `tls.mode`)
it also serves HTTPS with the same secret as knative-ingress-gateway, and its port-80
server only redirects to HTTPS. A release of its own
because it is a custom resource of Istio, installed after the gateway.
"""

from __future__ import annotations

from typing import Any

from constructs import Construct
from pydantic import Field

from mlstack.lib.component import spec_object
from mlstack.lib.facts import SELDON_GATEWAY_NAME, Facts
from mlstack.lib.fields import DnsSubdomain, Labels
from mlstack.lib.model import Values
from mlstack.lib.slots import slot


class Server(Values):
    hosts: list[str] = Field(
        default_factory=lambda: ["*"],
        json_schema_extra={"minItems": 1},
        description=(
            "Hosts served on port 80 and, with TLS, 443 (SeldonDeployments route by path)."
        ),
    )


class Tls(Values):
    enabled: bool = Field(False, description="Also serve HTTPS on 443 (environment.yaml tls).")
    credential_name: DnsSubdomain = Field(
        "knative-ingress-tls",
        description="TLS secret in the gateway's namespace (the one Knative serves; derived).",
    )


class SeldonGatewayValues(Values):
    selector: Labels = Field(
        default_factory=dict,
        json_schema_extra={"minProperties": 1},
        description="Pod labels of the Istio ingress gateway (derived; do not set by hand).",
    )
    http: Server = Field(default_factory=Server, description="The plain-HTTP server.")
    tls: Tls = Field(default_factory=Tls, description="The HTTPS server (derived).")


class SeldonGateway(Construct):
    def __init__(self, scope: Construct, id: str = "seldon-gateway") -> None:
        super().__init__(scope, id)
        server = {
            "port": {"number": 80, "name": "http", "protocol": "HTTP"},
            "hosts": slot("http.hosts"),
        }
        # With TLS the port-80 server only redirects: nothing in clear but the redirect.
        redirect = {**server, "tls": {"httpsRedirect": True}}
        https = {
            "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
            "hosts": slot("http.hosts"),
            "tls": {"mode": "SIMPLE", "credentialName": slot("tls.credentialName")},
        }
        api, kind = "networking.istio.io/v1", "Gateway"
        for variant, servers, when in (
            ("gateway", [server], "!tls.enabled"),
            ("gateway-tls", [redirect, https], "tls.enabled"),
        ):
            spec = {"selector": slot("selector"), "servers": servers}
            spec_object(self, variant, api, kind, SELDON_GATEWAY_NAME, spec, when=when)


def derive(facts: Facts) -> dict[str, Any]:
    """The gateway's pod labels, and the TLS secret Knative's gateway serves (one fact)."""
    tls = {"enabled": facts.env.tls.enabled, "credentialName": facts.env.tls.secret_name}
    return {"selector": dict(facts.gateway.pod_labels), "tls": tls}
