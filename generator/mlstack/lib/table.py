"""The component table: data/components.yaml, one row per component, in install order.

A component is a row, not a module. A *wrapper* row names an upstream chart whose name,
repository, version and project come from `data/versions.yaml` (`charts:`), and our
defaults under the dependency alias: its values model has exactly one pass-through field
(plus, rarely, generate-time settings) whose key IS the alias, so defaults can never
silently miss the subchart (a typo'd alias in a values file is an unknown key). The key
is the upstream chart's name in camelCase (`-chart` dropped), or the name verbatim where
upstream docs nest values that way (`cert-manager:`). A *glue* row names its values model
and cdk8s construct in a module under components/. Rows with logic name their functions
(`derive: kserve.derive`: components/kserve.py); a new component is a row (and, for glue
or logic, a module), with no other file to edit.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic.alias_generators import to_snake

from mlstack import versions
from mlstack.environments import Environment
from mlstack.errors import UserError
from mlstack.lib import images, yamlfile
from mlstack.lib.component import Component, Dependency
from mlstack.lib.model import Values
from mlstack.lib.podsecurity import Level

TABLE = Path(__file__).parents[1] / "data" / "components.yaml"
#: An environment with every default: `when:` keys are checked by reading them from it.
CHECK_ENV = Environment(
    description="check", cluster="existing", kubernetes="1.35", load_balancer="cloud",
    domain="example.com",
)  # fmt: skip


class Condition(BaseModel):
    """A status condition the component's controller is known to set on a kind it owns,
    and where upstream says so (repository, file and the pinned version read)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = Field(pattern=r"^[A-Z][A-Za-z]*$")
    evidence: str = Field(min_length=20)


class Row(BaseModel):
    """One row of data/components.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    namespace: str
    description: str = Field(min_length=1)
    why: str = Field(min_length=1)
    #: wrapper: key of versions.yaml `charts:`, our defaults and (rarely) the values key.
    chart: str | None = None
    defaults: dict[str, Any] | None = None
    key: str | None = None
    #: glue: `<module>.<name>` of the values model and the construct; the project.
    values: str | None = None
    build: str | None = None
    project: str | None = None
    when: dict[str, list[str | bool]] = {}
    optional: bool = False
    switch: str | None = ""
    needs: list[str] = []
    after: list[str] = []
    #: install with `helm --take-ownership`: adopt objects that exist already (namespaces
    #: users created to hold their Secrets before the platform).
    take_ownership: bool = Field(False, alias="takeOwnership")
    keywords: list[str] = []
    derive: str | None = None
    complete: str | None = None
    check: str | None = None
    samples: str | None = None
    serves: str | None = None
    fields: str | None = None
    #: the strictest Pod Security level every pod of the release passes.
    pod_security: Level = Field("restricted", alias="podSecurity")
    #: an operator's: namespace -> the level the pods it creates there for users' objects
    #: pass (e.g. Seldon's executor in models), where that namespace is in use.
    pods_in: dict[str, Level] = Field({}, alias="podsIn")
    #: `<group>/<Kind>` -> the condition this component's controller sets on that kind:
    #: the only custom resources `make install-platform` waits on (lifecycle/readiness.py).
    conditions: dict[str, Condition] = {}
    #: `<module>.<name>`: pods a controller creates at run time from the release's values.
    runtime_pods: str | None = Field(None, alias="runtimePods")
    #: wrapper: upstream values path -> image path under environment.yaml imageRegistry.
    registry: dict[str, str] = {}
    #: wrapper: upstream values path -> how it lists pull secrets (names or {name: ...}).
    pull_secrets: dict[str, Literal["names", "refs"]] = Field({}, alias="pullSecrets")
    #: every image the release's pods pull that its rendered objects do not name (an
    #: upstream chart's, an operator's): `repo[:tag]` ({version}/{appVersion} of the
    #: project; default tag :{appVersion}), or `<module>.<name>` of such a tuple.
    images: list[str] | str = []


def values_key(upstream_name: str) -> str:
    """'kserve-resources' -> 'kserveResources'; 'emissary-crds-chart' -> 'emissaryCrds'."""
    first, *rest = upstream_name.removesuffix("-chart").split("-")
    return first + "".join(part.capitalize() for part in rest)


def never(env: Environment) -> bool:
    """An optional component: on only where `components:` switches it on."""
    return False


def setting(env: Environment, key: str) -> Any:
    """An environment.yaml setting by its dotted camelCase path (`tls.mode`); the last part
    may name a property of the model (`auth.bundledDex`)."""
    node: Any = env
    for part in key.split("."):
        node = getattr(node, to_snake(part))
    return node


def matches(when: dict[str, list[str | bool]]) -> Callable[[Environment], bool]:
    """`when: {loadBalancer: [metallb]}` -> on where every named setting has a listed value
    (dotted keys reach nested settings: `tls.mode: [acme]`, `auth.enabled: [true]`)."""

    def on(env: Environment) -> bool:
        return all(
            (value := setting(env, k)) in allowed or str(value) in allowed
            for k, allowed in when.items()
        )

    return on


#: The package whose modules rows may name (`build: models.Models`).
PACKAGE = "mlstack.components"


class _Rows:
    """Resolves a row's `<module>.<name>` references, failing in one line naming the row."""

    def __init__(self, where: str) -> None:
        self.where = where

    def named(self, ref: str | None) -> Any:
        if ref is None:
            return None
        module, _, attr = ref.partition(".")
        try:
            found = importlib.import_module(f"{PACKAGE}.{module}")
        except ModuleNotFoundError:
            found = None
        if found is None or not hasattr(found, attr):
            raise UserError(f"{self.where}: {ref} is not defined in components/{module}.py")
        return getattr(found, attr)

    def fail(self, message: str) -> UserError:
        return UserError(f"{self.where}{message}")


