"""GitOps output: real CRD validation, order against the install plan, values wiring,
and the ownership rules of the writer."""

from __future__ import annotations

import posixpath
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import edit_env, values_copy
from mlstack import environments, generate, registry, resolve
from mlstack.errors import UserError
from mlstack.gitops import argocd, owned, plan
from mlstack.gitops.tree import Tree
from mlstack.gitops.tree import tree as layout_tree
from mlstack.lib import schemas, validate

URL = "https://git.example.test/platform/gitops.git"
#: DOMAIN= for the `domain: auto` envs (an address from TEST-NET-1).
DOMAIN = "192.0.2.10.sslip.io"


def _settings(path: str = "mlstack", env: str = "k3d", **kw: str) -> plan.Settings:
    """Settings for `env`, with DOMAIN= where its domain is `auto`."""
    domain = DOMAIN if environments.load(env).auto_domain else ""
    return plan.Settings(repo_url=URL, revision="main", path=path, domain=domain, **kw)


def _docs(tree: Tree, kind: str) -> list[dict[str, Any]]:
    return [
        d
        for path, text in tree.files.items()
        if "/envs/" in f"/{path}" and path.endswith(".yaml")
        for d in yaml.safe_load_all(text)
        if d and d.get("kind") == kind
    ]


def _installed(env: str) -> list[str]:
    return resolve.resolve(env).ids


@pytest.fixture(scope="module", params=environments.names())
def env_tree(request: pytest.FixtureRequest, schema_dir: Path) -> tuple[str, Tree]:
    return request.param, layout_tree(
        resolve.resolve(request.param), _settings(env=request.param), schema_dir
    )


def test_every_manifest_validates_against_the_tool_crds(
    env_tree: tuple[str, Tree], schema_dir: Path
) -> None:
    name, tree = env_tree
    crds = schemas.extra_crds(schema_dir, plan.CRD_FOLDERS)
    manifests = {p: t for p, t in tree.files.items() if f"envs/{name}/" in p and p.endswith("yaml")}
    kinds = {d["kind"] for t in manifests.values() for d in yaml.safe_load_all(t) if d}
    assert {"Application", "GitRepository", "Kustomization"} <= kinds
    if _installed(name):
        assert "HelmRelease" in kinds
    for path, text in manifests.items():
        assert plan.manifest_problems(text, crds) == [], path


def test_validation_is_strict_and_can_fail(schema_dir: Path) -> None:
    resolved = resolve.resolve("k3d")
    crds = schemas.extra_crds(schema_dir, plan.CRD_FOLDERS)
    app = argocd.application(resolved.env, _settings(), plan.releases(resolved)[0])
    app["spec"]["syncPolicy"]["automated"]["selfheal"] = True
    problems = plan.manifest_problems(yaml.safe_dump(app), crds)
    assert problems and "spec.syncPolicy.automated.selfheal: unknown key" in problems[0]
    app["spec"]["syncPolicy"]["automated"].pop("selfheal")
    app["spec"]["syncPolicy"]["retry"]["limit"] = "five"
    assert plan.manifest_problems(yaml.safe_dump(app), crds)


def test_waves_and_depends_on_follow_the_install_plan(env_tree: tuple[str, Tree]) -> None:
    name, tree = env_tree
    order = _installed(name)
    apps = [a for a in _docs(tree, "Application") if a["metadata"]["name"] != f"mlstack-{name}"]
    waves = sorted((int(a["metadata"]["annotations"][argocd.WAVE]), a) for a in apps)
    assert [a["spec"]["source"]["helm"]["releaseName"] for _, a in waves] == order
    assert [w for w, _ in waves] == list(range(len(order)))  # one release per wave, in order
    releases = {r["metadata"]["name"]: r for r in _docs(tree, "HelmRelease")}
    assert sorted(releases) == sorted(order)
    needs = {c.id: c.follows for c in registry.COMPONENTS}  # needs, then order-only after
    for release_id, release in releases.items():
        depends = [d["name"] for d in release["spec"].get("dependsOn", [])]
        assert depends == [n for n in needs[release_id] if n in order]
        assert all(order.index(d) < order.index(release_id) for d in depends)


