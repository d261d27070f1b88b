"""Istio base: the Istio CRDs and the cluster-wide validation the control plane relies on.

Every environment. It is the first Istio release because istiod and the gateway read the
CRDs it installs (Gateway, VirtualService, ...), and Helm cannot create a custom resource
in the release that brings its CRD. Wrapper of the upstream `istio/base` chart.
"""

from typing import Any

from pydantic import Field

from mlstack.lib.component import Component, Dependency
from mlstack.lib.model import Values


def _upstream_defaults() -> dict[str, Any]:
    # One revision, named "default", so the gateway and istiod need no revision label.
    return {"defaultRevision": "default"}


class IstioBaseValues(Values):
    base: dict[str, Any] = Field(
        default_factory=_upstream_defaults,
        description="Values of the upstream istio/base chart.",
    )


COMPONENT = Component(
    id="istio-base",
    description="Istio CRDs and cluster-wide resources (upstream istio/base).",
    values=IstioBaseValues,
    namespace="istio-system",
    project="istio",
    module=__name__,
    dependencies=(Dependency(chart="istio-base", alias="base"),),
    keywords=("istio", "crds"),
)
