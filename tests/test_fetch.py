"""`make schemas`: real downloads over HTTP from a loopback stand-in of the raw-file host.

The stand-in serves the upstream schema directory (the team mirror in CI, the cache a
first run filled elsewhere) by its own SOURCES.tsv, so these tests check the project's
file list, tags, sums and the local Emissary render against an independent record.
"""

from __future__ import annotations

import csv
import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlstack import versions
from mlstack.errors import UserError
from mlstack.lib import fetch
from upstream_standin import Standin, table

EMISSARY = "crds/emissary-4.1.0/emissary-crds.rendered.yaml"
QUICK = fetch.Downloader(tries=3, backoff=0.0, timeout=5.0)


@pytest.fixture(autouse=True)
def _no_proxy_for_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """urllib (and the CLI subprocesses, which inherit os.environ) send every request
    through a configured http_proxy unless no_proxy covers the host: a CI proxy must never
    see, or fail, the loopback stand-in."""
    for name in ("NO_PROXY", "no_proxy"):
        hosts = [h for h in os.environ.get(name, "").split(",") if h]
        monkeypatch.setenv(name, ",".join([*hosts, "127.0.0.1", "localhost"]))


@pytest.fixture(scope="module")
def files(schema_dir: Path) -> dict[str, bytes]:
    return table(schema_dir)


@pytest.fixture
def standin(files: dict[str, bytes]) -> Iterator[Standin]:
    with Standin(dict(files)) as running:
        yield running


def _bumped_metallb(pins: versions.Versions, version: str) -> versions.Versions:
    """versions.yaml as a metallb bump would leave it: version, CRD and values folders."""
    project = pins.projects["metallb"].model_copy(
        update={"version": version, "crds": f"metallb-{version}"}
    )
    chart = pins.charts["metallb"].model_copy(update={"values": f"metallb-{version}"})
    return pins.model_copy(
        update={
            "projects": {**pins.projects, "metallb": project},
            "charts": {**pins.charts, "metallb": chart},
        }
    )


def test_repository_tag_and_path_agree_with_the_mirror_record(schema_dir: Path) -> None:
    """The mirror's SOURCES.tsv was written independently of our file list."""
    with (schema_dir / "SOURCES.tsv").open() as handle:
        rows = {row["file"]: row for row in csv.DictReader(handle, delimiter="\t")}
    for source in fetch.sources():
        row = rows.get(source.file)
        assert row, f"{source.file} is not in the mirror"
        assert (row["repository"], row["tag"], row["path"]) == (
            source.repository,
            source.tag,
            source.described,
        ), source.file


def test_a_bump_moves_tags_and_folders_of_that_project_only() -> None:
    pins = versions.load()
    before = {s.file: s for s in fetch.sources(pins)}
    after = {s.file: s for s in fetch.sources(_bumped_metallb(pins, "0.16.2"))}
    assert after["crds/metallb-0.16.2/metallb.io_bgppeers.yaml"].tag == "v0.16.2"
    assert after["chart-values/metallb-0.16.2/values.yaml"].tag == "v0.16.2"
    changed = set(before) ^ set(after)
    assert changed and all("metallb-0.16." in name for name in changed)
    assert all(after[f] == before[f] for f in set(before) & set(after))


def test_every_pinned_folder_validation_reads_is_fetched() -> None:
    """A project, tool or chart pinned in versions.yaml without an upstream-files.yaml
    entry would validate in CI (the mirror has it) and fail on every user's first run."""
    pins = versions.load()
    folders = {s.folder for s in fetch.sources()}
    for key, pin in {**pins.projects, **pins.tools}.items():
        assert not pin.crds or f"crds/{pin.crds}" in folders, f"{key}: add its CRD files"
    for key, chart in pins.charts.items():
        assert not chart.values or f"chart-values/{chart.values}" in folders, f"chart {key}"


def test_a_folder_that_does_not_name_the_version_is_an_error() -> None:
    pins = versions.load()
    stale = pins.projects["metallb"].model_copy(update={"version": "0.16.2"})
    pins = pins.model_copy(update={"projects": {**pins.projects, "metallb": stale}})
    with pytest.raises(UserError, match=r"projects\.metallb\.crds: metallb-0\.16\.1 must end"):
        fetch.sources(pins)


def test_every_fetched_file_has_exactly_one_sum() -> None:
    every = [*fetch.sources(), *fetch.package_sources()]
    assert sorted(fetch.read_sums()) == sorted(s.file for s in every)


