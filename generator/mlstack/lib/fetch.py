"""`make schemas`: fill the upstream schema cache from raw repository files.

What is fetched is derived, never listed with versions: `data/upstream-files.yaml` names
each project's repository, tag pattern and files, `data/versions.yaml` gives the pinned
version, so a version bump changes the tag and the cache folder of exactly that project's
files. Every file is `<base>/<owner>/<repo>/<tag>/<path>` under one base URL,
`$MLSTACK_UPSTREAM_URL` (default: GitHub's raw-file host), so a proxy or an air-gapped
mirror has one host to allow. Emissary ships its CRDs only as a chart: its chart files are
fetched the same way and rendered locally by `helm template`, so no chart registry is needed.
Where publishing changes a file (JupyterHub's chartpress sets Chart.yaml's version and
converts values.schema.yaml to JSON), `published` redoes that step deterministically, so the
result is the published chart's file and its pinned sum holds.

Every file is checked against `data/upstream.sha256` (a rendered file: the render's
output) before it is used. The cache is keyed by the pinned versions: a folder whose files
are all present with the right sums is kept, so a second run needs no network and a bump
downloads only the folders it changed. Downloads land in a staging directory and are moved
into place only after all arrived and verified: a failed run leaves the cache as it was.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from mlstack import versions
from mlstack.errors import UserError
from mlstack.lib import helm, yamlfile

DATA = Path(__file__).resolve().parents[1] / "data"
FILES = DATA / "upstream-files.yaml"
SUMS = DATA / "upstream.sha256"
URL_VAR = "MLSTACK_UPSTREAM_URL"
DEFAULT_URL = "https://raw.githubusercontent.com"
#: Where to go when a download fails: both ways around a blocked network.
ADVICE = (
    f"set {URL_VAR} to a mirror serving raw upstream files as <base>/<owner>/<repo>/<tag>/"
    "<path>, or MLSTACK_SCHEMA_DIR to a copy of the upstream schemas"
)
#: Statuses that another try cannot change: the file is not there (wrong tag or path).
_FINAL = {400, 401, 403, 404, 410}
Progress = Callable[[int, int, str], None]


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Render(_Data):
    chart: str
    files: list[str]
    set: list[str] = []
    output: str


class _Project(_Data):
    repository: str
    tag: str
    crds: list[str] = []
    reference: list[dict[str, str]] = []
    render: _Render | None = None


class _Chart(_Data):
    path: str
    files: list[str]
    set_version: bool = Field(False, alias="setVersion")
    yaml_to_json: list[str] = Field([], alias="yamlToJson")


class Package(_Data):
    """How an upstream chart is published from its repository's files (`make deps`)."""

    files: list[str]
    #: `helm package --version/--app-version` as the release tooling passes them.
    version: str | None = None
    app_version: str | None = Field(None, alias="appVersion")
    #: file -> [old, new] text the release tooling substitutes ({version}, {appVersion}).
    replace: dict[str, list[tuple[str, str]]] = {}
    yaml_to_json: list[str] = Field([], alias="yamlToJson")
    #: files the release tooling leaves out (besides what .helmignore excludes).
    exclude: list[str] = []
    #: where the publishing step was read (repository, file).
    evidence: str


class _FileList(_Data):
    projects: dict[str, _Project]
    charts: dict[str, _Chart] = {}
    packages: dict[str, Package] = {}


@dataclass(frozen=True)
class Source:
    """One file of the schema directory and where upstream keeps it."""

    #: Path in the schema directory, e.g. crds/metallb-0.16.1/metallb.io_bgppeers.yaml.
    file: str
    repository: str
    tag: str
    #: Path in the repository; for a rendered file, the chart directory.
    path: str
    #: A rendered file: the chart's files (relative to `path`) and `--set` arguments.
    chart_files: tuple[str, ...] = ()
    sets: tuple[str, ...] = ()
    #: What publishing does to a raw file that we redo: "" (none), "json" (YAML -> JSON)
    #: or "version:<v>" (Chart.yaml's placeholder version -> <v>).
    transform: str = ""
    #: The cache folder kept or replaced as a whole (default: the file's own folder).
    group: str = ""

    def url(self, base: str, path: str | None = None) -> str:
        return f"{base.rstrip('/')}/{self.repository}/{self.tag}/{path or self.path}"

    @property
    def folder(self) -> str:
        return self.group or self.file.rsplit("/", 1)[0]

    @property
    def described(self) -> str:
        """The SOURCES.tsv `path` column (the team mirror's format)."""
        if self.transform == "json":
            return f"{self.path} (converted to JSON, as the published chart ships it)"
        if self.transform.startswith("version:"):
            version = self.transform.removeprefix("version:")
            return f"{self.path} (version placeholder set to {version}, as the published chart)"
        if not self.chart_files:
            return self.path
        return f"{self.path} (helm template, {', '.join(self.sets)})"


