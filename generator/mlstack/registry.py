"""Every component, in install order.

Order matters: Helm cannot create a custom resource whose CRD arrives in the same
release, nor wait for an admission webhook, so CRD/webhook releases come first and the
objects that need them follow in their own releases. `needs` on each component states
those edges; `check_order` proves the tuple respects them.
"""

from __future__ import annotations

from mlstack.components import (
    knative_serving,
    kserve,
    metallb_pool,
    model_runtimes,
    models,
    seldon_core_operator,
    seldon_gateway,
    wrappers,
)
from mlstack.errors import UserError
from mlstack.lib.component import Component

COMPONENTS: tuple[Component, ...] = (
    wrappers.METALLB,
    metallb_pool.COMPONENT,
    wrappers.ISTIO_BASE,
    wrappers.ISTIOD,
    wrappers.ISTIO_GATEWAY,
    wrappers.CERT_MANAGER,
    wrappers.KNATIVE_OPERATOR,
    knative_serving.COMPONENT,
    wrappers.KSERVE_CRD,
    kserve.COMPONENT,
    model_runtimes.COMPONENT,
    wrappers.EMISSARY_CRDS,
    wrappers.EMISSARY,
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