def test_sums_match_the_schema_directory(schema_dir: Path) -> None:
    """Schema files by name; chart sources by (repository, tag, path) through the mirror's
    SOURCES.tsv, which keeps a chart's Chart.yaml and values.yaml under chart-values/."""
    sums = fetch.read_sums()
    raw = fetch.mirror_files(schema_dir)
    for source in fetch.sources():
        data = (schema_dir / source.file).read_bytes()
        assert hashlib.sha256(data).hexdigest() == sums[source.file], source.file
    for source in fetch.package_sources():
        local = raw.get((source.repository, source.tag, source.path))
        assert local, f"{source.file}: not in {schema_dir}/SOURCES.tsv"
        assert hashlib.sha256(local.read_bytes()).hexdigest() == sums[source.file], source.file


def test_first_fetch_reproduces_the_mirror_then_needs_no_network(
    tmp_path: Path, schema_dir: Path, standin: Standin
) -> None:
    seen: list[tuple[int, int]] = []
    cache = tmp_path / "upstream"
    summary = fetch.fetch(
        cache, standin.url, downloader=QUICK, progress=lambda d, t, _: seen.append((d, t))
    )
    wanted = fetch.sources()
    assert summary.fetched == summary.total == len(wanted)
    assert seen[-1] == (len(wanted), len(wanted)) and len(seen) == len(wanted)
    for source in wanted:  # Emissary's CRDs rendered here by helm, byte for byte
        assert (cache / source.file).read_bytes() == (schema_dir / source.file).read_bytes()
    assert any(r.endswith("/templates/mappings.yaml") for r in standin.requests)
    assert (cache / "SOURCES.tsv").read_text().count("\n") == len(wanted) + 1
    asked = len(standin.requests)
    assert fetch.fetch(cache, standin.url, downloader=QUICK).fetched == 0
    assert len(standin.requests) == asked


def test_a_bump_fetches_only_what_it_changed(
    tmp_path: Path, files: dict[str, bytes], standin: Standin
) -> None:
    cache = tmp_path / "upstream"
    fetch.fetch(cache, standin.url, downloader=QUICK)
    for path, body in files.items():  # the new tag upstream (same content, for the test)
        if path.startswith("metallb/metallb/v0.16.1/"):
            standin.files[path.replace("/v0.16.1/", "/v0.16.2/")] = body
    pins = _bumped_metallb(versions.load(), "0.16.2")
    sums = {k.replace("metallb-0.16.1", "metallb-0.16.2"): v for k, v in fetch.read_sums().items()}
    del standin.requests[:]
    summary = fetch.fetch(cache, standin.url, pins=pins, sums=sums, downloader=QUICK)
    assert summary.fetched == 12
    assert len(standin.requests) == 12
    assert all(r.startswith("metallb/metallb/v0.16.2/") for r in standin.requests)
    assert (cache / "crds/metallb-0.16.2/metallb.io_bgppeers.yaml").exists()


def test_a_changed_file_is_refused_and_the_cache_kept(tmp_path: Path, standin: Standin) -> None:
    cache = tmp_path / "upstream"
    fetch.fetch(cache, standin.url, downloader=QUICK)
    target = cache / "crds/metallb-0.16.1/metallb.io_bgppeers.yaml"
    target.write_text("tampered")  # forces a re-fetch of that folder
    path = "metallb/metallb/v0.16.1/config/crd/bases/metallb.io_bgppeers.yaml"
    standin.files[path] = b"kind: Something\n"
    with pytest.raises(UserError) as err:
        fetch.fetch(cache, standin.url, downloader=QUICK)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("crds/metallb-0.16.1/metallb.io_bgppeers.yaml: sha256")
    assert f"{standin.url}/{path}" in message
    assert target.read_text() == "tampered"  # nothing moved into place
    assert not list(cache.glob(".incoming.*"))


def test_a_changed_chart_template_changes_the_render_and_is_refused(
    tmp_path: Path, standin: Standin
) -> None:
    name = next(p for p in standin.files if p.endswith("emissary-crds/templates/hosts.yaml"))
    standin.files[name] = standin.files[name].replace(b"name: hosts.", b"name: hostz.")
    with pytest.raises(UserError, match=f"^{EMISSARY}: sha256 .*charts/emissary-crds"):
        fetch.fetch(tmp_path / "upstream", standin.url, downloader=QUICK)


