"""Derived values of the kserve row (data/components.yaml): KServe's ingress settings.

KServe runs in Knative serverless mode in every environment. Its ingress settings (Knative
ingress gateway, local gateway and its Service, the domain) are not typed anywhere: they
are derived per environment from the same facts Knative uses (mlstack.lib.facts), written
to values/<env>/generated/kserve.yaml, so KServe and Knative cannot disagree (a
hand-written value that differs is refused by resolution, naming both files).
"""

from __future__ import annotations

from typing import Any

from mlstack.lib.facts import Facts


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
