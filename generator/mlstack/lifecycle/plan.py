"""The install plan: which releases, which needs between them, which exact commands.

Pure: built from the resolved environment (mlstack.resolve: its releases in order and each
release's values files, layered in the one place layering is decided), so `--dry-run`, the
generated `build/<env>/install.sh` and the tests see exactly what a live install runs.
Every command is plain `helm` or `kubectl`: no project script or Python takes part in an
install, so a user without make (or a GitOps controller) installs the same thing. Also the
pure decisions around each release: is it already up to date (a second run changes
nothing), what to roll back to, which event to report, whether the cluster is the env's.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlstack import CHARTS_DIR, environments, resolve
from mlstack.errors import UserError
from mlstack.lib import validate
from mlstack.lib.component import Component
from mlstack.lifecycle import autodomain, readiness, secrets
from mlstack.resolve import Resolved

DEFAULT_TIMEOUT = "10m"
#: Releases installing at once: the laptop envs' API servers and image pulls saturate
#: beyond this, and no level of the dependency graph is wider.
DEFAULT_PARALLEL = 4


#: How `helm upgrade` waits and undoes a failure: Helm 4's flags, and Helm 3.17+'s.
HELM4_WAITS = ("--wait=watcher", "--rollback-on-failure")
HELM3_WAITS = ("--wait", "--atomic")


@dataclass(frozen=True)
class Step:
    component: Component
    chart: Path
    files: tuple[Path, ...]
    #: releases of this plan (or skipped by FROM=) that must be ready first.
    needs: tuple[str, ...] = ()

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

    def upgrade(self, timeout: str = DEFAULT_TIMEOUT, helm_major: int = 4) -> list[str]:
        """`helm upgrade --install`: Helm 4 waits with kstatus (`--wait=watcher`: workloads,
        CRDs Established, Jobs) and undoes a failed install or upgrade itself
        (`--rollback-on-failure`); Helm 3 spells those `--wait --atomic`."""
        args = ["helm", "upgrade", "--install", self.release, str(self.chart)]
        args += ["--namespace", self.namespace, "--create-namespace"]
        for path in self.files:
            args += ["--values", str(path)]
        if self.component.take_ownership:  # Helm >= 3.17 and 4 both have it
            args.append("--take-ownership")
        waits = HELM4_WAITS if helm_major >= 4 else HELM3_WAITS
        return [*args, *waits, "--timeout", timeout]

    def desired_values(self) -> dict[str, Any]:
        """What `helm get values` reports after this step: the files merged, no defaults
        (an overlay the installer has not written yet counts as empty)."""
        merged: dict[str, Any] = {}
        for path in (p for p in self.files if p.exists()):
            merged = validate.deep_merge(merged, resolve.load_values(path))
        return merged


#: Gates `helm --wait` judges itself (Helm 4's kstatus watcher and Helm 3's ready checker
#: both wait for CRDs Established and Deployments / DaemonSets / StatefulSets ready).
JUDGED_BY_HELM = frozenset({"established", "available", "rolled-out"})


def beyond_helm(gates: list[readiness.Gate]) -> list[readiness.Gate]:
    """The gates left after `helm upgrade --wait`: webhook Services with a ready endpoint
    and custom resources Ready (an operator reconciling after helm returned)."""
    return [g for g in gates if g.what not in JUDGED_BY_HELM]


def wait_command(gate: readiness.Gate, timeout: str) -> list[str]:
    """The `kubectl` equivalent of a gate beyond helm's wait, for the plain-helm path."""
    ref = gate.ref
    where = ["-n", ref.namespace] if ref.namespace else []
    limit = f"--timeout={timeout}"
    if gate.what == "endpoints":
        return ["kubectl", "wait", "--for=jsonpath={.endpoints[0].conditions.ready}=true",
                "endpointslice", "-l", f"kubernetes.io/service-name={ref.name}", *where,
                limit]  # fmt: skip
    if gate.what != "ready":
        raise ValueError(f"helm --wait judges {gate.describe()}: no kubectl wait needed")
    group = readiness.group_of(ref.api_version)
    return ["kubectl", "wait", f"--for=condition={gate.condition}",
            f"{ref.kind.lower()}.{group}/{ref.name}",
            *where, limit]  # fmt: skip


