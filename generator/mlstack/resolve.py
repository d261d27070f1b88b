"""Resolve an environment ONCE: its releases in order, their values, the derived facts.

Everything that needs "the env's releases" (generate, render, lint, install, smoke,
GitOps, the invariants) takes the `Resolved` this module returns instead of recomputing
it. Resolution, in order, each step failing with one line naming file and key:

1. `values/<env>/environment.yaml` (strict model, mlstack.environments);
2. enabled releases: each component's `default_on` rule, then the env's `components:`
   switches; every `needs` edge must hold; the Kubernetes minor must lie in every enabled
   project's range (the validated window is their intersection);
3. hand-written values files, checked against each chart's schema and model (wrong types
   are refused here, before any cross-check reads them);
4. the facts: the Istio gateway's Service/labels (upstream naming rules over the gateway
   release's values), the domain, TLS, Seldon mode;
5. per release: derived values (`Component.derive(facts)`, and `Component.complete` of
   the facts and the release's own settings), which a hand-written value may
   not contradict; merged values; the component's own `check`.

The values layering (chart defaults -> generated -> hand-written -> machine-local) is
decided in exactly one function, `layers`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mlstack import environments, registry, versions
from mlstack.environments import Environment
from mlstack.errors import UserError
from mlstack.lib import envvalues, mirror, model, validate, yamlfile
from mlstack.lib.component import Component
from mlstack.lib.facts import (
    DEX_PORT,
    SELDON_GATEWAY_NAME,
    Facts,
    dex_service,
    emissary_service,
    istio_gateway,
)

VALUES_DIR = environments.VALUES_DIR
#: values/<env>/generated/<id>.yaml: derived values, written by generate.
GENERATED = envvalues.GENERATED
#: values/<env>/local/<id>.yaml: machine-specific overlays (git-ignored), written by
#: `make cluster-*` (MetalLB range) and the install step (`domain: auto`).
LOCAL = "local"
#: First line of the local overlays the install step writes for `domain: auto`: an env
#: whose domain is fixed ignores them (e.g. copied along by `cp -r values/k3d values/lab`).
AUTO_DOMAIN_HEADER = (
    "# Written by mlstack install-platform (domain: auto); git-ignored, machine-specific.\n"
)
#: Upstream charts whose release the facts are read from.
GATEWAY_CHART = "istio-gateway"
AMBASSADOR_CHART = "emissary-ingress"
DEX_CHART = "dex"
SELDON_GATEWAY = "seldon-gateway"

Components = tuple[Component, ...]
Loaded = dict[Path, dict[str, Any]]


def layers(values_dir: Path, env: str, release: str, *, local: bool = False) -> list[Path]:
    """The values files of a release in the order Helm layers them (later files win), after
    the chart's own defaults: derived (generated/), hand-written, and with `local=True` the
    machine-specific overlay. THE one place layering is decided; only existing files."""
    folder = values_dir / env
    candidates = [folder / GENERATED / f"{release}.yaml", folder / f"{release}.yaml"]
    if local:
        candidates.append(folder / LOCAL / f"{release}.yaml")
    # A link that leads nowhere is not "no file": reading it names it (lib/yamlfile).
    return [p for p in candidates if p.exists() or p.is_symlink()]


def load_values(path: Path) -> dict[str, Any]:
    return yamlfile.read_mapping(path, "a mapping of chart keys")


@dataclass(frozen=True)
class Release:
    component: Component
    #: existing values files in layering order (what `helm --values` gets).
    files: tuple[Path, ...]
    #: the chart's defaults (its values.yaml).
    defaults: dict[str, Any]
    #: values derived from the facts (values/<env>/generated/<id>.yaml).
    derived: dict[str, Any]
    #: everything merged: defaults, derived, hand-written (and local when resolved so).
    values: dict[str, Any]

    @property
    def id(self) -> str:
        return self.component.id

    @property
    def namespace(self) -> str:
        return self.component.namespace

    @property
    def overrides(self) -> dict[str, Any]:
        """The values files merged, without the chart defaults: what a tool that takes
        values inline (Flux with an OCI chart) gets instead of the files."""
        return _merge({}, list(self.files), {p: load_values(p) for p in self.files})


@dataclass(frozen=True)
class Resolved:
    env: Environment
    facts: Facts
    releases: tuple[Release, ...]
    #: Kubernetes minors every enabled project supports (rendered output is validated
    #: against each), oldest first.
    minors: tuple[str, ...]
    values_dir: Path
    #: machine-local overlays included (install, smoke) or not (render, GitOps, goldens).
    local: bool

    @property
    def name(self) -> str:
        return self.env.name

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self.releases]

    def release(self, release_id: str) -> Release | None:
        return next((r for r in self.releases if r.id == release_id), None)

    def generated_file(self, release_id: str) -> Path:
        return self.values_dir / self.env.name / GENERATED / f"{release_id}.yaml"

    def check_generated(self) -> None:
        """Helm reads derived values from generated/ files: refuse to use stale ones."""
        for r in self.releases:
            path = self.generated_file(r.id)
            have = load_values(path) if path.exists() else None
            if (have or None) != (r.derived or None):
                raise UserError(
                    f"{yamlfile.shown(path)} is missing or out of date for "
                    f"{self.env.shown(self.values_dir)}: run `make generate`"
                )


# --- enabled releases and the Kubernetes window -----------------------------------------


def switches(components: Components) -> dict[str, list[str]]:
    """environment.yaml `components:` keys -> the releases each one switches."""
    out: dict[str, list[str]] = {}
    for c in components:
        if c.switch is not None:
            out.setdefault(c.switch, []).append(c.id)
    return out


def enabled(env: Environment, components: Components, values_dir: Path) -> list[Component]:
    """The env's releases in registry (install) order; needs edges checked."""
    where = env.shown(values_dir)
    known = switches(components)
    for key in env.components:
        if key not in known:
            raise UserError(
                f"{where}: components.{key}: unknown component: use one of "
                f"{', '.join(sorted(known))}"
            )
    on = [
        c
        for c in components
        if (env.components.get(c.switch, c.default_on(env)) if c.switch else c.default_on(env))
    ]
    ids = {c.id for c in on}
    for c in on:
        for need in c.needs:
            if need not in ids:
                raise UserError(
                    f"{where}: {c.id} needs {need}, which is not enabled: switch it on in "
                    f"`components:` or switch {c.switch or c.id} off"
                )
    return on


