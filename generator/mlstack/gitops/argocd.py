"""Argo CD: a root app-of-apps and one Application per release, from the release plan.

Sync waves follow the install order, so CRD and webhook releases settle before the
releases whose objects need them. Argo CD gates a wave on the health of the previous
one only with a health check for Applications, which Argo CD removed from its defaults:
`argocd-cm-patch.yaml` holds it, to apply once per Argo CD.

Charts come from the layout in Git, or (OCI mode) from the registry they were published
and signed to, pinned by digest, with the env's values files from Git as a second source.
A CRD-bearing release is never pruned or cascade-deleted by Argo CD (its Application
carries Prune=false,Delete=false and no resources finalizer), as in the Flux output.

Fleet mode: an ApplicationSet whose cluster generator selects the clusters labelled
`mlstack.dev/env=<env>` and gives each the same app-of-apps, its Applications prefixed
with the cluster name and pointed at that cluster (a kustomize patch on the apps folder).

Controllers such as MetalLB's and cert-manager's inject
`caBundle` into webhook configurations (and CRD conversion webhooks) and some relax
`failurePolicy` at run time; without `ignoreDifferences` (and RespectIgnoreDifferences, so
self-heal does not undo them) the Application would report drift forever.
"""

from __future__ import annotations

import posixpath
from typing import Any

from mlstack.environments import Environment
from mlstack.gitops.plan import ENV_LABEL, Release, Settings, dump, header, values_paths

API = "argoproj.io/v1alpha1"
WAVE = "argocd.argoproj.io/sync-wave"
SYNC_OPTIONS = "argocd.argoproj.io/sync-options"
FINALIZER = "resources-finalizer.argocd.argoproj.io"
#: What keeps a CRD-bearing release (and so its CRDs) when Git or the root changes.
PROTECT = "Prune=false,Delete=false"
HEALTH_KEY = "resource.customizations.health.argoproj.io_Application"
#: Application health = the health Argo CD computed for it (Progressing until known), so
#: the app-of-apps waits for each wave. Written for this project from the documented
#: resource.customizations Lua interface (obj in, {status, message} out).
HEALTH_LUA = """hs = {}
hs.status = "Progressing"
hs.message = ""
if obj.status ~= nil and obj.status.health ~= nil then
  hs.status = obj.status.health.status
  if obj.status.health.message ~= nil then
    hs.message = obj.status.health.message
  end
end
return hs
"""
_WEBHOOK_FIELDS = [".webhooks[]?.clientConfig.caBundle", ".webhooks[]?.failurePolicy"]


def root_name(env: Environment) -> str:
    return f"mlstack-{env.name}"


def app_name(env: Environment, release: Release) -> str:
    """Env-prefixed so one Argo CD can manage several environments' clusters."""
    return f"{env.name}-{release.id}"


def _labels(env: Environment) -> dict[str, str]:
    return {"app.kubernetes.io/part-of": "mlstack", ENV_LABEL: env.name}


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


def _sources(env: Environment, settings: Settings, release: Release) -> dict[str, Any]:
    """`source` from the Git layout, or `sources` = OCI chart + the Git repo as `$values`."""
    helm: dict[str, Any] = {"releaseName": release.id}
    if settings.oci is None:
        chart_path = settings.at("charts", release.id)
        # Argo CD resolves valueFiles relative to the chart directory, within the repository.
        files = [posixpath.relpath(p, chart_path) for p in values_paths(env, release, settings)]
        if files:
            helm["valueFiles"] = files
        return {
            "source": {
                "repoURL": settings.repo_url,
                "targetRevision": settings.revision,
                "path": chart_path,
                "helm": helm,
            }
        }
    files = [f"$values/{p}" for p in values_paths(env, release, settings)]
    if files:
        helm["valueFiles"] = files
    chart = {
        "repoURL": settings.oci.url(release.id),
        # A digest pins exactly what was signed; else the chart version (an OCI tag).
        "targetRevision": settings.oci.digests.get(release.id, release.chart_version),
        "path": ".",
        "helm": helm,
    }
    values = {"repoURL": settings.repo_url, "targetRevision": settings.revision, "ref": "values"}
    return {"sources": [chart, values]}


