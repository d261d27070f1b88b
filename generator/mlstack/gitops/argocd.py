"""Argo CD: a root app-of-apps and one Application per release, from the release plan.

Sync waves follow the install order, so CRD and webhook releases settle before the
releases whose objects need them. Controllers such as MetalLB's and cert-manager's inject
`caBundle` into webhook configurations (and CRD conversion webhooks) and some relax
`failurePolicy` at run time; without `ignoreDifferences` (and RespectIgnoreDifferences, so
self-heal does not undo them) the Application would report drift forever.
"""

from __future__ import annotations

import posixpath
from typing import Any

from mlstack.environments import Environment
from mlstack.gitops.plan import Release, Settings, dump, header, values_paths

API = "argoproj.io/v1alpha1"
WAVE = "argocd.argoproj.io/sync-wave"
FINALIZER = "resources-finalizer.argocd.argoproj.io"
_WEBHOOK_FIELDS = [".webhooks[]?.clientConfig.caBundle", ".webhooks[]?.failurePolicy"]


def root_name(env: Environment) -> str:
    return f"mlstack-{env.name}"


def app_name(env: Environment, release: Release) -> str:
    """Env-prefixed so one Argo CD can manage several environments' clusters."""
    return f"{env.name}-{release.id}"


def _labels(env: Environment) -> dict[str, str]:
    return {"app.kubernetes.io/part-of": "mlstack", "mlstack.dev/env": env.name}


def _sync_policy(options: list[str]) -> dict[str, Any]:
    policy: dict[str, Any] = {"automated": {"prune": True, "selfHeal": True}}
    if options:
        policy["syncOptions"] = options
    policy["retry"] = {
        "limit": 5,
        "backoff": {"duration": "10s", "factor": 2, "maxDuration": "5m"},
    }
    return policy


def ignore_differences(release: Release) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = [
        {
            "group": "admissionregistration.k8s.io",
            "kind": kind,
            "jqPathExpressions": _WEBHOOK_FIELDS,
        }
        for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
    ]
    if release.crd_bearing:
        rules.append(
            {
                "group": "apiextensions.k8s.io",
                "kind": "CustomResourceDefinition",
                "jqPathExpressions": [".spec.conversion.webhook.clientConfig.caBundle"],
            }
        )
    return rules


def sync_options(release: Release) -> list[str]:
    options = ["CreateNamespace=true", "RespectIgnoreDifferences=true"]
    if release.crd_bearing:
        # CRDs outgrow the last-applied annotation of client-side apply (256 KiB).
        options.append("ServerSideApply=true")
    if release.uses_crds:
        # The dry run cannot know kinds whose CRDs an earlier wave is still installing.
        options.append("SkipDryRunOnMissingResource=true")
    return options


def application(env: Environment, settings: Settings, release: Release) -> dict[str, Any]:
    chart_path = settings.at("charts", release.id)
    # Argo CD resolves valueFiles relative to the chart directory, within the repository.
    value_files = [posixpath.relpath(p, chart_path) for p in values_paths(env, release, settings)]
    helm: dict[str, Any] = {"releaseName": release.id}
    if value_files:
        helm["valueFiles"] = value_files
    return {
        "apiVersion": API,
        "kind": "Application",
        "metadata": {
            "name": app_name(env, release),
            "namespace": settings.argocd_namespace,
            "labels": _labels(env),
            "annotations": {
                WAVE: str(release.wave),
                "mlstack.dev/chart-version": release.chart_version,
            },
            "finalizers": [FINALIZER],
        },
        "spec": {
            "project": settings.argocd_project,
            "source": {
                "repoURL": settings.repo_url,
                "targetRevision": settings.revision,
                "path": chart_path,
                "helm": helm,
            },
            "destination": {"server": settings.destination_server, "namespace": release.namespace},
            "syncPolicy": _sync_policy(sync_options(release)),
            "ignoreDifferences": ignore_differences(release),
        },
    }


def root(env: Environment, settings: Settings) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "Application",
        "metadata": {
            "name": root_name(env),
            "namespace": settings.argocd_namespace,
            "labels": _labels(env),
        },
        "spec": {
            "project": settings.argocd_project,
            "source": {
                "repoURL": settings.repo_url,
                "targetRevision": settings.revision,
                "path": settings.at("envs", env.name, "argocd", "apps"),
                "directory": {"recurse": False},
            },
            "destination": {
                "server": settings.destination_server,
                "namespace": settings.argocd_namespace,
            },
            "syncPolicy": _sync_policy([]),
        },
    }


def manifests(env: Environment, settings: Settings, plan: list[Release]) -> dict[str, str]:
    """{repository path: YAML} of the root Application and one Application per release."""
    top = header(__name__, env)
    base = settings.at("envs", env.name, "argocd")
    files = {f"{base}/root.yaml": dump(top, [root(env, settings)])}
    for release in plan:
        files[f"{base}/apps/{release.id}.yaml"] = dump(top, [application(env, settings, release)])
    return files
