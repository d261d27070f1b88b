"""`package` and `publish`: versioned chart archives for a Helm repository or OCI registry.

`helm package` refuses a chart whose dependencies are not in its `charts/` folder, and
wrapper charts' upstream archives come only from `make deps` (network). So offline the
glue charts are packaged and each wrapper is skipped with the reason; `--strict` turns a
skip into a failure (for release pipelines, which run `make deps` first). Archives are
built in a staging directory with `helm repo index`, and replace `dist/` only when all
succeeded. Archives and index are byte-reproducible (see lib/reproducible.py), so a
digest names content, not the moment of packaging. `publish` lives in publish.py.
"""

from __future__ import annotations

import hashlib
import statistics
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlstack import CHARTS_DIR, REPO_ROOT, registry
from mlstack.errors import UserError
from mlstack.lib import atomic, helm, reproducible, yamlfile

DIST_DIR = REPO_ROOT / "dist"


@dataclass(frozen=True)
class Packaged:
    chart: str
    version: str
    archive: Path | None = None
    skipped: str | None = None


def chart_dirs(charts_dir: Path) -> list[Path]:
    """Every chart under `charts_dir`, in install order (then by name for any others)."""
    order = {c.id: i for i, c in enumerate(registry.COMPONENTS)}
    found = [p.parent for p in charts_dir.glob("*/Chart.yaml")]
    return sorted(found, key=lambda p: (order.get(p.name, len(order)), p.name))


def missing_dependencies(chart_dir: Path, meta: dict[str, Any]) -> list[str]:
    """`name-version` of each dependency that is not in the chart's charts/ folder."""
    missing = []
    for dep in meta.get("dependencies") or []:
        name, version = dep["name"], str(dep["version"])
        archive = chart_dir / "charts" / f"{name}-{version}.tgz"
        unpacked = chart_dir / "charts" / name / "Chart.yaml"
        if not archive.exists() and not unpacked.exists():
            missing.append(f"{name}-{version}")
    return missing


def _read_meta(chart_dir: Path) -> dict[str, Any]:
    meta = yamlfile.read(chart_dir / "Chart.yaml")
    deps = meta.get("dependencies") if isinstance(meta, dict) else None
    if (
        not isinstance(meta, dict)
        or not isinstance(meta.get("version"), str)
        or not isinstance(meta.get("name"), str)
        or not isinstance(deps or [], list)
        or not all(isinstance(d, dict) and {"name", "version"} <= set(d) for d in deps or [])
    ):
        raise UserError(
            f"{yamlfile.shown(chart_dir / 'Chart.yaml')}: no name, version or valid "
            "dependencies: run `make generate`"
        )
    return meta


def package_one(chart_dir: Path, meta: dict[str, Any], dest: Path) -> Path:
    proc = helm.run(["package", str(chart_dir), "--destination", str(dest)])
    expected = dest / f"{meta['name']}-{meta['version']}.tgz"
    if proc.returncode != 0 or not expected.exists():
        last = (proc.stderr.strip() or proc.stdout.strip() or "no output").splitlines()[-1]
        raise UserError(f"helm package {chart_dir.name} failed: {last}")
    with tarfile.open(expected) as archive:
        inside = archive.extractfile(f"{meta['name']}/Chart.yaml")
        packed = yaml.safe_load(inside.read()) if inside else {}
    if str(packed.get("version")) != str(meta["version"]):
        raise UserError(f"{expected.name}: packaged version {packed.get('version')} is wrong")
    return expected


def package(
    charts_dir: Path = CHARTS_DIR, dist: Path = DIST_DIR, url: str | None = None
) -> list[Packaged]:
    """Package every packageable chart into `dist/` (replaced as a whole) with index.yaml."""
    if dist.exists():
        foreign = sorted(
            p.name for p in dist.iterdir() if p.suffix != ".tgz" and p.name != "index.yaml"
        )
        if foreign:
            raise UserError(
                f"{dist} holds {foreign[0]}, which package did not write: use an empty or "
                "dedicated --dist directory (package replaces it)"
            )
    epoch = reproducible.source_date(charts_dir)
    with atomic.lock(dist), atomic.Transaction() as txn:
        staging = txn.stage(dist)
        results = []
        for chart_dir in chart_dirs(charts_dir):
            meta = _read_meta(chart_dir)
            name, version = str(meta["name"]), str(meta["version"])
            missing = missing_dependencies(chart_dir, meta)
            if missing:
                reason = f"dependency {', '.join(missing)} not downloaded (run `make deps`)"
                results.append(Packaged(name, version, skipped=reason))
                continue
            archive = package_one(chart_dir, meta, staging)
            reproducible.normalize_archive(archive, epoch)
            results.append(Packaged(name, version, dist / archive.name))
        index = ["repo", "index", str(staging)] + (["--url", url] if url else [])
        proc = helm.run(index)
        if proc.returncode != 0:
            raise UserError(f"helm repo index failed: {proc.stderr.strip()}")
        reproducible.stamp_index(staging / "index.yaml", epoch)
    return results


def table(results: list[Packaged], seconds: float, dist: Path) -> str:
    rows = [("CHART", "VERSION", "RESULT")]
    for r in results:
        rows.append((r.chart, r.version, f"skipped: {r.skipped}" if r.skipped else str(r.archive)))
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = ["  ".join([row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2]]) for row in rows]
    done = sum(1 for r in results if r.archive)
    lines.append(
        f"package: {done} charts -> {dist}/ (+ index.yaml), {len(results) - done} skipped, "
        f"in {seconds:.2f}s"
    )
    return "\n".join(lines)


def main(charts_dir: Path, dist: Path, url: str | None, strict: bool) -> int:
    started = time.perf_counter()
    results = package(charts_dir, dist, url)
    print(table(results, time.perf_counter() - started, dist))
    skipped = [r.chart for r in results if r.skipped]
    if skipped and strict:
        print(f"error: STRICT=1 and skipped: {', '.join(skipped)}", file=sys.stderr)
        return 1
    return 0


def bench(charts_dir: Path, runs: int) -> str:
    """`make bench-package`: package `runs` times into fresh folders; the median time and
    whether every run's dist/ was byte-identical (the reproducibility claim, measured)."""
    seconds, digests = [], set()
    with tempfile.TemporaryDirectory(prefix="mlstack-bench-") as tmp:
        for run in range(runs):
            dist = Path(tmp) / f"dist-{run}"
            started = time.perf_counter()
            package(charts_dir, dist)
            seconds.append(time.perf_counter() - started)
            h = hashlib.sha256()
            for path in sorted(dist.iterdir()):
                h.update(path.name.encode() + b"\0" + path.read_bytes())
            digests.add(h.hexdigest())
    same = "byte-identical" if len(digests) == 1 else f"{len(digests)} different outputs"
    return (
        f"bench-package: {runs} runs, median {statistics.median(seconds):.2f}s "
        f"(min {min(seconds):.2f}s, max {max(seconds):.2f}s), dist/ {same}"
    )
