"""`render --env ENV`: the offline main job.

For every release the resolved environment enables, in install order (values already
validated by resolution: one line per problem naming file and key; nothing is written if
any fails): run the real `helm template` with the release's values files, validate every
object (built-in kinds strictly for each Kubernetes minor the env supports, custom
resources against upstream CRDs), check the secure edge over all of them (public Services
behind the JWT check and TLS: invariants.edge_problems) and write
`build/<env>/<release>.yaml`. A wrapper whose
upstream chart is not downloaded (offline) is reported as such and its pass-through values
are checked against the upstream schema.
"""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlstack import CHARTS_DIR, invariants, versions
from mlstack.errors import UserError
from mlstack.lib import atomic, chartgen, helm, podsecurity, schemas, upstream, validate, yamlfile
from mlstack.lib.component import Component
from mlstack.resolve import Release, Resolved


@dataclass
class Result:
    release: str
    chart_version: str
    objects: int = 0
    #: objects rendered from the upstream chart (a wrapper's subchart), all validated too.
    upstream: int = 0
    status: str = "ok"
    problems: list[str] = field(default_factory=list)
    manifest: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def _rel(path: Path) -> str:
    return yamlfile.shown(path)


#: libyaml's parser when PyYAML has it: rendered manifests are large and machine-written.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def documents(text: str) -> list[dict[str, Any]]:
    """The objects of a multi-document manifest (empty documents dropped)."""
    return [d for d in yaml.load_all(text, Loader=_LOADER) if d]


_SOURCE = re.compile(r"^# Source: ([^\n]+)$", re.MULTILINE)
_SEPARATOR = re.compile(r"^---[ \t]*$", re.MULTILINE)


def upstream_objects(text: str) -> int:
    """Objects `helm template` rendered from a subchart (`# Source: <chart>/charts/...`):
    the upstream chart's own objects, as opposed to the wrapper's."""
    count = 0
    for chunk in _SEPARATOR.split(text):
        source = _SOURCE.search(chunk)
        if source and source.group(1).split("/")[1:2] == ["charts"] and documents(chunk):
            count += 1
    return count


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
    release: Release,
    resolved: Resolved,
    charts_dir: Path = CHARTS_DIR,
    helm_binary: str | None = None,
) -> str:
    """`helm template` of one release (with `helm_binary` instead of the default helm)."""
    component = release.component
    args = [
        "template",
        component.id,
        str(charts_dir / component.id),
        "--namespace",
        component.namespace,
        "--kube-version",
        f"{resolved.env.kubernetes}.0",
        "--include-crds",
    ]
    for path in release.files:
        args += ["--values", str(path)]
    proc = helm.run(args, binary_path=helm_binary)
    if proc.returncode != 0:
        last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "no output"
        raise UserError(f"helm template {component.id} ({resolved.name}) failed: {last}")
    return proc.stdout


def check_manifest(
    text: str, minors: tuple[str, ...], crds: dict[tuple[str, str], dict[str, Any]]
) -> tuple[int, list[str]]:
    """(object count, problems) for a rendered multi-document manifest."""
    objects = documents(text)
    own = schemas.crd_schemas([o for o in objects if o.get("kind") == "CustomResourceDefinition"])
    known = {**crds, **own}
    problems = []
    for obj in objects:
        api, kind = obj.get("apiVersion", "?"), obj.get("kind", "?")
        name = f"{kind}/{obj.get('metadata', {}).get('name', '?')}"
        found: list[str] = []
        # A kind with a CRD schema is a custom resource: asking kubernetes-validate first
        # costs a directory scan per object (6 s for a 1 000-model catalogue).
        builtin = (api, kind) not in known
        for minor in minors if builtin else ():
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


def render_env(resolved: Resolved, schema_dir: Path, charts_dir: Path = CHARTS_DIR) -> list[Result]:
    """Render and check each release of the resolved environment."""
    for release in resolved.releases:
        if not (charts_dir / release.id / "Chart.yaml").exists():
            raise UserError(
                f"{_rel(charts_dir / release.id)} has no Chart.yaml: run `make generate`"
            )
    resolved.check_generated()
    problems = []
    for release in resolved.releases:  # upstream checks for every wrapper, downloaded or not
        found = check_passthrough(release.component, release.values, schema_dir)
        where = _rel(release.files[-1]) if release.files else f"{release.id} chart defaults"
        problems += [f"{where}: {p}" for p in found]
    if problems:
        raise UserError("\n".join(problems))
    results = []
    for release in resolved.releases:
        meta = chartgen.read_chart_meta(charts_dir / release.id) or {}
        result = Result(release.id, str(meta.get("version", "?")))
        missing = missing_dependencies(release.component, charts_dir)
        if missing:
            # checked above, with every other wrapper's values: nothing left to report
            result.status = f"values only: {', '.join(missing)} not downloaded (make deps)"
        else:
            result.manifest = template(release, resolved, charts_dir)
        results.append(result)
    crds = {**schemas.upstream_crds(schema_dir), **installed_crds(results)}
    for result in results:
        if result.manifest is not None:
            result.objects, result.problems = check_manifest(result.manifest, resolved.minors, crds)
            result.upstream = upstream_objects(result.manifest)
    manifests = {r.release: r.manifest for r in results}
    found_all = admission_problems(resolved, manifests, schema_dir)
    for result, found in zip(results, found_all, strict=True):
        result.problems += found
    # The secure edge holds over everything rendered, upstream charts' objects included.
    rendered = {r.release: documents(r.manifest) for r in results if r.manifest is not None}
    edge = invariants.edge_problems(resolved, rendered)
    for result in results:
        result.problems += edge.get(result.release, [])
    return results


