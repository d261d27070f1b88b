"""istiod: the Istio control plane (pilot, sidecar injector, CA).

Every environment, after `istio-base` (its CRDs) and before `istio-gateway`, whose pods
are injected with the gateway proxy by istiod's webhook. Sidecar auto-injection is off by
default: Knative runs with net-istio without a mesh, so only pods that ask for a proxy
(the gateway does, by label) get one. Wrapper of the upstream `istio/istiod` chart.
"""

from typing import Any

from pydantic import Field

from mlstack.lib.component import Component, Dependency
from mlstack.lib.model import Values


def _upstream_defaults() -> dict[str, Any]:
    return {
        # Injection only where a namespace or pod opts in; never by default.
        "sidecarInjectorWebhook": {"enableNamespacesByDefault": False},
        "global": {"proxy": {"autoInject": "disabled"}},
    }


class IstiodValues(Values):
    istiod: dict[str, Any] = Field(
        default_factory=_upstream_defaults,
        description="Values of the upstream istio/istiod chart.",
    )


COMPONENT = Component(
    id="istiod",
    description="Istio control plane with sidecar auto-injection off (upstream istio/istiod).",
    values=IstiodValues,
    namespace="istio-system",
    project="istio",
    module=__name__,
    dependencies=(Dependency(chart="istiod", alias="istiod"),),
    needs=("istio-base",),
    keywords=("istio", "control-plane"),
)
