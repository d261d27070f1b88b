"""What a component is: the spec each row of data/components.yaml becomes (lib/table.py).

A component becomes one Helm chart and one Helm release with the same kebab-case id.
A *wrapper* pins upstream charts as dependencies and sets opinionated defaults under each
alias; a *glue* component builds its own objects with cdk8s. Both kinds share this spec so
that resolution, the writer, the renderer and the installer treat them alike.

Every callable here is a pure function of (the release's values, the environment's
resolved `Facts`): a component never imports another component, the registry, `render`
or the install code. `mlstack.resolve` wires them, once per environment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cdk8s import ApiObject, JsonPatch
from constructs import Construct

from mlstack.environments import Environment
from mlstack.lib.facts import Facts, ServingRuntime
from mlstack.lib.model import Values
from mlstack.lib.samples import Sample

#: Python-side attributes of an object the chart writer reads: its `.Values` condition and
#: its construct id. Kept on the Python proxy, not in cdk8s node metadata, because every
#: metadata read or write is a round trip to jsii's Node process.
CONDITION_ATTR = "_mlstack_condition"
ID_ATTR = "_mlstack_id"


def always(env: Environment) -> bool:
    return True


@dataclass(frozen=True)
class Dependency:
    """An upstream chart (a key of `versions.yaml` `charts:`) under a values alias."""

    chart: str
    alias: str
    #: values path that switches the subchart off, e.g. "crds.enabled"; None = always on.
    condition: str | None = None


@dataclass(frozen=True)
class Component:
    id: str
    description: str
    values: type[Values]
    namespace: str
    #: key of `versions.yaml` `projects:` giving appVersion and the Kubernetes range.
    project: str
    #: the module that defines it (named in DO-NOT-EDIT headers).
    module: str
    #: the data file that defines it instead (a wrapper row), repository-relative.
    origin: str | None = None
    dependencies: tuple[Dependency, ...] = ()
    #: glue only: adds the chart's objects to the given scope.
    build: Callable[[Construct], object] | None = None
    #: releases that must be installed (and ready) before this one.
    needs: tuple[str, ...] = ()
    #: releases this one is installed after when they are enabled (an order, not a
    #: requirement: model-auth follows the bundled Dex only where Dex is on).
    after: tuple[str, ...] = ()
    #: install with `helm --take-ownership` (adopt objects that already exist).
    take_ownership: bool = False
    keywords: tuple[str, ...] = field(default=())
    #: why the component exists and sits where it does in the order (docs, `make envs`).
    why: str = ""
    #: enabled in an environment unless its `components:` map says otherwise.
    default_on: Callable[[Environment], bool] = always
    #: key of environment.yaml `components:` that switches it (shared by releases that go
    #: together, e.g. "emissary"); None = only `default_on` decides (e.g. Seldon's mode).
    toggle: str | None = ""
    #: the environment.yaml settings that switch it on by default (data/components.yaml
    #: `when:`: dotted key -> the values that do), for `make envs` to say why it is on.
    when: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: off unless environment.yaml `components:` switches it on.
    optional: bool = False
    #: values derived from the resolved facts (a domain, the gateway's labels, ...).
    #: generate writes them to values/<env>/generated/<id>.yaml, layered under the
    #: hand-written values/<env>/<id>.yaml, which may not contradict them; the chart's
    #: own defaults are these values for the default environment.
    derive: Callable[[Facts], dict[str, Any]] | None = None
    #: values computed from the release's own settings (defaults and hand-written files,
    #: e.g. the name of a Secret it reads) and the facts; added to the derived values.
    #: Raises UserError (one line) where a required setting is missing.
    complete: Callable[[Facts, dict[str, Any]], dict[str, Any]] | None = None
    #: generate-time rule over an enabled release's merged values; raises UserError (one
    #: line) for facts no schema can express (a licence, a mode that needs another release).
    check: Callable[[Facts, dict[str, Any]], None] | None = None
    #: sample models this release installs, called by `make smoke` with its merged values
    #: (so a sample switched off is not called).
    samples: Callable[[Facts, dict[str, Any]], tuple[Sample, ...]] | None = None
    #: ClusterServingRuntimes this release registers, given its own merged values; resolve
    #: gathers them into `Facts.runtimes` (so models are checked against the enabled ones
    #: without importing the runtimes' component).
    serves: Callable[[dict[str, Any]], tuple[ServingRuntime, ...]] | None = None
    #: the strictest Pod Security level (lib/podsecurity.py) every pod of this release
    #: passes; its namespace enforces the loosest level of the releases it holds.
    pod_security: str = "restricted"
    #: an operator's: (namespace, level) of the pods it creates there for users' objects.
    pods_in: tuple[tuple[str, str], ...] = ()
    #: (api group, Kind, condition type): a condition this component's controller is known
    #: to set on objects of that kind (data/components.yaml `conditions:`, with evidence);
    #: the installer waits on these and on no other custom-resource condition.
    conditions: tuple[tuple[str, str, str], ...] = ()
    #: pods a controller creates at run time (JupyterHub's user pods), from the release's
    #: effective values (a wrapper's: the upstream chart's defaults under its block), so
    #: the render checks them against their namespace's Pod Security level like the rest.
    runtime_pods: Callable[[dict[str, Any]], tuple[dict[str, Any], ...]] | None = None
    #: wrapper rows: upstream values path -> image path under environment.yaml
    #: `imageRegistry` ("" = the registry itself), derived when a registry is set.
    registry: tuple[tuple[str, str], ...] = ()
    #: wrapper rows: upstream values paths that take the image pull secrets.
    pull_secrets: tuple[tuple[str, str], ...] = ()
    #: images pulled that the release's rendered objects do not name (upstream charts,
    #: operators), tagged; `make images` lists them (moved to the env's registry).
    images: tuple[str, ...] = ()

    @property
    def follows(self) -> tuple[str, ...]:
        """Every release this one is installed after (where enabled): needs, then after."""
        return (*self.needs, *self.after)

    def reason(self) -> str:
        """Why it is on, in environment.yaml terms (`make envs`): `always`, the `when:`
        settings, `default` (on unless switched off) and the `components:` key."""
        conditions = [f"{k}: {'|'.join(v)}" for k, v in self.when]
        if self.switch is None:
            return ", ".join(conditions) or "always"
        if not conditions and not self.optional:
            conditions = ["default"]
        return ", ".join([*conditions, f"components: {self.switch}"])

    @property
    def kind(self) -> str:
        return "wrapper" if self.dependencies else "glue"

    @property
    def switch(self) -> str | None:
        """The environment.yaml `components:` key of this release (None: not switchable)."""
        return self.id if self.toggle == "" else self.toggle

    @property
    def source(self) -> str:
        """Repository-relative path of the defining module (or data file)."""
        return self.origin or str(Path("generator", *self.module.split("."))) + ".py"


def only_if(scope: Construct, path: str, *, negate: bool = False) -> None:
    """Render the object `scope` only when `.Values.<path>` is true (a whole-file condition);
    `negate=True`: only when it is false (two variants of one object, one per case)."""
    setattr(scope, CONDITION_ATTR, f"!{path}" if negate else path)


def spec_object(
    scope: Construct,
    id: str,
    api_version: str,
    kind: str,
    name: Any,
    spec: dict[str, Any],
    *,
    when: str | None = None,
    annotations: dict[str, str] | None = None,
    namespace: Any = None,
) -> ApiObject:
    """An object with an explicit name (no cdk8s hash) and a spec, which cdk8s' ApiObject
    takes only as a JSON patch; `when`: render it only when `.Values.<when>` is true
    (`"!path"`: only when false); `namespace`: where it lives when that is not the release's
    (a slot: objects that must sit beside a derived workload, e.g. the gateway's)."""
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    if annotations:
        metadata["annotations"] = annotations
    obj = ApiObject(scope, id, api_version=api_version, kind=kind, metadata=metadata)
    obj.add_json_patch(JsonPatch.add("/spec", spec))
    setattr(obj, ID_ATTR, id)
    if when:
        only_if(obj, when.removeprefix("!"), negate=when.startswith("!"))
    return obj