def test_crd_and_dry_run_policies_follow_the_facts(env_tree: tuple[str, Tree]) -> None:
    name, tree = env_tree
    facts = {r.id: r for r in tree.releases}
    apps = {
        a["spec"]["source"]["helm"]["releaseName"]: a
        for a in _docs(tree, "Application")
        if "helm" in a["spec"]["source"]
    }
    for release in _docs(tree, "HelmRelease"):
        fact = facts[release["metadata"]["name"]]
        options = apps[fact.id]["spec"]["syncPolicy"]["syncOptions"]
        assert ("ServerSideApply=true" in options) == fact.crd_bearing
        assert ("SkipDryRunOnMissingResource=true" in options) == fact.uses_crds
        for action in ("install", "upgrade"):
            assert release["spec"][action].get("crds") == (
                "CreateReplace" if fact.crd_bearing else None
            )
            assert release["spec"][action]["remediation"]["retries"] > 0
        ignored = {r["kind"] for r in apps[fact.id]["spec"]["ignoreDifferences"]}
        assert {"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} <= ignored
    if name == "k3d":  # the worked example: wrapper with CRDs, then glue that uses them
        assert facts["metallb"].crd_bearing and not facts["metallb"].uses_crds
        assert facts["metallb-pool"].uses_crds and not facts["metallb-pool"].crd_bearing


def test_a_chart_with_its_own_crd_is_crd_bearing(charts_copy: Path) -> None:
    resolved = resolve.resolve("k3d")
    pool = resolved.release("metallb-pool")
    assert pool is not None
    assert not plan.release_facts(pool, resolved, 1, charts_copy).crd_bearing
    crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
    (charts_copy / "metallb-pool" / "templates" / "crd.yaml").write_text(crd)
    assert plan.release_facts(pool, resolved, 1, charts_copy).crd_bearing


@pytest.mark.parametrize("layout", ["mlstack", ".", "clusters/platform"])
def test_values_files_resolve_inside_the_layout(
    layout: str, tmp_path: Path, schema_dir: Path
) -> None:
    tree = layout_tree(resolve.resolve("k3d"), _settings(layout), schema_dir)
    app = next(
        a for a in _docs(tree, "Application") if a["metadata"]["name"] == "k3d-knative-serving"
    )
    chart_path = app["spec"]["source"]["path"]
    resolved = [
        posixpath.normpath(posixpath.join(chart_path, f))
        for f in app["spec"]["source"]["helm"]["valueFiles"]
    ]
    layers = (
        "generated/knative-serving.yaml",
        "knative-serving.yaml",
        "domain/knative-serving.yaml",
    )
    want = [_settings(layout).at("values", "k3d", f) for f in layers]
    # generated first, hand-written next (it wins), DOMAIN='s domain last (as install's overlay)
    assert resolved == want
    assert all(p in tree.files for p in resolved)
    release = next(
        r for r in _docs(tree, "HelmRelease") if r["metadata"]["name"] == "knative-serving"
    )
    files = release["spec"]["chart"]["spec"]["valuesFiles"]
    chart_values = plan.Settings.at(_settings(layout), "charts/knative-serving/values.yaml")
    assert files == [chart_values, *want]
    assert all(f in tree.files for f in files)
    assert release["spec"]["chart"]["spec"]["chart"] == "./" + chart_path


def test_invalid_or_stale_values_stop_generation(tmp_path: Path, schema_dir: Path) -> None:
    values = values_copy(tmp_path / "values")
    (values / "k3d" / "metallb-pool.yaml").write_text("pool:\n  autoAssign: 3\n")
    with pytest.raises(UserError, match=r"k3d/metallb-pool.yaml: pool.autoAssign"):
        resolve.resolve("k3d", values)
    values = values_copy(tmp_path / "fresh")
    (values / "k3d" / "generated" / "kserve.yaml").write_text("kserveResources: {}\n")
    with pytest.raises(UserError, match=r"generated/kserve.yaml is missing or out of date"):
        layout_tree(resolve.resolve("k3d", values), _settings(), schema_dir)


def test_output_is_deterministic(schema_dir: Path) -> None:
    resolved = resolve.resolve("k3d")
    first = layout_tree(resolved, _settings(), schema_dir).files
    assert first == layout_tree(resolved, _settings(), schema_dir).files
    assert all(not p.startswith(("/", "./")) for p in first)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"repo_url": "/srv/git/gitops"}, "pull over https:// or ssh://"),
        ({"repo_url": ""}, "set GITOPS_URL"),
        ({"path": "../elsewhere"}, "must be relative"),
        ({"revision": ""}, "empty GitOps revision"),
    ],
)
def test_bad_settings_are_one_line(kwargs: dict[str, str], message: str) -> None:
    base = {"repo_url": URL, "revision": "main", "path": "mlstack"}
    with pytest.raises(UserError, match=message):
        plan.Settings(**{**base, **kwargs})


