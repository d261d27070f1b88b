"""generate: deterministic, atomic, drift-free, and strict about chart versions."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pydantic import Field

from helpers import edit_env, replacing, values_copy
from mlstack import environments, generate, registry, resolve, versions
from mlstack.components import metallb_pool
from mlstack.errors import UserError
from mlstack.lib import chartgen, helm, releases
from mlstack.lib.component import Component
from mlstack.lib.facts import Facts

POOL = registry.by_id()["metallb-pool"]


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_generate_twice_is_byte_identical(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    generate.generate(first / "charts", values_copy(first / "values"))
    generate.generate(second / "charts", values_copy(second / "values"))
    assert _tree(first) == _tree(second)
    assert generate.generate(first / "charts", first / "values") == []  # re-run: no change


def test_committed_charts_match_the_generator(tmp_path: Path, repo: Path) -> None:
    """Drift: what is committed under charts/ and values/ is exactly what generate writes."""
    out, values = tmp_path / "charts", tmp_path / "values"
    values.mkdir()
    for env in environments.names():  # only the inputs: environment.yaml + hand-written
        shutil.copytree(
            repo / "values" / env, values / env, ignore=shutil.ignore_patterns("generated", "local")
        )
    generate.generate(out, values)
    committed = {k: v for k, v in _tree(repo / "charts").items() if "/charts/" not in k}
    assert committed == _tree(out), "charts/ drifted: run `make generate` and commit"
    derived = {k: v for k, v in _tree(repo / "values").items() if "/local/" not in k}
    assert derived == _tree(values), "values/ drifted: run `make generate` and commit"
    schema = (repo / "values" / environments.SCHEMA_FILE).read_text()
    assert schema == environments.json_schema()


def _broken(component: Component) -> Component:
    class Broken(component.values):  # type: ignore[misc,name-defined]
        pass

    def build(scope: object) -> None:
        from cdk8s import ApiObject

        from mlstack.lib.slots import slot

        ApiObject(
            scope,
            "x",
            api_version="v1",
            kind="ConfigMap",  # type: ignore[arg-type]
            metadata={"name": slot("no.suchKey")},
        )

    return Component(**{**component.__dict__, "values": Broken, "build": build})


def test_failing_generate_leaves_charts_untouched(charts_copy: Path) -> None:
    before = _tree(charts_copy)
    broken = _broken(POOL)
    with pytest.raises(UserError, match=r"\.Values\.no\.suchKey"):
        generate.generate(charts_copy, None, replacing(broken))
    assert _tree(charts_copy) == before


def _renamed_pool() -> Component:
    """metallb-pool with one default changed (the pool name): new content, same version."""

    class Pool(metallb_pool.Pool):
        name: str = Field("other-pool", description="IPAddressPool name.")

    class Changed(metallb_pool.MetallbPoolValues):
        pool: Pool = Field(default_factory=Pool, description="The address pool.")

    return Component(**{**POOL.__dict__, "values": Changed})


def test_changed_default_without_bump_fails(charts_copy: Path) -> None:
    before = _tree(charts_copy)
    with pytest.raises(UserError, match="chart metallb-pool changed but its version is still"):
        generate.generate(charts_copy, None, replacing(_renamed_pool()))
    assert _tree(charts_copy) == before


def test_bump_then_generate_passes(
    charts_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "chart-versions.yaml"
    shutil.copy(releases.RELEASES_FILE, data)
    releases.load.cache_clear()
    monkeypatch.setattr(releases, "RELEASES_FILE", data)
    monkeypatch.setattr(releases.for_chart, "__defaults__", (data,))
    monkeypatch.setattr(releases.bump, "__defaults__", (data,))
    old = releases.for_chart("metallb-pool").current
    new = releases.bump("metallb-pool", "minor", "Default pool renamed: other-pool.")
    assert releases.semver(new) > releases.semver(old)
    assert "Default pool renamed" in data.read_text()

    assert generate.generate(charts_copy, None, replacing(_renamed_pool())) == ["metallb-pool"]
    meta = yaml.safe_load((charts_copy / "metallb-pool" / "Chart.yaml").read_text())
    assert meta["version"] == new
    assert f"## {new}" in (charts_copy / "metallb-pool" / "CHANGELOG.md").read_text()
    releases.load.cache_clear()


def test_version_going_backwards_fails() -> None:
    with pytest.raises(UserError, match="older than the committed"):
        releases.check_bump("x", "0.2.0", "sha256:a", "0.1.9", "sha256:a")


def test_bump_refuses_multiline_message(tmp_path: Path) -> None:
    data = tmp_path / "v.yaml"
    data.write_text("a:\n  - version: 0.1.0\n    changes: [x]\n")
    with pytest.raises(UserError, match="one non-empty line"):
        releases.bump("a", "patch", "two\nlines", data)
    releases.load.cache_clear()


def test_environment_outside_component_range_fails(tmp_path: Path) -> None:
    values = values_copy(tmp_path / "values")
    edit_env(values, "k3d", kubernetes="1.24")
    with pytest.raises(
        UserError,
        match=r"k3d/environment\.yaml: kubernetes: environment k3d runs Kubernetes 1\.24, but "
        r"[a-z-]+ \([a-z-]+ [0-9.]+\) supports",
    ):
        generate.generate(tmp_path / "charts", values)
    assert not (tmp_path / "charts").exists()


def test_environment_switching_off_a_need_fails(tmp_path: Path) -> None:
    values = values_copy(tmp_path / "values")
    edit_env(values, "k3d", components={"kserve-crd": False})
    with pytest.raises(UserError, match=r"k3d/environment\.yaml: kserve needs kserve-crd, which"):
        generate.generate(tmp_path / "charts", values)


def test_validated_window_is_where_the_enabled_projects_overlap() -> None:
    data = versions.load()
    for resolved in resolve.all_envs():
        ranges = [data.projects[r.component.project].kubernetes for r in resolved.releases]
        assert resolved.minors[0] == max((r.min for r in ranges), key=versions.parse_minor)
        assert resolved.minors[-1] == min((r.max for r in ranges), key=versions.parse_minor)
        assert resolved.env.kubernetes in resolved.minors


def test_registry_order_is_checked() -> None:
    with pytest.raises(UserError, match=r"needs [a-z-]+, which must come earlier"):
        registry.check_order(tuple(reversed(registry.COMPONENTS)))


def test_kube_version_constraint_from_versions_file(repo: Path) -> None:
    data = versions.load()
    for component in registry.COMPONENTS:
        meta = yaml.safe_load((repo / "charts" / component.id / "Chart.yaml").read_text())
        project = data.projects[component.project]
        assert meta["appVersion"] == project.app_version
        assert meta["kubeVersion"] == project.kubernetes.constraint()
        for dep, spec in zip(meta.get("dependencies", []), component.dependencies, strict=True):
            assert dep["version"] == data.charts[spec.chart].version


def test_chart_lock_digest_is_what_helm_expects(tmp_path: Path) -> None:
    """Our Chart.lock passes `helm dependency build`'s digest check (file:// dep, offline)."""
    child = tmp_path / "child"
    (child / "templates").mkdir(parents=True)
    (child / "Chart.yaml").write_text("apiVersion: v2\nname: child\nversion: 1.2.3\n")
    parent = tmp_path / "parent"
    parent.mkdir()
    deps = [{"name": "child", "version": "1.2.3", "repository": "file://../child", "alias": "kid"}]
    (parent / "Chart.yaml").write_text(
        yaml.safe_dump(
            {"apiVersion": "v2", "name": "parent", "version": "0.1.0", "dependencies": deps}
        )
    )
    (parent / "Chart.lock").write_text(chartgen._chart_lock(deps))
    proc = helm.run(["dependency", "build", str(parent)])
    assert proc.returncode == 0, proc.stderr
    assert (parent / "charts" / "child-1.2.3.tgz").exists()
    # And a lock that does not match is refused by helm, so the check above can fail.
    (parent / "Chart.lock").write_text(chartgen._chart_lock([{**deps[0], "alias": "other"}]))
    proc = helm.run(["dependency", "build", str(parent)])
    assert proc.returncode != 0 and "out of sync" in proc.stderr


