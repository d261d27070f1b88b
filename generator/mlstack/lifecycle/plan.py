"""The install plan: which releases, in which order, with which exact helm commands.

Pure: built from the resolved environment (mlstack.resolve: its releases in order and each
release's values files, layered in the one place layering is decided), so `--dry-run` and
the tests see exactly what a live install runs. Also the pure decisions around each
release: is it already up to date (so a second run changes nothing), what to roll back to,
which event to report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlstack import REPO_ROOT, resolve
from mlstack.errors import UserError
from mlstack.lib import validate
from mlstack.lib.component import Component
from mlstack.lifecycle import autodomain
from mlstack.resolve import Resolved

#: Helm post-renderer that marks every CRD `helm.sh/resource-policy: keep`, so uninstalling
#: a release never deletes CRDs (and with them every custom resource in the cluster).
KEEP_CRDS = REPO_ROOT / "scripts" / "helm-keep-crds"
DEFAULT_TIMEOUT = "10m"


@dataclass(frozen=True)
class Step:
    component: Component
    chart: Path
    files: tuple[Path, ...]

    @property
    def release(self) -> str:
        return self.component.id

    @property
    def namespace(self) -> str:
        return self.component.namespace

    @property
    def chart_version(self) -> str:
        meta = yaml.safe_load((self.chart / "Chart.yaml").read_text())
        return str(meta["version"])

    def dependency_build(self) -> list[str] | None:
        """Wrapper charts fetch their pinned upstream chart (from Chart.lock) first."""
        return (
            ["helm", "dependency", "build", str(self.chart)]
            if self.component.dependencies
            else None
        )

    def upgrade(self, timeout: str = DEFAULT_TIMEOUT) -> list[str]:
        args = ["helm", "upgrade", "--install", self.release, str(self.chart)]
        args += ["--namespace", self.namespace, "--create-namespace"]
        for path in self.files:
            args += ["--values", str(path)]
        args += ["--post-renderer", str(KEEP_CRDS)]
        return [*args, "--wait", "--timeout", timeout]

    def desired_values(self) -> dict[str, Any]:
        """What `helm get values` reports after this step: the files merged, no defaults."""
        merged: dict[str, Any] = {}
        for path in self.files:
            merged = validate.deep_merge(merged, resolve.load_values(path))
        return merged


@dataclass(frozen=True)
class Plan:
    resolved: Resolved
    steps: tuple[Step, ...]
    skipped: tuple[str, ...] = ()  # releases before FROM

    @property
    def env(self) -> Any:
        return self.resolved.env


def build(
    resolved: Resolved, start: str | None = None, charts_dir: Path = resolve.CHARTS_DIR
) -> Plan:
    ids = resolved.ids
    index = 0
    if start:
        if start not in ids:
            known = ", ".join(ids) or "none"
            raise UserError(f"FROM={start} is not a release of {resolved.name}: use one of {known}")
        index = ids.index(start)
    # `domain: auto`: the installer writes these overlays before their release runs.
    domain = autodomain.targets(resolved)
    steps = tuple(
        Step(
            r.component,
            charts_dir / r.id,
            tuple(dict.fromkeys([*r.files, *([domain[r.id]] if r.id in domain else [])])),
        )
        for r in resolved.releases[index:]
    )
    return Plan(resolved, steps, tuple(ids[:index]))


def check(plan: Plan) -> None:
    """The derived values helm will read are current, before anything touches the cluster
    (the values themselves were checked when the environment was resolved)."""
    resolved = plan.resolved
    resolve.resolve(resolved.name, resolved.values_dir).check_generated()


def up_to_date(listing: list[dict[str, Any]], values: dict[str, Any] | None, step: Step) -> bool:
    """Release already deployed with this chart version and these values (`helm list -o json`,
    `helm get values -o json`): then the install step is skipped and only its gates run."""
    for rel in listing:
        if rel.get("name") == step.release:
            return bool(
                rel.get("status") == "deployed"
                and rel.get("chart") == f"{step.release}-{step.chart_version}"
                and (values or {}) == step.desired_values()
            )
    return False


def rollback(history: list[dict[str, Any]], step: Step) -> list[str]:
    """Undo this run's change: back to the newest good earlier revision, or uninstall
    when the release has none (it was first installed by this run)."""
    ordered = sorted(history, key=lambda r: int(r["revision"]))
    good = [r for r in ordered[:-1] if r.get("status") in ("deployed", "superseded")]
    if not good:
        return ["helm", "uninstall", step.release, "--namespace", step.namespace, "--wait"]
    revision = str(good[-1]["revision"])
    return ["helm", "rollback", step.release, revision, "--namespace", step.namespace, "--wait"]


def _when(event: dict[str, Any]) -> str:
    meta = event.get("metadata") or {}
    return str(
        event.get("lastTimestamp")
        or event.get("eventTime")
        or event.get("firstTimestamp")
        or meta.get("creationTimestamp")
        or ""
    )


def last_event(events: list[dict[str, Any]]) -> str:
    """The newest Warning event (else the newest event) as one line; '' when none."""
    if not events:
        return ""
    warnings = [e for e in events if e.get("type") == "Warning"]
    event = max(warnings or events, key=_when)
    obj = event.get("involvedObject") or event.get("regarding") or {}
    message = " ".join(str(event.get("message") or event.get("note") or "").split())
    what = f"{obj.get('kind', '?')}/{obj.get('name', '?')}"
    return f"{event.get('type', '')} {event.get('reason', '')} {what}: {message}".strip()


_DOC_SPLIT = re.compile(r"^---[ \t]*$", re.MULTILINE)


def keep_crds(manifest: str) -> str:
    """Helm post-renderer: add `helm.sh/resource-policy: keep` to every CRD.

    Helm decides what `uninstall` deletes from the stored (post-rendered) manifest, so the
    annotation must be there at install time; other documents pass through untouched.
    """
    out = []
    for doc in _DOC_SPLIT.split(manifest):
        data = yaml.safe_load(doc) if doc.strip() else None
        if isinstance(data, dict) and data.get("kind") == "CustomResourceDefinition":
            annotations = data.setdefault("metadata", {}).setdefault("annotations", {}) or {}
            annotations["helm.sh/resource-policy"] = "keep"
            data["metadata"]["annotations"] = annotations
            doc = "\n" + yaml.safe_dump(data, sort_keys=False)
        out.append(doc)
    return "---".join(out)


def describe(plan: Plan, timeout: str = DEFAULT_TIMEOUT) -> list[str]:
    """The plan as printed by `--dry-run`: every release and its exact commands."""
    from mlstack.lifecycle.shell import display

    first, n = len(plan.skipped) + 1, len(plan.skipped) + len(plan.steps)
    lines = [f"install-platform {plan.env.name}: {n} release(s), Kubernetes {plan.env.kubernetes}"]
    lines += autodomain.describe(plan.resolved)
    if plan.skipped:
        lines.append(f"resuming: skipping {', '.join(plan.skipped)} (already installed)")
    for i, step in enumerate(plan.steps, first):
        needs = f" (after {', '.join(step.component.needs)})" if step.component.needs else ""
        lines.append(f"[{i}/{n}] {step.release} -> namespace {step.namespace}{needs}")
        build = step.dependency_build()
        if build:
            lines.append(f"  $ {display(build)}  # when its upstream chart is not downloaded")
        lines.append(f"  $ {display(step.upgrade(timeout))}")
        lines.append("  then wait: gates from its manifest (CRDs Established, Deployments "
                     "available, webhook endpoints ready, custom resources Ready)")  # fmt: skip
    if not plan.steps:
        lines.append("nothing to install: the environment enables no releases")
    return lines


def seconds(timeout: str) -> int:
    """A Helm-style duration ('90s', '10m', '1h') in seconds."""
    match = re.fullmatch(r"(\d+)([smh])", timeout.strip())
    if not match:
        raise UserError(f"TIMEOUT={timeout} is not a duration: use e.g. 300s, 10m or 1h")
    return int(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2)]