def _wrapper(
    release: str, row: Row, refs: _Rows
) -> tuple[type[Values], tuple[Dependency, ...], str]:
    """(values model, dependency, project) of a wrapper row."""
    assert row.chart is not None
    upstream = versions.load().charts.get(row.chart)
    if upstream is None:
        raise refs.fail(f".chart: {row.chart!r} is not a key of versions.yaml charts:")
    alias = row.key or values_key(upstream.name)
    if alias not in (upstream.name, values_key(upstream.name)):
        raise refs.fail(f".key: use {upstream.name!r} or {values_key(upstream.name)!r}")
    frozen = copy.deepcopy(row.defaults or {})
    passthrough = (
        dict[str, Any],
        Field(
            default_factory=lambda: copy.deepcopy(frozen),
            alias=alias,
            description=f"Values of the upstream {upstream.name} chart "
            "(validated by its own schema where it ships one).",
        ),
    )
    fields = {**(refs.named(row.fields) or {}), alias.replace("-", "_"): passthrough}
    name = "".join(part.capitalize() for part in release.split("-")) + "Values"
    model = create_model(name, __base__=Values, **fields)
    return model, (Dependency(chart=row.chart, alias=alias),), upstream.project


def _is_setting(key: str) -> bool:
    try:
        setting(CHECK_ENV, key)
    except AttributeError:
        return False
    return True


def component(release: str, row: Row, source: str) -> Component:
    """The Component of one row (`source`: the table's path, for messages and headers)."""
    refs = _Rows(f"{source}: {release}")
    unknown = sorted(k for k in row.when if not _is_setting(k))
    if unknown:
        raise refs.fail(f".when: {unknown[0]} is not an environment.yaml key")
    if row.optional and row.when:
        raise refs.fail(": give when: (on where it matches) or optional: true, not both")
    if (row.chart is None) == (row.build is None):
        raise refs.fail(": give either chart: (a wrapper) or build: and values: (glue)")
    build = refs.named(row.build)
    if row.chart is not None:
        model, dependencies, project = _wrapper(release, row, refs)
        module, origin = __name__, source
    else:
        model, dependencies = refs.named(row.values), ()
        if model is None or row.project is None:
            raise refs.fail(": a glue row needs values: and project:")
        project, module, origin = row.project, build.__module__, None
    return Component(
        id=release,
        description=row.description,
        why=" ".join(row.why.split()),
        values=model,
        namespace=row.namespace,
        project=project,
        module=module,
        origin=origin,
        dependencies=dependencies,
        build=build,
        needs=tuple(row.needs),
        after=tuple(row.after),
        take_ownership=row.take_ownership,
        keywords=tuple(row.keywords),
        default_on=never if row.optional else matches(row.when),
        toggle=row.switch,
        when=tuple((k, tuple(str(v).lower() for v in vs)) for k, vs in row.when.items()),
        optional=row.optional,
        derive=refs.named(row.derive),
        complete=refs.named(row.complete),
        check=refs.named(row.check),
        samples=refs.named(row.samples),
        serves=refs.named(row.serves),
        pod_security=row.pod_security,
        pods_in=tuple(row.pods_in.items()),
        conditions=_conditions(row, refs),
        runtime_pods=refs.named(row.runtime_pods),
        registry=tuple(row.registry.items()),
        images=_images(row, project, refs),
        pull_secrets=tuple(row.pull_secrets.items()),
    )


def _conditions(row: Row, refs: _Rows) -> tuple[tuple[str, str, str], ...]:
    """(group, Kind, condition type) of each `conditions:` entry, checked for shape."""
    out = []
    for key, entry in row.conditions.items():
        group, _, kind = key.rpartition("/")
        if not group or "." not in group or not kind[:1].isupper():
            raise refs.fail(f".conditions: {key!r} must be <api group>/<Kind>")
        out.append((group, kind, entry.type))
    return tuple(out)


def _images(row: Row, project: str, refs: _Rows) -> tuple[str, ...]:
    """The row's images with their tags filled in from versions.yaml's project."""
    listed = refs.named(row.images) if isinstance(row.images, str) else row.images
    pinned = versions.load().projects[project]
    tags = {"version": pinned.version, "appVersion": pinned.app_version}
    out = []
    for image in listed:
        tagged = image if images.has_tag(image) else f"{image}:{{appVersion}}"
        out.append(yamlfile.filled(tagged, f"{refs.where}images", **tags))
    return tuple(out)


def load(path: Path = TABLE) -> tuple[Component, ...]:
    """Every row of the table as a Component, in the table's (install) order."""
    source = yamlfile.shown(path)
    data = yamlfile.read(path)
    if not isinstance(data, dict):
        raise UserError(f"{source}: top level must be a mapping of release ids to rows")
    out = []
    for release, raw in data.items():
        try:
            row = Row.model_validate(raw)
        except ValidationError as err:
            first = err.errors()[0]
            key = ".".join(str(p) for p in first["loc"])
            raise UserError(f"{source}: {release}.{key}: {first['msg']}") from None
        out.append(component(str(release), row, source))
    return tuple(out)