def window(
    env: Environment, on: list[Component], data: versions.Versions, values_dir: Path
) -> tuple[str, ...]:
    """Minors every enabled project supports; the env's own minor must be one of them."""
    low, high = (1, 0), (1, 999)
    for c in on:
        project = data.projects[c.project]
        if not project.kubernetes.covers(env.kubernetes):
            raise UserError(
                f"{env.shown(values_dir)}: kubernetes: environment {env.name} runs Kubernetes "
                f"{env.kubernetes}, but {c.id} ({c.project} {project.version}) supports "
                f"{project.kubernetes.min}-{project.kubernetes.max}: change the environment "
                f"or projects.{c.project} in versions.yaml"
            )
        low = max(low, versions.parse_minor(project.kubernetes.min))
        high = min(high, versions.parse_minor(project.kubernetes.max))
    return tuple(f"1.{m}" for m in range(low[1], high[1] + 1))


# --- values: schema first, then derived facts --------------------------------------------


@functools.cache
def _schema(values_model: type[model.Values]) -> dict[str, Any]:
    return model.json_schema(values_model, "")


def check_values(
    component: Component, files: list[Path], base: dict[str, Any], loaded: Loaded | None = None
) -> list[str]:
    """Problems with a release's values files, each 'file: key: message', layer by layer
    over `base` (the chart defaults): the chart's JSON schema, then its model."""
    problems = []
    merged = base
    for path in files:
        merged = validate.deep_merge(merged, loaded[path] if loaded else load_values(path))
        found = validate.schema_errors(merged, _schema(component.values))
        if not found:
            found = validate.model_errors(merged, component.values)
        problems += [f"{yamlfile.shown(path)}: {p}" for p in found]
    return problems


def stray_files(env: Environment, ids: set[str], values_dir: Path) -> list[str]:
    """A values file for a release the env does not enable is almost always a typo."""
    return [
        f"{yamlfile.shown(p)}: no release {p.stem!r} is enabled in {env.name}: rename the "
        f"file or switch it on in {env.shown(values_dir)} `components:`"
        for p in sorted((values_dir / env.name).glob("*.yaml"))
        if p.stem not in ids and p.name != environments.FILE
    ] + misnamed_files(env, values_dir)


def misnamed_files(env: Environment, values_dir: Path) -> list[str]:
    """`metallb-pool.yml` would be silently ignored: only `<id>.yaml` files are read."""
    folder = values_dir / env.name
    return [
        f"{yamlfile.shown(p)}: not read (values files end in .yaml): rename it to {p.stem}.yaml"
        for p in sorted(folder.iterdir() if folder.is_dir() else [])
        if p.suffix != ".yaml" and not p.name.startswith(".") and p.name not in (GENERATED, LOCAL)
    ]


