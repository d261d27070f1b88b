"""A wrapper chart is a row of data/wrappers.yaml, not a module.

The upstream chart's name, repository, version and project come from `data/versions.yaml`
(`charts:`); the row gives the release's namespace, install edges, when it is on, and the
defaults under the dependency alias. The values model has exactly one pass-through field
(plus, rarely, generate-time settings), whose key IS the alias, so defaults can never
silently miss the subchart (a typo'd alias in a values file is an unknown key). The key
is the upstream chart's name in camelCase (`-chart` dropped), or the name verbatim where
upstream docs nest values that way (`cert-manager:`). The few rows with logic name their
functions (`derive: kserve.derive`) in modules the registry hands over.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from mlstack import versions
from mlstack.environments import Environment
from mlstack.errors import UserError
from mlstack.lib import yamlfile
from mlstack.lib.component import Component, Dependency
from mlstack.lib.model import Values

TABLE = Path(__file__).parents[1] / "data" / "wrappers.yaml"


class Row(BaseModel):
    """One row of data/wrappers.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    chart: str
    namespace: str
    description: str = Field(min_length=1)
    why: str = Field(min_length=1)
    defaults: dict[str, Any]
    key: str | None = None
    when: dict[str, list[str]] = {}
    switch: str | None = ""
    needs: list[str] = []
    keywords: list[str] = []
    derive: str | None = None
    check: str | None = None
    fields: str | None = None


def values_key(upstream_name: str) -> str:
    """'kserve-resources' -> 'kserveResources'; 'emissary-crds-chart' -> 'emissaryCrds'."""
    first, *rest = upstream_name.removesuffix("-chart").split("-")
    return first + "".join(part.capitalize() for part in rest)


def _model_name(release: str) -> str:
    return "".join(part.capitalize() for part in release.split("-")) + "Values"


def matches(when: dict[str, list[str]]) -> Callable[[Environment], bool]:
    """`when: {loadBalancer: [metallb]}` -> on where every named setting has a listed value."""
    keys = {f.alias or n: n for n, f in Environment.model_fields.items()}

    def on(env: Environment) -> bool:
        return all(str(getattr(env, keys[k])) in allowed for k, allowed in when.items())

    return on


def component(release: str, row: Row, logic: dict[str, ModuleType], source: str) -> Component:
    """The Component of one row."""
    where = f"{source}: {release}"
    upstream = versions.load().charts.get(row.chart)
    if upstream is None:
        raise UserError(f"{where}.chart: {row.chart!r} is not a key of versions.yaml charts:")
    alias = row.key or values_key(upstream.name)
    if alias not in (upstream.name, values_key(upstream.name)):
        raise UserError(
            f"{where}.key: {alias!r} must be {upstream.name!r} or {values_key(upstream.name)!r}"
        )
    unknown = sorted(set(row.when) - {f.alias or n for n, f in Environment.model_fields.items()})
    if unknown:
        raise UserError(f"{where}.when: {unknown[0]} is not an environment.yaml key")

    def named(ref: str | None) -> Any:
        if ref is None:
            return None
        module, _, attr = ref.partition(".")
        if module not in logic or not hasattr(logic[module], attr):
            raise UserError(f"{where}: {ref} is not a function of components/{module}.py")
        return getattr(logic[module], attr)

    frozen = copy.deepcopy(row.defaults)
    passthrough = (
        dict[str, Any],
        Field(
            default_factory=lambda: copy.deepcopy(frozen),
            alias=alias,
            description=f"Values of the upstream {upstream.name} chart "
            "(validated by its own schema where it ships one).",
        ),
    )
    fields = {**(named(row.fields) or {}), alias.replace("-", "_"): passthrough}
    model = create_model(_model_name(release), __base__=Values, **fields)
    return Component(
        id=release,
        description=row.description,
        why=" ".join(row.why.split()),
        values=model,
        namespace=row.namespace,
        project=upstream.project,
        module=__name__,
        origin=source,
        dependencies=(Dependency(chart=row.chart, alias=alias),),
        needs=tuple(row.needs),
        keywords=tuple(row.keywords),
        default_on=matches(row.when),
        toggle=row.switch,
        derive=named(row.derive),
        check=named(row.check),
    )


def load(logic: dict[str, ModuleType], path: Path = TABLE) -> dict[str, Component]:
    """Every row of the table as a Component, by release id."""
    source = yamlfile.shown(path)
    data = yamlfile.read(path)
    if not isinstance(data, dict):
        raise UserError(f"{source}: top level must be a mapping of release ids to rows")
    out = {}
    for release, raw in data.items():
        try:
            row = Row.model_validate(raw)
        except ValidationError as err:
            first = err.errors()[0]
            key = ".".join(str(p) for p in first["loc"])
            raise UserError(f"{source}: {release}.{key}: {first['msg']}") from None
        out[release] = component(release, row, logic, source)
    return out
