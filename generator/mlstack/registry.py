"""Every component, in install order.

Order matters: Helm cannot create a custom resource whose CRD arrives in the same
release, nor wait for an admission webhook, so CRD/webhook releases come first and the
objects that need them follow in their own releases. `needs` on each component states
those edges; `check_order` proves the tuple respects them.
"""

from __future__ import annotations

from mlstack.components import (
    emissary,
    knative_serving,
    kserve,
    metallb_pool,
    model_runtimes,
    models,
    seldon_core_operator,
    seldon_gateway,
)
from mlstack.errors import UserError
from mlstack.lib import wrapper
from mlstack.lib.component import Component

#: The wrapper rows of data/wrappers.yaml, with the modules their logic lives in.
_WRAPPERS = wrapper.load(
    {"kserve": kserve, "emissary": emissary, "seldon_core_operator": seldon_core_operator}
)

COMPONENTS: tuple[Component, ...] = (
    _WRAPPERS["metallb"],
    metallb_pool.COMPONENT,
    _WRAPPERS["istio-base"],
    _WRAPPERS["istiod"],
    _WRAPPERS["istio-gateway"],
    _WRAPPERS["cert-manager"],
    _WRAPPERS["knative-operator"],
    knative_serving.COMPONENT,
    _WRAPPERS["kserve-crd"],
    _WRAPPERS["kserve"],
    model_runtimes.COMPONENT,
    _WRAPPERS["emissary-crds"],
    _WRAPPERS["emissary"],
    seldon_gateway.COMPONENT,
    _WRAPPERS["seldon-core-operator"],
    models.COMPONENT,
)


def by_id() -> dict[str, Component]:
    return {c.id: c for c in COMPONENTS}


def check_order(components: tuple[Component, ...] = COMPONENTS) -> None:
    """Every `needs` edge points to an earlier component; ids are unique; every wrapper
    row is placed in the order."""
    missing = sorted(set(_WRAPPERS) - {c.id for c in COMPONENTS})
    if missing:
        raise UserError(
            f"registry: wrapper row {missing[0]} (data/wrappers.yaml) is not in COMPONENTS: "
            "place it after what it needs in generator/mlstack/registry.py"
        )
    seen: set[str] = set()
    for component in components:
        if component.id in seen:
            raise UserError(f"registry: component id {component.id!r} appears twice")
        for need in component.needs:
            if need not in seen:
                raise UserError(
                    f"registry: {component.id} needs {need}, which must come earlier in "
                    "COMPONENTS (generator/mlstack/registry.py)"
                )
        seen.add(component.id)