@dataclass(frozen=True)
class Plan:
    resolved: Resolved
    steps: tuple[Step, ...]
    skipped: tuple[str, ...] = ()  # releases before FROM

    @property
    def env(self) -> Any:
        return self.resolved.env


def build(resolved: Resolved, start: str | None = None, charts_dir: Path = CHARTS_DIR) -> Plan:
    """The env's releases from FROM= on, each with the needs that are releases of the env
    (a need the env does not enable is no edge)."""
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
            tuple(n for n in r.component.follows if n in ids),
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


def levels(steps: tuple[Step, ...]) -> dict[str, int]:
    """Depth of each release in the needs graph (0: needs nothing in the plan)."""
    depth: dict[str, int] = {}
    for step in steps:  # steps come in registry order, which respects every edge
        depth[step.release] = 1 + max((depth[n] for n in step.needs if n in depth), default=-1)
    return depth


def describe(
    plan: Plan,
    timeout: str = DEFAULT_TIMEOUT,
    gates: dict[str, list[readiness.Gate] | None] | None = None,
    parallel: int = DEFAULT_PARALLEL,
) -> list[str]:
    """The plan as printed by `--dry-run`: every release, what it waits for, its exact
    commands. `gates[release]` are its readiness gates as kubectl commands; None when its
    chart cannot be read here (an upstream chart not downloaded)."""
    from mlstack.lifecycle.shell import display

    first, n = len(plan.skipped) + 1, len(plan.skipped) + len(plan.steps)
    lines = [
        f"install-platform {plan.env.name}: {n} release(s), Kubernetes {plan.env.kubernetes} "
        f"(cluster must run {window(plan.resolved)}); up to {parallel} at once along the "
        "needs graph"
    ]
    lines += [
        f"warning: {p} (a real install refuses it)"
        for p in environments.placeholders(plan.env, plan.resolved.values_dir)
    ]
    lines += autodomain.describe(plan.resolved)
    lines += secrets.plan_lines(plan.resolved)
    if plan.skipped:
        lines.append(f"resuming: skipping {', '.join(plan.skipped)} (already installed)")
    depth = levels(plan.steps)
    for i, step in enumerate(plan.steps, first):
        needs = f"after {', '.join(step.needs)}" if step.needs else "needs nothing: starts at once"
        lines.append(
            f"[{i}/{n}] {step.release} -> namespace {step.namespace} "
            f"(level {depth[step.release]}; {needs})"
        )
        build = step.dependency_build()
        if build:
            lines.append(f"  $ {display(build)}  # when its upstream chart is not downloaded")
        lines.append(f"  $ {display(step.upgrade(timeout))}")
        found = (gates or {}).get(step.release, [])
        if found is None:
            lines.append("  # more waits come from its manifest once its chart is downloaded")
        for gate in found or []:
            lines.append(f"  $ {display(wait_command(gate, timeout))}")
    if not plan.steps:
        lines.append("nothing to install: the environment enables no releases")
    return lines


