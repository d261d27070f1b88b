"""KServe controller and webhook (upstream kserve-resources), Knative serverless mode.

Every environment. Installed after `kserve-crd` and, for its webhook certificate and the
Knative mode, after cert-manager and knative-serving. The ingress settings (Knative
ingress gateway, local gateway and its Service, the domain) are not typed here: they are
derived per environment from the same facts Knative uses (mlstack.ingress), written to
values/<env>/generated/kserve.yaml, so KServe and Knative cannot disagree.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from mlstack.components import kserve_crd
from mlstack.lib.component import Component, Dependency
from mlstack.lib.model import Values


def _upstream_defaults() -> dict[str, Any]:
    return {
        "kserve": {
            "controller": {
                # Knative ("serverless") mode: scale to zero, revisions, Istio routing.
                "deploymentMode": "Knative",
                "gateway": {
                    "ingressGateway": {"enableGatewayApi": False, "createGateway": False},
                },
            },
        }
    }


class KserveValues(Values):
    kserve_resources: dict[str, Any] = Field(
        default_factory=_upstream_defaults,
        description="Values of the upstream kserve-resources chart (ingress derived per env).",
    )


COMPONENT = Component(
    id="kserve",
    description="KServe controller (v0.20) in Knative serverless mode.",
    values=KserveValues,
    namespace=kserve_crd.NAMESPACE,
    project="kserve",
    module=__name__,
    dependencies=(Dependency(chart="kserve-resources", alias="kserveResources"),),
    needs=("kserve-crd",),
    keywords=("kserve", "model-serving", "knative"),
)
