"""Derived values of the Emissary rows of data/components.yaml (emissary-crds, emissary).

Emissary is opt-in (`components: {emissary: true}`) and comes with Seldon's ambassador
mode. Seldon Core 1.x writes `getambassador.io/v2` Mappings, which Emissary 4 serves only
as legacy versions through the apiext conversion webhook; so both flags follow the one
setting `seldon: ambassador`, never typed per release.

Emissary OSS checks no JWT and serves none of the gateway's certificate: where the
environment turns auth or TLS on, its Service stays in-cluster (ClusterIP), so the only
public entry point is the Istio gateway. Seldon's ambassador mode, which needs Emissary's
public address, is refused with auth or TLS on (environments.insecure_edge).
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
    """emissary: wait for the conversion webhook, which exists only with legacy versions;
    in-cluster only where auth or TLS is on (no token check, no certificate of ours)."""
    block: dict[str, Any] = {"waitForApiext": {"enabled": _legacy(facts)}}
    if facts.env.auth.enabled or facts.env.tls.enabled:
        block["service"] = {"type": "ClusterIP"}
    return {"emissaryIngress": block}