def install_script(plan: Plan, timeout: str, gates: dict[str, list[readiness.Gate] | None]) -> str:
    """`build/<env>/install.sh`: the plan as a shell script of helm and kubectl commands
    (run from the repository root), for users who do not run make."""
    from mlstack.lifecycle.shell import display

    out = [
        "#!/usr/bin/env bash",
        f"# Install the {plan.env.name} platform with helm and kubectl only (generated by",
        f"# `make install-platform ENV={plan.env.name} DRY_RUN=1`; run it from the repository"
        " root).",
        "# Releases run one after another in an order that respects every need; make runs",
        "# independent ones in parallel.",
        "set -euo pipefail",
        f"kubectl version  # the cluster must run Kubernetes {window(plan.resolved)}",
    ]
    out += helm_check_lines()
    out += secrets.shell_lines(plan.resolved)
    domain = autodomain.shell_lines(plan.resolved, seconds(timeout))
    for step in plan.steps:
        if domain and step.release in autodomain.targets(plan.resolved):
            out += domain
            domain = []
        after = f" (after {', '.join(step.needs)})" if step.needs else ""
        out.append(f"\n# {step.release}{after}")
        build = step.dependency_build()
        if build:
            out.append(
                f"[ -d {shlex.quote(display([str(step.chart / 'charts')]))} ] || {display(build)}"
            )
        out.append(display(step.upgrade(timeout)))
        found = gates.get(step.release, [])
        if found is None:
            out.append(
                f"# {step.release}: waits beyond helm's own come from its manifest: run"
                " `make install-platform DRY_RUN=1` after `make deps` to list them"
            )
        out += [display(wait_command(g, timeout)) for g in found or []]
    return "\n".join(out) + "\n"


def helm_check_lines() -> list[str]:
    """`install.sh` runs Helm 4's flags (`--wait=watcher`, `--rollback-on-failure`): check
    the helm on PATH first and say what is needed, rather than fail at the first release
    (make's installer adapts to Helm 3.17+ itself)."""
    flags = " ".join(HELM4_WAITS)
    return [
        "\n# Helm 4: the commands below use its flags (" + flags + ").",
        "helm_version=$(helm version --template '{{.Version}}' 2>/dev/null || true)",
        'case "$helm_version" in',
        "  v4.*) ;;",
        f'  *) echo "error: this script needs Helm 4.x (it uses {flags}); helm on PATH is '
        "${helm_version:-missing}: install Helm 4.1+ (https://helm.sh/docs/intro/install/), "
        'or run make install-platform, which also works with Helm 3.17+" >&2; exit 1 ;;',
        "esac",
    ]


SERVER_VERSION = re.compile(r"^v?1\.(\d+)")


def window(resolved: Resolved) -> str:
    """The Kubernetes minors the env's components all support, as `1.34-1.35`."""
    return f"{resolved.minors[0]}-{resolved.minors[-1]}"


def server_problem(resolved: Resolved, git_version: str) -> str | None:
    """One line when the cluster's Kubernetes version is outside the env's window."""
    match = SERVER_VERSION.match(git_version.strip())
    if not match:
        return f"cannot read the Kubernetes version of the cluster ({git_version!r})"
    if f"1.{match.group(1)}" in resolved.minors:
        return None
    return (
        f"the cluster runs Kubernetes {git_version.strip()}, outside {resolved.name}'s "
        f"supported {window(resolved)}: nothing was installed; use a cluster in that window "
        f"(make cluster ENV={resolved.name})"
    )


def context_problem(context: str, cluster_name: str, marker: str | None) -> str | None:
    """One line when the kube context does not look like the env's cluster: the context
    must name the cluster (k3d-mlstack, mlstack, arn:...:cluster/mlstack, me@mlstack.<region>
    .eksctl.io) and, where the tool writes one, the tool's marker (k3d, eks)."""
    tokens = set(re.split(r"[^a-z0-9]+", context.lower()))
    if cluster_name.lower() in tokens and (
        marker is None or any(t.startswith(marker) for t in tokens)
    ):
        return None
    return (
        f"kube context {context!r} does not look like the {cluster_name!r} cluster of this "
        "environment: switch context (kubectl config use-context ...) or set FORCE=1"
    )


def seconds(timeout: str) -> int:
    """A Helm-style duration ('90s', '10m', '1h') in seconds."""
    match = re.fullmatch(r"(\d+)([smh])", timeout.strip())
    if not match:
        raise UserError(f"TIMEOUT={timeout} is not a duration: use e.g. 300s, 10m or 1h")
    return int(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2)]
