"""KServe controller and webhook (upstream kserve-resources), Knative serverless mode.

Every environment. Installed after `kserve-crd` and, for its webhook certificate and the
Knative mode, after cert-manager and knative-serving. The ingress settings (Knative
ingress gateway, local gateway and its Service, the domain) are not typed here: they are
derived per environment from the same facts Knative uses (mlstack.lib.facts), written to
values/<env>/generated/kserve.yaml, so KServe and Knative cannot disagree (a hand-written
value that differs is refused by resolution, naming both files).
"""

from __future__ import annotations

from typing import Any

from mlstack.lib.facts import Facts
from mlstack.lib.wrapper import wrapper


def derive(facts: Facts) -> dict[str, Any]:
    """KServe's ingress config from the facts Knative uses (same gateways, same domain)."""
    gateway = {
        "domain": facts.domain,
        "ingressGateway": {"gateway": facts.gateway.knative_gateway},
        "localGateway": {
            "gateway": facts.gateway.local_gateway,
            "gatewayService": facts.gateway.local_gateway_service_fqdn,
        },
    }
    return {"kserveResources": {"kserve": {"controller": {"gateway": gateway}}}}


COMPONENT = wrapper(
    "kserve",
    chart="kserve-resources",
    namespace="kserve",
    description="KServe controller (v0.20) in Knative serverless mode.",
    why=__doc__ or "",
    defaults={
        "kserve": {
            "controller": {
                # Knative ("serverless") mode: scale to zero, revisions, Istio routing.
                "deploymentMode": "Knative",
                "gateway": {
                    "ingressGateway": {"enableGatewayApi": False, "createGateway": False},
                },
            },
        }
    },
    # cert-manager issues the webhook certificate; Knative must serve before Knative mode.
    needs=("cert-manager", "knative-serving", "kserve-crd"),
    derive=derive,
    keywords=("kserve", "model-serving", "knative"),
    module=__name__,
)
