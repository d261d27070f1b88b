"""The Knative Operator: installs Knative Serving (and net-istio) from a KnativeServing CR.

Every environment, after the Istio releases (net-istio's Gateways are Istio custom
resources). It is its own release because it brings the KnativeServing CRD and a webhook:
the `knative-serving` release holding the CR must come after it. Wrapper of the upstream
chart.
"""

from typing import Any

from pydantic import Field

from mlstack.lib.component import Component, Dependency
from mlstack.lib.model import Values


def _upstream_defaults() -> dict[str, Any]:
    return {}


class KnativeOperatorValues(Values):
    knative_operator: dict[str, Any] = Field(
        default_factory=_upstream_defaults,
        alias="knative-operator",
        description="Values of the upstream knative-operator chart.",
    )


COMPONENT = Component(
    id="knative-operator",
    description="Knative Operator (KnativeServing CRD, operator and its webhook).",
    values=KnativeOperatorValues,
    namespace="knative-operator",
    project="knative-operator",
    module=__name__,
    dependencies=(Dependency(chart="knative-operator", alias="knative-operator"),),
    keywords=("knative", "operator"),
)
