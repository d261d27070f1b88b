"""Emissary-ingress CRDs (and, for legacy API versions, their conversion webhook).

Opt-in: only environments that enable Emissary (environments.EMISSARY), which Seldon's
ambassador mode requires. A release of its own, before `emissary`, because Helm cannot
create custom resources whose CRDs arrive in the same release. Seldon Core 1.x writes
`getambassador.io/v2` Mappings, which Emissary 4 serves only with `enableLegacyVersions`
(the apiext conversion webhook); that flag is derived from the environment's Seldon mode.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from mlstack.environments import Environment
from mlstack.lib.component import Component, Dependency
from mlstack.lib.model import Values

NAMESPACE = "emissary-system"
#: Namespace of the `emissary` release, which the CRDs chart labels its webhook for.
EMISSARY_NAMESPACE = "emissary"


def legacy_versions(env: Environment) -> bool:
    """getambassador.io/v2 must be served when Seldon publishes through Emissary."""
    return env.seldon == "ambassador"


def _upstream_defaults() -> dict[str, Any]:
    return {
        "enableLegacyVersions": False,
        # v1 is older still; nothing we run writes it.
        "enableV1": False,
        "emissary": {"namespace": EMISSARY_NAMESPACE},
    }


class EmissaryCrdsValues(Values):
    emissary_crds: dict[str, Any] = Field(
        default_factory=_upstream_defaults,
        description="Values of the upstream emissary-crds-chart (legacy versions derived).",
    )


def _env_values(env: Environment) -> dict[str, Any]:
    return {"emissaryCrds": {"enableLegacyVersions": legacy_versions(env)}}


COMPONENT = Component(
    id="emissary-crds",
    description="Emissary-ingress CRDs; legacy getambassador.io/v2 served for Seldon.",
    values=EmissaryCrdsValues,
    namespace=NAMESPACE,
    project="emissary",
    module=__name__,
    dependencies=(Dependency(chart="emissary-crds", alias="emissaryCrds"),),
    env_values=_env_values,
    keywords=("emissary", "ambassador", "crds"),
)
