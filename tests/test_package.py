"""`package` / `publish` with the real helm: archives, versions, an index helm reads back.

The wrapper path uses TEST FIXTURE charts built here (`test-fixture-upstream`, served to
`test-fixture-wrapper` as a local `file://` dependency), so no network is needed.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import socket
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from mlstack import package, publish
from mlstack.errors import UserError
from mlstack.lib import helm

FIXTURE_UPSTREAM = "test-fixture-upstream"
FIXTURE_WRAPPER = "test-fixture-wrapper"


def _chart_yaml(chart_dir: Path) -> dict[str, object]:
    data = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
    assert isinstance(data, dict)
    return data


def _fixture_wrapper(charts: Path, tmp_path: Path) -> Path:
    """TEST FIXTURE: an upstream chart and a wrapper that pins it through file://."""
    upstream = tmp_path / "fixture-upstream"
    (upstream / "templates").mkdir(parents=True)
    (upstream / "Chart.yaml").write_text(
        f"apiVersion: v2\nname: {FIXTURE_UPSTREAM}\nversion: 1.2.3\n"
        "description: TEST FIXTURE upstream chart\n"
    )
    (upstream / "values.yaml").write_text("greeting: hello\n")
    (upstream / "templates" / "configmap.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fixture\n"
        "data:\n  greeting: {{ .Values.greeting | quote }}\n"
    )
    wrapper = charts / FIXTURE_WRAPPER
    wrapper.mkdir()
    (wrapper / "Chart.yaml").write_text(
        f"apiVersion: v2\nname: {FIXTURE_WRAPPER}\nversion: 0.3.0\n"
        "description: TEST FIXTURE wrapper chart\ndependencies:\n"
        f"- name: {FIXTURE_UPSTREAM}\n  version: 1.2.3\n  repository: file://{upstream}\n"
        "  alias: upstream\n"
    )
    (wrapper / "values.yaml").write_text("upstream:\n  greeting: from-the-wrapper\n")
    return wrapper


def test_offline_packages_glue_and_names_skipped_wrappers(
    charts_copy: Path, tmp_path: Path
) -> None:
    dist = tmp_path / "dist"
    results = {r.chart: r for r in package.package(charts_copy, dist)}
    assert set(results) == {p.name for p in charts_copy.iterdir() if (p / "Chart.yaml").exists()}
    for name, result in results.items():
        meta = _chart_yaml(charts_copy / name)
        assert result.version == str(meta["version"])
        if meta.get("dependencies"):
            assert result.archive is None and result.skipped
            assert "not downloaded (run `make deps`)" in result.skipped
        else:
            assert result.archive == dist / f"{name}-{meta['version']}.tgz"
            assert result.archive.exists()
            shown = helm.run(["show", "chart", str(result.archive)])
            assert yaml.safe_load(shown.stdout)["version"] == meta["version"]
            with tarfile.open(result.archive) as tar:  # the changelog ships with the chart
                changelog = tar.extractfile(f"{name}/CHANGELOG.md")
                assert changelog and f"## {meta['version']}" in changelog.read().decode()
    assert (
        results["metallb"].skipped == "dependency metallb-0.16.1 not downloaded (run `make deps`)"
    )
    archives = sorted(p.name for p in dist.glob("*.tgz"))
    assert archives == sorted(f"{r.chart}-{r.version}.tgz" for r in results.values() if r.archive)


