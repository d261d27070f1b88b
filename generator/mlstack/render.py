"""`render --env ENV`: the offline main job.

For every release enabled in the environment, in install order: validate its values file
(one line per problem naming file and key; nothing is written if any fails), run the real
`helm template`, validate every object (built-in kinds strictly for each Kubernetes minor
the env supports, custom resources against upstream CRDs) and write
`build/<env>/<release>.yaml`. A wrapper whose upstream chart is not downloaded (offline)
is reported as such and its pass-through values are checked against the upstream schema.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlstack import REPO_ROOT, environments, registry, versions
from mlstack.environments import Environment
from mlstack.errors import UserError
from mlstack.lib import (
    atomic,
    chartgen,
    envvalues,
    helm,
    model,
    schemas,
    upstream,
    validate,
    yamlfile,
)
from mlstack.lib.component import Component

CHARTS_DIR = REPO_ROOT / "charts"
VALUES_DIR = REPO_ROOT / "values"


@dataclass
class Result:
    release: str
    chart_version: str
    objects: int = 0
    status: str = "ok"
    problems: list[str] = field(default_factory=list)
    manifest: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


#: Folder of values/<env>/ for machine-specific overlays (git-ignored).
LOCAL = "local"
GENERATED = envvalues.GENERATED


def values_files(
    env: Environment, component: Component, values_dir: Path = VALUES_DIR, *, local: bool = False
) -> list[Path]:
    """The values files of a release in the order Helm layers them (later files win): chart
    defaults, then derived values (values/<env>/generated/<id>.yaml), the hand-written
    overrides (values/<env>/<id>.yaml) and, with `local=True`, the machine-specific overlay
    cluster detection writes (values/<env>/local/<id>.yaml, git-ignored).

    The one place the layering is decided; render, lint, install and the tests call it.
    Install passes `local=True`; render and the golden files stay reproducible without it.
    """
    candidates = [
        envvalues.path(values_dir, env, component),
        values_dir / env.name / f"{component.id}.yaml",
    ]
    if local:
        candidates.append(values_dir / env.name / LOCAL / f"{component.id}.yaml")
    return [p for p in candidates if p.exists()]


def load_values(path: Path) -> dict[str, Any]:
    return yamlfile.read_mapping(path, "a mapping of chart keys")


def _rel(path: Path) -> str:
    return yamlfile.shown(path)


def check_values(
    component: Component, files: list[Path], charts_dir: Path = CHARTS_DIR
) -> list[str]:
    """Problems with a release's values, each as 'file: key: message'."""
    schema = yamlfile.read_json(charts_dir / component.id / "values.schema.json")
    merged = model.defaults(component.values)
    problems = []
    for path in files:
        data = load_values(path)
        found = validate.schema_errors(validate.deep_merge(merged, data), schema)
        if not found:
            found = validate.model_errors(validate.deep_merge(merged, data), component.values)
        problems += [f"{_rel(path)}: {p}" for p in found]
        merged = validate.deep_merge(merged, data)
    return problems


def merged_values(component: Component, files: list[Path]) -> dict[str, Any]:
    merged = model.defaults(component.values)
    for path in files:
        merged = validate.deep_merge(merged, load_values(path))
    return merged


def check_stray_files(env: Environment, values_dir: Path = VALUES_DIR) -> list[str]:
    """A values file for a component the env does not enable is almost always a typo."""
    folder = values_dir / env.name
    known = {c.id for c in registry.COMPONENTS if c.id in env.components}
    return [
        f"{_rel(p)}: no release {p.stem!r} is enabled in {env.name}: rename the file or "
        "enable the component in generator/mlstack/environments.py"
        for p in sorted(folder.glob("*.yaml"))
        if p.stem not in known
    ] + misnamed_files(env, values_dir)


def misnamed_files(env: Environment, values_dir: Path = VALUES_DIR) -> list[str]:
    """`metallb-pool.yml` would be silently ignored: only `<id>.yaml` files are read."""
    folder = values_dir / env.name
    return [
        f"{_rel(p)}: not read (values files end in .yaml): rename it to {p.stem}.yaml"
        for p in sorted(folder.iterdir() if folder.is_dir() else [])
        if p.suffix != ".yaml" and not p.name.startswith(".") and p.name not in (GENERATED, LOCAL)
    ]


