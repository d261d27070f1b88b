"""Flux: a GitRepository source, a Kustomization that applies the releases, and one
HelmRelease per release, from the release plan.

`dependsOn` comes from the registry's `needs`, so Flux installs independent releases in
parallel and holds back only what must wait. CRD-bearing charts replace their CRDs on
upgrade (Helm alone never updates CRDs). The charts come from the Git source, and Flux
uses the listed values files *instead of* the chart's values.yaml, so that file is listed
first to keep Helm's layering: chart defaults, then the env's files.

OCI mode: each release gets an OCIRepository (the published chart, pinned by digest,
its cosign signature verified) referenced by `chartRef`; values then come inline (the
env's files merged in Helm's order), since a chartRef release cannot read Git files.
CRD-bearing releases are protected as in the Argo CD output: the Kustomization never
prunes their HelmRelease, and a post-renderer marks every CRD `helm.sh/resource-policy:
keep`, so an uninstall leaves the CRDs (and every custom resource) in place.

Fleet mode (hub and spokes): for each cluster named, Kustomizations on the hub apply
this env's releases (and, for Git charts, their GitRepository) to that cluster through
its kubeconfig Secret `<cluster>-kubeconfig`; the spoke's own Flux controllers reconcile
them. The Argo CD output selects clusters by label instead; Flux has no cluster
inventory, so the clusters are named (CLUSTERS=...).
"""

from __future__ import annotations

import re
from typing import Any

from mlstack.environments import Environment
from mlstack.gitops.plan import (
    ENV_LABEL,
    FLUX_PRUNE,
    KEEP,
    OciCharts,
    Release,
    Settings,
    dump,
    header,
    values_paths,
)

SOURCE_API = "source.toolkit.fluxcd.io/v1"
HELM_CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
KUSTOMIZE_API = "kustomize.toolkit.fluxcd.io/v1"
HELM_API = "helm.toolkit.fluxcd.io/v2"
SOURCE_NAME = "mlstack"
_SHA = re.compile(r"^[0-9a-f]{40}$")


def _labels(env: Environment) -> dict[str, str]:
    return {"app.kubernetes.io/part-of": "mlstack", ENV_LABEL: env.name}


def _meta(name: str, env: Environment, settings: Settings) -> dict[str, Any]:
    return {"name": name, "namespace": settings.flux_namespace, "labels": _labels(env)}


def git_ref(revision: str) -> dict[str, str]:
    """A full commit SHA pins a commit; anything else is a branch (as BRANCH is)."""
    return {"commit": revision} if _SHA.match(revision) else {"branch": revision}


def source(env: Environment, settings: Settings) -> dict[str, Any]:
    return {
        "apiVersion": SOURCE_API,
        "kind": "GitRepository",
        "metadata": _meta(SOURCE_NAME, env, settings),
        "spec": {"interval": "1m", "url": settings.repo_url, "ref": git_ref(settings.revision)},
    }


def sync(env: Environment, settings: Settings) -> dict[str, Any]:
    return {
        "apiVersion": KUSTOMIZE_API,
        "kind": "Kustomization",
        "metadata": _meta(f"mlstack-{env.name}", env, settings),
        "spec": {
            "interval": "10m",
            "path": "./" + settings.at("envs", env.name, "flux", "releases"),
            "prune": True,
            "sourceRef": {"kind": "GitRepository", "name": SOURCE_NAME},
        },
    }


def _remediation(release: Release, action: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"remediation": {"retries": 3}}
    if action == "install":
        spec["createNamespace"] = True
    else:
        spec["remediation"]["remediateLastFailure"] = True
        spec["cleanupOnFail"] = True
    if release.crd_bearing:
        spec["crds"] = "CreateReplace"
    return spec


def oci_repository(
    env: Environment, settings: Settings, oci: OciCharts, release: Release
) -> dict[str, Any]:
    ref: dict[str, str] = {"tag": release.chart_version}
    if release.id in oci.digests:
        ref["digest"] = oci.digests[release.id]  # wins over the tag: what was signed
    verify: dict[str, Any] = {"provider": "cosign"}
    if oci.key_secret:
        verify["secretRef"] = {"name": oci.key_secret}
    else:
        verify["matchOIDCIdentity"] = [{"issuer": oci.issuer, "subject": oci.subject}]
    return {
        "apiVersion": SOURCE_API,
        "kind": "OCIRepository",
        "metadata": _meta(release.id, env, settings),
        "spec": {
            "interval": "10m",
            "url": oci.url(release.id),
            "ref": ref,
            "layerSelector": {"mediaType": HELM_CHART_LAYER, "operation": "copy"},
            "verify": verify,
        },
    }


