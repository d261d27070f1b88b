"""GitOps from published OCI charts, the Application health check, CRD protection that is
the same in Argo CD and Flux, and fleet mode: all validated against the real tool CRDs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlstack import REPO_ROOT, environments, project, publish, resolve
from mlstack.errors import UserError
from mlstack.gitops import argocd, plan
from mlstack.gitops import tree as layout
from mlstack.lib import chartgen, releases, schemas, validate

URL = "https://git.example.test/platform/gitops.git"
#: DOMAIN= for k3d's `domain: auto` (an address from TEST-NET-1).
DOMAIN = "192.0.2.10.sslip.io"
DIGEST = "sha256:" + "0123456789abcdef" * 4


def _oci(**kw: Any) -> plan.OciCharts:
    signing = project.load().signing
    settings = {
        "registry": "oci://registry.example.test/mlstack/charts",
        "issuer": signing.issuer,
        "subject": signing.subject,
        **kw,
    }
    return plan.OciCharts(**settings)


def _tree(schema_dir: Path, env: str = "k3d", **kw: Any) -> layout.Tree:
    settings = plan.Settings(repo_url=URL, revision="main", path="mlstack", domain=DOMAIN, **kw)
    return layout.tree(resolve.resolve(env), settings, schema_dir)


def _docs(tree: layout.Tree, part: str) -> list[dict[str, Any]]:
    return [
        d
        for path, text in tree.files.items()
        if part in path and path.endswith(".yaml")
        for d in yaml.safe_load_all(text)
        if d
    ]


@pytest.fixture(scope="module")
def crds(schema_dir: Path) -> dict[tuple[str, str], dict[str, Any]]:
    return schemas.extra_crds(schema_dir, plan.CRD_FOLDERS)


def test_fleet_application_set_selects_clusters_by_env_label(
    schema_dir: Path, crds: dict[tuple[str, str], dict[str, Any]]
) -> None:
    tree = _tree(schema_dir, fleet=True, clusters=("edge-1", "edge-2"))
    path = "mlstack/envs/k3d/fleet/argocd/applicationset.yaml"
    assert plan.manifest_problems(tree.files[path], crds) == []
    appset = yaml.safe_load(tree.files[path])
    assert appset["kind"] == "ApplicationSet"
    (generator,) = appset["spec"]["generators"]
    assert generator["clusters"]["selector"]["matchLabels"] == {plan.ENV_LABEL: "k3d"}
    source = appset["spec"]["template"]["spec"]["source"]
    assert source["path"] == "mlstack/envs/k3d/argocd/apps"  # the same apps as one cluster
    assert source["kustomize"]["namePrefix"] == "{{ .name }}-"
    (patch,) = source["kustomize"]["patches"]
    assert patch["target"] == {"kind": "Application"}
    assert yaml.safe_load(patch["patch"]) == [
        {"op": "replace", "path": "/spec/destination/server", "value": "{{ .server }}"}
    ]
    # Flux: one hub file per named cluster, applying to it through its kubeconfig Secret.
    for cluster in ("edge-1", "edge-2"):
        text = tree.files[f"mlstack/envs/k3d/fleet/flux/{cluster}.yaml"]
        assert plan.manifest_problems(text, crds) == []
        docs = list(yaml.safe_load_all(text))
        assert {d["spec"]["kubeConfig"]["secretRef"]["name"] for d in docs} == {
            f"{cluster}-kubeconfig"
        }
        assert docs[-1]["spec"]["path"] == "./mlstack/envs/k3d/flux/releases"
        assert docs[-1]["spec"]["dependsOn"] == [{"name": docs[0]["metadata"]["name"]}]
    assert "kind: GitRepository" in tree.files["mlstack/envs/k3d/fleet/flux/spoke/source.yaml"]
    assert "## Fleet" in tree.files["mlstack/envs/k3d/README.md"]


def test_application_set_validation_can_fail(
    schema_dir: Path, crds: dict[tuple[str, str], dict[str, Any]]
) -> None:
    appset = argocd.application_set(environments.load("k3d"), plan.Settings(URL, "main", "m"))
    appset["spec"]["generators"][0]["clusters"]["selectorr"] = {}
    problems = plan.manifest_problems(yaml.safe_dump(appset), crds)
    assert problems and "selectorr: unknown key" in problems[0]


def test_no_fleet_files_without_fleet(schema_dir: Path) -> None:
    assert not [p for p in _tree(schema_dir).files if "/fleet/" in p]


def test_make_gitops_fleet_writes_a_valid_application_set(tmp_path: Path, schema_dir: Path) -> None:
    # -o (--old-file) skips the `generate schemas` prerequisites: regenerating the real
    # charts/ here would race the other test workers reading them (they are committed).
    skip = ["-o", "generate", "-o", "schemas"]
    cmd = ["make", "--no-print-directory", *skip, "gitops", "ENV=k3d", f"OUT={tmp_path}",
           f"GITOPS_URL={URL}", "FLEET=1", "CLUSTERS=edge-1", f"DOMAIN={DOMAIN}"]  # fmt: skip
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    written = tmp_path / "mlstack/envs/k3d/fleet/argocd/applicationset.yaml"
    crds = schemas.extra_crds(schema_dir, plan.CRD_FOLDERS)
    assert plan.manifest_problems(written.read_text(), crds) == []
    assert (tmp_path / "mlstack/envs/k3d/fleet/flux/edge-1.yaml").exists()


def test_oci_mode_pulls_signed_charts_by_digest(
    schema_dir: Path, crds: dict[tuple[str, str], dict[str, Any]]
) -> None:
    tree = _tree(schema_dir, oci=_oci(digests={"models": DIGEST}))
    assert not [p for p in tree.files if p.startswith("mlstack/charts/")]
    for path, text in tree.files.items():
        if "/envs/" in path and path.endswith(".yaml"):
            assert plan.manifest_problems(text, crds) == [], path
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for doc in _docs(tree, "/flux/releases/"):
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    assert set(by_kind["OCIRepository"]) == set(by_kind["HelmRelease"])
    models = by_kind["OCIRepository"]["models"]["spec"]
    assert models["url"] == "oci://registry.example.test/mlstack/charts/models"
    assert models["ref"] == {"tag": releases.for_chart("models").current, "digest": DIGEST}
    assert models["verify"]["provider"] == "cosign"
    assert models["verify"]["matchOIDCIdentity"][0]["issuer"].startswith("https://")
    assert "digest" not in by_kind["OCIRepository"]["metallb"]["spec"]["ref"]
    release = by_kind["HelmRelease"]["metallb-pool"]["spec"]
    assert release["chartRef"] == {"kind": "OCIRepository", "name": "metallb-pool"}
    resolved = resolve.resolve("k3d")
    expected = next(r for r in plan.releases(resolved) if r.id == "metallb-pool").overrides
    assert release["values"] == expected and expected
    apps = {a["metadata"]["name"]: a for a in _docs(tree, "/argocd/apps/") if "metadata" in a}
    chart, values = apps["k3d-models"]["spec"]["sources"]
    assert chart["repoURL"] == "oci://registry.example.test/mlstack/charts/models"
    assert chart["targetRevision"] == DIGEST and chart["path"] == "."
    assert values == {"repoURL": URL, "targetRevision": "main", "ref": "values"}
    for file in chart["helm"].get("valueFiles", []):
        assert file.startswith("$values/") and file.removeprefix("$values/") in tree.files


def test_oci_mode_with_a_public_key_secret(schema_dir: Path) -> None:
    tree = _tree(schema_dir, oci=_oci(key_secret="cosign-pub"))
    repo = next(d for d in _docs(tree, "/flux/releases/") if d["kind"] == "OCIRepository")
    assert repo["spec"]["verify"] == {"provider": "cosign", "secretRef": {"name": "cosign-pub"}}


def test_publish_record_feeds_the_digests(tmp_path: Path, charts_copy: Path) -> None:
    version = chartgen.read_chart_meta(charts_copy / "models")["version"]  # type: ignore[index]
    record = tmp_path / "published.yaml"
    record.write_text(yaml.safe_dump({"registry": "oci://r.example.test/c",
                      "charts": {"models": {"version": version, "digest": DIGEST}}}))  # fmt: skip
    assert publish.recorded_digests(record, "oci://r.example.test/c/", charts_copy) == {
        "models": DIGEST
    }
    assert publish.recorded_digests(record, "oci://other.example.test/c", charts_copy) == {}
    record.write_text(yaml.safe_dump({"registry": "oci://r.example.test/c",
                      "charts": {"models": {"version": "0.0.1", "digest": DIGEST}}}))  # fmt: skip
    with pytest.raises(UserError, match=r"models 0.0.1 was published, but the chart is"):
        publish.recorded_digests(record, "oci://r.example.test/c", charts_copy)


def test_bad_oci_registry_is_one_line() -> None:
    with pytest.raises(UserError, match=r"must look like oci://host/path"):
        _oci(registry="https://registry.example.test/charts")


@pytest.mark.parametrize("oci", [False, True], ids=["git", "oci"])
def test_crd_protection_is_the_same_in_argo_cd_and_flux(schema_dir: Path, oci: bool) -> None:
    tree = _tree(schema_dir, oci=_oci() if oci else None)
    bearing = {r.id for r in tree.releases if r.crd_bearing}
    assert bearing  # metallb, istio-base, cert-manager, ... bring CRDs
    argo = set()
    for app in _docs(tree, "/argocd/apps/"):
        if app["kind"] != "Application":
            continue
        release = app["spec"].get("source", app["spec"].get("sources", [{}])[0])["helm"]
        kept = app["metadata"]["annotations"].get(argocd.SYNC_OPTIONS) == argocd.PROTECT
        assert kept == (argocd.FINALIZER not in app["metadata"].get("finalizers", []))
        if kept:
            argo.add(release["releaseName"])
    fluxed = set()
    for doc in _docs(tree, "/flux/releases/"):
        if doc["kind"] != "HelmRelease":
            continue
        kept = doc["metadata"]["annotations"].get(plan.FLUX_PRUNE) == "disabled"
        renders = doc["spec"].get("postRenderers", [])
        assert kept == bool(renders)
        if kept:
            patch = yaml.safe_load(renders[0]["kustomize"]["patches"][0]["patch"])
            assert patch["metadata"]["annotations"] == plan.KEEP
            fluxed.add(doc["spec"]["releaseName"])
    assert argo == fluxed == bearing


def test_argocd_health_check_patch_is_valid_and_gates_on_child_health(schema_dir: Path) -> None:
    tree = _tree(schema_dir)
    text = tree.files["mlstack/envs/k3d/argocd/argocd-cm-patch.yaml"]
    patch = yaml.safe_load(text)
    assert validate.builtin_errors(patch, "1.35") == []
    assert patch["metadata"]["name"] == "argocd-cm"
    lua = patch["data"][argocd.HEALTH_KEY]
    assert "obj.status.health.status" in lua and 'hs.status = "Progressing"' in lua
    readme = tree.files["mlstack/envs/k3d/README.md"]
    assert (
        "patch configmap argocd-cm --patch-file mlstack/envs/k3d/argocd/argocd-cm-patch.yaml"
        in readme
    )
    # Not in apps/: the app-of-apps must not manage Argo CD's own configuration.
    kustomization = yaml.safe_load(tree.files["mlstack/envs/k3d/argocd/apps/kustomization.yaml"])
    assert all("argocd-cm" not in r for r in kustomization["resources"])


def test_cli_oci_and_fleet_flags(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "mlstack", "gitops", "--env", "k3d", "--out", str(tmp_path),
           "--repo-url", URL, "--revision", "main", "--oci", "--fleet", "--domain", DOMAIN,
           "--published", str(tmp_path / "none.yaml")]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "mlstack/envs/k3d/flux/releases/models.yaml").read_text()
    assert project.load().chart_ref("models") in text
    assert (tmp_path / "mlstack/envs/k3d/fleet/argocd/applicationset.yaml").exists()


def test_flux_runs_the_helm_tests_of_charts_that_have_them(schema_dir: Path) -> None:
    tree = _tree(schema_dir)
    enabled = {
        d["metadata"]["name"]
        for d in _docs(tree, "/flux/releases/")
        if d["kind"] == "HelmRelease" and d["spec"].get("test") == {"enable": True}
    }
    assert enabled == {"models"}
