"""Every component, in install order: the rows of data/components.yaml.

Order matters: Helm cannot create a custom resource whose CRD arrives in the same
release, nor wait for an admission webhook, so CRD/webhook releases come first and the
objects that need them follow in their own releases. `needs` on each component states
those edges; `check_order` proves the table respects them. The table names the
component modules (values models, constructs, logic) its rows use.
"""

from __future__ import annotations

from mlstack.errors import UserError
from mlstack.lib import table
from mlstack.lib.component import Component

COMPONENTS: tuple[Component, ...] = table.load()


def by_id() -> dict[str, Component]:
    return {c.id: c for c in COMPONENTS}


def check_order(components: tuple[Component, ...] = COMPONENTS) -> None:
    """Every `needs`/`after` edge points to an earlier component; ids are unique."""
    seen: set[str] = set()
    for component in components:
        if component.id in seen:
            raise UserError(f"registry: component id {component.id!r} appears twice")
        for need in component.follows:
            if need not in seen:
                raise UserError(
                    f"registry: {component.id} needs {need}, which must come earlier in "
                    "generator/mlstack/data/components.yaml"
                )
        seen.add(component.id)


def conditions(components: tuple[Component, ...] = COMPONENTS) -> dict[tuple[str, str], str]:
    """(api group, Kind) -> the condition its owning controller is known to set, from every
    row's `conditions:` (each with its evidence in data/components.yaml). A kind no row
    lists gets no condition gate: Helm's kstatus wait judges it."""
    out: dict[tuple[str, str], str] = {}
    for component in components:
        for group, kind, condition in component.conditions:
            if (group, kind) in out:
                raise UserError(
                    f"registry: {group}/{kind} has conditions in two rows of "
                    "generator/mlstack/data/components.yaml: keep it under its controller's"
                )
            out[(group, kind)] = condition
    return out
