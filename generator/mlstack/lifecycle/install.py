"""`make install-platform ENV=…`: run the plan against the current kube context.

First, before touching anything: the kube context must look like the env's cluster
(unless FORCE=1) and the server's Kubernetes minor must be in the env's window, because a
half-installed platform is worse than none (Helm refuses knative-operator on 1.33 only
after metallb, Istio and cert-manager went in).

Then releases install along the `needs` graph: every release whose needs are ready starts
at once, up to `parallel` at a time, so metallb, istio-base, cert-manager,
knative-operator and kserve-crd do not wait for each other. Per release: fetch the
upstream chart if needed, skip `helm upgrade --install` when the release is already
deployed with the same chart version and values (a second run changes nothing), then
wait on the readiness gates Helm cannot judge, read from the release's manifest. Output
is one `[release]` line per event and a per-release summary at the end. A failure starts
nothing new, lets running releases finish, rolls back only a release this run changed,
and names it with its gate and the last event seen; `FROM=<release>` resumes.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlstack import CHARTS_DIR, REPO_ROOT, environments, registry, render, versions
from mlstack.errors import UserError
from mlstack.lib import helm, schemas
from mlstack.lifecycle import autodomain, plan, readiness, secrets
from mlstack.lifecycle.kube import Kube
from mlstack.lifecycle.shell import Runner, display
from mlstack.resolve import Resolved

POLL_SECONDS = 1.0
#: Repeat an unchanged "waiting for" line this often so a long wait never looks hung.
REPEAT_SECONDS = 30.0


@dataclass
class Outcome:
    """How one release of this run ended, for the summary."""

    state: str  # installed | up to date | failed | not started
    seconds: float = 0.0
    detail: str = ""


class ReleaseFailed(Exception):
    """A release failed; the message is the one line the user sees."""


class Installer:
    """Installs single releases; `run` schedules them along the needs graph.

    `kube` is anything with the Kube read methods (get, crd, endpoint_slices, events);
    `poll` and `repeat` are seconds (the install benchmark shortens them with its clock).
    """

    def __init__(
        self,
        kube: Any,
        timeout: str,
        *,
        helm_binary: str = "helm",
        poll: float = POLL_SECONDS,
        repeat: float = REPEAT_SECONDS,
        say: Callable[[str], None] = print,
    ) -> None:
        self.kube = kube
        self.timeout = timeout
        self.helm_binary = helm_binary
        found = helm.version(helm_binary)
        self.helm_major = found[0] if found else 4
        self.poll, self.repeat = poll, repeat
        self.runner = Runner()
        self.began = time.monotonic()
        self._say, self._lock = say, threading.Lock()
        self.stopping = threading.Event()
        self._before: tuple[frozenset[str], Callable[[], str]] = (frozenset(), str)
        self._before_lock = threading.Lock()
        self._before_result: str | Exception | None = None

    def before_first(self, releases: set[str], action: Callable[[], str]) -> None:
        """Run `action` once, in the thread of the first of `releases` to start, before its
        helm upgrade; every other one of them waits for it (and fails with it). The
        `domain: auto` address: releases carrying the domain need it, the rest go on."""
        self._before = (frozenset(releases), action)

    def _run_before(self, release: str) -> None:
        releases, action = self._before
        if release not in releases:
            return
        with self._before_lock:
            if self._before_result is None:
                try:
                    self._before_result = action()
                    self.event(release, self._before_result)
                except Exception as err:  # remembered: the next waiter fails alike
                    self._before_result = err
        if isinstance(self._before_result, Exception):
            raise self._before_result

    def event(self, release: str, message: str) -> None:
        """One prefixed line per event; the lock keeps parallel lines whole."""
        with self._lock:
            self._say(f"{time.monotonic() - self.began:6.1f}s [{release}] {message}")

    def helm(self, cmd: Sequence[str], *, check: bool = True) -> Any:
        return self.runner.query([self.helm_binary, *cmd[1:]], check=check)

    def manifest(self, step: plan.Step) -> list[readiness.Obj]:
        out = self.helm(["helm", "get", "manifest", step.release, "-n", step.namespace]).stdout
        # libyaml when present: Istio's CRDs alone are megabytes of YAML
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        return [d for d in yaml.load_all(out, Loader=loader) if isinstance(d, dict)]

    def gate_rules(self, objects: list[readiness.Obj]) -> Any:
        """(condition_of, is_cluster_scoped) for `readiness.gates`: conditions from the
        component table's evidence, the scope from the release's own or the live CRD."""
        own = {
            (o["spec"]["group"], o["spec"]["names"]["kind"]): o
            for o in objects
            if o.get("kind") == "CustomResourceDefinition"
        }

        def crd(api_version: str, kind: str) -> readiness.Obj | None:
            group = api_version.rsplit("/", 1)[0]
            return own.get((group, kind)) or self.kube.crd(api_version, kind)

        def is_cluster_scoped(api_version: str, kind: str) -> bool:
            return readiness.cluster_scoped(crd(api_version, kind))

        return readiness.known_conditions(registry.conditions()), is_cluster_scoped

    def wait(self, release: str, gates: list[readiness.Gate], started: float) -> None:
        """Wait for every gate in order; raise (with the gate and its state) on timeout."""
        deadline = time.monotonic() + plan.seconds(self.timeout)
        for gate in gates:
            shown, shown_at = "", 0.0
            while True:
                obj = self.kube.get(gate.ref)
                slices = (
                    self.kube.endpoint_slices(gate.ref.namespace or "", gate.ref.name)
                    if gate.what == "endpoints"
                    else []
                )
                verdict = readiness.evaluate(gate, obj, slices)
                if verdict.done:
                    break
                if verdict.detail != shown or time.monotonic() - shown_at > self.repeat:
                    self.event(release, f"waiting for {gate.describe()}: {verdict.detail}")
                    shown, shown_at = verdict.detail, time.monotonic()
                if time.monotonic() > deadline:
                    raise _GateTimeout(
                        f"{gate.describe()} not reached in {self.timeout} ({verdict.detail})"
                    )
                time.sleep(self.poll)

    def changed(self, step: plan.Step) -> bool:
        """Whether this release needs `helm upgrade` (not deployed with these values)."""
        query = ["helm", "list", "-n", step.namespace, "-o", "json", "--filter"]
        listing = json.loads(self.helm([*query, f"^{step.release}$"]).stdout or "[]")
        values = None
        if listing:
            out = self.helm(
                ["helm", "get", "values", step.release, "-n", step.namespace, "-o", "json"]
            ).stdout
            values = json.loads(out or "null")
        return not plan.up_to_date(listing, values, step)

    def install(self, step: plan.Step) -> Outcome:
        """Install one release and wait for its gates; ReleaseFailed names what broke."""
        started = time.monotonic()
        build = step.dependency_build()
        if build and render.missing_dependencies(step.component, step.chart.parent):
            self.event(step.release, "fetching the upstream chart")
            self.helm(build)
        self._run_before(step.release)
        changed = self.changed(step)
        if changed:
            self.event(step.release, f"installing chart {step.chart_version} into {step.namespace}")
            proc = self.helm(step.upgrade(self.timeout, self.helm_major), check=False)
            if proc.returncode != 0:
                reason = (proc.stderr.strip() or "helm failed").splitlines()[-1]
                self.fail(step, reason, "helm rolled it back (--rollback-on-failure)")
        else:
            self.event(step.release, f"up to date (chart {step.chart_version}); checking gates")
        objects = self.manifest(step)
        gates = plan.beyond_helm(
            readiness.gates(objects, step.namespace, *self.gate_rules(objects))
        )
        try:
            self.wait(step.release, gates, started)
        except _GateTimeout as err:
            self.fail(step, str(err), None if changed else "this run did not change it")
        took = time.monotonic() - started
        self.event(step.release, f"ready ({len(gates)} gate(s))")
        return Outcome("installed" if changed else "up to date", took)

    def fail(self, step: plan.Step, reason: str, undo: str | None) -> None:
        """Raise ReleaseFailed. `undo` says why there is nothing left to undo (helm rolled
        back itself, or this run did not change the release); None: roll back here."""
        event = plan.last_event(self.kube.events(step.namespace)) or "none"
        if undo is None:
            undo = "nothing to roll back"
            out = self.helm(
                ["helm", "history", step.release, "-n", step.namespace, "-o", "json"], check=False
            ).stdout
            history = json.loads(out or "[]")
            cmd = plan.rollback(history, step) if history else None
            if cmd:
                self.helm(cmd, check=False)
                undo = f"rolled back (`{display(cmd)}`)"
        raise ReleaseFailed(
            f"release {step.release} failed: {reason}; {undo}; "
            f"last event in {step.namespace}: {event}"
        )

    def run(self, steps: Sequence[plan.Step], parallel: int) -> dict[str, Outcome]:
        """Install `steps` along their needs, at most `parallel` at once. Returns every
        release's outcome; after a failure no new release starts."""
        outcomes = {s.release: Outcome("not started") for s in steps}
        pending = list(steps)
        done: set[str] = set()
        mine = {s.release for s in steps}  # needs outside the plan (FROM=) are installed
        running: dict[Future[Outcome], plan.Step] = {}
        with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
            while pending or running:
                for step in list(pending):
                    if self.stopping.is_set() or len(running) >= parallel:
                        break
                    if all(n in done or n not in mine for n in step.needs):
                        pending.remove(step)
                        running[pool.submit(self.install, step)] = step
                if not running:
                    break
                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in finished:
                    step = running.pop(future)
                    try:
                        outcomes[step.release] = future.result()
                        done.add(step.release)
                    except Exception as err:  # any failure stops new starts, keeps the summary
                        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
                        if not isinstance(err, ReleaseFailed):
                            detail = f"release {step.release} failed: {detail}"
                        outcomes[step.release] = Outcome("failed", detail=detail)
                        self.event(step.release, f"FAILED: {detail}")
                        self.stopping.set()
        return outcomes


