"""The GitOps layout of one environment: {repository path: text}, validated.

Charts, the env's values files and both tools' manifests (mlstack.gitops.argocd, .flux,
built from the release plan of mlstack.gitops.plan), checked against the tools' CRDs
before anything is returned. It sits on top of the three: they never import it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from mlstack import CHARTS_DIR, registry
from mlstack.environments import Environment
from mlstack.errors import UserError
from mlstack.gitops import argocd, flux
from mlstack.gitops.plan import (
    CRD_FOLDERS,
    ENV_LABEL,
    FLUX_PRUNE,
    Release,
    Settings,
    chart_files,
    manifest_problems,
    releases,
)
from mlstack.lib import schemas, validate, yamlfile
from mlstack.lifecycle import autodomain, secrets
from mlstack.lifecycle.shell import display
from mlstack.resolve import Resolved


@dataclass(frozen=True)
class Tree:
    """Everything the layout holds for one env: {repository path: text}, and its scopes."""

    files: dict[str, str]
    #: directories this env's write owns entirely (shared charts/ plus the env's own).
    scopes: tuple[str, ...]
    releases: list[Release]
    seconds: float


def tree(
    resolved: Resolved, settings: Settings, schema_dir: Path, charts_dir: Path = CHARTS_DIR
) -> Tree:
    """Charts, values and both tools' manifests for the env, validated before returning.
    Its values were validated when it was resolved; the derived files must be current."""
    started = time.perf_counter()
    env, values_dir = resolved.env, resolved.values_dir
    resolved.check_generated()
    overlays = _domain_overlays(resolved, settings)
    files: dict[str, str] = {}
    plan = []
    for release in releases(resolved, charts_dir):  # domain: auto -> the given domain
        if release.id in overlays:
            rel, text, data = overlays[release.id]
            files[settings.at("values", env.name, rel)] = text
            release = replace(
                release,
                values_files=(*release.values_files, rel),
                overrides=validate.deep_merge(dict(release.overrides), data),
            )
        plan.append(release)
    if settings.oci is None:  # else the tools pull the published charts
        for component in registry.COMPONENTS:
            for rel, text in chart_files(charts_dir / component.id).items():
                files[settings.at("charts", component.id, rel)] = text
    for release in plan:
        for rel in release.values_files:
            at = settings.at("values", env.name, rel)
            if at not in files:  # the domain overlays exist only in the layout
                files[at] = yamlfile.read_text(values_dir / env.name / rel)
    manifests = {**argocd.manifests(env, settings, plan), **flux.manifests(env, settings, plan)}
    crds = schemas.extra_crds(schema_dir, CRD_FOLDERS)
    problems = [
        f"{p}: {e}"
        for p, text in manifests.items()
        for e in manifest_problems(text, crds, env.kubernetes)
    ]
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise UserError(f"generated GitOps manifest invalid: {problems[0]}{more}")
    files.update(manifests)
    files[settings.at("envs", env.name, "README.md")] = readme(
        env, settings, plan, secrets.required(resolved)
    )
    scopes = (
        settings.at("charts"),
        settings.at("values", env.name),
        settings.at("envs", env.name),
    )
    return Tree(dict(sorted(files.items())), scopes, plan, time.perf_counter() - started)


#: values/<env>/<DOMAIN_DIR>/<id>.yaml in the layout: the derived values that carry the
#: domain of a `domain: auto` env, layered last, as the installer's local overlays are.
DOMAIN_DIR = "domain"


def _domain_overlays(
    resolved: Resolved, settings: Settings
) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """release -> (path under values/<env>/, text, values) carrying the given domain, for
    a `domain: auto` env. Without a domain it refuses: the rendered placeholder
    (example.com) would be deployed for a domain nobody owns."""
    env, shown = resolved.env, resolved.env.shown(resolved.values_dir)
    if not env.auto_domain:
        if settings.domain and settings.domain != env.domain:
            raise UserError(
                f"{shown}: domain: {env.domain} is fixed, so DOMAIN={settings.domain} "
                "(--domain) does not apply: unset it, or change domain: there"
            )
        return {}
    if not settings.domain:
        raise UserError(
            f"{shown}: domain: auto is found by `make install-platform` from the gateway's "
            "address, which Argo CD and Flux cannot do: give the domain the clusters serve "
            f"(make gitops ENV={env.name} DOMAIN=<domain>, e.g. <gateway-ip>.sslip.io; "
            "--domain), or set domain: there"
        )
    header = (
        f"# Generated by mlstack gitops for domain: auto, DOMAIN={settings.domain}. DO NOT EDIT.\n"
    )
    return {
        release: (
            f"{DOMAIN_DIR}/{release}.yaml",
            header + yaml.safe_dump(data, sort_keys=False, default_flow_style=False),
            data,
        )
        for release, data in autodomain.overlays(resolved, settings.domain).items()
    }


def _secrets_section(needed: list[secrets.Required]) -> str:
    """The Secrets to create in each cluster before the first sync (never in Git)."""
    if not needed:
        return ""
    items = "".join(
        f"- {s.describe()}:\n\n      kubectl create namespace {s.namespace}\n"
        f"      {display(s.create_command())}\n\n"
        for s in needed
    )
    return (
        "## Secrets\n\n"
        "Create these in each cluster before the first sync (they are never in Git; the "
        "releases that read them do not start without them):\n\n"
        f"{items}"
    )


def readme(
    env: Environment,
    settings: Settings,
    plan: list[Release],
    needed: list[secrets.Required] | None = None,
) -> str:
    rows = "".join(
        f"| {r.wave} | {r.id} | {r.chart_version} | {r.namespace} | "
        f"{', '.join(r.needs) or '-'} | {'yes' if r.crd_bearing else '-'} | "
        f"{'yes' if r.uses_crds else '-'} |\n"
        for r in plan
    )
    envs = settings.at("envs", env.name)
    return (
        f"<!-- Generated by mlstack from generator/mlstack/gitops/tree.py for env {env.name}. "
        "DO NOT EDIT. -->\n"
        f"# mlstack: {env.name}\n\n{env.description}\n\n"
        f"Releases in install order (Argo CD sync wave = order; Flux `dependsOn` = needs):\n\n"
        "| wave | release | chart | namespace | needs | brings CRDs | uses earlier CRDs |\n"
        "|---|---|---|---|---|---|---|\n"
        f"{rows}\n"
        f"{_secrets_section(needed or [])}"
        f"{_charts_section(settings)}"
        "## Argo CD\n\n"
        "Once per Argo CD, give Applications a health so each sync wave waits for the "
        "previous one to be healthy:\n\n"
        f"    kubectl -n {settings.argocd_namespace} patch configmap argocd-cm "
        f"--patch-file {envs}/argocd/argocd-cm-patch.yaml\n\n"
        f"`kubectl apply -n {settings.argocd_namespace} -f {envs}/argocd/root.yaml` creates the "
        f"app-of-apps; it syncs one Application per release from `{envs}/argocd/apps/`.\n\n"
        "## Flux\n\n"
        f"`kubectl apply -f {envs}/flux/source.yaml -f {envs}/flux/sync.yaml` creates the "
        f"GitRepository and the Kustomization that applies `{envs}/flux/releases/`.\n\n"
        "## CRDs\n\n"
        "Releases that bring CRDs are never removed by either tool on its own: Argo CD "
        "Applications carry `Prune=false,Delete=false` and no cascade finalizer; Flux "
        f"HelmReleases carry `{FLUX_PRUNE}: disabled` and a post-renderer marking every CRD "
        "`helm.sh/resource-policy: keep`. Delete CRDs by hand, knowing it deletes every "
        "custom resource of that kind.\n"
        f"{_fleet_section(env, settings)}"
    )


def _charts_section(settings: Settings) -> str:
    if settings.oci is None:
        return "Charts are read from `charts/` in this repository.\n\n"
    pinned = ", ".join(sorted(settings.oci.digests)) or "none (pinned by version)"
    how = (
        f"the public key in Secret `{settings.oci.key_secret}`"
        if settings.oci.key_secret
        else f"keyless identity `{settings.oci.subject}` ({settings.oci.issuer})"
    )
    return (
        f"Charts are pulled from `{settings.oci.registry}` (OCI). Pinned by digest: {pinned}. "
        f"Flux verifies each chart's cosign signature against {how}; Argo CD does not verify "
        "OCI signatures, so pin by digest (`make publish` records them).\n\n"
    )


def _fleet_section(env: Environment, settings: Settings) -> str:
    if not settings.fleet:
        return ""
    fleet = settings.at("envs", env.name, "fleet")
    clusters = ", ".join(settings.clusters) or "none named (set CLUSTERS=...)"
    return (
        "\n## Fleet\n\n"
        f"Argo CD: label each cluster's Secret `{ENV_LABEL}={env.name}` (`argocd cluster add "
        f"<context> --name <dns-name> --label {ENV_LABEL}={env.name}`) and apply "
        f"`{fleet}/argocd/applicationset.yaml`: every such cluster gets this env's "
        "app-of-apps, its Applications prefixed with the cluster name.\n\n"
        f"Flux (hub and spokes): clusters {clusters}. For each, create the Secret "
        f"`<cluster>-kubeconfig` in `{settings.flux_namespace}` on the hub and apply "
        f"`{fleet}/flux/<cluster>.yaml` there; the spoke runs its own Flux controllers.\n"
    )
