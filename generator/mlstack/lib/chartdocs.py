"""What people and catalogues read about a chart: Artifact Hub metadata, the recommended
labels template, NOTES.txt and the README.

All of it is derived from the component, `data/project.yaml`, `data/versions.yaml` and
`data/chart-versions.yaml`, so Chart.yaml, Artifact Hub and the README cannot disagree.
Helm fills `.Release`/`.Chart` facts at install time through two deliberate templates
written here (`_helpers.tpl` and `NOTES.txt`); user-supplied text in them is escaped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from mlstack.lib import model, slots
from mlstack.lib.component import Component
from mlstack.lib.releases import ChartReleases
from mlstack.project import Project

PART_OF = "mlstack"
LABELS_TEMPLATE = "mlstack.labels"
#: The labels Kubernetes recommends (app.kubernetes.io/*) plus Helm's chart label; the
#: chart writer includes them in every object it synthesizes.
_CHART_LABEL = (
    '{{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 '
    '| trimSuffix "-" | quote }}'
)
HELPERS = f"""{{{{- define "{LABELS_TEMPLATE}" -}}}}
helm.sh/chart: {_CHART_LABEL}
app.kubernetes.io/name: {{{{ .Chart.Name | quote }}}}
app.kubernetes.io/instance: {{{{ .Release.Name | quote }}}}
app.kubernetes.io/version: {{{{ .Chart.AppVersion | quote }}}}
app.kubernetes.io/managed-by: {{{{ .Release.Service | quote }}}}
app.kubernetes.io/part-of: {PART_OF}
{{{{- end }}}}
"""
#: Label keys the template owns; an object setting one itself would duplicate the key.
LABEL_KEYS = frozenset(re.findall(r"^([a-z0-9./-]+):", HELPERS.split("\n", 1)[1], re.M))
#: An `image:` line: a literal reference, or a slot whose default is the reference.
_IMAGE = re.compile(
    r"^\s*-?\s*image:\s*"
    r"(?:\{\{ toJson \.Values\.([A-Za-z0-9_.]+) \}\}|['\"]?([^'\"\s{}]+)['\"]?)\s*$",
    re.MULTILINE,
)
NS = "{{ .Release.Namespace }}"
REL = "{{ .Release.Name }}"
CHART = "{{ .Chart.Name }} {{ .Chart.Version }}"


def images(files: Mapping[str, str], defaults: Mapping[str, Any]) -> list[str]:
    """Every image the chart's own templates run with default values, sorted."""
    found = set()
    for name, text in files.items():
        if not name.startswith("templates/"):
            continue
        for path, literal in _IMAGE.findall(text):
            value: Any = defaults
            for part in path.split(".") if path else ():
                value = value.get(part) if isinstance(value, Mapping) else None
            ref = literal or value
            if isinstance(ref, str) and ref:
                found.add(ref)
    return sorted(found)


def artifacthub(
    project: Project, releases: ChartReleases, files: Mapping[str, str], defaults: Mapping[str, Any]
) -> dict[str, str]:
    """Artifact Hub annotations: this version's changes, the licence, the images used."""
    current = releases.releases[0]
    kind = "added" if len(releases.releases) == 1 else "changed"
    changes = [{"kind": kind, "description": change} for change in current.changes]
    notes = {
        "artifacthub.io/changes": _block(changes),
        "artifacthub.io/license": project.license,
    }
    used = images(files, defaults)
    if used:
        notes["artifacthub.io/images"] = _block(
            [{"name": image.rsplit("/", 1)[-1].split(":")[0], "image": image} for image in used]
        )
    return notes


def _block(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=1_000_000)