def _keep_crds() -> list[dict[str, Any]]:
    """Post-renderer: every CRD of the release gets the keep annotation."""
    patch = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "any", "annotations": KEEP},
    }
    return [
        {
            "kustomize": {
                "patches": [
                    {
                        "target": {"kind": "CustomResourceDefinition"},
                        "patch": dump("", [patch]),
                    }
                ]
            }
        }
    ]


def helm_release(env: Environment, settings: Settings, release: Release) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "interval": "10m",
        "releaseName": release.id,
        "targetNamespace": release.namespace,
    }
    if settings.oci is None:
        values = [settings.at("charts", release.id, "values.yaml")]
        values += values_paths(env, release, settings)
        spec["chart"] = {
            "spec": {
                "chart": "./" + settings.at("charts", release.id),
                "sourceRef": {"kind": "GitRepository", "name": SOURCE_NAME},
                # Values files live beside the chart in Git: a new commit must rebuild it.
                "reconcileStrategy": "Revision",
                "valuesFiles": values,
            }
        }
    else:
        spec["chartRef"] = {"kind": "OCIRepository", "name": release.id}
        if release.overrides:
            spec["values"] = dict(release.overrides)
    spec["install"] = _remediation(release, "install")
    spec["upgrade"] = _remediation(release, "upgrade")
    if release.needs:
        spec["dependsOn"] = [{"name": need} for need in release.needs]
    if release.tested:
        spec["test"] = {"enable": True}  # the chart's in-cluster checks after each change
    annotations = {"mlstack.dev/chart-version": release.chart_version}
    if release.crd_bearing:
        spec["postRenderers"] = _keep_crds()
        annotations[FLUX_PRUNE] = "disabled"
    return {
        "apiVersion": HELM_API,
        "kind": "HelmRelease",
        "metadata": {**_meta(release.id, env, settings), "annotations": annotations},
        "spec": spec,
    }


def spoke(env: Environment, settings: Settings, cluster: str) -> list[dict[str, Any]]:
    """Hub-side Kustomizations that apply this env's releases to one spoke cluster."""
    fleet = settings.at("envs", env.name, "fleet", "flux")

    def kustomization(name: str, path: str) -> dict[str, Any]:
        return {
            "apiVersion": KUSTOMIZE_API,
            "kind": "Kustomization",
            "metadata": {
                **_meta(name, env, settings),
                "labels": {**_labels(env), "mlstack.dev/cluster": cluster},
            },
            "spec": {
                "interval": "10m",
                "path": "./" + path,
                "prune": True,
                "sourceRef": {"kind": "GitRepository", "name": SOURCE_NAME},
                "kubeConfig": {"secretRef": {"name": f"{cluster}-kubeconfig"}},
            },
        }

    releases = kustomization(
        f"{cluster}-mlstack-{env.name}", settings.at("envs", env.name, "flux", "releases")
    )
    if settings.oci is not None:
        return [releases]  # OCIRepositories travel with the releases
    sources = kustomization(f"{cluster}-mlstack-{env.name}-source", f"{fleet}/spoke")
    releases["spec"]["dependsOn"] = [{"name": sources["metadata"]["name"]}]
    return [sources, releases]


def manifests(env: Environment, settings: Settings, plan: list[Release]) -> dict[str, str]:
    """{repository path: YAML} of the source, the Kustomization and every HelmRelease."""
    top = header(__name__, env)
    base = settings.at("envs", env.name, "flux")
    files = {
        f"{base}/source.yaml": dump(top, [source(env, settings)]),
        f"{base}/sync.yaml": dump(top, [sync(env, settings)]),
    }
    for release in plan:
        docs = [helm_release(env, settings, release)]
        if settings.oci is not None:
            docs.insert(0, oci_repository(env, settings, settings.oci, release))
        files[f"{base}/releases/{release.id}.yaml"] = dump(top, docs)
    if settings.fleet:
        fleet = settings.at("envs", env.name, "fleet", "flux")
        for cluster in settings.clusters:
            files[f"{fleet}/{cluster}.yaml"] = dump(top, spoke(env, settings, cluster))
        if settings.oci is None and settings.clusters:
            files[f"{fleet}/spoke/source.yaml"] = dump(top, [source(env, settings)])
    return files
