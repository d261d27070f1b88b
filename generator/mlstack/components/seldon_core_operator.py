"""Seldon Core v1 operator (SeldonDeployment), opt-in per environment.

Off by default everywhere; an environment opts in with `seldon="istio"|"ambassador"` and
`seldon_components(mode)` (environments.py). The mode is that one setting: it derives the
upstream chart's `istio.*`/`ambassador.*` values here, the `seldon-gateway` release in
istio mode, and Emissary's legacy CRD versions in ambassador mode. Installed after
cert-manager (webhook certificate, instead of the chart's render-time `genCA`, which would
change on every render) and after the ingress it publishes through.

Licence: 1.17.1 is the last Apache-2.0 release; 1.18 and later are BSL 1.1, so generate
refuses them unless the environment's values set `acceptBslLicence: true`.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from mlstack import versions
from mlstack.environments import Environment
from mlstack.errors import UserError
from mlstack.lib.component import Component, Dependency
from mlstack.lib.model import Values

NAMESPACE = "seldon-system"
#: The seldon-gateway release's Istio Gateway (namespace/name), as the operator names it.
GATEWAY_NAME = "seldon-gateway"
GATEWAY = f"{NAMESPACE}/{GATEWAY_NAME}"
#: First Seldon Core v1 release under the Business Source License 1.1.
BSL_FROM = (1, 18)
LICENCE_KEY = "acceptBslLicence"


def _upstream_defaults() -> dict[str, Any]:
    return {
        # No phone-home: Spartakus usage reporting stays off.
        "usageMetrics": {"enabled": False},
        "istio": {"enabled": False, "gateway": GATEWAY},
        # Seldon 1.x writes getambassador.io/v2 Mappings (Emissary's legacy versions).
        "ambassador": {"enabled": False, "version": "v2"},
        "certManager": {"enabled": True},
        # Helm's keep policy on the chart's CRDs: uninstalling the release (make, plain
        # helm, Argo CD, Flux alike) never deletes every SeldonDeployment in the cluster.
        "crd": {"annotations": {"helm.sh/resource-policy": "keep"}},
    }


class SeldonCoreOperatorValues(Values):
    accept_bsl_licence: bool = Field(
        False,
        description=(
            "Accept the Business Source License 1.1 of Seldon Core >= 1.18. Read at generate "
            "time only; 1.17.1 (Apache-2.0) does not need it."
        ),
    )
    seldon_core_operator: dict[str, Any] = Field(
        default_factory=_upstream_defaults,
        description="Values of the upstream seldon-core-operator chart (mode derived).",
    )


def _env_values(env: Environment) -> dict[str, Any]:
    return {
        "seldonCoreOperator": {
            "istio": {"enabled": env.seldon == "istio"},
            "ambassador": {"enabled": env.seldon == "ambassador"},
        }
    }


def _version() -> tuple[int, int]:
    return versions.parse_minor(versions.load().projects["seldon-core"].version)


def check(env: Environment, values: dict[str, Any] | None) -> None:
    """Mode and licence rules no schema can state; each refusal is one line."""
    where = "generator/mlstack/environments.py"
    if values is None:
        if env.seldon is not None:
            raise UserError(
                f"environment {env.name} sets seldon={env.seldon!r} but does not enable "
                f"seldon-core-operator: add seldon_components({env.seldon!r}) in {where}"
            )
        return
    if env.seldon is None:
        raise UserError(
            f"environment {env.name} enables seldon-core-operator without a mode: set "
            f'seldon="istio" or seldon="ambassador" in {where}'
        )
    if env.seldon == "ambassador" and not {"emissary-crds", "emissary"} <= env.components:
        raise UserError(
            f"environment {env.name}: Seldon ambassador mode needs Emissary, which is not "
            f"enabled there: add EMISSARY to its components in {where} or use seldon='istio'"
        )
    if _version() >= BSL_FROM and values.get(LICENCE_KEY) is not True:
        version = versions.load().projects["seldon-core"].version
        raise UserError(
            f"values/{env.name}/seldon-core-operator.yaml: {LICENCE_KEY}: Seldon Core "
            f"{version} is BSL 1.1 (not Apache-2.0): set {LICENCE_KEY}: true to accept it, "
            "or pin 1.17.1 in data/versions.yaml"
        )


COMPONENT = Component(
    id="seldon-core-operator",
    description="Seldon Core v1 operator (1.17.1, Apache-2.0); istio or ambassador mode.",
    values=SeldonCoreOperatorValues,
    namespace=NAMESPACE,
    project="seldon-core",
    module=__name__,
    dependencies=(Dependency(chart="seldon-core-operator", alias="seldonCoreOperator"),),
    needs=("cert-manager",),
    env_values=_env_values,
    check=check,
    keywords=("seldon", "model-serving"),
)
