"""The Istio ingress gateway: the single entry point for model traffic.

Every environment, after `istiod` (which injects the gateway's proxy). Its Service is of
type LoadBalancer: MetalLB gives it an address on k3d/minikube, an AWS network load
balancer on EKS (per-env values). The release name decides the gateway's Service name
and the `app`/`istio` pod labels (upstream rules); `mlstack.ingress` derives Knative's
gateway selectors and service FQDNs from this module, so renaming the release moves them.
Wrapper of the upstream `istio/gateway` chart.
"""

from typing import Any

from pydantic import Field

from mlstack.lib.component import Component, Dependency
from mlstack.lib.model import Values

ALIAS = "gateway"


def _upstream_defaults() -> dict[str, Any]:
    return {
        # Scraped by Prometheus: the merged Envoy + agent stats on the status port.
        "podAnnotations": {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": "15020",
            "prometheus.io/path": "/stats/prometheus",
        },
        "service": {"type": "LoadBalancer"},
    }


class IstioGatewayValues(Values):
    gateway: dict[str, Any] = Field(
        default_factory=_upstream_defaults,
        description="Values of the upstream istio/gateway chart (validated by its own schema).",
    )


COMPONENT = Component(
    id="istio-gateway",
    description="Istio ingress gateway (LoadBalancer Service) for model traffic.",
    values=IstioGatewayValues,
    namespace="istio-system",
    project="istio",
    module=__name__,
    dependencies=(Dependency(chart="istio-gateway", alias=ALIAS),),
    needs=("istiod",),
    keywords=("istio", "ingress", "gateway"),
)
