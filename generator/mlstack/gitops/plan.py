"""The release plan of one environment, as GitOps tools need it, and the repository layout.

Every fact is derived, never typed twice:
- order: the position among the resolved environment's releases (Argo CD sync wave) and
  the `needs` edges (Flux `dependsOn`);
- CRD-bearing: a wrapper whose upstream project ships CRDs (`crds:` in versions.yaml), or
  a chart whose own files contain a CustomResourceDefinition. These need server-side
  apply (CRDs exceed the client-side annotation limit) and CRD replacement on upgrade;
- uses earlier CRDs: a release with `needs`, or whose own objects are custom resources.
  Their dry run would fail until the earlier release's CRDs exist;
- values: chart defaults, then the release's files as resolution layers them (derived
  `values/<env>/generated/<id>.yaml`, then hand-written `values/<env>/<id>.yaml`).

Layout inside the GitOps repository, under the configurable `path`:
`charts/<id>/` (every chart, unless the tools pull them from OCI), `values/<env>/` (the
env's values files) and `envs/<env>/{argocd,flux}/` (the manifests); mlstack.gitops.tree
assembles it (it sits above this module and the two tool modules, which import only this
one).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from mlstack import CHARTS_DIR, resolve, versions
from mlstack.environments import Environment
from mlstack.errors import UserError
from mlstack.lib import chartgen, helmtest, validate, yamlfile
from mlstack.lib.component import Component
from mlstack.resolve import Resolved

#: CRD folders (under $MLSTACK_SCHEMA_DIR/crds) of the GitOps tool versions we write for;
#: the versions are pinned in data/versions.yaml `tools:` so `make schemas` fetches them.
CRD_FOLDERS = tuple(tool.crds for tool in versions.load().tools.values())
_API = re.compile(r"^apiVersion:\s*(\S+)\s*$", re.MULTILINE)
_KIND = re.compile(r"^kind:\s*(\S+)\s*$", re.MULTILINE)
#: What Flux's GitRepository accepts (its CRD's pattern); Argo CD accepts these too.
_PULL_URL = re.compile(r"^(http|https|ssh)://\S+$")
_DNS = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_OCI = re.compile(r"^oci://[a-z0-9.-]+(:\d+)?(/[a-z0-9._-]+)+$")
#: The label a cluster carries (Argo CD cluster Secret) to receive an environment.
ENV_LABEL = "mlstack.dev/env"
#: How every GitOps output protects CRD-bearing releases (see argocd.py and flux.py): the
#: tool never removes such a release by itself, and a CRD is kept when it is uninstalled.
KEEP = {"helm.sh/resource-policy": "keep"}
FLUX_PRUNE = "kustomize.toolkit.fluxcd.io/prune"


@dataclass(frozen=True)
class OciCharts:
    """Pull the published, signed charts from an OCI registry instead of copying them.

    `digests` (chart -> manifest digest, from `make publish`'s record) pins each chart to
    exactly what was signed; a chart without one is pinned by version. Flux verifies the
    cosign signature: keyless against `issuer`/`subject`, or with the public key in the
    Secret `key_secret`.
    """

    registry: str
    issuer: str
    subject: str
    digests: Mapping[str, str] = field(default_factory=dict)
    key_secret: str | None = None

    def __post_init__(self) -> None:
        if not _OCI.match(self.registry):
            raise UserError(
                f"OCI registry {self.registry!r} must look like oci://host/path: fix "
                "registry in generator/mlstack/data/project.yaml or OCI_REGISTRY"
            )

    def url(self, chart: str) -> str:
        return f"{self.registry.rstrip('/')}/{chart}"


@dataclass(frozen=True)
class Settings:
    """Where the GitOps tools find this layout; nothing here has a hidden default in code."""

    repo_url: str
    revision: str
    path: str
    argocd_namespace: str = "argocd"
    argocd_project: str = "default"
    destination_server: str = "https://kubernetes.default.svc"
    flux_namespace: str = "flux-system"
    #: None: charts are copied into the layout; else pulled from the registry.
    oci: OciCharts | None = None
    #: also write fleet manifests (Argo CD ApplicationSet over labelled clusters, Flux per
    #: cluster for `clusters`), so many clusters of one env sync from this layout.
    fleet: bool = False
    clusters: tuple[str, ...] = ()
    #: the domain a `domain: auto` env serves under in the synced clusters (the installer
    #: finds it from the gateway's address; a GitOps controller cannot, so it is given).
    domain: str = ""

    def __post_init__(self) -> None:
        if not self.repo_url.strip():
            raise UserError(
                "no GitOps repository URL: set GITOPS_URL=<url Argo CD/Flux pull from> "
                "(or GITOPS_REPO) for make, or --repo-url"
            )
        if not _PULL_URL.match(self.repo_url):
            raise UserError(
                f"GitOps repository URL {self.repo_url!r}: Argo CD and Flux pull over "
                "https:// or ssh://; set GITOPS_URL to the URL they should use"
            )
        if not self.revision.strip():
            raise UserError("empty GitOps revision: set BRANCH=<branch> (or REVISION)")
        pure = PurePosixPath(self.path or ".")
        if pure.is_absolute() or ".." in pure.parts:
            raise UserError(
                f"GitOps path {self.path!r} must be relative inside the repository "
                "without '..': set GITOPS_PATH"
            )
        for name in (
            self.argocd_namespace,
            self.flux_namespace,
            self.argocd_project,
            *self.clusters,
        ):
            if not _DNS.match(name):
                raise UserError(f"{name!r} is not a valid Kubernetes name: fix the setting")

    def at(self, *parts: str) -> str:
        """A repository-relative path inside the layout (POSIX, no leading './')."""
        return str(PurePosixPath(self.path or ".", *parts))


@dataclass(frozen=True)
class Release:
    id: str
    namespace: str
    chart_version: str
    kind: str
    #: 0-based position among the env's releases in install order (the Argo CD sync wave).
    wave: int
    #: releases (enabled in this env) that must be ready first.
    needs: tuple[str, ...]
    crd_bearing: bool
    uses_crds: bool
    #: existing values files, relative to values/<env>/, lowest precedence first (the
    #: chart defaults come before them implicitly).
    values_files: tuple[str, ...]
    #: those files merged (Helm's layering), for tools that take values inline.
    overrides: Mapping[str, Any] = field(default_factory=dict)
    #: the chart has `helm test` hooks (Flux runs them after each install/upgrade).
    tested: bool = False


def chart_files(chart_dir: Path) -> dict[str, str]:
    """The generated files of one chart (never the upstream archives `make deps` fetches)."""
    return {
        str(p.relative_to(chart_dir)): yamlfile.read_text(p)
        for p in sorted(chart_dir.rglob("*"))
        if p.is_file() and p.relative_to(chart_dir).parts[0] not in chartgen.UNOWNED
    }


def _objects(files: dict[str, str]) -> list[tuple[str, str]]:
    """(apiVersion, kind) of each object in a chart's own templates and crds/."""
    found = []
    for name, text in files.items():
        if name.startswith(("templates/", "crds/")) and name.endswith((".yaml", ".yml")):
            found += list(zip(_API.findall(text), _KIND.findall(text), strict=False))
    return found


def _is_custom(api: str, kind: str, minor: str) -> bool:
    stub = {"apiVersion": api, "kind": kind, "metadata": {"name": "probe"}}
    return validate.builtin_errors(stub, minor) is None


def _brings_crds(component: Component, charts_dir: Path) -> bool:
    """Whether the component's chart installs CRDs (its own, or its upstream charts')."""
    data = versions.load()
    files = chart_files(charts_dir / component.id)
    own_crds = any(kind == "CustomResourceDefinition" for _, kind in _objects(files))
    projects = {component.project} | {data.charts[d.chart].project for d in component.dependencies}
    return own_crds or (
        bool(component.dependencies) and any(data.projects[p].crds for p in projects)
    )


def release_facts(
    release: resolve.Release, resolved: Resolved, wave: int, charts_dir: Path = CHARTS_DIR
) -> Release:
    component = release.component
    chart_dir = charts_dir / component.id
    meta = chartgen.read_chart_meta(chart_dir)
    if meta is None:
        raise UserError(f"no chart at {chart_dir}: run `make generate`")
    files = chart_files(chart_dir)
    objects = _objects(files)
    custom = any(
        _is_custom(api, kind, resolved.env.kubernetes)
        for api, kind in objects
        if kind != "CustomResourceDefinition"
    )
    needs = tuple(n for n in component.follows if n in resolved.ids)
    # A need on a release that brings CRDs (or its webhooks) is what makes the dry run
    # unable to know kinds; a need on the namespaces release is only an order.
    crd_needs = [r.component for r in resolved.releases if r.id in needs]
    folder = resolved.values_dir / resolved.name
    return Release(
        id=component.id,
        namespace=component.namespace,
        chart_version=str(meta["version"]),
        kind=component.kind,
        wave=wave,
        needs=needs,
        crd_bearing=_brings_crds(component, charts_dir),
        uses_crds=custom or any(_brings_crds(c, charts_dir) for c in crd_needs),
        values_files=tuple(str(p.relative_to(folder)) for p in release.files),
        overrides=release.overrides,
        tested=helmtest.has_tests(files.values()),
    )


def releases(resolved: Resolved, charts_dir: Path = CHARTS_DIR) -> list[Release]:
    """The env's releases in install order."""
    return [release_facts(r, resolved, i, charts_dir) for i, r in enumerate(resolved.releases)]


def values_paths(env: Environment, release: Release, settings: Settings) -> list[str]:
    """Repository paths of a release's values files inside the layout, in layering order."""
    return [settings.at("values", env.name, rel) for rel in release.values_files]


class _Dumper(yaml.SafeDumper):
    """No `&id001` anchors: GitOps manifests are read by people and by diff tools."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump(header: str, docs: list[dict[str, Any]]) -> str:
    """Deterministic multi-document YAML with a DO-NOT-EDIT header."""
    body = "---\n".join(
        yaml.dump(d, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1_000_000)
        for d in docs
    )
    return header + body


def header(module: str, env: Environment) -> str:
    source = str(PurePosixPath("generator", *module.split("."))) + ".py"
    return f"# Generated by mlstack from {source} for env {env.name}. DO NOT EDIT.\n"


def manifest_problems(
    text: str, crds: dict[tuple[str, str], dict[str, Any]], minor: str = "1.35"
) -> list[str]:
    """Each object against its tool's CRD schema (strict, as for the platform's own CRs);
    built-in kinds (the argocd-cm patch) against Kubernetes `minor`'s schema."""
    problems = []
    for obj in (d for d in yaml.safe_load_all(text) if d):
        key = (obj.get("apiVersion", "?"), obj.get("kind", "?"))
        if key[0].startswith("kustomize.config.k8s.io/"):
            continue  # kustomize's own build file, read by Argo CD / Flux, not applied
        name = f"{key[1]}/{obj.get('metadata', {}).get('name', '?')}"
        schema = crds.get(key)
        if schema is None:
            builtin = validate.builtin_errors(obj, minor)
            if builtin is None:
                problems.append(f"{name}: no CRD schema for {key[0]} {key[1]}")
            problems += [f"{name}: {p}" for p in builtin or []]
            continue
        problems += [f"{name}: {p}" for p in validate.schema_errors(obj, schema)]
    return problems
