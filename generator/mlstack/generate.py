"""`generate`: every component -> its chart under charts/, checked before anything is written.

Checks run first (registry order, environment/Kubernetes compatibility, slot paths,
version bumps); only when all pass are the files swapped in. So a failing generate leaves
`charts/` untouched, and a passing one is deterministic (same input, same bytes).
"""

from __future__ import annotations

from pathlib import Path

from mlstack import REPO_ROOT, environments, invariants, preflight, registry, versions
from mlstack.errors import UserError
from mlstack.lib import atomic, chartgen, envvalues, releases
from mlstack.lib.chartgen import BuiltChart

CHARTS_DIR = REPO_ROOT / "charts"
VALUES_DIR = REPO_ROOT / "values"


def check_environments() -> None:
    """Each env's components exist, bring what they need, and support its Kubernetes."""
    data = versions.load()
    known = registry.by_id()
    for env in environments.ENVIRONMENTS.values():
        for cid in sorted(env.components):
            if cid not in known:
                raise UserError(f"environment {env.name}: unknown component {cid!r}")
            for need in known[cid].needs:
                if need not in env.components:
                    raise UserError(
                        f"environment {env.name}: {cid} needs {need}, which is not enabled "
                        "there: enable it in generator/mlstack/environments.py"
                    )
            project = data.projects[known[cid].project]
            for minor in (env.kubernetes, env.supported.min, env.supported.max):
                if not project.kubernetes.covers(minor):
                    raise UserError(
                        f"environment {env.name} runs Kubernetes {minor}, but {cid} "
                        f"({known[cid].project} {project.version}) supports "
                        f"{project.kubernetes.min}-{project.kubernetes.max}: change the "
                        f"environment or projects.{known[cid].project} in versions.yaml"
                    )


def check_components(values_dir: Path) -> None:
    """Each component's generate-time `check` over every environment (see Component)."""
    for env in environments.ENVIRONMENTS.values():
        for component in registry.COMPONENTS:
            if component.check is None:
                continue
            enabled = component.id in env.components
            values = invariants.release_values(component, env, values_dir) if enabled else None
            component.check(env, values)


def build_all(charts_dir: Path = CHARTS_DIR, values_dir: Path = VALUES_DIR) -> list[BuiltChart]:
    registry.check_order()
    check_environments()
    preflight.check(values_dir)  # values are schema-checked before any cross-check reads them
    with preflight.cross_checks(values_dir):
        invariants.check(values_dir)
        check_components(values_dir)
    data = versions.load()
    built = []
    for component in registry.COMPONENTS:
        entry = releases.for_chart(component.id)
        chart = chartgen.build_chart(component, data, entry.current, entry.changelog(component.id))
        old = chartgen.read_chart_meta(charts_dir / component.id)
        if old and "version" in old:
            old_digest = old.get("annotations", {}).get(chartgen.DIGEST_ANNOTATION, "")
            releases.check_bump(
                component.id, str(old["version"]), old_digest, chart.version, chart.digest
            )
        built.append(chart)
    return built


def generate(charts_dir: Path = CHARTS_DIR, values_dir: Path | None = VALUES_DIR) -> list[str]:
    """Build, check and write every chart and generated values file; returns what changed.

    `values_dir=None` skips the per-env generated values (used for chart-only output).
    """
    targets = [charts_dir, *([values_dir] if values_dir else [])]
    with atomic.lock(*targets):  # one generate at a time per output (checks included)
        charts = build_all(charts_dir, values_dir or VALUES_DIR)
        envs = list(environments.ENVIRONMENTS.values())
        with preflight.cross_checks(values_dir or VALUES_DIR):
            derived = envvalues.build(registry.COMPONENTS, envs, values_dir) if values_dir else {}
        with atomic.Transaction() as txn:  # charts/ and values/*/generated swap together
            changed = chartgen.write_charts(charts_dir, charts, txn)
            if values_dir is not None:
                changed += envvalues.write(values_dir, envs, derived, txn)
    return changed
