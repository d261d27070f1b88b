"""Every component, in install order.

Order matters: Helm cannot create a custom resource whose CRD arrives in the same
release, nor wait for an admission webhook, so CRD/webhook releases come first and the
objects that need them follow in their own releases. `needs` on each component states
those edges; `check_order` proves the tuple respects them.
"""

from __future__ import annotations

from mlstack.components import (
    cert_manager,
    emissary,
    emissary_crds,
    istio_base,
    istio_gateway,
    istiod,
    knative_operator,
    knative_serving,
    kserve,
    kserve_crd,
    metallb,
    metallb_pool,
    model_runtimes,
    models,
    seldon_core_operator,
    seldon_gateway,
)
from mlstack.errors import UserError
from mlstack.lib.component import Component

COMPONENTS: tuple[Component, ...] = (
    metallb.COMPONENT,
    metallb_pool.COMPONENT,
    istio_base.COMPONENT,
    istiod.COMPONENT,
    istio_gateway.COMPONENT,
    cert_manager.COMPONENT,
    knative_operator.COMPONENT,
    knative_serving.COMPONENT,
    kserve_crd.COMPONENT,
    kserve.COMPONENT,
    model_runtimes.COMPONENT,
    emissary_crds.COMPONENT,
    emissary.COMPONENT,
    seldon_gateway.COMPONENT,
    seldon_core_operator.COMPONENT,
    models.COMPONENT,
)


def by_id() -> dict[str, Component]:
    return {c.id: c for c in COMPONENTS}


def check_order(components: tuple[Component, ...] = COMPONENTS) -> None:
    """Every `needs` edge points to an earlier component; ids are unique."""
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