def _bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_package_twice_gives_byte_identical_dist(
    charts_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    _fixture_wrapper(charts_copy, tmp_path)
    helm.run(["dependency", "update", "--skip-refresh", str(charts_copy / FIXTURE_WRAPPER)])
    package.package(charts_copy, tmp_path / "one")
    first = _bytes(tmp_path / "one")
    (charts_copy / "models" / "values.yaml").touch()  # a new mtime must not matter
    package.package(charts_copy, tmp_path / "two")
    assert first == _bytes(tmp_path / "two")
    assert f"{FIXTURE_WRAPPER}-0.3.0.tgz" in first and "index.yaml" in first
    index = yaml.safe_load(first["index.yaml"])
    assert index["generated"] == "1970-01-01T00:00:00Z"  # not a git checkout: the epoch
    with tarfile.open(tmp_path / "one" / "models-{}.tgz".format(
        _chart_yaml(charts_copy / "models")["version"])) as tar:  # fmt: skip
        names = tar.getnames()
        assert names[0] == "models/Chart.yaml" and names[1:] == sorted(names[1:])
        assert {m.mtime for m in tar.getmembers()} == {0}


def test_bench_reports_sameness(charts_copy: Path) -> None:
    line = package.bench(charts_copy, 2)
    assert line.startswith("bench-package: 2 runs, median ") and line.endswith("byte-identical")


def test_source_date_epoch_sets_every_time(
    charts_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    package.package(charts_copy, tmp_path / "dist")
    index = yaml.safe_load((tmp_path / "dist" / "index.yaml").read_text())
    assert index["generated"] == "2023-11-14T22:13:20Z"
    created = {e["created"] for entries in index["entries"].values() for e in entries}
    assert created == {"2023-11-14T22:13:20Z"}
    archive = next((tmp_path / "dist").glob("*.tgz"))
    with tarfile.open(archive) as tar:
        assert {m.mtime for m in tar.getmembers()} == {1700000000}


def test_dist_with_other_files_is_left_alone(charts_copy: Path, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "notes.md").write_text("mine\n")
    with pytest.raises(UserError, match=r"notes\.md, which package did not write"):
        package.package(charts_copy, dist)
    assert [p.name for p in dist.iterdir()] == ["notes.md"]


def test_strict_fails_on_skips_and_cli_names_them(charts_copy: Path, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "mlstack", "package", "--charts-dir", str(charts_copy)]
    cmd += ["--dist", str(tmp_path / "dist")]
    lenient = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert lenient.returncode == 0, lenient.stderr
    assert "metallb-0.16.1 not downloaded" in lenient.stdout
    strict = subprocess.run([*cmd, "--strict"], capture_output=True, text=True, check=False)
    assert strict.returncode == 1 and "STRICT=1 and skipped: metallb" in strict.stderr


def test_wrapper_with_fixture_dependency_is_packaged(charts_copy: Path, tmp_path: Path) -> None:
    wrapper = _fixture_wrapper(charts_copy, tmp_path)
    before = {r.chart: r for r in package.package(charts_copy, tmp_path / "dist")}
    assert before[FIXTURE_WRAPPER].skipped == (
        f"dependency {FIXTURE_UPSTREAM}-1.2.3 not downloaded (run `make deps`)"
    )
    built = helm.run(["dependency", "update", "--skip-refresh", str(wrapper)])
    assert built.returncode == 0, built.stderr
    results = {r.chart: r for r in package.package(charts_copy, tmp_path / "dist")}
    archive = results[FIXTURE_WRAPPER].archive
    assert archive == tmp_path / "dist" / f"{FIXTURE_WRAPPER}-0.3.0.tgz"
    with tarfile.open(archive) as tar:
        # helm package stores the dependency unpacked under charts/
        assert f"{FIXTURE_WRAPPER}/charts/{FIXTURE_UPSTREAM}/Chart.yaml" in tar.getnames()
    rendered = helm.run(["template", "r", str(archive)])
    assert rendered.returncode == 0, rendered.stderr
    assert "greeting: from-the-wrapper" in rendered.stdout.replace('"', "")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Requests are asserted on through helm's results, not logged."""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """`dist/` served over HTTP on localhost, so helm reads the index as a real repo."""
    dist = tmp_path / "dist"
    dist.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(dist))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield dist, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_helm_reads_the_index_back(
    charts_copy: Path, tmp_path: Path, served: tuple[Path, str]
) -> None:
    dist, url = served
    _fixture_wrapper(charts_copy, tmp_path)
    helm.run(["dependency", "update", "--skip-refresh", str(charts_copy / FIXTURE_WRAPPER)])
    results = package.package(charts_copy, dist, url=url)
    home = tmp_path / "helm-home"
    env = {
        **os.environ,
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_DATA_HOME": str(home / "data"),
    }

    def run(*args: str) -> str:
        proc = subprocess.run(
            [helm.binary(), *args], capture_output=True, text=True, env=env, check=False
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    run("repo", "add", "mlstack-test", url)
    found = json.loads(run("search", "repo", "mlstack-test/", "--versions", "-o", "json"))
    packaged = {f"mlstack-test/{r.chart}": r.version for r in results if r.archive}
    assert {f["name"]: f["version"] for f in found} == packaged
    assert f"mlstack-test/{FIXTURE_WRAPPER}" in packaged
    pulled = tmp_path / "pulled"
    pulled.mkdir()
    run("pull", "mlstack-test/metallb-pool", "--version", packaged["mlstack-test/metallb-pool"],
        "--destination", str(pulled))  # fmt: skip
    assert (pulled / f"metallb-pool-{packaged['mlstack-test/metallb-pool']}.tgz").exists()


def test_publish_dry_run_plans_push_and_keyless_sign(
    charts_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dist = tmp_path / "dist"
    package.package(charts_copy, dist)
    record = tmp_path / "published.yaml"
    assert publish.publish(dist, "oci://registry.example.test/mlstack/", True, record=record) == {}
    assert not record.exists()
    out = capsys.readouterr().out.splitlines()
    archives = sorted(dist.glob("*.tgz"))
    assert len(out) == 2 * len(archives)
    for archive, push, sign in zip(archives, out[::2], out[1::2], strict=True):
        layer = hashlib.sha256(archive.read_bytes()).hexdigest()
        assert push == (
            f"would run: helm push {archive} oci://registry.example.test/mlstack"
            f"   # chart layer sha256:{layer}"
        )
        chart = archive.name.rsplit("-", 1)[0]
        assert sign == (
            f"would run: cosign sign --yes registry.example.test/mlstack/{chart}@{publish.PENDING}"
        )


def test_publish_with_a_key_and_unsigned(charts_copy: Path, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    package.package(charts_copy, dist)
    keyed = publish.plan(dist, "oci://r.example.test/x", "env://COSIGN_PRIVATE_KEY")
    assert all(s.sign and s.sign[:5] == ["cosign", "sign", "--yes", "--key",
               "env://COSIGN_PRIVATE_KEY"] for s in keyed)  # fmt: skip
    assert all(s.sign is None for s in publish.plan(dist, "oci://r.example.test/x", None, False))
    with pytest.raises(UserError, match="must be an OCI registry reference"):
        publish.plan(dist, "https://charts.example.test", None)
    with pytest.raises(UserError, match="run `make package` first"):
        publish.plan(tmp_path / "empty", "oci://registry.example.test/x", None)


def test_digest_is_read_from_helm_push_output() -> None:
    digest = "sha256:" + "ab" * 32
    text = f"Pushed: r.example.test/x/models:0.2.0\nDigest: {digest}\n"
    assert publish.digest_from(text) == digest
    with pytest.raises(UserError, match="printed no `Digest"):
        publish.digest_from("Pushed: r.example.test/x/models:0.2.0\n")


def test_real_push_to_an_unreachable_registry_fails_in_one_line(
    charts_copy: Path, tmp_path: Path
) -> None:
    dist = tmp_path / "dist"
    package.package(charts_copy, dist)
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    registry_url = f"oci://127.0.0.1:{port}/charts"
    cmd = [sys.executable, "-m", "mlstack", "publish", "--dist", str(dist), "--no-sign",
           "--registry", registry_url, "--record", str(tmp_path / "r.yaml")]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith("error: helm push ") and len(proc.stderr.splitlines()) == 1
    assert not (tmp_path / "r.yaml").exists()


def test_signing_without_cosign_stops_before_any_push(charts_copy: Path, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    package.package(charts_copy, dist)
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}  # no cosign there
    cmd = [sys.executable, "-m", "mlstack", "publish", "--dist", str(dist),
           "--registry", "oci://127.0.0.1:1/charts"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    assert proc.returncode == 2 and "cosign is not on PATH" in proc.stderr
    assert "helm push" not in proc.stdout
