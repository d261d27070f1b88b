"""Test helpers shared by several test modules (import as `from helpers import ...`)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from mlstack import registry
from mlstack.components import istio_gateway
from mlstack.lib import model
from mlstack.lib.component import Component
from mlstack.lib.model import Values


def replacing(*components: Component) -> tuple[Component, ...]:
    """registry.COMPONENTS with the given components swapped in by id, order kept."""
    by_id = {c.id: c for c in components}
    return tuple(by_id.get(c.id, c) for c in registry.COMPONENTS)


def leaves(data: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths of every leaf of a values tree (a non-empty map is not a leaf)."""
    out: list[str] = []
    for key, value in data.items():
        if isinstance(value, dict) and value:
            out += leaves(value, f"{prefix}{key}.")
        else:
            out.append(prefix + key)
    return out


def dead_values_keys(templates: dict[str, str], values: type[Values]) -> list[str]:
    """Leaves of a glue chart's values model that no slot or condition uses.

    A slot on a whole map or list (`selector`, `requests`) uses every leaf below it.
    """
    used = "\n".join(templates.values())

    def is_used(leaf: str) -> bool:
        parts = leaf.split(".")
        prefixes = (".".join(parts[:n]) for n in range(1, len(parts) + 1))
        return any(f".Values.{p} " in used for p in prefixes)

    return [leaf for leaf in leaves(model.defaults(values)) if not is_used(leaf)]


def gateway_variant(release: str = "istio-gateway", **gateway: object) -> Component:
    """The istio-gateway component under another release id and/or with other chart values."""

    class Changed(istio_gateway.IstioGatewayValues):
        gateway: dict[str, Any] = Field(
            default_factory=lambda: {**istio_gateway._upstream_defaults(), **gateway},
            description="Values of the upstream istio/gateway chart.",
        )

    return Component(**{**istio_gateway.COMPONENT.__dict__, "id": release, "values": Changed})


def enabled(env: str) -> list[str]:
    """Release ids of an environment in install order (as the registry lists them)."""
    from mlstack import environments

    components = environments.get(env).components
    return [c.id for c in registry.COMPONENTS if c.id in components]