def installed_crds(results: list[Result]) -> dict[tuple[str, str], dict[str, Any]]:
    """Schemas of the CRDs the env's releases install (upstream charts ship most): the API
    server checks custom resources against these, so they win over the schema directory's
    copy of the project's CRDs wherever a chart ships its own variant (Seldon's does)."""
    docs = [
        obj
        for r in results
        if r.manifest is not None
        for obj in documents(r.manifest)
        if obj.get("kind") == "CustomResourceDefinition"
    ]
    return schemas.crd_schemas(docs)


def effective_values(release: Release, schema_dir: Path) -> dict[str, Any]:
    """The values a release's pods are made from: a wrapper's upstream chart defaults under
    its pass-through block (what Helm merges), a glue release's own values."""
    deps = release.component.dependencies
    if not deps:
        return release.values
    defaults, _ = schemas.upstream_values(schema_dir, deps[0].chart)
    block = release.values.get(deps[0].alias) or {}
    return validate.deep_merge(defaults, block if isinstance(block, dict) else {})


def admission_problems(
    resolved: Resolved, manifests: dict[str, str | None], schema_dir: Path
) -> list[list[str]]:
    """Per release (in order), the pods Pod Security would refuse in its namespace: every
    pod template rendered (upstream charts' where downloaded: `manifests[id]` None
    otherwise) and the pods its controller creates at run time (`runtimePods`), each
    against the level its namespace's rendered Namespace enforces."""
    rendered = {rid: documents(text) for rid, text in manifests.items() if text is not None}
    levels = podsecurity.enforced([o for objs in rendered.values() for o in objs])
    out = []
    for release in resolved.releases:
        objects = list(rendered.get(release.id, []))
        make = release.component.runtime_pods
        if make is not None:
            objects += make(effective_values(release, schema_dir))
        out.append(podsecurity.refused([(release.namespace, o) for o in objects], levels))
    return out


def write_outputs(
    env: str, results: list[Result], out_dir: Path, txn: atomic.Transaction | None = None
) -> bool:
    """Replace `out_dir/<env>/` as a whole with the rendered manifests (lib/atomic), or
    stage it in `txn` (several envs, or generate's output too, swap in together).

    Output that failed validation is never written: build/<env> keeps the last good
    render. Returns whether it was written (staged).
    """
    if any(not r.ok for r in results):
        return False
    files = {f"{r.release}.yaml": r.manifest for r in results if r.manifest is not None}
    if txn is not None:
        txn.write(out_dir / env, files, locked=True)
        return True
    with atomic.lock(out_dir / env), atomic.Transaction() as own:
        own.write(out_dir / env, files)
    return True


def table(results: list[Result]) -> str:
    rows = [("RELEASE", "CHART", "OBJECTS", "UPSTREAM", "VALIDATION")]
    for r in results:
        verdict = "ok" if r.ok else f"FAILED ({len(r.problems)})"
        if r.status != "ok":
            verdict = f"{verdict}; {r.status}"
        counts = (str(r.objects), str(r.upstream)) if r.manifest else ("-", "-")
        rows.append((r.release, r.chart_version, *counts, verdict))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) if i < 4 else cell for i, cell in enumerate(row))
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
        for obj in documents(r.manifest):
            if "." in str(obj.get("apiVersion", "")).split("/")[0]:
                kinds.setdefault(obj["kind"], []).append(obj["metadata"]["name"])
        if kinds:
            listed = "; ".join(f"{k}: {', '.join(sorted(v))}" for k, v in sorted(kinds.items()))
            lines.append(f"  {r.release}: {listed}")
    return lines


def main(
    resolved: Resolved,
    out_dir: Path,
    schema_dir_arg: str | None,
    charts_dir: Path = CHARTS_DIR,
    txn: atomic.Transaction | None = None,
) -> int:
    started = time.perf_counter()
    helm.warn_skew(resolved.env.kubernetes)
    directory = schemas.schema_dir(schema_dir_arg)
    results = render_env(resolved, directory, charts_dir)
    written = write_outputs(resolved.name, results, out_dir, txn)
    print(table(results))
    for line in contents(results):
        print(line)
    for r in results:
        for problem in r.problems:
            print(f"{r.release}: {problem}", file=sys.stderr)
    failed = [r.release for r in results if not r.ok]
    took = time.perf_counter() - started
    where = _rel(out_dir / resolved.name)
    objects, upstream = sum(r.objects for r in results), sum(r.upstream for r in results)
    values_only = sum(1 for r in results if r.manifest is None)
    print(
        f"render {resolved.name}: {len(results)} releases, {objects} objects validated "
        f"({upstream} from upstream charts"
        + (f"; {values_only} releases values only: make deps" if values_only else "")
        + f") -> {where}/ in {took:.2f}s"
        + (f"; FAILED: {', '.join(failed)}; {where}/ left as it was" if not written else "")
    )
    return 1 if failed else 0


def lint(envs: list[Resolved], charts_dir: Path = CHARTS_DIR) -> int:
    """`helm lint --strict` of every enabled chart with each env's values."""
    failures = 0
    for resolved in envs:
        for release in resolved.releases:
            if missing_dependencies(release.component, charts_dir):
                continue
            args = ["lint", "--strict", str(charts_dir / release.id)]
            for path in release.files:
                args += ["--values", str(path)]
            proc = helm.run(args)
            if proc.returncode != 0:
                failures += 1
                detail = [
                    ln for ln in proc.stdout.splitlines() if "[ERROR]" in ln or "[WARNING]" in ln
                ]
                print(
                    f"helm lint {release.id} ({resolved.name}): "
                    f"{'; '.join(detail) or proc.stderr.strip()}"
                )
    print(f"helm lint --strict: {'ok' if not failures else f'{failures} failed'}")
    return 1 if failures else 0
