"""`package` / `publish` with the real helm: archives, versions, an index helm reads back.

The wrapper path uses TEST FIXTURE charts built here (`test-fixture-upstream`, served to
`test-fixture-wrapper` as a local `file://` dependency), so no network is needed.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from mlstack import package
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


def test_publish_dry_run_prints_helm_push(charts_copy: Path, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    package.package(charts_copy, dist)
    commands = package.publish(dist, "oci://registry.example.test/mlstack/", dry_run=True)
    assert commands == [
        ["helm", "push", str(a), "oci://registry.example.test/mlstack"]
        for a in sorted(dist.glob("*.tgz"))
    ]
    with pytest.raises(UserError, match="must be an OCI registry reference"):
        package.publish(dist, "https://charts.example.test", dry_run=True)
    with pytest.raises(UserError, match="run `make package` first"):
        package.publish(tmp_path / "empty", "oci://registry.example.test/x", dry_run=True)