def leaves(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted path -> value of every leaf (lists are leaves: Helm replaces them whole)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            out.update(leaves(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def _origin(component: Component, facts: Facts, key: str) -> str:
    """Which input a derived value follows: found by changing each input and watching it."""
    before = leaves(derived_values(component, facts)).get(key)
    gw = facts.gateway
    moved = replace(
        gw,
        namespace=f"{gw.namespace}-x",
        service=f"{gw.service}-x",
        pod_labels={k: f"{v}-x" for k, v in gw.pod_labels.items()},
    )
    if leaves(derived_values(component, replace(facts, gateway=moved))).get(key) != before:
        return f"the Istio gateway release {gw.release} ({facts.file(gw.release)})"
    return facts.env_file


def contradictions(
    component: Component, facts: Facts, derived: dict[str, Any], path: Path, data: dict[str, Any]
) -> None:
    """A hand-written value that differs from a derived one is refused, naming both files."""
    wanted = leaves(derived)
    for key, value in leaves(data).items():
        if key in wanted and value != wanted[key]:
            raise UserError(
                f"{yamlfile.shown(path)}: {key} is {value!r}, but it is derived as "
                f"{wanted[key]!r} from {_origin(component, facts, key)}: remove the key "
                "(generate writes it) or change it there"
            )


# --- facts ----------------------------------------------------------------------------


def _one(components: Components, chart: str) -> Component | None:
    found = [c for c in components if any(d.chart == chart for d in c.dependencies)]
    if len(found) > 1:
        names = ", ".join(c.id for c in found)
        raise UserError(
            f"registry: exactly one component may wrap the {chart} chart (found {names}): "
            "the others derive their settings from it"
        )
    return found[0] if found else None


def _merge(base: dict[str, Any], files: list[Path], loaded: Loaded) -> dict[str, Any]:
    for path in files:
        base = validate.deep_merge(base, loaded[path])
    return base


def facts_for(
    env: Environment,
    components: Components,
    on: frozenset[str],
    values_dir: Path,
    own: Callable[[Component], dict[str, Any]],
) -> Facts:
    """The cross-component facts of `env`; `own(c)` gives a release's own merged values
    (defaults and its files), from which the upstream naming rules read names."""
    gateway_c = _one(components, GATEWAY_CHART)
    if gateway_c is None:
        raise UserError(
            f"registry: no component wraps the {GATEWAY_CHART} chart: Knative and KServe "
            "derive their gateway settings from it"
        )

    def where(c: Component) -> str:
        shown = yamlfile.shown(values_dir / env.name / f"{c.id}.yaml")
        return f"{shown}: {c.dependencies[0].alias}"

    gateway = istio_gateway(
        gateway_c.id, gateway_c.namespace, _block(gateway_c, own), where(gateway_c)
    )
    emissary_c = _one(components, AMBASSADOR_CHART)
    ambassador = (
        emissary_service(
            emissary_c.id, emissary_c.namespace, _block(emissary_c, own), where(emissary_c)
        )
        if emissary_c
        else ""
    )
    seldon_ns = next((c.namespace for c in components if c.id == SELDON_GATEWAY), "")
    dex_c = _one(components, DEX_CHART)
    dex = (
        dex_service(dex_c.id, dex_c.namespace, _block(dex_c, own), where(dex_c))
        if dex_c
        else ("", DEX_PORT)
    )
    domain = environments.AUTO_PLACEHOLDER if env.auto_domain else env.domain
    return Facts(
        env=env,
        enabled=on,
        domain=domain,
        gateway=gateway,
        seldon_gateway=f"{seldon_ns}/{SELDON_GATEWAY_NAME}",
        ambassador_service=ambassador,
        values_dir=values_dir,
        dex_service=dex[0],
        dex_port=dex[1],
        runtimes=tuple(
            runtime
            for c in components
            if c.id in on and c.serves is not None
            for runtime in c.serves(own(c))
        ),
        namespaces=_namespaces([c for c in components if c.id in on]),
        image_registry=env.image_registry,
        pull_secrets=tuple(env.image_pull_secrets),
    )


def _namespaces(on: list[Component]) -> dict[str, tuple[str, ...]]:
    """namespace -> the Pod Security levels of the enabled releases installed there."""
    out: dict[str, tuple[str, ...]] = {}
    for c in on:
        out[c.namespace] = (*out.get(c.namespace, ()), c.pod_security)
    for c in on:
        for namespace, level in c.pods_in:
            if namespace in out:
                out[namespace] = (*out[namespace], level)
    return out


def _block(component: Component, own: Callable[[Component], dict[str, Any]]) -> dict[str, Any]:
    """A wrapper's pass-through block (the upstream chart's values)."""
    block = own(component).get(component.dependencies[0].alias)
    return block if isinstance(block, dict) else {}


#: The environment chart defaults are derived for: every default, nothing opted in.
CHART_DEFAULTS_ENV = Environment(
    name="default",
    description="the charts' own defaults",
    cluster="existing",
    kubernetes="1.35",
    load_balancer="cloud",
    domain="example.com",
)


@functools.cache
def chart_defaults(components: Components = registry.COMPONENTS) -> dict[str, dict[str, Any]]:
    """Each chart's values.yaml: its model defaults, then what `derive` gives for the default
    environment (so a chart installed on its own names the default gateway and domain)."""
    base = {c.id: model.defaults(c.values) for c in components}
    env = CHART_DEFAULTS_ENV
    on = frozenset(c.id for c in components if c.default_on(env))
    facts = facts_for(env, components, on, VALUES_DIR, lambda c: base[c.id])
    out = {}
    for c in components:
        out[c.id] = validate.deep_merge(base[c.id], c.derive(facts)) if c.derive else base[c.id]
        problems = validate.model_errors(out[c.id], c.values)
        if problems:
            raise UserError(
                f"{c.source}: derive for the chart defaults gives {problems[0]}: fix the derivation"
            )
    return out


# --- resolve ----------------------------------------------------------------------------


def resolve(
    env: str | Environment,
    values_dir: Path = VALUES_DIR,
    *,
    components: Components = registry.COMPONENTS,
    local: bool = False,
) -> Resolved:
    """The environment `env` (a name under `values_dir`, or a loaded one), resolved."""
    if isinstance(env, str):
        env = environments.load(env, values_dir)
    auto = env.auto_domain  # as committed: the local overlay may fill in the address
    if local:
        env = _local_env(env, values_dir)
    registry.check_order(components)
    data = versions.load()
    on = enabled(env, components, values_dir)
    minors = window(env, on, data, values_dir)
    defaults = chart_defaults(components)
    problems = stray_files(env, {c.id for c in on}, values_dir)
    files = {c.id: _layers(env.name, auto, values_dir, c.id, local) for c in on}
    hand: dict[str, list[Path]] = {}
    loaded: Loaded = {}
    for c in on:
        hand[c.id] = [p for p in files[c.id] if _hand(p)]
        loaded.update((p, load_values(p)) for p in hand[c.id])
        problems += check_values(c, hand[c.id], defaults[c.id], loaded)
    if problems:
        raise UserError("\n".join(problems))

    def own(c: Component) -> dict[str, Any]:
        return _merge(defaults[c.id], hand.get(c.id, []), loaded)

    facts = facts_for(env, components, frozenset(c.id for c in on), values_dir, own)
    releases = []
    for c in on:
        derived = derived_values(c, facts)
        if c.complete is not None:
            derived = validate.deep_merge(derived, c.complete(facts, own(c)))
        written = values_dir / env.name / f"{c.id}.yaml"
        if derived and written in loaded:
            contradictions(c, facts, derived, written, loaded[written])
        merged = _merge(validate.deep_merge(defaults[c.id], derived), hand[c.id], loaded)
        if c.check is not None:
            c.check(facts, merged)
        releases.append(Release(c, tuple(files[c.id]), defaults[c.id], derived, merged))
    return Resolved(env, facts, tuple(releases), minors, values_dir, local)


def derived_values(component: Component, facts: Facts) -> dict[str, Any]:
    """A release's derived values: its own `derive`, then a wrapper's image registry and
    pull secrets (lib/mirror.py, from the row's `registry:`/`pullSecrets:` data)."""
    own = component.derive(facts) if component.derive else {}
    return validate.deep_merge(own, mirror.wrapper_values(component, facts))


def _layers(env: str, auto: bool, values_dir: Path, release: str, local: bool) -> list[Path]:
    """`layers`, without the `domain: auto` overlays where the env's domain is fixed."""
    found = layers(values_dir, env, release, local=local)
    if local and not auto:
        found = [p for p in found if not p.read_text().startswith(AUTO_DOMAIN_HEADER)]
    return found


def _hand(path: Path) -> bool:
    """Hand-written or machine-local (not derived: those are checked when generated)."""
    return path.parent.name != GENERATED


#: values/<env>/local/environment.yaml: settings the install step found on this machine
#: (the `domain: auto` address); only `domain` may be set there.
LOCAL_ENV_KEYS = ("domain",)


def _local_env(env: Environment, values_dir: Path) -> Environment:
    path = values_dir / env.name / LOCAL / environments.FILE
    if not env.auto_domain or not path.exists():
        return env
    data = yamlfile.read(path) or {}
    extra = sorted(set(data) - set(LOCAL_ENV_KEYS)) if isinstance(data, dict) else ["(top)"]
    if extra:
        raise UserError(f"{yamlfile.shown(path)}: {extra[0]}: only domain may be set here")
    merged = {**env.model_dump(by_alias=True, exclude={"name"}), **data}
    return environments.parse(env.name, merged, path)


def all_envs(
    values_dir: Path = VALUES_DIR, components: Components = registry.COMPONENTS
) -> list[Resolved]:
    return [
        resolve(name, values_dir, components=components) for name in environments.names(values_dir)
    ]
