"""Every hand-written values file is read and schema-checked before anything else uses it.

The cross-component checks (mlstack.invariants, mlstack.ingress, components' `check`)
index into merged values: `ingressGateway.selector`, `gateway.labels`. A value of the
wrong type there (`ingressGateway: 5`) used to surface as a TypeError traceback. So
generate runs this first: each `values/<env>/<id>.yaml` must parse (lib/yamlfile), sit
under a known name with the `.yaml` extension, and — layered over the chart defaults and
the derived values exactly as Helm will layer it — pass the chart's JSON schema and its
model; wrapper pass-through blocks also pass the upstream checks when the upstream
schemas are at hand (render always checks them).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlstack import environments, registry, render
from mlstack.errors import UserError
from mlstack.lib import model, schemas, validate, yamlfile
from mlstack.lib.component import Component


@functools.cache
def _schema(component: Component) -> dict[str, Any]:
    return model.json_schema(component.values, "")


def problems(values_dir: Path, schema_dir: Path | None) -> list[str]:
    """'file: key: message' for every values file of every environment.

    Each file is checked over the chart defaults alone: deriving values reads other
    releases' files (the gateway's labels), so it runs only after this has passed
    (envvalues.build and render check the layered result).
    """
    found: list[str] = []
    for env in environments.ENVIRONMENTS.values():
        found += render.misnamed_files(env, values_dir)
        for component in registry.COMPONENTS:
            path = values_dir / env.name / f"{component.id}.yaml"
            if component.id in env.components and (path.exists() or path.is_symlink()):
                errors = _file_errors(component, path, schema_dir)
                found += [f"{yamlfile.shown(path)}: {e}" for e in errors]
    return found


def _file_errors(component: Component, path: Path, schema_dir: Path | None) -> list[str]:
    merged = validate.deep_merge(model.defaults(component.values), render.load_values(path))
    errors = validate.schema_errors(merged, _schema(component))
    errors = errors or validate.model_errors(merged, component.values)
    if not errors and schema_dir is not None:
        errors = render.check_passthrough(component, merged, schema_dir)
    return errors


def available_schema_dir() -> Path | None:
    """The upstream schema directory when one is configured and present, else None."""
    try:
        return schemas.schema_dir(os.environ.get(schemas.ENV_VAR))
    except UserError:
        return None


def check(values_dir: Path) -> None:
    found = problems(values_dir, available_schema_dir())
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise UserError(found[0] + more)


@contextlib.contextmanager
def cross_checks(values_dir: Path) -> Iterator[None]:
    """Safety net around the cross-component checks when the upstream schemas are absent.

    Without them the pass-through blocks (`gateway.labels`) cannot be type-checked here,
    and a wrong type would reach code that indexes into it. One line instead of a
    traceback; `make render` (which always has the schemas) then names the exact key.
    """
    try:
        yield
    except (TypeError, AttributeError, KeyError, ValueError) as err:
        raise UserError(
            f"{yamlfile.shown(values_dir)}: a pass-through value has the wrong type "
            f"({type(err).__name__}: {err}): set {schemas.ENV_VAR} (or run `make render`) "
            "to have it named by file and key"
        ) from None
