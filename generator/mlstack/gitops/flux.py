"""Flux: a GitRepository source, a Kustomization that applies the releases, and one
HelmRelease per release, from the release plan.

`dependsOn` comes from the registry's `needs`, so Flux installs independent releases in
parallel and holds back only what must wait. CRD-bearing charts replace their CRDs on
upgrade (Helm alone never updates CRDs). The charts come from the Git source, and Flux
uses the listed values files *instead of* the chart's values.yaml, so that file is listed
first to keep Helm's layering: chart defaults, then the env's files.
"""

from __future__ import annotations

import re
from typing import Any

from mlstack.environments import Environment
from mlstack.gitops.plan import Release, Settings, dump, header, values_paths

SOURCE_API = "source.toolkit.fluxcd.io/v1"
KUSTOMIZE_API = "kustomize.toolkit.fluxcd.io/v1"
HELM_API = "helm.toolkit.fluxcd.io/v2"
SOURCE_NAME = "mlstack"
_SHA = re.compile(r"^[0-9a-f]{40}$")


def _labels(env: Environment) -> dict[str, str]:
    return {"app.kubernetes.io/part-of": "mlstack", "mlstack.dev/env": env.name}


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


def helm_release(env: Environment, settings: Settings, release: Release) -> dict[str, Any]:
    values = [settings.at("charts", release.id, "values.yaml")]
    values += values_paths(env, release, settings)
    spec: dict[str, Any] = {
        "interval": "10m",
        "releaseName": release.id,
        "targetNamespace": release.namespace,
        "chart": {
            "spec": {
                "chart": "./" + settings.at("charts", release.id),
                "sourceRef": {"kind": "GitRepository", "name": SOURCE_NAME},
                # Values files live beside the chart in Git: a new commit must rebuild it.
                "reconcileStrategy": "Revision",
                "valuesFiles": values,
            }
        },
        "install": _remediation(release, "install"),
        "upgrade": _remediation(release, "upgrade"),
    }
    if release.needs:
        spec["dependsOn"] = [{"name": need} for need in release.needs]
    return {
        "apiVersion": HELM_API,
        "kind": "HelmRelease",
        "metadata": {
            **_meta(release.id, env, settings),
            "annotations": {"mlstack.dev/chart-version": release.chart_version},
        },
        "spec": spec,
    }


def manifests(env: Environment, settings: Settings, plan: list[Release]) -> dict[str, str]:
    """{repository path: YAML} of the source, the Kustomization and every HelmRelease."""
    top = header(__name__, env)
    base = settings.at("envs", env.name, "flux")
    files = {
        f"{base}/source.yaml": dump(top, [source(env, settings)]),
        f"{base}/sync.yaml": dump(top, [sync(env, settings)]),
    }
    for release in plan:
        files[f"{base}/releases/{release.id}.yaml"] = dump(
            top, [helm_release(env, settings, release)]
        )
    return files