class _GateTimeout(Exception):
    pass


def summary(steps: Sequence[plan.Step], outcomes: dict[str, Outcome]) -> list[str]:
    """One line per release, in plan order: how it ended and how long it took."""
    width = max((len(s.release) for s in steps), default=0)
    lines = []
    for step in steps:
        out = outcomes[step.release]
        took = f"{out.seconds:5.0f}s" if out.state in ("installed", "up to date") else "     -"
        lines.append(f"  {step.release.ljust(width)}  {took}  {out.state}")
    return lines


def offline_gates(
    the_plan: plan.Plan, schema_dir: Path | None
) -> dict[str, list[readiness.Gate] | None]:
    """Gates of each release from `helm template` (None: its upstream chart is not here), so
    the dry run lists the kubectl waits a live install performs. Which custom resources get
    a condition wait comes from the component table's evidence (registry.conditions); which
    are cluster-scoped, from the rendered and (when present) the upstream CRDs."""
    manifests: dict[str, list[readiness.Obj] | None] = {}
    for step in the_plan.steps:
        if render.missing_dependencies(step.component, step.chart.parent):
            manifests[step.release] = None
            continue
        text = template(the_plan, step)
        manifests[step.release] = [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
    crds = [o for objs in manifests.values() for o in objs or [] if _is_crd(o)]
    if schema_dir is not None:
        for project in versions.load().projects.values():
            folder = schema_dir / "crds" / (project.crds or "")
            if project.crds and folder.is_dir():
                crds += schemas.crd_documents(folder)
    cluster_kinds = {
        (c["spec"]["group"], c["spec"]["names"]["kind"])
        for c in crds
        if readiness.cluster_scoped(c)
    }

    def is_cluster_scoped(api_version: str, kind: str) -> bool:
        return (readiness.group_of(api_version), kind) in cluster_kinds

    condition_of = readiness.known_conditions(registry.conditions())
    gates: dict[str, list[readiness.Gate] | None] = {}
    for step in the_plan.steps:
        objs = manifests[step.release]
        found = (
            None
            if objs is None
            else readiness.gates(objs, step.namespace, condition_of, is_cluster_scoped)
        )
        gates[step.release] = None if found is None else plan.beyond_helm(found)
    return gates


def _is_crd(obj: readiness.Obj) -> bool:
    return obj.get("kind") == "CustomResourceDefinition"


def template(the_plan: plan.Plan, step: plan.Step) -> str:
    """`helm template` of a step's release as resolved (without an overlay the install
    writes later: `domain: auto` renders with its placeholder here)."""
    release = the_plan.resolved.release(step.release)
    assert release is not None, step.release
    return render.template(release, the_plan.resolved, step.chart.parent)


def _optional_schema_dir() -> Path | None:
    try:
        return schemas.schema_dir()
    except UserError:
        return None


#: The word each cluster tool puts in the kube contexts it writes (minikube: none).
CONTEXT_MARKER = {"k3d": "k3d", "eks": "eks", "simulated": "sim"}


def check_cluster(resolved: Resolved, kube: Any, force: bool) -> str | None:
    """Refuse (UserError) a cluster outside the env's window or a context that does not look
    like the env's cluster; returns a one-line note when FORCE=1 overrode the latter. A
    `cluster: existing` env has no cluster of its own: the current context is the cluster
    (only its Kubernetes version is checked)."""
    from mlstack.lifecycle import cluster

    spec = cluster.load(resolved.env)
    problem = None
    if spec is not None:
        problem = plan.context_problem(kube.context, spec.name, CONTEXT_MARKER.get(spec.kind))
    if problem and not force:
        raise UserError(problem)
    version_problem = plan.server_problem(resolved, kube.server_version())
    if version_problem:
        raise UserError(version_problem)
    return f"FORCE=1: installing into context {kube.context}" if problem else None


def check_secrets(resolved: Resolved, kube: Any) -> None:
    """Refuse, before any release starts, while a Secret the releases read (or one of its
    keys) is missing: one line each. Otherwise the first sign is a pod that never starts
    and a `--wait` timeout minutes later."""

    def get_secret(namespace: str, name: str) -> Any:
        return kube.get(readiness.Ref("v1", "Secret", name, namespace))

    found = secrets.problems(resolved, get_secret)
    if found:
        raise UserError(
            "\n".join([*found, f"install-platform {resolved.name}: nothing was installed"])
        )


def main(
    resolved: Resolved,
    *,
    dry_run: bool = False,
    start: str | None = None,
    timeout: str = plan.DEFAULT_TIMEOUT,
    parallel: int = plan.DEFAULT_PARALLEL,
    force: bool = False,
    charts_dir: Path = CHARTS_DIR,
    out_dir: Path = REPO_ROOT / "build",
    kube: Any = None,
    poll: float = POLL_SECONDS,
) -> int:
    env = resolved.env
    plan.seconds(timeout)
    if parallel < 1:
        raise UserError(f"PARALLEL={parallel}: use 1 or more")
    the_plan = plan.build(resolved, start, charts_dir)
    plan.check(the_plan)
    if dry_run:
        gates = offline_gates(the_plan, _optional_schema_dir())
        print("\n".join(plan.describe(the_plan, timeout, gates, parallel)))
        script = out_dir / env.name / "install.sh"
        script.parent.mkdir(parents=True, exist_ok=True)
        tmp = script.with_name(".install.sh.tmp")
        tmp.write_text(plan.install_script(the_plan, timeout, gates))
        tmp.chmod(0o755)
        tmp.replace(script)
        print(f"plain helm + kubectl: {display([str(script)])} (the same, one release at a time)")
        return 0
    placeholders = environments.placeholders(env, resolved.values_dir)
    if placeholders:  # before the cluster is touched: a platform for a domain nobody owns
        raise UserError("\n".join(placeholders))
    binary = helm.binary()
    helm.warn_skew(env.kubernetes)
    kube = kube or Kube()
    note = check_cluster(resolved, kube, force)
    check_secrets(resolved, kube)
    installer = Installer(kube, timeout, helm_binary=binary, poll=poll)
    if note:
        print(note)
    n = len(the_plan.skipped) + len(the_plan.steps)
    print(
        f"install-platform {env.name}: {n} release(s) into kube context {kube.context}, "
        f"up to {parallel} at once"
    )
    if the_plan.skipped:
        print(f"resuming at {the_plan.steps[0].release}: skipping {', '.join(the_plan.skipped)}")
    installer.before_first(
        set(autodomain.targets(resolved)), lambda: _auto_domain(resolved, kube, timeout)
    )
    outcomes = installer.run(the_plan.steps, parallel)
    took = time.monotonic() - installer.began
    print("summary:")
    print("\n".join(summary(the_plan.steps, outcomes)))
    failed = [r for r, o in outcomes.items() if o.state == "failed"]
    if failed:
        first = next(s.release for s in the_plan.steps if outcomes[s.release].state == "failed")
        for release in failed:
            print(f"error: {outcomes[release].detail}", file=sys.stderr)
        raise UserError(
            f"install-platform {env.name} stopped after {took:.0f}s: releases that finished "
            f"stay installed; fix {', '.join(failed)} and re-run with FROM={first}"
        )
    print(f"install-platform {env.name}: done in {took:.0f}s; next: make smoke ENV={env.name}")
    return 0


def _auto_domain(resolved: Resolved, kube: Any, timeout: str, sleep: Any = time.sleep) -> str:
    """`domain: auto`: the gateway's load-balancer IP -> <ip>.sslip.io overlays; returns
    the line to report."""

    def service(namespace: str, name: str) -> Any:
        return kube.get(readiness.Ref("v1", "Service", name, namespace))

    ip = autodomain.wait_for_address(service, resolved, plan.seconds(timeout), sleep)
    return f"domain auto: {autodomain.apply(resolved, ip)} (gateway address {ip})"
