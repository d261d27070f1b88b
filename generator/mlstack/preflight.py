"""A safety net around the cross-component checks of generate.

Each values file is schema-checked (mlstack.resolve) before facts are derived from it.
The pass-through blocks of wrapper charts stay open in our schemas, though (the upstream
chart's own schema, or its values.yaml keys, judge them: render.check_passthrough), and a
wrong type there (`gateway.labels: 5`) can reach code that indexes into it. Render always
has the upstream schemas and names the key; generate may run without them, so here such a
failure becomes one line instead of a traceback.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from mlstack import environments, render, resolve
from mlstack.errors import UserError
from mlstack.lib import schemas, upstream, validate, yamlfile
from mlstack.resolve import Components


@contextlib.contextmanager
def cross_checks(values_dir: Path) -> Iterator[None]:
    try:
        yield
    except (TypeError, AttributeError, KeyError, ValueError) as err:
        raise UserError(
            f"{yamlfile.shown(values_dir)}: a pass-through value has the wrong type "
            f"({type(err).__name__}: {err}): run `make render` (or set {schemas.ENV_VAR}) "
            "to have it named by file and key"
        ) from None


def available_schema_dir() -> Path | None:
    """The upstream schema directory when one is configured and present, else None."""
    try:
        return schemas.schema_dir(os.environ.get(schemas.ENV_VAR))
    except UserError:
        return None


def check_passthrough(values_dir: Path, components: Components) -> None:
    """Hand-written pass-through blocks against the upstream checks, before resolving reads
    them: all of render's when the upstream schemas are at hand, else the conventions that
    need no upstream file (lib/upstream.convention_problems); render always runs all."""
    directory = available_schema_dir()
    defaults = resolve.chart_defaults(components)
    found: list[str] = []
    for env in environments.names(values_dir):
        for component in components:
            path = values_dir / env / f"{component.id}.yaml"
            if not component.dependencies or not path.is_file():
                continue
            merged = validate.deep_merge(defaults[component.id], resolve.load_values(path))
            if directory is not None:
                problems = render.check_passthrough(component, merged, directory)
            else:
                problems = [
                    f"{dep.alias}.{p}"
                    for dep in component.dependencies
                    for p in upstream.convention_problems(merged.get(dep.alias))
                ]
            found += [f"{yamlfile.shown(path)}: {p}" for p in problems]
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise UserError(found[0] + more)