def test_a_broken_chart_is_one_line(tmp_path: Path, standin: Standin) -> None:
    name = next(p for p in standin.files if p.endswith("emissary-crds/templates/hosts.yaml"))
    standin.files[name] = b"{{ .Values.nope.deeper }}\n"
    with pytest.raises(UserError, match=r"^helm template of .*charts/emissary-crds failed: "):
        fetch.fetch(tmp_path / "upstream", standin.url, downloader=QUICK)


def test_transient_failures_are_retried(tmp_path: Path, standin: Standin) -> None:
    downloader = fetch.Downloader(tries=3, backoff=0.01, timeout=5.0)
    fetch.fetch(tmp_path / "clean", standin.url, downloader=downloader)
    clean = len(standin.requests)  # what a fetch without failures asks for
    standin.requests.clear()
    standin.fail_first = 2
    summary = fetch.fetch(tmp_path / "upstream", standin.url, downloader=downloader)
    assert summary.fetched == summary.total
    assert sum(1 for _ in standin.requests) >= summary.total + 2
    assert standin.fail_first == 0  # both 503s were served ...
    assert len(standin.requests) == clean + 2  # ... and each cost exactly one more request


def test_retries_are_bounded(standin: Standin) -> None:
    standin.fail_first = 10
    with pytest.raises(UserError, match=r"HTTP 503 \(after 3 tries\)"):
        QUICK.get(f"{standin.url}/metallb/metallb/v0.16.1/charts/metallb/Chart.yaml")
    assert len(standin.requests) == 3


def test_a_missing_file_is_not_retried(standin: Standin) -> None:
    with pytest.raises(UserError, match=r"HTTP 404 \(no such tag or path there\)"):
        QUICK.get(f"{standin.url}/metallb/metallb/v9.9.9/charts/metallb/Chart.yaml")
    assert len(standin.requests) == 1


def test_no_network_and_no_cache_says_what_to_do(tmp_path: Path, standin: Standin) -> None:
    url = standin.url
    standin.stop()
    with pytest.raises(UserError) as err:
        fetch.fetch(tmp_path / "upstream", url, downloader=QUICK)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"could not download {url}/")
    assert "MLSTACK_UPSTREAM_URL" in message and "MLSTACK_SCHEMA_DIR" in message
    assert not (tmp_path / "upstream" / "crds").exists()


def test_a_bump_without_sums_is_refused_then_recorded(tmp_path: Path, standin: Standin) -> None:
    sums = fetch.read_sums()
    del sums[EMISSARY]
    with pytest.raises(UserError, match=f"^no sha256 for {EMISSARY} in .*--record-sums"):
        fetch.fetch(tmp_path / "upstream", standin.url, sums=dict(sums), downloader=QUICK)
    summary = fetch.fetch(
        tmp_path / "upstream", standin.url, sums=sums, record=True, downloader=QUICK
    )
    assert summary.recorded == [EMISSARY]
    assert sums == fetch.read_sums()


def test_cli_fetches_through_the_environment_url(tmp_path: Path, standin: Standin) -> None:
    env = {**os.environ, "MLSTACK_UPSTREAM_URL": standin.url, "HELM": str(_helm())}
    cmd = [sys.executable, "-m", "mlstack", "schemas", "--dest", str(tmp_path / "up")]
    first = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    assert first.returncode == 0, first.stderr
    assert f"fetched {len(fetch.sources())} of {len(fetch.sources())}" in first.stdout
    assert f"schemas: {len(fetch.sources())}/{len(fetch.sources())} files" in first.stderr
    standin.stop()
    second = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    assert second.returncode == 0, second.stderr
    assert "match the pinned versions" in second.stdout


def _helm() -> Path:
    from mlstack.lib import helm

    return Path(helm.binary())


def test_a_malformed_file_list_is_one_line(tmp_path: Path) -> None:
    listed = tmp_path / "upstream-files.yaml"
    listed.write_text(fetch.FILES.read_text().replace("  kserve:\n", "  kserv:\n", 1))
    with pytest.raises(UserError, match=r"projects\.kserv: not a project or tool in .*pin it"):
        fetch.sources(files=listed)
    listed.write_text(fetch.FILES.read_text().replace("    crds:\n", "    crd:\n", 1))
    with pytest.raises(UserError, match=r"upstream-files\.yaml: projects\.metallb\.crd: Extra"):
        fetch.sources(files=listed)