def _write(root: Path, files: dict[str, str], scopes: tuple[str, ...]) -> owned.Changes:
    return owned.write(root, "m", files, scopes)


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_owned_writer_refuses_foreign_and_edited_files(tmp_path: Path) -> None:
    scopes = ("m/charts", "m/envs/a")
    files = {"m/charts/x/Chart.yaml": "v1\n", "m/envs/a/app.yaml": "a\n"}
    assert _write(tmp_path, files, scopes).added == sorted(files)
    assert not _write(tmp_path, files, scopes)  # unchanged: nothing to do
    (tmp_path / "m/charts/x/notes.txt").write_text("mine\n")
    before = _snapshot(tmp_path)
    with pytest.raises(UserError, match=r"notes.txt: not written by mlstack"):
        _write(tmp_path, {**files, "m/charts/x/Chart.yaml": "v2\n"}, scopes)
    assert _snapshot(tmp_path) == before  # nothing half-written
    (tmp_path / "m/charts/x/notes.txt").unlink()
    (tmp_path / "m/envs/a/app.yaml").write_text("edited by hand\n")
    with pytest.raises(UserError, match=r"app.yaml: changed since mlstack wrote it"):
        _write(tmp_path, files, scopes)


def test_owned_writer_removes_only_its_stale_files_in_scope(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("someone else's\n")
    _write(tmp_path, {"m/envs/a/x.yaml": "x\n", "m/charts/c/Chart.yaml": "c\n"}, ("m/envs/a",))
    _write(tmp_path, {"m/envs/b/y.yaml": "y\n"}, ("m/envs/b",))
    changes = _write(tmp_path, {"m/envs/a/z.yaml": "z\n"}, ("m/envs/a",))
    assert changes.removed == ["m/envs/a/x.yaml"] and changes.added == ["m/envs/a/z.yaml"]
    assert (tmp_path / "m/envs/b/y.yaml").exists()  # another env's files are kept
    assert (tmp_path / "README.md").read_text() == "someone else's\n"
    recorded = owned.read_manifest(tmp_path, "m")
    assert sorted(recorded) == ["m/charts/c/Chart.yaml", "m/envs/a/z.yaml", "m/envs/b/y.yaml"]


def test_gitops_cli_writes_then_reports_no_changes(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "mlstack", "gitops", "--env", "k3d", "--out", str(tmp_path)]
    cmd += ["--repo-url", URL, "--revision", "v1.0.0", "--path", "platform", "--domain", DOMAIN]
    first = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert first.returncode == 0, first.stderr
    root = yaml.safe_load((tmp_path / "platform/envs/k3d/argocd/root.yaml").read_text())
    assert root["spec"]["source"] == {
        "repoURL": URL,
        "targetRevision": "v1.0.0",
        "path": "platform/envs/k3d/argocd/apps",
    }
    kustomization = yaml.safe_load(
        (tmp_path / "platform/envs/k3d/argocd/apps/kustomization.yaml").read_text()
    )
    apps = sorted(p.name for p in (tmp_path / "platform/envs/k3d/argocd/apps").glob("*.yaml"))
    assert kustomization["resources"] == [a for a in apps if a != "kustomization.yaml"]
    again = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert again.returncode == 0 and "(0 added, 0 changed, 0 removed)" in again.stdout
    (tmp_path / "platform/envs/k3d/flux/extra.yaml").write_text("kind: Foreign\n")
    refused = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and "extra.yaml" in refused.stderr


def test_domain_auto_is_refused_without_a_domain_in_one_line(tmp_path: Path) -> None:
    """k3d's `domain: auto` is found by the installer; a GitOps controller cannot, so
    without DOMAIN= nothing is written (the placeholder example.com would be deployed)."""
    cmd = [sys.executable, "-m", "mlstack", "gitops", "--env", "k3d", "--out", str(tmp_path)]
    cmd += ["--revision", "main"]
    proc = subprocess.run([*cmd, "--repo-url", URL], capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: values/k3d/environment.yaml: domain: auto ")
    assert "DOMAIN=" in line and "--domain" in line
    assert not list(tmp_path.iterdir())
    fixed = subprocess.run(
        [*cmd, "--env", "eks", "--repo-url", URL, "--domain", DOMAIN],
        capture_output=True,
        text=True,
        check=False,
    )
    assert fixed.returncode == 2 and "domain: models.example.org is fixed" in fixed.stderr
    bad = subprocess.run(
        [*cmd, "--repo-url", URL, "--domain", "Not_A.Domain"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr.splitlines() == [
        "error: mlstack gitops: argument --domain: 'Not_A.Domain' is not a DNS domain: give "
        "yours, or <gateway-ip>.sslip.io (see `mlstack gitops --help`)"
    ]


def test_the_given_domain_replaces_the_placeholder_in_every_release(schema_dir: Path) -> None:
    """What each Argo CD Application deploys (chart defaults, then its valueFiles in order)
    carries DOMAIN, never the render placeholder."""
    settings = _settings()
    tree = layout_tree(resolve.resolve("k3d"), settings, schema_dir)
    carrying = set()
    for app in _docs(tree, "Application"):
        source = app["spec"].get("source", {})
        if "helm" not in source:
            continue  # the app-of-apps
        chart = source["path"]
        merged = yaml.safe_load(tree.files[posixpath.join(chart, "values.yaml")])
        for rel in source["helm"].get("valueFiles", []):
            text = tree.files[posixpath.normpath(posixpath.join(chart, rel))]
            merged = validate.deep_merge(merged, yaml.safe_load(text) or {})
        shown = yaml.safe_dump(merged)
        assert environments.AUTO_PLACEHOLDER not in shown, app["metadata"]["name"]
        if DOMAIN in shown:
            carrying.add(source["helm"]["releaseName"])
    assert {"knative-serving", "kserve", "gateway-tls"} <= carrying


def test_gitops_readme_lists_the_secrets_to_create(tmp_path: Path, schema_dir: Path) -> None:
    """Auth (bundled Dex) + JupyterHub: the env's GitOps README names each Secret, its
    namespace and keys, with a kubectl line; an env that reads none has no such section."""
    values = values_copy(tmp_path / "values")
    edit_env(values, "k3d", auth={"enabled": True}, components={"jupyterhub": True})
    for path, text in generate.derived_files([resolve.resolve("k3d", values)]).items():
        path.write_text(text)
    tree = layout_tree(resolve.resolve("k3d", values), _settings(), schema_dir)
    readme = tree.files["mlstack/envs/k3d/README.md"]
    assert "## Secrets" in readme
    assert "Secret dex/dex-users (keys client-secret, admin, jupyterhub-client-secret" in readme
    assert "kubectl -n jupyterhub create secret generic jupyterhub-oauth " in readme
    plain = layout_tree(resolve.resolve("k3d"), _settings(), schema_dir)
    assert "## Secrets" not in plain.files["mlstack/envs/k3d/README.md"]
