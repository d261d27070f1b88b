"""Logic of the seldon-core-operator row (data/components.yaml): Seldon Core v1.

Off by default everywhere; an environment opts in with `seldon: istio|ambassador` in its
environment.yaml. The mode is that one setting: it derives the upstream chart's
`istio.*`/`ambassador.*` values here, switches on the `seldon-gateway` release in istio
mode and Emissary (with its legacy CRD versions) in ambassador mode. Installed after
cert-manager (webhook certificate, instead of the chart's render-time `genCA`, which would
change on every render) and after the ingress it publishes through.

Licence: 1.17.1 is the last Apache-2.0 release; 1.18 and later are BSL 1.1, so generate
refuses them unless the environment's values set `acceptBslLicence: true`.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from mlstack import versions
from mlstack.errors import UserError
from mlstack.lib.facts import Facts

#: First Seldon Core v1 release under the Business Source License 1.1.
BSL_FROM = (1, 18)
LICENCE_KEY = "acceptBslLicence"
EMISSARY = ("emissary-crds", "emissary")
#: Settings read at generate time, beside the upstream chart's values.
FIELDS: dict[str, Any] = {
    "accept_bsl_licence": (
        bool,
        Field(
            False,
            description=(
                "Accept the Business Source License 1.1 of Seldon Core >= 1.18. Read at "
                "generate time only; 1.17.1 (Apache-2.0) does not need it."
            ),
        ),
    )
}


def derive(facts: Facts) -> dict[str, Any]:
    return {
        "seldonCoreOperator": {
            "istio": {"enabled": facts.seldon == "istio", "gateway": facts.seldon_gateway},
            "ambassador": {"enabled": facts.seldon == "ambassador"},
        }
    }


def check(facts: Facts, values: dict[str, Any]) -> None:
    """Mode and licence rules no schema can state; each refusal is one line."""
    if facts.seldon == "ambassador" and not set(EMISSARY) <= facts.enabled:
        raise UserError(
            f"{facts.env_file}: seldon: ambassador mode needs Emissary, which is switched "
            "off there: remove `emissary: false` from components or use seldon: istio"
        )
    version = versions.load().projects["seldon-core"].version
    if versions.parse_minor(version) >= BSL_FROM and values.get(LICENCE_KEY) is not True:
        raise UserError(
            f"{facts.file('seldon-core-operator')}: {LICENCE_KEY}: Seldon Core {version} is "
            f"BSL 1.1 (not Apache-2.0): set {LICENCE_KEY}: true to accept it, or pin 1.17.1 "
            "in data/versions.yaml"
        )
