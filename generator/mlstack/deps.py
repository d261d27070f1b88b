"""`make deps`: every wrapper chart's upstream chart, where Helm expects it.

A wrapper chart pins its upstream chart in Chart.yaml `dependencies:` (Chart.lock is
committed, `charts/<id>/charts/*.tgz` is not). Two ways to get them:

- registry: `helm dependency build` per wrapper, from the chart's Helm/OCI repository.
- source: the upstream repository's own files at the pinned tag, through the same raw-file
  host `make schemas` uses (`$MLSTACK_UPSTREAM_URL`), each checked against its pinned sha256
  (data/upstream.sha256) and cached by version under .cache/upstream/chart-sources/; or read
  in place from a mirror (`$MLSTACK_SCHEMA_DIR` with chart-sources/). The publishing step
  each project's release tooling runs (data/upstream-files.yaml `packages:`: version
  stamps, text substitutions, YAML->JSON, files left out) is redone, then the real
  `helm package` applies .helmignore and writes the archive, which is made byte-reproducible
  and put at charts/<id>/charts/<name>-<version>.tgz, the name `helm dependency build`
  gives it. Its Chart.yaml must match Chart.lock's name and version and versions.yaml's
  appVersion, and `helm dependency list` must say `ok` for every wrapper.

`$MLSTACK_DEPS` picks: `source`, `registry`, or unset: source when $MLSTACK_UPSTREAM_URL is
set or the schema directory is a mirror with chart-sources/, else registry (as before).
Built archives are cached by their inputs (.cache/deps/), so a second run builds nothing.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlstack import CHARTS_DIR, REPO_ROOT, versions
from mlstack.errors import UserError
from mlstack.lib import fetch, helm, reproducible, schemas, yamlfile

MODE_VAR = "MLSTACK_DEPS"
MODES = ("source", "registry")
CACHE = REPO_ROOT / ".cache" / "deps"
SOURCE_CACHE = REPO_ROOT / ".cache" / "upstream"


@dataclass(frozen=True)
class Wanted:
    """One dependency of one wrapper chart, as its Chart.yaml names it."""

    wrapper: str
    name: str
    version: str
    repository: str
    #: the versions.yaml `charts:` key pinning it.
    key: str

    @property
    def archive(self) -> str:
        return f"{self.name}-{self.version}.tgz"


@dataclass(frozen=True)
class Report:
    """What a from-source run did: each dependency and where its files came from."""

    built: list[Built]
    origin: str
    #: files whose sums `--record-sums` added to data/upstream.sha256.
    recorded: int = 0


@dataclass(frozen=True)
class Built:
    wanted: Wanted
    #: built now (False: taken from .cache/deps/).
    fresh: bool
    status: str


def wrappers(charts_dir: Path = CHARTS_DIR, pins: versions.Versions | None = None) -> list[Wanted]:
    """Every dependency of every chart under `charts_dir`, mapped to its versions.yaml pin."""
    pins = pins or versions.load()
    out = []
    for chart_yaml in sorted(charts_dir.glob("*/Chart.yaml")):
        meta = yamlfile.read(chart_yaml) or {}
        for dep in meta.get("dependencies") or []:
            name, version = str(dep.get("name")), str(dep.get("version"))
            key = next(
                (k for k, c in pins.charts.items() if c.name == name and c.version == version),
                None,
            )
            if key is None:
                raise UserError(
                    f"{yamlfile.shown(chart_yaml)}: dependency {name} {version} is not pinned in "
                    f"{yamlfile.shown(versions.VERSIONS_FILE)}: run `make generate`"
                )
            repo = str(dep.get("repository", ""))
            out.append(Wanted(chart_yaml.parent.name, name, version, repo, key))
    return out


def mode(schema_dir: Path | None) -> str:
    """`source` or `registry` (see the module docstring)."""
    explicit = os.environ.get(MODE_VAR, "").strip()
    if explicit:
        if explicit not in MODES:
            raise UserError(f"{MODE_VAR}={explicit}: use one of {', '.join(MODES)} (or unset it)")
        return explicit
    if os.environ.get(fetch.URL_VAR) or (schema_dir and (schema_dir / "chart-sources").is_dir()):
        return "source"
    return "registry"


def _mirror(directory: Path | None) -> Path | None:
    """`directory` when it is a mirror holding chart sources, else None."""
    if directory is None or not (directory / "chart-sources").is_dir():
        return None
    return directory if (directory / "SOURCES.tsv").exists() else None


Reader = Callable[[fetch.Source], bytes]


def _reader(sources: list[fetch.Source], sums: dict[str, str], mirror: Path) -> Reader:
    """Files read in place from a mirror, each checked against its pinned sum."""
    where = fetch.mirror_files(mirror)

    def read(source: fetch.Source) -> bytes:
        local = where.get((source.repository, source.tag, source.path))
        if local is None:
            raise UserError(
                f"{source.file}: not in {mirror}/SOURCES.tsv ({source.repository} "
                f"{source.tag} {source.path}): point {schemas.ENV_VAR} at a complete mirror, "
                f"or unset it and set {fetch.URL_VAR}"
            )
        data = local.read_bytes()
        _check(source, data, sums, str(local))
        return data

    return read


def _check(source: fetch.Source, data: bytes, sums: dict[str, str], origin: str) -> None:
    expected = sums.get(source.file)
    digest = hashlib.sha256(data).hexdigest()
    if expected is None:
        raise UserError(
            f"no sha256 for {source.file} in {yamlfile.shown(fetch.SUMS)}: after a version bump "
            "run `.venv/bin/python -m mlstack deps --record-sums`, review, commit"
        )
    if digest != expected:
        raise UserError(
            f"{source.file}: sha256 {digest[:12]}… is not the pinned {expected[:12]}… (from "
            f"{origin}): refusing it; check the mirror holds the upstream files unchanged"
        )


def _filled(text: str, pins: versions.Versions, key: str) -> str:
    chart = pins.charts[key]
    return text.replace("{version}", chart.version).replace(
        "{appVersion}", pins.projects[chart.project].app_version
    )


def _stage(
    key: str,
    package: fetch.Package,
    sources: list[fetch.Source],
    read: Reader,
    pins: versions.Versions,
    root: Path,
) -> Path:
    """The chart directory as the release tooling hands it to `helm package`."""
    name = pins.charts[key].name
    chart = root / name
    prefix = sources[0].path[: -len(package.files[0])]
    for source in sources:
        target = chart / source.path[len(prefix) :]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(read(source))
    where = f"{yamlfile.shown(fetch.FILES)}: packages.{key}"
    for file, pairs in package.replace.items():
        path = chart / file
        if not path.exists():
            raise UserError(f"{where}.replace: {file} is not a file of the chart")
        text = path.read_text()
        for old, new in pairs:
            if old not in text:
                raise UserError(
                    f"{where}.replace: {old!r} does not occur in {file} at the tag: the "
                    "release tooling changed; read it again and update the recipe"
                )
            text = text.replace(old, _filled(new, pins, key))
        path.write_text(text)
    for file in package.yaml_to_json:
        path = chart / file
        as_json = fetch.Source(file, "", "", "", transform="json")
        path.with_suffix(".json").write_bytes(fetch.published(as_json, path.read_bytes()))
    for file in package.exclude:
        (chart / file).unlink(missing_ok=True)
    return chart


def _package(chart: Path, package: fetch.Package, pins: versions.Versions, key: str) -> bytes:
    """`helm package` of the staged directory, made byte-reproducible."""
    out = chart.parent / "out"
    out.mkdir()
    args = ["package", str(chart), "--destination", str(out)]
    if package.version:
        args += ["--version", _filled(package.version, pins, key)]
    if package.app_version:
        args += ["--app-version", _filled(package.app_version, pins, key)]
    proc = helm.run(args)
    archives = list(out.glob("*.tgz"))
    if proc.returncode != 0 or len(archives) != 1:
        first = (proc.stderr.strip().splitlines() or ["no archive written"])[0]
        raise UserError(f"helm package of upstream chart {key} failed: {first}")
    # Upstream files, not ours: a fixed time, so the archive depends on its inputs only.
    reproducible.normalize_archive(archives[0], 0)
    return archives[0].read_bytes()


def chart_meta(archive: bytes) -> dict[str, Any]:
    """The top-level Chart.yaml of a chart archive."""
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for member in tar.getmembers():
            if member.name.count("/") == 1 and member.name.endswith("/Chart.yaml"):
                handle = tar.extractfile(member)
                if handle:
                    data: dict[str, Any] = yaml.safe_load(handle.read()) or {}
                    return data
    return {}


def _semver(text: str) -> str:
    return text.removeprefix("v")


def check_meta(meta: dict[str, Any], wanted: Wanted, pins: versions.Versions) -> list[str]:
    """What Helm and we expect of the archive: Chart.lock's name and version (Helm compares
    versions as semver, so a leading v does not matter) and versions.yaml's appVersion."""
    problems = []
    if meta.get("name") != wanted.name:
        problems.append(f"name {meta.get('name')!r}, Chart.lock wants {wanted.name!r}")
    if _semver(str(meta.get("version"))) != _semver(wanted.version):
        problems.append(f"version {meta.get('version')!r}, Chart.lock wants {wanted.version!r}")
    app = meta.get("appVersion")
    expected = pins.projects[pins.charts[wanted.key].project].app_version
    if app is not None and str(app) != expected:
        problems.append(f"appVersion {app!r}, versions.yaml pins {expected!r}")
    return problems


