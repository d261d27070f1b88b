"""cert-manager: issues the TLS certificates the ingress gateway and webhooks use.

Every environment; independent of Istio, installed before the Knative operator so that
certificate-backed features (Knative's external-domain TLS, KServe's webhook certs) find
its CRDs and webhook serving. The CRDs come with the chart (`crds.enabled`) and carry
Helm's keep policy (`crds.keep`), so uninstalling the release never deletes every
Certificate in the cluster. Wrapper of the upstream chart.
"""

from typing import Any

from pydantic import Field

from mlstack.lib.component import Component, Dependency
from mlstack.lib.model import Values


def _upstream_defaults() -> dict[str, Any]:
    return {
        "crds": {"enabled": True, "keep": True},
        # Scrape annotations instead of a ServiceMonitor: no Prometheus operator is assumed.
        "prometheus": {"enabled": True, "servicemonitor": {"enabled": False}},
    }


class CertManagerValues(Values):
    cert_manager: dict[str, Any] = Field(
        default_factory=_upstream_defaults,
        alias="cert-manager",
        description="Values of the upstream cert-manager chart (validated by its own schema).",
    )


COMPONENT = Component(
    id="cert-manager",
    description="cert-manager with its CRDs (kept on uninstall) for gateway and webhook TLS.",
    values=CertManagerValues,
    namespace="cert-manager",
    project="cert-manager",
    module=__name__,
    dependencies=(Dependency(chart="cert-manager", alias="cert-manager"),),
    keywords=("cert-manager", "tls"),
)
