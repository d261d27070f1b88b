"""Test helpers shared by several test modules (import as `from helpers import ...`).

Tests inject what they change: a registry tuple (`components=`) and a private copy of the
values folder (`values_dir=`), never monkeypatched module globals.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import yaml

from mlstack import registry, resolve
from mlstack.lib import model
from mlstack.lib.component import Component
from mlstack.lib.model import Values

VALUES_DIR = resolve.VALUES_DIR


def replacing(*components: Component) -> tuple[Component, ...]:
    """registry.COMPONENTS with the given components swapped in by id, order kept."""
    by_id = {c.id: c for c in components}
    return tuple(by_id.get(c.id, c) for c in registry.COMPONENTS)


def values_copy(target: Path) -> Path:
    """A private copy of the committed environments and the committed environment schema
    (machine-local overlays and a user's own environment folders left out), so generate on
    it changes exactly what it would change in values/."""
    from mlstack import environments

    target.mkdir(parents=True)
    for env in committed_envs():
        shutil.copytree(VALUES_DIR / env, target / env, ignore=shutil.ignore_patterns("local"))
    shutil.copy2(VALUES_DIR / environments.SCHEMA_FILE, target / environments.SCHEMA_FILE)
    return target


def edit_env(values_dir: Path, env: str, **changes: Any) -> None:
    """Change keys of values_dir/<env>/environment.yaml, as a user would in an editor."""
    path = values_dir / env / "environment.yaml"
    data = yaml.safe_load(path.read_text())
    data.update(changes)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def leaves(data: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths of every leaf of a values tree (a non-empty map is not a leaf)."""
    return list(resolve.leaves(data, prefix))


def dead_values_keys(templates: dict[str, str], values: type[Values]) -> list[str]:
    """Leaves of a glue chart's values model that no slot or condition uses.

    A slot on a whole map or list (`selector`, `requests`) uses every leaf below it.
    """
    used = "\n".join(templates.values())

    def is_used(leaf: str) -> bool:
        parts = leaf.split(".")
        prefixes = (".".join(parts[:n]) for n in range(1, len(parts) + 1))
        return any(f".Values.{p} " in used for p in prefixes)

    return [leaf for leaf in leaves(model.defaults(values)) if not is_used(leaf)]


def gateway_variant(release: str = "istio-gateway", **gateway: object) -> Component:
    """The istio-gateway row under another release id and/or with other chart values."""
    from mlstack.lib import table

    base = registry.by_id()["istio-gateway"]
    row = table.Row(
        chart="istio-gateway",
        namespace=base.namespace,
        description=base.description,
        why=base.why,
        defaults={**model.defaults(base.values)["gateway"], **gateway},
        needs=list(base.needs),
    )
    return table.component(release, row, "tests/helpers.py")


def enabled(env: str) -> list[str]:
    """Release ids of a committed environment in install order."""
    return resolve.resolve(env).ids


def synth(component: Component) -> dict[str, str]:
    """The templates of a glue chart, as generate writes them."""
    from mlstack.lib import chartgen

    return chartgen.synthesize(component, resolve.chart_defaults()[component.id])


def with_gateway(gateway: Component) -> tuple[Component, ...]:
    """The registry with `gateway` in place of istio-gateway, and `needs` edges following."""
    out = []
    for c in registry.COMPONENTS:
        if c.id == "istio-gateway":
            out.append(gateway)
            continue
        needs = tuple(gateway.id if n == "istio-gateway" else n for n in c.needs)
        out.append(dataclasses.replace(c, needs=needs))
    return tuple(out)


def rename_values(values_dir: Path, old: str, new: str) -> None:
    """Rename a release's hand-written values files in every env (as a user renaming it)."""
    for path in values_dir.glob(f"*/{old}.yaml"):
        path.rename(path.with_name(f"{new}.yaml"))


def committed_envs() -> list[str]:
    """Environments committed to the repository (golden files exist for these only); a
    user's own `values/lab/` is rendered and tested like the others but has no goldens."""
    import subprocess

    listed = subprocess.run(
        ["git", "ls-files", "values/*/environment.yaml"],
        cwd=VALUES_DIR.parent,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return sorted(Path(p).parent.name for p in listed)


def upstream_from_source(charts_dir: Path, release: str, schema_dir: Path) -> bool:
    """Package the upstream chart(s) of wrapper `release` from the pinned sources in the
    schema directory (chart-sources/ holds its files at the pinned tag, chart-values/ its
    Chart.yaml and values) into charts_dir/<release>/charts/, as `make deps` would download
    them, so render includes the upstream chart's own objects. False where a source is
    not at hand (the release then renders as values only)."""
    import csv
    import subprocess
    import tempfile

    from mlstack import versions
    from mlstack.lib import helm

    data = versions.load()
    component = {c.id: c for c in registry.COMPONENTS}[release]
    rows = list(csv.DictReader((schema_dir / "SOURCES.tsv").open(), delimiter="\t"))
    for dep in component.dependencies:
        pin = data.charts[dep.chart]
        values = f"chart-values/{pin.values}/"
        meta = [r for r in rows if r["file"] == values + "Chart.yaml"]
        if not meta:
            return False
        path = meta[0]["path"].rsplit("/", 1)[0] + "/"
        # Every file of the chart at the pinned tag: chart-sources/, and the few files
        # (profiles, values) the schema directory keeps under chart-values/ instead.
        files = {r["path"][len(path):]: r["file"] for r in rows
                 if r["repository"] == meta[0]["repository"] and r["path"].startswith(path)
                 and r["file"].startswith(("chart-sources/", values))}  # fmt: skip
        if not any(f.startswith("chart-sources/") for f in files.values()):
            return False
        with tempfile.TemporaryDirectory() as tmp:
            chart = Path(tmp) / pin.name
            for inner, file in files.items():
                (chart / inner).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(schema_dir / file, chart / inner)
            # The published chart carries the pinned version (sources hold placeholders).
            try:  # a few sources keep a template of it (knative-operator's `{{ version }}`)
                chart_yaml = yaml.safe_load((schema_dir / values / "Chart.yaml").read_text())
            except yaml.YAMLError:
                return False
            chart_yaml.update(name=pin.name, version=str(pin.version))
            (chart / "Chart.yaml").write_text(yaml.safe_dump(chart_yaml))
            target = charts_dir / release / "charts"
            target.mkdir(exist_ok=True)
            proc = subprocess.run(
                [helm.binary(), "package", str(chart), "-d", str(target)],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            assert proc.returncode == 0, proc.stderr
    return True