def missing_dependencies(component: Component, charts_dir: Path = CHARTS_DIR) -> list[str]:
    data = versions.load()
    missing = []
    for dep in component.dependencies:
        upstream = data.charts[dep.chart]
        archive = charts_dir / component.id / "charts" / f"{upstream.name}-{upstream.version}.tgz"
        if not archive.exists():
            missing.append(f"{upstream.name}-{upstream.version}")
    return missing


def check_passthrough(component: Component, values: dict[str, Any], schema_dir: Path) -> list[str]:
    """Offline check of wrapper values: upstream defaults + ours against upstream's schema
    when the chart ships one, else against the keys and types of its values.yaml; and the
    conventions every chart shares (lib/upstream). Never a silent pass."""
    problems = []
    for dep in component.dependencies:
        block = values.get(dep.alias) or {}
        if not isinstance(block, dict):
            problems.append(f"{dep.alias}: {block!r} is not a map of the upstream chart's values")
            continue
        defaults, schema = schemas.upstream_values(schema_dir, dep.chart)
        if schema is not None:
            merged = validate.deep_merge(defaults, block)
            found = validate.schema_errors(merged, schema)
        else:
            found = upstream.key_problems(block, upstream.effective_defaults(defaults))
        found += upstream.convention_problems(block)
        problems += [f"{dep.alias}.{p}" for p in dict.fromkeys(found)]
    return problems


def template(
    component: Component, env: Environment, files: list[Path], charts_dir: Path = CHARTS_DIR
) -> str:
    args = [
        "template",
        component.id,
        str(charts_dir / component.id),
        "--namespace",
        component.namespace,
        "--kube-version",
        f"{env.kubernetes}.0",
        "--include-crds",
    ]
    for path in files:
        args += ["--values", str(path)]
    proc = helm.run(args)
    if proc.returncode != 0:
        last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "no output"
        raise UserError(f"helm template {component.id} ({env.name}) failed: {last}")
    return proc.stdout


def check_manifest(
    text: str, env: Environment, crds: dict[tuple[str, str], dict[str, Any]]
) -> tuple[int, list[str]]:
    """(object count, problems) for a rendered multi-document manifest."""
    objects = [d for d in yaml.load_all(text, Loader=schemas.LOADER) if d]
    own = schemas.crd_schemas([o for o in objects if o.get("kind") == "CustomResourceDefinition"])
    known = {**crds, **own}
    problems = []
    for obj in objects:
        api, kind = obj.get("apiVersion", "?"), obj.get("kind", "?")
        name = f"{kind}/{obj.get('metadata', {}).get('name', '?')}"
        found: list[str] = []
        builtin = True
        for minor in env.minors():
            errors = validate.builtin_errors(obj, minor)
            if errors is None:
                builtin = False
                break
            found += errors
        if not builtin:
            schema = known.get((api, kind))
            if schema is None:
                found = [f"no CRD schema for {api} {kind} in the upstream schemas"]
            else:
                found = validate.schema_errors(obj, schema)
        problems += [f"{name}: {p}" for p in dict.fromkeys(found)]
    return len(objects), problems


def render_env(
    env: Environment, schema_dir: Path, charts_dir: Path = CHARTS_DIR, values_dir: Path = VALUES_DIR
) -> list[Result]:
    """Validate all values first (raising on any problem), then render and check each release."""
    enabled = [c for c in registry.COMPONENTS if c.id in env.components]
    for component in enabled:
        if not (charts_dir / component.id / "Chart.yaml").exists():
            raise UserError(
                f"{_rel(charts_dir / component.id)} has no Chart.yaml: run `make generate`"
            )
    problems = check_stray_files(env, values_dir)
    for component in enabled:
        files = values_files(env, component, values_dir)
        found = check_values(component, files, charts_dir)
        if not found and component.dependencies:  # upstream checks, whether downloaded or not
            where = _rel(files[-1]) if files else f"{component.id} chart defaults"
            found = check_passthrough(component, merged_values(component, files), schema_dir)
            found = [f"{where}: {p}" for p in found]
        problems += found
    if problems:
        raise UserError("\n".join(problems))
    crds = schemas.upstream_crds(schema_dir)
    results = []
    for component in enabled:
        files = values_files(env, component, values_dir)
        meta = chartgen.read_chart_meta(charts_dir / component.id) or {}
        result = Result(component.id, str(meta.get("version", "?")))
        missing = missing_dependencies(component, charts_dir)
        if missing:
            result.status = f"values only: {', '.join(missing)} not downloaded (make deps)"
            result.problems = check_passthrough(
                component, merged_values(component, files), schema_dir
            )
        else:
            result.manifest = template(component, env, files, charts_dir)
            result.objects, result.problems = check_manifest(result.manifest, env, crds)
        results.append(result)
    return results


