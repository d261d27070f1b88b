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
from mlstack.errors import UserError, brief
from mlstack.lib import atomic, chartgen, envvalues, releases, yamlfile
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
    files = {}
    for r in envs:
        for release in r.releases:
            if not release.derived:
                continue
            try:
                text = envvalues.render(
                    release.component, r.name, release.defaults, release.derived
                )
            except envvalues.DerivedError as err:
                raise _blame_input(r, err) from None
            files[r.generated_file(release.id)] = text
    return files


def _blame_input(r: Resolved, err: envvalues.DerivedError) -> UserError:
    """The user's key a refused derived value came from: the input whose text the value
    carries (a domain inside a host name, a gateway label as a selector), longest first;
    the generator only when no input explains it."""
    inputs = [(r.env.shown(r.values_dir), r.env.model_dump(by_alias=True, mode="json"))]
    for release in r.releases:
        for path in release.files:
            if path.parent.name != envvalues.GENERATED:
                inputs.append((yamlfile.shown(path), resolve.load_values(path)))
    wanted = str(err.value)
    found = [
        (len(str(value)), where, key, value)
        for where, data in inputs
        for key, value in resolve.leaves(data).items()
        if isinstance(value, str) and len(value) >= 3 and value in wanted
    ]
    if not found:
        return err
    _, where, key, value = max(found, key=lambda f: f[0])
    problem = err.problem.split(": ", 1)[-1]
    return UserError(
        f"{where}: {key}: {brief(value)} becomes {err.component.id}'s {err.key}, which is "
        f"refused ({problem}): change {key}"
    )


def generate(
    charts_dir: Path = CHARTS_DIR,
    values_dir: Path | None = VALUES_DIR,
    components: Components = registry.COMPONENTS,
    hold: atomic.Transaction | None = None,
) -> list[str]:
    """Build, check and write every chart and generated values file; returns what changed.

    `values_dir=None` skips the environments (chart-only output). With `hold`, the writes
    commit into it keeping the replaced trees, so a caller that checks the result further
    (`render --generate`) can undo the whole step.
    """
    targets = [charts_dir, *([values_dir] if values_dir else [])]
    with atomic.lock(*targets):  # one generate at a time per output (checks included)
        recover(charts_dir, values_dir)
        return _generate(charts_dir, values_dir, components, hold)


def recover(charts_dir: Path, values_dir: Path | None) -> None:
    """Finish or clean up whatever an interrupted generate left, for every output it writes.

    A run killed while staging leaves hidden siblings beside any of its outputs, including
    ones the next run has no reason to rewrite; so every possible output is recovered, not
    only those the next run stages.
    """
    atomic.recover(charts_dir)
    if values_dir is None or not values_dir.is_dir():
        return
    atomic.recover(values_dir / environments.SCHEMA_FILE)
    for folder in sorted(values_dir.iterdir()):
        if folder.is_dir() and not folder.is_symlink() and not folder.name.startswith("."):
            atomic.recover(folder / envvalues.GENERATED)


def _generate(
    charts_dir: Path,
    values_dir: Path | None,
    components: Components,
    hold: atomic.Transaction | None,
) -> list[str]:
    registry.check_order(components)
    if values_dir is not None:
        preflight.check_passthrough(values_dir, components)
    with preflight.cross_checks(values_dir or VALUES_DIR):
        envs = resolve.all_envs(values_dir, components) if values_dir else []
        invariants.check(envs)
    charts = build_all(charts_dir, components)
    derived = derived_files(envs)
    # charts/, values/*/generated and the environment schema are one transaction: a signal
    # or a kill (with the next run's recovery) leaves all of them old or all new.
    txn = atomic.Transaction()
    try:
        changed = chartgen.write_charts(charts_dir, charts, txn)
        if values_dir is not None:
            changed += envvalues.write(values_dir, environments.names(values_dir), derived, txn)
            schema = values_dir / environments.SCHEMA_FILE
            text = environments.json_schema()
            if not schema.is_file() or schema.read_text() != text:
                txn.write_file(schema, text)
                changed.append(environments.SCHEMA_FILE)
    except BaseException:
        txn.abort()
        raise
    if hold is None:
        txn.commit()
    else:
        txn.commit(keep=True)
        hold.kept += txn.kept
    return changed