def _key(sources: list[fetch.Source], sums: dict[str, str], package: fetch.Package) -> str:
    """What the archive is a function of: the files, the recipe and the helm that packs it."""
    digest = hashlib.sha256()
    for source in sources:
        digest.update(f"{source.path}\0{sums[source.file]}\n".encode())
    digest.update(package.model_dump_json(by_alias=True).encode())
    digest.update(str(helm.version(helm.binary())).encode())
    return digest.hexdigest()


def build(
    key: str,
    pins: versions.Versions,
    sums: dict[str, str],
    read: Reader,
    cache: Path = CACHE,
) -> tuple[bytes, bool]:
    """(archive bytes, built now) of one upstream chart; cached by version and inputs."""
    package = fetch.packages()[key]
    sources = fetch.package_sources(pins, keys=[key])
    chart = pins.charts[key]
    cached = cache / f"{chart.name}-{chart.version}.tgz"
    stamp = cached.with_suffix(".key")
    want = _key(sources, sums, package)
    if cached.exists() and stamp.exists() and stamp.read_text().strip() == want:
        return cached.read_bytes(), False
    with tempfile.TemporaryDirectory(prefix="mlstack-deps.") as tmp:
        staged = _stage(key, package, sources, read, pins, Path(tmp))
        data = _package(staged, package, pins, key)
    cache.mkdir(parents=True, exist_ok=True)
    for path, body in ((cached, data), (stamp, (want + "\n").encode())):
        tmp_path = path.with_suffix(f".{os.getpid()}.tmp")
        tmp_path.write_bytes(body)
        tmp_path.replace(path)
    return data, True


