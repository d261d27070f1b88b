"""`make deps` from source: real downloads from the loopback stand-in of the raw-file host,
the real `helm package`, `helm dependency list` and `helm template`.

One session fixture builds every wrapper's upstream chart from the stand-in into a private
copy of charts/ (fresh caches, so the build itself is tested); the tests share it. The
stand-in serves the team mirror by its own SOURCES.tsv, written independently of our file
list, recipes and sums.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from helpers import edit_env, values_copy
from mlstack import REPO_ROOT, deps, generate, render, resolve, versions
from mlstack.errors import UserError
from mlstack.lib import fetch, schemas
from upstream_standin import Standin, table

QUICK = fetch.Downloader(tries=3, backoff=0.0, timeout=5.0)
#: One xdist worker runs every test of this module, so the session fixture builds once.
pytestmark = pytest.mark.xdist_group("deps")


@dataclass
class Run:
    root: Path
    charts: Path
    standin: Standin
    report: deps.Report


def _loopback_env() -> dict[str, str]:
    """no_proxy covering the stand-in: a CI proxy must never see (or fail) loopback."""
    out = {}
    for name in ("NO_PROXY", "no_proxy"):
        hosts = [h for h in os.environ.get(name, "").split(",") if h]
        out[name] = ",".join([*hosts, "127.0.0.1", "localhost"])
    return out


def _charts_copy(target: Path) -> Path:
    """The committed charts/ without any upstream archive (as a fresh clone has it)."""
    shutil.copytree(REPO_ROOT / "charts", target, ignore=shutil.ignore_patterns("charts"))
    return target


@pytest.fixture(scope="session")
def mirror(schema_dir: Path) -> Path:
    if not (schema_dir / "chart-sources").is_dir():
        pytest.fail(
            f"{schema_dir} has no chart-sources/: point MLSTACK_SCHEMA_DIR at the team mirror, "
            "or fill the cache with `make chart-sources` (make test does)"
        )
    return schema_dir


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory, mirror: Path) -> Iterator[Run]:
    root = tmp_path_factory.mktemp("deps")
    charts = _charts_copy(root / "charts")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in _loopback_env().items():
            patch.setenv(name, value)
        with Standin(table(mirror)) as standin:
            report = deps.from_source(
                charts,
                None,
                standin.url,
                downloader=QUICK,
                source_cache=root / "upstream",
                cache=root / "deps",
            )
            yield Run(root, charts, standin, report)


@pytest.fixture(autouse=True)
def _no_proxy_for_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in _loopback_env().items():
        monkeypatch.setenv(name, value)


def test_every_wrapper_dependency_is_built_and_helm_says_ok(built: Run) -> None:
    wanted = deps.wrappers(built.charts)
    assert {w.wrapper for w in wanted} == {
        p.parent.name
        for p in (REPO_ROOT / "charts").glob("*/Chart.lock")  # every wrapper chart
    }
    assert [b.wanted for b in built.report.built] == wanted
    assert all(b.fresh for b in built.report.built)  # fresh caches: really built
    pins = versions.load()
    for item in wanted:
        archive = built.charts / item.wrapper / "charts" / item.archive
        meta = deps.chart_meta(archive.read_bytes())
        assert deps.check_meta(meta, item, pins) == [], item
        # Helm's own verdict, asked again here rather than trusted from the run
        assert deps.dependency_status(built.charts, item.wrapper) == {item.name: "ok"}
        assert sorted(p.name for p in archive.parent.iterdir()) == [item.archive]


def test_publishing_steps_are_redone(built: Run) -> None:
    """The values each release tool stamps at publish time, read back from the archives."""
    knative = deps.chart_meta((built.root / "deps" / "knative-operator-v1.23.0.tgz").read_bytes())
    assert knative["version"] == "1.23.0"  # generate-helm.sh strips the v; the file keeps it
    hub = deps.chart_meta((built.root / "deps" / "jupyterhub-4.4.0.tgz").read_bytes())
    assert hub["version"] == "4.4.0"  # chartpress's placeholder replaced
    cert = deps.chart_meta((built.root / "deps" / "cert-manager-v1.21.1.tgz").read_bytes())
    assert (cert["version"], cert["appVersion"]) == ("v1.21.1", "v1.21.1")
    istiod = deps.chart_meta((built.root / "deps" / "istiod-1.30.3.tgz").read_bytes())
    assert (istiod["version"], istiod["appVersion"]) == ("1.30.3", "1.30.3")


def test_a_second_run_needs_no_network_and_builds_nothing(built: Run) -> None:
    asked = len(built.standin.requests)
    again = deps.from_source(
        built.charts,
        None,
        built.standin.url,
        downloader=QUICK,
        source_cache=built.root / "upstream",
        cache=built.root / "deps",
    )
    assert len(built.standin.requests) == asked
    assert not any(b.fresh for b in again.built)


def test_a_mirror_is_read_in_place_and_gives_the_same_bytes(
    built: Run, mirror: Path, tmp_path: Path
) -> None:
    """MLSTACK_SCHEMA_DIR at a mirror with chart-sources/: no download, same archives
    (the build is deterministic: fixed order, times and owners)."""
    asked = len(built.standin.requests)
    charts = _charts_copy(tmp_path / "charts")
    report = deps.from_source(
        charts,
        mirror,
        "http://127.0.0.1:9/unused",
        source_cache=tmp_path / "unused",
        cache=tmp_path / "deps",
    )
    assert report.origin.startswith("read in place from the mirror")
    assert len(built.standin.requests) == asked
    for item in report.built:
        mine = charts / item.wanted.wrapper / "charts" / item.wanted.archive
        theirs = built.charts / item.wanted.wrapper / "charts" / item.wanted.archive
        assert mine.read_bytes() == theirs.read_bytes(), item.wanted.archive


def test_a_tampered_file_is_refused_in_one_line_naming_it(
    built: Run, mirror: Path, tmp_path: Path
) -> None:
    path = "cert-manager/cert-manager/v1.21.1/deploy/charts/cert-manager/templates/deployment.yaml"
    files = table(mirror)
    files[path] = files[path].replace(b"replicas:", b"replicas: 9 #", 1)
    charts = _charts_copy(tmp_path / "charts")
    with Standin(files) as standin, pytest.raises(UserError) as err:
        deps.from_source(
            charts,
            None,
            standin.url,
            downloader=QUICK,
            source_cache=tmp_path / "upstream",
            cache=tmp_path / "deps",
        )
    message = str(err.value)
    assert "\n" not in message
    name = "chart-sources/cert-manager-v1.21.1/deploy/charts/cert-manager/templates/deployment.yaml"
    assert message.startswith(f"{name}: sha256 ")
    assert f"{standin.url}/{path}" in message
    assert not list(charts.glob("*/charts/*.tgz"))  # nothing half-installed
    assert not (tmp_path / "upstream" / "chart-sources").exists()


def test_a_stale_recipe_is_one_line_naming_the_key(tmp_path: Path, mirror: Path) -> None:
    """Upstream changed its release tooling: the substitution no longer applies."""
    pins = versions.load()
    package = fetch.packages()["istiod"]
    stale = package.model_copy(update={"replace": {"values.yaml": [("hub: gcr.io/x", "y")]}})
    sources = fetch.package_sources(pins, keys=["istiod"])
    read = deps._reader(sources, fetch.read_sums(), mirror)
    with pytest.raises(UserError, match=r"packages\.istiod\.replace: 'hub: gcr\.io/x' does not"):
        deps._stage("istiod", stale, sources, read, pins, tmp_path)


def test_the_mode_follows_the_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(deps.MODE_VAR, raising=False)
    monkeypatch.delenv(fetch.URL_VAR, raising=False)
    assert deps.mode(tmp_path) == "registry"  # as before: helm dependency build
    (tmp_path / "chart-sources").mkdir()
    assert deps.mode(tmp_path) == "source"
    assert deps.mode(None) == "registry"
    monkeypatch.setenv(fetch.URL_VAR, "http://127.0.0.1:9")
    assert deps.mode(None) == "source"
    monkeypatch.setenv(deps.MODE_VAR, "registry")
    assert deps.mode(tmp_path) == "registry"
    monkeypatch.setenv(deps.MODE_VAR, "sauce")
    with pytest.raises(UserError, match="MLSTACK_DEPS=sauce: use one of source, registry"):
        deps.mode(None)


def _all_on(tmp_path: Path, charts: Path) -> resolve.Resolved:
    """k3d with every optional wrapper on: Seldon (through Istio: Emissary with auth is
    refused, as it has no token check), Emissary on its own, Dex, JupyterHub."""
    values = values_copy(tmp_path / "values")
    edit_env(
        values,
        "k3d",
        seldon="istio",
        auth={"enabled": True},
        components={"jupyterhub": True, "emissary": True},
    )
    generate.generate(charts, values)
    return resolve.resolve("k3d", values)


@pytest.fixture(scope="session")
def rendered(built: Run, tmp_path_factory: pytest.TempPathFactory, schema_dir: Path) -> Any:
    tmp = tmp_path_factory.mktemp("all-on")
    charts = tmp / "charts"
    shutil.copytree(built.charts, charts)
    resolved = _all_on(tmp, charts)
    return {r.release: r for r in render.render_env(resolved, schema_dir, charts)}


def test_render_validates_upstream_objects_of_every_wrapper(built: Run, rendered: Any) -> None:
    """Every release renders with the built charts and every object validates (built-in
    kinds strictly, custom resources against the CRDs the releases install); each wrapper
    contributes objects of its upstream chart."""
    wrappers = {w.wrapper for w in deps.wrappers(built.charts)}
    assert wrappers <= set(rendered)
    for name, result in rendered.items():
        assert result.ok, (name, result.problems[:3])
        assert result.manifest is not None, f"{name}: {result.status}"
        if name in wrappers:
            assert result.upstream > 0, name
        else:
            assert result.upstream == 0, name


def _images(obj: dict[str, Any]) -> list[str]:
    spec = obj.get("spec", {})
    pod = spec.get("template", {}).get("spec", {}) if isinstance(spec, dict) else {}
    if obj.get("kind") == "CronJob":
        pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    containers = [*pod.get("containers", []), *pod.get("initContainers", [])]
    return [str(c.get("image", "")) for c in containers]


def test_upstream_images_carry_the_release_tags(built: Run, rendered: Any) -> None:
    """What the redone publishing step is for: an image reference as the published chart
    gives it, never a repository placeholder (`latest`, `set-by-chartpress`, a testing hub)."""
    wrappers = {w.wrapper for w in deps.wrappers(built.charts)}
    seen = 0
    for name in wrappers:
        for obj in render.documents(rendered[name].manifest):
            for image in _images(obj):
                seen += 1
                _, _, tag = image.rpartition(":")
                assert tag and "/" not in tag, (name, image)
                assert tag not in ("latest", "set-by-chartpress"), (name, image)
                assert "testing" not in image, (name, image)
    assert seen >= 15
    pilot = [i for o in render.documents(rendered["istiod"].manifest) for i in _images(o)]
    assert pilot == ["docker.io/istio/pilot:1.30.3"]


def test_shipped_crds_are_the_projects_own(built: Run, rendered: Any, schema_dir: Path) -> None:
    """An independent record: the CRDs each built chart renders equal the project's CRD
    files in the schema directory (fetched from other paths of the same tags). Only the
    conversion webhook differs: it names the release's namespace."""
    reference: dict[str, Any] = {}
    for project in versions.load().projects.values():
        if project.crds:
            for doc in schemas.crd_documents(schema_dir / "crds" / project.crds):
                reference[doc["metadata"]["name"]] = doc["spec"]
    compared = 0
    for name in ("metallb", "istio-base", "cert-manager", "knative-operator", "kserve-crd"):
        for obj in render.documents(rendered[name].manifest):
            if obj["kind"] != "CustomResourceDefinition":
                continue
            mine = {k: v for k, v in obj["spec"].items() if k != "conversion"}
            theirs = {k: v for k, v in reference[obj["metadata"]["name"]].items()}
            theirs.pop("conversion", None)
            assert mine == theirs, obj["metadata"]["name"]
            compared += 1
    assert compared >= 38


def test_cli_from_the_standin_in_a_clone_without_a_mirror(built: Run, tmp_path: Path) -> None:
    """What .ci/run does: MLSTACK_UPSTREAM_URL set, MLSTACK_SCHEMA_DIR unset."""
    charts = _charts_copy(tmp_path / "charts")
    env = {k: v for k, v in os.environ.items() if k not in (schemas.ENV_VAR, deps.MODE_VAR)}
    env[fetch.URL_VAR] = built.standin.url
    cmd = [sys.executable, "-m", "mlstack", "deps", "--charts-dir", str(charts)]
    cmd += ["--cache", str(built.root)]  # the session's caches: nothing to download or build
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "helm dependency list: all ok" in proc.stdout
    assert f"from source ({built.standin.url}" in proc.stdout
    for item in deps.wrappers(charts):
        mine = (charts / item.wrapper / "charts" / item.archive).read_bytes()
        theirs = (built.charts / item.wrapper / "charts" / item.archive).read_bytes()
        assert hashlib.sha256(mine).digest() == hashlib.sha256(theirs).digest()
