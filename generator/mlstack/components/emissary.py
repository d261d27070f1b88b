"""Derived values of the Emissary rows of data/components.yaml (emissary-crds, emissary).

Emissary is opt-in (`components: {emissary: true}`) and comes with Seldon's ambassador
mode. Seldon Core 1.x writes `getambassador.io/v2` Mappings, which Emissary 4 serves only
as legacy versions through the apiext conversion webhook; so both flags follow the one
setting `seldon: ambassador`, never typed per release.
"""

from __future__ import annotations

from typing import Any

from mlstack.lib.facts import Facts


def _legacy(facts: Facts) -> bool:
    return facts.seldon == "ambassador"


def derive_crds(facts: Facts) -> dict[str, Any]:
    """emissary-crds: serve the legacy v2 versions where Seldon publishes through Emissary."""
    return {"emissaryCrds": {"enableLegacyVersions": _legacy(facts)}}


def derive_gateway(facts: Facts) -> dict[str, Any]:
    """emissary: wait for the conversion webhook, which exists only with legacy versions."""
    return {"emissaryIngress": {"waitForApiext": {"enabled": _legacy(facts)}}}
