"""What a component is: the spec each `components/<id>.py` module exports.

A component becomes one Helm chart and one Helm release with the same kebab-case id.
A *wrapper* pins upstream charts as dependencies and sets opinionated defaults under each
alias; a *glue* component builds its own objects with cdk8s. Both kinds share this spec so
that the registry, the writer, the renderer and the installer treat them alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from constructs import Construct

from mlstack.lib.model import Values
from mlstack.lib.samples import Sample

if TYPE_CHECKING:
    from mlstack.environments import Environment

CONDITION_KEY = "mlstack:if"


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
    dependencies: tuple[Dependency, ...] = ()
    #: glue only: adds the chart's objects to the given scope.
    build: Callable[[Construct], object] | None = None
    #: releases that must be installed (and ready) before this one.
    needs: tuple[str, ...] = ()
    keywords: tuple[str, ...] = field(default=())
    #: values derived from the environment (a domain, a gateway address, ...). generate
    #: writes them to values/<env>/generated/<id>.yaml, layered under the hand-written
    #: values/<env>/<id>.yaml, so a cross-component fact is typed once and never drifts.
    env_values: Callable[[Environment], dict[str, Any]] | None = None
    #: generate-time rule over an environment: called for EVERY environment with the
    #: release's merged values there (defaults, env_values, values/<env>/<id>.yaml), or
    #: None where the env does not enable it. Raises UserError (one line) to refuse, for
    #: facts no schema can express (a licence, a mode that needs another release).
    check: Callable[[Environment, dict[str, Any] | None], None] | None = None
    #: sample models this release installs, called by `make smoke`: given the env and the
    #: release's merged values (so a sample switched off is not called).
    samples: Callable[[Environment, dict[str, Any]], tuple[Sample, ...]] | None = None

    @property
    def kind(self) -> str:
        return "wrapper" if self.dependencies else "glue"

    @property
    def source(self) -> str:
        """Repository-relative path of the defining module."""
        return str(Path("generator", *self.module.split("."))) + ".py"


def only_if(scope: Construct, path: str, *, negate: bool = False) -> None:
    """Render the object `scope` only when `.Values.<path>` is true (a whole-file condition);
    `negate=True`: only when it is false (two variants of one object, one per case)."""
    scope.node.add_metadata(CONDITION_KEY, f"!{path}" if negate else path)