def _install(charts_dir: Path, wanted: Wanted, data: bytes) -> None:
    """The archive where `helm dependency build` puts it; other versions of it removed."""
    target_dir = charts_dir / wanted.wrapper / "charts"
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / wanted.archive
    for old in target_dir.glob(f"{wanted.name}-*.tgz"):
        if old.name != wanted.archive and re.fullmatch(
            rf"{re.escape(wanted.name)}-v?\d[^/]*\.tgz", old.name
        ):
            old.unlink()
    if target.exists() and target.read_bytes() == data:
        return
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(target)


def dependency_status(charts_dir: Path, wrapper: str) -> dict[str, str]:
    """name -> status, as `helm dependency list` reports it (`ok` when Helm will use it)."""
    proc = helm.run(["dependency", "list", str(charts_dir / wrapper)])
    if proc.returncode != 0:
        first = (proc.stderr.strip().splitlines() or ["no output"])[0]
        raise UserError(f"helm dependency list {wrapper} failed: {first}")
    status = {}
    for line in proc.stdout.splitlines()[1:]:
        cells = line.split()
        if len(cells) >= 4:
            status[cells[0]] = cells[-1]
    return status


def from_source(
    charts_dir: Path = CHARTS_DIR,
    schema_dir: Path | None = None,
    base: str | None = None,
    *,
    record: bool = False,
    downloader: fetch.Downloader | None = None,
    source_cache: Path = SOURCE_CACHE,
    cache: Path = CACHE,
    progress: fetch.Progress | None = None,
    build_charts: bool = True,
) -> Report:
    """Every wrapper's upstream chart built from source and verified (module docstring)."""
    pins = versions.load()
    wanted = wrappers(charts_dir, pins)
    keys = sorted({w.key for w in wanted})
    known = fetch.packages()
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise UserError(
            f"{yamlfile.shown(fetch.FILES)}: no packages.{unknown[0]} entry: list the chart's "
            f"files and its publishing step there to build it from source (or {MODE_VAR}=registry)"
        )
    sources = fetch.package_sources(pins, keys=keys)
    sums = fetch.read_sums()
    # Our own cache is not a mirror: fetch keeps its current folders and fills in the rest.
    own = schema_dir is not None and schema_dir.resolve() == source_cache.resolve()
    mirror = None if own else _mirror(schema_dir)
    recorded = 0
    if mirror is not None and not record:
        read = _reader(sources, sums, mirror)
        if not build_charts:
            for source in sources:
                read(source)
        origin = f"read in place from the mirror {mirror}"
    else:
        origin = f"{base or os.environ.get(fetch.URL_VAR) or fetch.DEFAULT_URL}, cached in "
        origin += yamlfile.shown(source_cache / "chart-sources")
        summary = fetch.fetch(
            source_cache,
            base,
            pins=pins,
            sums=sums,
            record=record,
            downloader=downloader,
            progress=progress,
            wanted=sources,
        )
        if summary.recorded:
            fetch.write_sums(sums)
            recorded = len(summary.recorded)

        def read(source: fetch.Source) -> bytes:
            return (source_cache / source.file).read_bytes()

    if not build_charts:  # the files are there and verified: what the tests build from
        return Report([], origin, recorded)
    archives: dict[str, tuple[bytes, bool]] = {}
    for key in keys:
        archives[key] = build(key, pins, sums, read, cache)
    for item in wanted:
        data = archives[item.key][0]
        problems = check_meta(chart_meta(data), item, pins)
        if problems:
            raise UserError(f"{item.key} built from source: {'; '.join(problems)}")
        _install(charts_dir, item, data)
    results = []
    for item in wanted:
        status = dependency_status(charts_dir, item.wrapper).get(item.name, "missing")
        if status != "ok":
            raise UserError(
                f"helm dependency list {item.wrapper}: {item.name} is {status!r}, not ok"
            )
        results.append(Built(item, archives[item.key][1], status))
    return Report(results, origin, recorded)


def from_registry(charts_dir: Path = CHARTS_DIR) -> list[str]:
    """`helm dependency build` of every wrapper (needs the chart repositories)."""
    done = []
    for wrapper in sorted({w.wrapper for w in wrappers(charts_dir)}):
        proc = helm.run(["dependency", "build", str(charts_dir / wrapper)])
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise UserError(
                f"helm dependency build {wrapper} failed: {last}: without a chart registry, "
                f"set {fetch.URL_VAR} (raw-file host) to build the charts from source"
            )
        done.append(wrapper)
    return done


def summary_lines(results: list[Built]) -> list[str]:
    rows = [("WRAPPER", "UPSTREAM CHART", "HELM STATUS", "BUILT")]
    for r in results:
        rows.append((r.wanted.wrapper, r.wanted.archive, r.status, "now" if r.fresh else "cached"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return [
        "  ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(row))
        for row in rows
    ]
