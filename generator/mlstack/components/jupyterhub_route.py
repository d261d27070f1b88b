"""JupyterHub's route: `jupyter.<domain>` on Knative's ingress gateway -> the hub's proxy.

On with JupyterHub (the `jupyterhub` switch). The hub is published through an Istio
VirtualService bound to knative-serving/knative-ingress-gateway, the Gateway that already
serves the platform certificate on 443 and, with TLS on, answers port 80 with a redirect
to HTTPS (components/knative_serving.py). A Kubernetes Ingress of class `istio` (how the
upstream chart publishes itself) would not: istiod's Ingress conversion always adds a
port-80 server for `*` with no redirect (istio pilot/pkg/config/kube/ingress/gateways.go),
so login pages and cookies would be served in clear, and two Gateways would claim port 80
for every host on the same pods. The upstream chart's Ingress is therefore off
(components/jupyterhub.py). Host, gateway and proxy Service are derived, never typed.
Its own release after jupyterhub (the Service it routes to) and knative-serving (the
Gateway it binds to): Istio objects in the hub's namespace.
"""

from __future__ import annotations

from typing import Any

from constructs import Construct
from pydantic import Field

from mlstack.lib.component import spec_object
from mlstack.lib.facts import (
    CLUSTER_DOMAIN,
    JUPYTER_PROXY_PORT,
    JUPYTER_PROXY_SERVICE,
    JUPYTERHUB,
    Facts,
)
from mlstack.lib.fields import DnsName, Port
from mlstack.lib.model import Values
from mlstack.lib.slots import slot

_GATEWAY = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


class JupyterhubRouteValues(Values):
    host: DnsName = Field(
        "jupyter.example.com", description="JupyterHub's host name (jupyter.<domain>; derived)."
    )
    gateway: str = Field(
        "knative-serving/knative-ingress-gateway",
        pattern=_GATEWAY,
        description="namespace/name of the Istio Gateway it binds to (Knative's; derived).",
    )
    service: DnsName = Field(
        f"{JUPYTER_PROXY_SERVICE}.{JUPYTERHUB}.{CLUSTER_DOMAIN}",
        description="FQDN of the hub proxy's public Service (derived).",
    )
    port: Port = Field(JUPYTER_PROXY_PORT, description="Its HTTP port (derived).")


class JupyterhubRoute(Construct):
    def __init__(self, scope: Construct, id: str = "jupyterhub-route") -> None:
        super().__init__(scope, id)
        destination = {"host": slot("service"), "port": {"number": slot("port")}}
        spec = {
            "hosts": [slot("host")],
            "gateways": [slot("gateway")],
            "http": [{"route": [{"destination": destination}]}],
        }
        spec_object(self, "route", "networking.istio.io/v1", "VirtualService", JUPYTERHUB, spec)


def derive(facts: Facts) -> dict[str, Any]:
    """The host, Knative's ingress gateway and the proxy's Service, from the facts."""
    return {
        "host": facts.jupyter_host,
        "gateway": facts.gateway.knative_gateway,
        "service": f"{JUPYTER_PROXY_SERVICE}.{JUPYTERHUB}.{CLUSTER_DOMAIN}",
        "port": JUPYTER_PROXY_PORT,
    }