def application(env: Environment, settings: Settings, release: Release) -> dict[str, Any]:
    annotations = {WAVE: str(release.wave), "mlstack.dev/chart-version": release.chart_version}
    metadata: dict[str, Any] = {
        "name": app_name(env, release),
        "namespace": settings.argocd_namespace,
        "labels": _labels(env),
        "annotations": annotations,
    }
    if release.crd_bearing:
        annotations[SYNC_OPTIONS] = PROTECT
    else:
        metadata["finalizers"] = [FINALIZER]
    return {
        "apiVersion": API,
        "kind": "Application",
        "metadata": metadata,
        "spec": {
            "project": settings.argocd_project,
            **_sources(env, settings, release),
            "destination": {"server": settings.destination_server, "namespace": release.namespace},
            "syncPolicy": _sync_policy(sync_options(release)),
            "ignoreDifferences": ignore_differences(release),
        },
    }


def _root_spec(env: Environment, settings: Settings) -> dict[str, Any]:
    return {
        "project": settings.argocd_project,
        # apps/ holds a kustomization.yaml (so fleet mode can patch it): Argo CD builds
        # it with kustomize.
        "source": {
            "repoURL": settings.repo_url,
            "targetRevision": settings.revision,
            "path": settings.at("envs", env.name, "argocd", "apps"),
        },
        "destination": {
            "server": settings.destination_server,
            "namespace": settings.argocd_namespace,
        },
        "syncPolicy": _sync_policy([]),
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
        "spec": _root_spec(env, settings),
    }


def health_patch(settings: Settings) -> dict[str, Any]:
    """The argocd-cm ConfigMap entry that gives Applications a health (a merge patch:
    `kubectl -n argocd patch configmap argocd-cm --patch-file argocd-cm-patch.yaml`)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "argocd-cm", "namespace": settings.argocd_namespace},
        "data": {HEALTH_KEY: HEALTH_LUA},
    }


def kustomization(files: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": sorted(files),
    }


def application_set(env: Environment, settings: Settings) -> dict[str, Any]:
    """One app-of-apps per cluster labelled for this env, its apps aimed at that cluster.

    The generated root is the single-cluster root (it stays beside Argo CD) whose apps
    folder is built with the cluster's name as prefix and its server as destination."""
    retarget = "- op: replace\n  path: /spec/destination/server\n  value: '{{ .server }}'\n"
    spec = _root_spec(env, settings)
    spec["source"]["kustomize"] = {
        "namePrefix": "{{ .name }}-",
        "patches": [{"target": {"kind": "Application"}, "patch": retarget}],
    }
    return {
        "apiVersion": API,
        "kind": "ApplicationSet",
        "metadata": {
            "name": root_name(env),
            "namespace": settings.argocd_namespace,
            "labels": _labels(env),
        },
        "spec": {
            "goTemplate": True,
            "goTemplateOptions": ["missingkey=error"],
            "generators": [{"clusters": {"selector": {"matchLabels": {ENV_LABEL: env.name}}}}],
            "template": {
                "metadata": {
                    "name": "{{ .name }}-" + root_name(env),
                    "labels": {**_labels(env), "mlstack.dev/cluster": "{{ .name }}"},
                },
                "spec": spec,
            },
        },
    }


def manifests(env: Environment, settings: Settings, plan: list[Release]) -> dict[str, str]:
    """{repository path: YAML}: the root, one Application per release with the apps'
    kustomization, the argocd-cm health patch, and in fleet mode the ApplicationSet."""
    top = header(__name__, env)
    base = settings.at("envs", env.name, "argocd")
    files = {
        f"{base}/root.yaml": dump(top, [root(env, settings)]),
        f"{base}/argocd-cm-patch.yaml": dump(top, [health_patch(settings)]),
    }
    for release in plan:
        files[f"{base}/apps/{release.id}.yaml"] = dump(top, [application(env, settings, release)])
    names = [f"{release.id}.yaml" for release in plan]
    files[f"{base}/apps/kustomization.yaml"] = dump(top, [kustomization(names)])
    if settings.fleet:
        fleet = settings.at("envs", env.name, "fleet", "argocd", "applicationset.yaml")
        files[fleet] = dump(top, [application_set(env, settings)])
    return files