def test_wrapper_preserves_downloaded_dependencies(charts_copy: Path) -> None:
    archive = charts_copy / "metallb" / "charts" / "metallb-0.16.1.tgz"
    archive.parent.mkdir(parents=True)
    archive.write_bytes(b"not really a chart")
    (charts_copy / "metallb" / "README.md").write_text("edited by hand")
    assert generate.generate(charts_copy, None) == ["metallb"]
    assert archive.read_bytes() == b"not really a chart"
    assert filecmp.cmp(
        charts_copy / "metallb" / "Chart.yaml",
        generate.CHARTS_DIR / "metallb" / "Chart.yaml",
        shallow=False,
    )


def test_cli_generate_runs_without_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlstack",
            "generate",
            "--charts-dir",
            str(tmp_path / "c"),
            "--values-dir",
            str(tmp_path / "v"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "generate: " in proc.stdout


def test_derived_values_are_generated_validated_and_layered(tmp_path: Path) -> None:
    def derived(facts: Facts) -> dict[str, object]:
        return {"pool": {"name": f"{facts.env.name}-pool"}}

    component = Component(**{**POOL.__dict__, "derive": derived})
    charts, values = tmp_path / "charts", values_copy(tmp_path / "values")
    changed = generate.generate(charts, values, replacing(component))
    target = values / "k3d" / "generated" / "metallb-pool.yaml"
    assert "k3d/generated/metallb-pool.yaml" in changed
    assert yaml.safe_load(target.read_text()) == {"pool": {"name": "k3d-pool"}}
    assert target.read_text().startswith("# Generated by mlstack")
    assert not (values / "eks" / "generated" / "metallb-pool.yaml").exists()  # not enabled
    resolved = resolve.resolve("k3d", values, components=replacing(component))
    release = resolved.release("metallb-pool")
    assert release is not None
    assert list(release.files) == [target, values / "k3d" / "metallb-pool.yaml"]
    assert release.values["pool"]["name"] == "k3d-pool"

    def bad(facts: Facts) -> dict[str, object]:
        return {"pool": {"name": "Not_A_Label"}} if facts.env.name == "k3d" else {}

    broken = Component(**{**POOL.__dict__, "derive": bad})
    with pytest.raises(UserError, match=r"derive for k3d gives pool\.name"):
        generate.generate(charts, values, replacing(broken))
    assert yaml.safe_load(target.read_text()) == {"pool": {"name": "k3d-pool"}}


def test_a_new_env_folder_gets_its_generated_values(tmp_path: Path) -> None:
    """An environment that is not committed (copied by a user) is generated like the others."""
    values = values_copy(tmp_path / "values")
    shutil.copytree(values / "k3d", values / "lab")
    edit_env(values, "lab", domain="ml.lab.test", seldon="istio")
    changed = generate.generate(tmp_path / "charts", values)
    assert "lab/generated/seldon-core-operator.yaml" in changed
    serving = yaml.safe_load((values / "lab" / "generated" / "knative-serving.yaml").read_text())
    assert serving["domain"] == "ml.lab.test"
    lab = values / "lab" / "generated"
    before = {p.name: p.read_bytes() for p in lab.iterdir()}
    (values / "lab" / "environment.yaml").unlink()  # no longer an environment
    assert generate.generate(tmp_path / "charts", values) == []  # nothing else to change
    assert environments.names(values) == ["ci", "eks", "k3d", "minikube"]
    # a folder that is no environment is the user's: neither regenerated nor removed
    assert {p.name: p.read_bytes() for p in lab.iterdir()} == before