def _basename(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _versioned(key: str, folder: str | None, version: str) -> None:
    """A cache folder must name the pinned version: that is what keys the cache, so a bump
    that forgot the folder would keep serving the old version's files."""
    if not folder or not folder.endswith(f"-{version}"):
        raise UserError(
            f"{yamlfile.shown(versions.VERSIONS_FILE)}: {key}: {folder or '(missing)'} must "
            f"end in -{version}, the pinned version: rename the folder with the bump"
        )


def sources(pins: versions.Versions | None = None, files: Path = FILES) -> list[Source]:
    """Every upstream file validation reads, at the versions pinned in `pins`."""
    pins = pins or versions.load()
    listed = yamlfile.model(files, _FileList)
    out: list[Source] = []
    for key, project in listed.projects.items():
        pin = pins.projects.get(key) or pins.tools.get(key)
        if pin is None:
            raise UserError(
                f"{yamlfile.shown(files)}: projects.{key}: not a project or tool in "
                f"{yamlfile.shown(versions.VERSIONS_FILE)}: pin it there or remove it"
            )
        tag = yamlfile.filled(
            project.tag, f"{yamlfile.shown(files)}: projects.{key}.tag", version=pin.version
        )
        if project.crds or project.render:
            section = "projects" if key in pins.projects else "tools"
            _versioned(f"{section}.{key}.crds", pin.crds, pin.version)
        for path in project.crds:
            out.append(Source(f"crds/{pin.crds}/{_basename(path)}", project.repository, tag, path))
        for entry in project.reference:
            for path, name in entry.items():
                folder = f"reference/{key}-{pin.version}"
                out.append(Source(f"{folder}/{name}", project.repository, tag, path))
        if project.render:
            render = project.render
            out.append(
                Source(
                    f"crds/{pin.crds}/{render.output}",
                    project.repository,
                    tag,
                    render.chart,
                    tuple(render.files),
                    tuple(render.set),
                )
            )
    for key, chart in listed.charts.items():
        pinned = pins.charts.get(key)
        if pinned is None or not pinned.values:
            raise UserError(
                f"{yamlfile.shown(files)}: charts.{key}: not a chart with a `values:` folder "
                f"in {yamlfile.shown(versions.VERSIONS_FILE)}"
            )
        owner = listed.projects.get(pinned.project)
        if owner is None:
            raise UserError(
                f"{yamlfile.shown(files)}: charts.{key}: add project {pinned.project} "
                "(repository, tag) under projects:"
            )
        version = pins.projects[pinned.project].version
        _versioned(f"charts.{key}.values", pinned.values, version)
        tag = yamlfile.filled(
            owner.tag, f"{yamlfile.shown(files)}: projects.{pinned.project}.tag", version=version
        )
        for name in chart.files:
            transform, target = "", _basename(name)
            if name in chart.yaml_to_json:
                transform, target = "json", target.rsplit(".", 1)[0] + ".json"
            elif chart.set_version and target == "Chart.yaml":
                transform = f"version:{pinned.version}"
            out.append(
                Source(
                    f"chart-values/{pinned.values}/{target}",
                    owner.repository,
                    tag,
                    f"{chart.path}/{name}",
                    transform=transform,
                )
            )
    seen: set[str] = set()
    for source in out:
        if source.file in seen:
            raise UserError(f"{yamlfile.shown(files)}: two entries land in {source.file}")
        seen.add(source.file)
    return out


def packages(files: Path = FILES) -> dict[str, Package]:
    """The publishing recipe of every upstream chart `make deps` can build from source."""
    return yamlfile.model(files, _FileList).packages


def package_folder(pins: versions.Versions, key: str) -> str:
    """chart-sources/<name>-<version>: the team mirror's folder of one upstream chart."""
    chart = pins.charts[key]
    return f"chart-sources/{chart.name}-{chart.version}"


def package_sources(
    pins: versions.Versions | None = None, files: Path = FILES, keys: list[str] | None = None
) -> list[Source]:
    """Every file of the upstream charts `make deps` builds from source (all, or `keys`),
    as the repository holds it at the pinned tag, under chart-sources/<name>-<version>/."""
    pins = pins or versions.load()
    listed = yamlfile.model(files, _FileList)
    out: list[Source] = []
    for key, package in listed.packages.items():
        if keys is not None and key not in keys:
            continue
        pinned, chart = pins.charts.get(key), listed.charts.get(key)
        if pinned is None or chart is None:
            raise UserError(
                f"{yamlfile.shown(files)}: packages.{key}: needs a charts.{key} entry here "
                f"(its path) and a charts.{key} pin in {yamlfile.shown(versions.VERSIONS_FILE)}"
            )
        project = listed.projects[pinned.project]
        tag = yamlfile.filled(
            project.tag,
            f"{yamlfile.shown(files)}: projects.{pinned.project}.tag",
            version=pins.projects[pinned.project].version,
        )
        folder = package_folder(pins, key)
        for name in package.files:
            path = f"{chart.path}/{name}"
            out.append(Source(f"{folder}/{path}", project.repository, tag, path, group=folder))
    return out


def read_sums(path: Path = SUMS) -> dict[str, str]:
    """`sha256sum` format: `<hex>  <file>` per line, file relative to the schema directory."""
    sums: dict[str, str] = {}
    if not path.exists():
        return sums
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        digest, _, name = line.partition("  ")
        if len(digest) != 64 or not name:
            raise UserError(f"{yamlfile.shown(path)} line {number}: expected `<sha256>  <file>`")
        sums[name] = digest
    return sums


def write_sums(sums: dict[str, str], path: Path = SUMS) -> None:
    header = (
        "# sha256 of every upstream file `make schemas` fetches (rendered files: the\n"
        "# output), as it lands in the schema directory. Check a copy with\n"
        "# `cd $MLSTACK_SCHEMA_DIR && sha256sum -c <this file>`. After a version bump,\n"
        "# `python -m mlstack schemas --record-sums` adds the new files' sums: review, commit.\n"
    )
    body = "".join(f"{digest}  {name}\n" for name, digest in sorted(sums.items()))
    path.write_text(header + body)


def _current(path: Path, expected: str | None) -> bool:
    """The cached file is there with its recorded sum (no sum yet: never current)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() == expected
    except OSError:
        return False


@dataclass
class Downloader:
    """HTTP GET with a bounded retry: `tries` attempts, waiting backoff, 2x, 4x... between."""

    tries: int = 3
    backoff: float = 0.5
    timeout: float = 20.0

    def get(self, url: str) -> bytes:
        reason = ""
        for attempt in range(self.tries):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                with urllib.request.urlopen(url, timeout=self.timeout) as response:
                    data: bytes = response.read()
                    return data
            except urllib.error.HTTPError as err:
                reason = f"HTTP {err.code}"
                if err.code in _FINAL:
                    raise UserError(
                        f"could not download {url}: {reason} (no such tag or path there): {ADVICE}"
                    ) from None
            except (OSError, ValueError) as err:
                reason = str(getattr(err, "reason", None) or err)
        raise UserError(f"could not download {url}: {reason} (after {self.tries} tries): {ADVICE}")


@dataclass
class Summary:
    """What a fetch did: files downloaded of those the pinned versions need."""

    fetched: int
    total: int
    recorded: list[str] = field(default_factory=list)


def _render(source: Source, base: str, get: Callable[[str], bytes]) -> bytes:
    """The chart's files from the raw host into a temporary directory, then `helm template`.

    The release namespace is given explicitly: `helm template` otherwise takes it from the
    kube context, and the output (hence its sum) would depend on the user's kubeconfig.
    """
    with tempfile.TemporaryDirectory(prefix="mlstack-chart.") as tmp:
        chart = Path(tmp) / "chart"
        for name in source.chart_files:
            target = chart / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(get(source.url(base, f"{source.path}/{name}")))
        args = ["template", "crds", str(chart), "--namespace", "default"]
        for value in source.sets:
            args += ["--set", value]
        proc = helm.run(args)
    if proc.returncode != 0:
        first = (proc.stderr.strip().splitlines() or ["no output"])[0]
        raise UserError(f"helm template of {source.url(base)} failed: {first}")
    return proc.stdout.encode()


_VERSION_LINE = re.compile(rb"^version:.*$", re.MULTILINE)


def published(source: Source, raw: bytes) -> bytes:
    """The file as the published chart ships it, from the repository's raw bytes.

    Deterministic, so its sum is pinned like any other: JSON with two-space indent and
    sorted keys (what the chart archive holds), or the one `version:` line replaced.
    """
    if source.transform == "json":
        try:
            data = yaml.safe_load(raw)
        except yaml.YAMLError as err:
            raise UserError(f"{source.file}: the upstream YAML does not parse: {err}") from None
        return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()
    if source.transform.startswith("version:"):
        version = source.transform.removeprefix("version:").encode()
        changed, count = _VERSION_LINE.subn(b"version: " + version, raw, count=1)
        if not count:
            raise UserError(f"{source.file}: the upstream Chart.yaml has no version: line")
        return changed
    return raw


def fetch(
    dest: Path,
    base: str | None = None,
    *,
    pins: versions.Versions | None = None,
    sums: dict[str, str] | None = None,
    record: bool = False,
    downloader: Downloader | None = None,
    progress: Progress | None = None,
    wanted: list[Source] | None = None,
) -> Summary:
    """Make `dest` hold every upstream file at the pinned versions, verified.

    `record` accepts files that have no sum yet (a version bump) and returns them in
    `Summary.recorded` with `sums` updated; a mismatch against a known sum is always refused.
    """
    base = base or os.environ.get(URL_VAR) or DEFAULT_URL
    wanted = sources(pins) if wanted is None else wanted
    sums = read_sums() if sums is None else sums
    unknown = [s.file for s in wanted if s.file not in sums]
    if unknown and not record:
        more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
        raise UserError(
            f"no sha256 for {unknown[0]}{more} in {yamlfile.shown(SUMS)}: after a version "
            "bump run `.venv/bin/python -m mlstack schemas --record-sums`, review, commit"
        )
    stale = {s.folder for s in wanted if not _current(dest / s.file, sums.get(s.file))}
    todo = [s for s in wanted if s.folder in stale]
    if not todo:
        _write_sources(dest, pins)
        return Summary(0, len(wanted))
    get = (downloader or Downloader()).get
    dest.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".incoming.", dir=dest))
    recorded: list[str] = []
    try:

        def one(source: Source) -> Source:
            if source.chart_files:
                data = _render(source, base, get)
            else:
                data = published(source, get(source.url(base)))
            digest = hashlib.sha256(data).hexdigest()
            expected = sums.get(source.file)
            if expected is None:
                recorded.append(source.file)
                sums[source.file] = digest
            elif digest != expected:
                raise UserError(
                    f"{source.file}: sha256 {digest[:12]}… is not the pinned {expected[:12]}… "
                    f"(from {source.url(base)}): refusing it; check {URL_VAR} serves the "
                    "upstream files unchanged"
                )
            target = staging / source.file
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            return source

        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            futures = [pool.submit(one, s) for s in todo]
            try:
                for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
                    source = future.result()
                    if progress:
                        progress(done, len(todo), source.file)
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
        for folder in sorted(stale):
            target = dest / folder
            if target.exists():
                shutil.rmtree(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            (staging / folder).rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _write_sources(dest, pins)
    return Summary(len(todo), len(wanted), sorted(recorded))


def _write_sources(dest: Path, pins: versions.Versions | None) -> None:
    """SOURCES.tsv beside the files, in the team mirror's format: where each file is from.

    It lists every file of the cache (`make schemas` and `make deps` fill parts of it), so
    any filled cache is a valid mirror for the loopback stand-in the tests use.
    """
    wanted = [s for s in [*sources(pins), *package_sources(pins)] if (dest / s.file).exists()]
    rows = ["file\trepository\ttag\tpath"]
    rows += [f"{s.file}\t{s.repository}\t{s.tag}\t{s.described}" for s in wanted]
    text = "\n".join(rows) + "\n"
    path = dest / "SOURCES.tsv"
    if not path.exists() or path.read_text() != text:
        dest.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text)
        tmp.replace(path)


def mirror_files(directory: Path) -> dict[tuple[str, str, str], Path]:
    """(repository, tag, path) -> the file holding it unchanged, in a directory in the team
    mirror's layout (its SOURCES.tsv). Rows that record a published or rendered form (an
    annotated path) are not the repository's bytes and are left out."""
    listing = directory / "SOURCES.tsv"
    found: dict[tuple[str, str, str], Path] = {}
    if not listing.exists():
        return found
    for number, line in enumerate(listing.read_text().splitlines()[1:], 2):
        parts = line.split("\t")
        if len(parts) != 4:
            raise UserError(f"{listing} line {number}: expected file, repository, tag, path")
        file, repository, tag, path = parts
        if " " not in path and (directory / file).is_file():
            found[(repository, tag, path)] = directory / file
    return found
