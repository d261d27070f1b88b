"""A wrapper chart is a row, not a module: upstream chart + opinionated defaults -> Component.

The upstream chart's name, repository, version and project come from `data/versions.yaml`
(`charts:`); the row gives the release's namespace, install edges and the defaults under
the dependency alias. The values model has exactly one field, whose key IS the alias, so
defaults can never silently miss the subchart (a typo'd alias in a values file is an
unknown key). The key is the upstream chart's name in camelCase (`-chart` dropped), or
the name verbatim where upstream docs nest values that way (`cert-manager:`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from pydantic import Field, create_model

from mlstack import versions
from mlstack.environments import Environment
from mlstack.lib.component import Component, Dependency, always
from mlstack.lib.facts import Facts
from mlstack.lib.model import Values


def values_key(upstream_name: str) -> str:
    """'kserve-resources' -> 'kserveResources'; 'emissary-crds-chart' -> 'emissaryCrds'."""
    first, *rest = upstream_name.removesuffix("-chart").split("-")
    return first + "".join(part.capitalize() for part in rest)


def _model_name(release: str) -> str:
    return "".join(part.capitalize() for part in release.split("-")) + "Values"


def wrapper(
    id: str,
    *,
    chart: str,
    namespace: str,
    description: str,
    why: str,
    defaults: dict[str, Any],
    module: str,
    key: str | None = None,
    needs: tuple[str, ...] = (),
    keywords: tuple[str, ...] = (),
    default_on: Callable[[Environment], bool] = always,
    toggle: str | None = "",
    derive: Callable[[Facts], dict[str, Any]] | None = None,
    check: Callable[[Facts, dict[str, Any]], None] | None = None,
    extra: dict[str, Any] | None = None,
) -> Component:
    """The Component of one wrapper row (`chart` is a key of versions.yaml `charts:`).

    `extra`: further top-level fields of the values model (pydantic field definitions),
    for the few settings read at generate time rather than passed to the subchart.
    """
    upstream = versions.load().charts[chart]
    alias = key or values_key(upstream.name)
    frozen = copy.deepcopy(defaults)
    passthrough = (
        dict[str, Any],
        Field(
            default_factory=lambda: copy.deepcopy(frozen),
            alias=alias,
            description=f"Values of the upstream {upstream.name} chart "
            "(validated by its own schema where it ships one).",
        ),
    )
    fields: dict[str, Any] = {**(extra or {}), alias.replace("-", "_"): passthrough}
    model = create_model(_model_name(id), __base__=Values, __module__=module, **fields)
    return Component(
        id=id,
        description=description,
        why=why,
        values=model,
        namespace=namespace,
        project=upstream.project,
        module=module,
        dependencies=(Dependency(chart=chart, alias=alias),),
        needs=needs,
        keywords=keywords,
        default_on=default_on,
        toggle=toggle,
        derive=derive,
        check=check,
    )