def _object_lines(objects: Sequence[tuple[str, str, str, str | None]]) -> list[str]:
    """One `kubectl get` line per object, with when it is rendered; InferenceServices also
    say how to read their URL (that is how a model is reached)."""
    lines = []
    for api, kind, name, condition in objects:
        group = api.split("/")[0] if "/" in api else ""
        resource = f"{kind.lower()}.{group}" if group else kind.lower()
        when = ""
        if not name:  # a catalogue list (lib/catalogue.py): `condition` is its values key
            when = f"  (one per enabled entry of {condition})"
        elif condition:
            state = "false" if condition.startswith("!") else "true"
            when = slots.escape_braces(f"  (when {condition.lstrip('!')} is {state})")
        lines.append(f"  kubectl get {' '.join(filter(None, (resource, name)))} -n {NS}{when}")
        if kind == "InferenceService" and name:
            url = slots.escape_braces("-o jsonpath='{.status.url}'")
            lines.append(f"    URL: kubectl get {resource} {name} -n {NS} {url}")
    return lines


def notes(
    component: Component,
    dependencies: Sequence[Mapping[str, Any]],
    objects: Sequence[tuple[str, str, str, str | None]],
    next_up: Sequence[Component],
    project: Project,
    tested: bool = False,
) -> str:
    """templates/NOTES.txt: what was installed, how to reach it, the next command."""
    text = slots.escape_braces
    out = [
        f"{{{{/* Generated by mlstack from {component.source}. DO NOT EDIT. */}}}}",
        f"{REL} (chart {CHART}) is installed in namespace {NS}.",
        text(component.description),
        "",
    ]
    if dependencies:
        out.append("Upstream charts it installs:")
        out += [
            f"  {d['alias']}: {d['name']} {d['version']} ({text(d['repository'])})"
            for d in dependencies
        ]
    if objects:
        out.append("Its objects (check them with):")
        out += _object_lines(objects)
    out += [
        "",
        "All objects of this release:",
        f"  kubectl get all -n {NS} -l app.kubernetes.io/instance={REL}",
        "",
        "Next:",
    ]
    for after in next_up:
        out.append(
            f"  helm upgrade --install {after.id} {project.chart_ref(after.id)} "
            f"--namespace {after.namespace} --create-namespace  # needs this release"
        )
    if not next_up:
        out.append("  make smoke ENV=<env>   # send a request to every enabled sample model")
    if tested:
        out.append(
            "  helm test {{ .Release.Name }} -n {{ .Release.Namespace }}  # in-cluster checks"
        )
    return "\n".join(out) + "\n"


def readme(
    component: Component,
    meta: Mapping[str, Any],
    project: Project,
    header: str,
    defaults: dict[str, Any] | None = None,
) -> str:
    """README in helm-docs' shape (key, type, default, description) with the install command;
    `defaults`: the chart's values.yaml data when it differs from the model's."""
    deps = meta.get("dependencies", [])
    dep_lines = "".join(
        f"| `{d['alias']}` | {d['name']} | {d['version']} | {d['repository']} |\n" for d in deps
    )
    upstream = (
        "## Upstream charts\n\n| Alias | Chart | Version | Repository |\n|---|---|---|---|\n"
        f"{dep_lines}\nRun `make deps` (needs network) to fetch them into `charts/`.\n\n"
        if deps
        else ""
    )
    needs = ", ".join(f"`{n}`" for n in component.needs)
    install = (
        "## Installing\n\n"
        + (f"Install {needs} first (this chart's objects need it).\n\n" if needs else "")
        + "```console\n"
        f"helm install {component.id} {project.chart_ref(component.id)} \\\n"
        f"  --version {meta['version']} \\\n"
        f"  --namespace {component.namespace} --create-namespace -f my-values.yaml\n"
        "```\n\n"
        f"From a checkout, `make install-platform ENV=<env>` installs every release in order.\n\n"
    )
    return (
        header + f"# {component.id}\n\n"
        f"{component.description}\n\n**Homepage:** <{project.home}>\n\n"
        f"- Kind: {component.kind}\n- Namespace: `{component.namespace}`\n"
        f"- Kubernetes: `{meta['kubeVersion']}`\n"
        f"- Installed after: {', '.join(component.follows) or 'nothing'}\n\n"
        f"{install}{upstream}## Values\n\n{model.parameter_table(component.values, defaults)}"
    )
