"""`generate`: every component -> its chart under charts/, checked before anything is written.

Checks run first (registry order, every environment resolved: its environment.yaml, its
releases and Kubernetes window, its values and the facts derived from them; the version
invariants; slot paths; version bumps); only when all pass are the files swapped in. So a
failing generate leaves `charts/` and `values/` untouched, and a passing one is
deterministic (same input, same bytes). It writes the charts, each environment's derived
values (values/<env>/generated/) and the JSON schema of environment.yaml.
"""

from __future__ import annotations

from pathlib import Path

from mlstack import (
    CHARTS_DIR,
    environments,
    invariants,
    preflight,
    project,
    registry,
    resolve,
    versions,
)
from mlstack.lib import atomic, chartgen, envvalues, releases
from mlstack.lib.chartgen import BuiltChart
from mlstack.resolve import Components, Resolved

VALUES_DIR = environments.VALUES_DIR


def build_all(charts_dir: Path, components: Components) -> list[BuiltChart]:
    data = versions.load()
    publisher = project.load()
    defaults = resolve.chart_defaults(components)
    built = []
    for component in components:
        entry = releases.for_chart(component.id)
        next_up = tuple(c for c in components if component.id in c.follows)
        chart = chartgen.build_chart(
            component, data, entry, publisher, next_up, defaults[component.id]
        )
        old = chartgen.read_chart_meta(charts_dir / component.id)
        if old and "version" in old:
            old_digest = old.get("annotations", {}).get(chartgen.DIGEST_ANNOTATION, "")
            releases.check_bump(
                component.id, str(old["version"]), old_digest, chart.version, chart.digest
            )
        built.append(chart)
    return built


def derived_files(envs: list[Resolved]) -> dict[Path, str]:
    """Every generated values file of every environment."""
    return {
        r.generated_file(release.id): envvalues.render(
            release.component, r.name, release.defaults, release.derived
        )
        for r in envs
        for release in r.releases
        if release.derived
    }


def generate(
    charts_dir: Path = CHARTS_DIR,
    values_dir: Path | None = VALUES_DIR,
    components: Components = registry.COMPONENTS,
) -> list[str]:
    """Build, check and write every chart and generated values file; returns what changed.

    `values_dir=None` skips the environments (chart-only output).
    """
    targets = [charts_dir, *([values_dir] if values_dir else [])]
    with atomic.lock(*targets):  # one generate at a time per output (checks included)
        return _generate(charts_dir, values_dir, components)


def _generate(charts_dir: Path, values_dir: Path | None, components: Components) -> list[str]:
    registry.check_order(components)
    if values_dir is not None:
        preflight.check_passthrough(values_dir, components)
    with preflight.cross_checks(values_dir or VALUES_DIR):
        envs = resolve.all_envs(values_dir, components) if values_dir else []
        invariants.check(envs)
    charts = build_all(charts_dir, components)
    derived = derived_files(envs)
    with atomic.Transaction() as txn:  # charts/ and values/*/generated swap together
        changed = chartgen.write_charts(charts_dir, charts, txn)
        if values_dir is not None:
            changed += envvalues.write(values_dir, environments.names(values_dir), derived, txn)
    if values_dir is not None:
        schema = values_dir / environments.SCHEMA_FILE
        text = environments.json_schema()
        if not schema.exists() or schema.read_text() != text:
            schema.parent.mkdir(parents=True, exist_ok=True)
            tmp = schema.with_suffix(".tmp")
            tmp.write_text(text)
            tmp.replace(schema)
            changed.append(environments.SCHEMA_FILE)
    return changed