def write_outputs(env: Environment, results: list[Result], out_dir: Path) -> bool:
    """Replace `out_dir/<env>/` as a whole with the rendered manifests (lib/atomic).

    Output that failed validation is never written: build/<env> keeps the last good
    render. Returns whether it was written.
    """
    if any(not r.ok for r in results):
        return False
    files = {f"{r.release}.yaml": r.manifest for r in results if r.manifest is not None}
    with atomic.lock(out_dir / env.name), atomic.Transaction() as txn:
        txn.write(out_dir / env.name, files)
    return True


def table(results: list[Result]) -> str:
    rows = [("RELEASE", "CHART", "OBJECTS", "VALIDATION")]
    for r in results:
        verdict = "ok" if r.ok else f"FAILED ({len(r.problems)})"
        if r.status != "ok":
            verdict = f"{verdict}; {r.status}"
        rows.append((r.release, r.chart_version, str(r.objects) if r.manifest else "-", verdict))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(row))
        for row in rows
    )


def contents(results: list[Result]) -> list[str]:
    """What each rendered release puts on the cluster that users look for: its custom
    resources by kind (the runtimes and models an env enables), one line per release."""
    lines = []
    for r in results:
        if r.manifest is None:
            continue
        kinds: dict[str, list[str]] = {}
        for obj in yaml.load_all(r.manifest, Loader=schemas.LOADER):
            if obj and "." in str(obj.get("apiVersion", "")).split("/")[0]:
                kinds.setdefault(obj["kind"], []).append(obj["metadata"]["name"])
        if kinds:
            listed = "; ".join(f"{k}: {', '.join(sorted(v))}" for k, v in sorted(kinds.items()))
            lines.append(f"  {r.release}: {listed}")
    return lines


def main(
    env: Environment,
    out_dir: Path,
    schema_dir_arg: str | None,
    charts_dir: Path = CHARTS_DIR,
    values_dir: Path = VALUES_DIR,
) -> int:
    started = time.perf_counter()
    directory = schemas.schema_dir(schema_dir_arg)
    results = render_env(env, directory, charts_dir, values_dir)
    written = write_outputs(env, results, out_dir)
    print(table(results))
    for line in contents(results):
        print(line)
    for r in results:
        for problem in r.problems:
            print(f"{r.release}: {problem}", file=sys.stderr)
    failed = [r.release for r in results if not r.ok]
    took = time.perf_counter() - started
    where = _rel(out_dir / env.name)
    print(
        f"render {env.name}: {len(results)} releases -> {where}/ in {took:.2f}s"
        + (f"; FAILED: {', '.join(failed)}; {where}/ left as it was" if not written else "")
    )
    return 1 if failed else 0


def lint(env_names: list[str], charts_dir: Path = CHARTS_DIR, values_dir: Path = VALUES_DIR) -> int:
    """`helm lint --strict` of every enabled chart with each env's values."""
    failures = 0
    for name in env_names:
        env = environments.get(name)
        for component in registry.COMPONENTS:
            if component.id not in env.components or missing_dependencies(component, charts_dir):
                continue
            args = ["lint", "--strict", str(charts_dir / component.id)]
            for path in values_files(env, component, values_dir):
                args += ["--values", str(path)]
            proc = helm.run(args)
            if proc.returncode != 0:
                failures += 1
                detail = [
                    ln for ln in proc.stdout.splitlines() if "[ERROR]" in ln or "[WARNING]" in ln
                ]
                print(
                    f"helm lint {component.id} ({name}): {'; '.join(detail) or proc.stderr.strip()}"
                )
    print(f"helm lint --strict: {'ok' if not failures else f'{failures} failed'}")
    return 1 if failures else 0
