"""`make install-platform ENV=…`: run the plan against the current kube context.

Per release: fetch the upstream chart if needed, skip `helm upgrade --install` when the
release is already deployed with the same chart version and values (a second run changes
nothing), then wait on the readiness gates derived from the release's manifest before the
next release starts. A failure rolls back what this run changed in that release only,
and stops with one line naming the release, the gate and the last event seen.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from mlstack import render
from mlstack.errors import UserError
from mlstack.lib import helm
from mlstack.lifecycle import autodomain, plan, readiness
from mlstack.lifecycle.kube import Kube
from mlstack.lifecycle.shell import Runner, display
from mlstack.resolve import Resolved

POLL_SECONDS = 2.0
#: Repeat an unchanged "waiting for" line this often so a long wait never looks hung.
REPEAT_SECONDS = 30.0


class Installer:
    def __init__(self, kube: Kube, timeout: str) -> None:
        self.kube = kube
        self.timeout = timeout
        self.runner = Runner(env={"MLSTACK_PYTHON": sys.executable})

    def helm(self, cmd: Sequence[str], *, echo: bool = False, check: bool = True) -> Any:
        real = [helm.binary(), *cmd[1:]] if cmd[0] == "helm" else list(cmd)
        if echo:
            print(f"  $ {display(cmd)}")
        return self.runner.query(real, check=check)

    def manifest(self, step: plan.Step) -> list[readiness.Obj]:
        out = self.helm(["helm", "get", "manifest", step.release, "-n", step.namespace]).stdout
        return [d for d in yaml.safe_load_all(out) if isinstance(d, dict)]

    def has_conditions_in(self, objects: list[readiness.Obj]) -> Any:
        own = {
            (o["spec"]["group"], o["spec"]["names"]["kind"]): o
            for o in objects
            if o.get("kind") == "CustomResourceDefinition"
        }

        def has_conditions(api_version: str, kind: str) -> bool:
            group, version = api_version.rsplit("/", 1)
            crd = own.get((group, kind)) or self.kube.crd(api_version, kind)
            return crd is not None and readiness.declares_conditions(crd, version)

        return has_conditions

    def wait(self, prefix: str, gates: list[readiness.Gate], started: float) -> None:
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
                elapsed = time.monotonic() - started
                if verdict.done:
                    print(f"{prefix}: ok {gate.describe()} ({elapsed:.0f}s)")
                    break
                if verdict.detail != shown or time.monotonic() - shown_at > REPEAT_SECONDS:
                    state = f"{verdict.detail} ({elapsed:.0f}s)"
                    print(f"{prefix}: waiting for {gate.describe()}: {state}")
                    shown, shown_at = verdict.detail, time.monotonic()
                if time.monotonic() > deadline:
                    raise _GateTimeout(
                        f"{gate.describe()} not reached in {self.timeout} ({verdict.detail})"
                    )
                time.sleep(POLL_SECONDS)

    def install(self, i: int, n: int, step: plan.Step) -> None:
        prefix = f"[{i}/{n}] {step.release}"
        started = time.monotonic()
        build = step.dependency_build()
        if build and render.missing_dependencies(step.component, step.chart.parent):
            print(f"{prefix}: fetching the upstream chart")
            self.helm(build, echo=True)
        listing = json.loads(
            self.helm(
                [
                    "helm",
                    "list",
                    "-n",
                    step.namespace,
                    "-o",
                    "json",
                    "--filter",
                    f"^{step.release}$",
                ]
            ).stdout
            or "[]"
        )
        values = None
        if listing:
            out = self.helm(
                ["helm", "get", "values", step.release, "-n", step.namespace, "-o", "json"]
            ).stdout
            values = json.loads(out or "null")
        changed = not plan.up_to_date(listing, values, step)
        if changed:
            print(f"{prefix}: installing chart {step.chart_version} into {step.namespace}")
            proc = self.helm(step.upgrade(self.timeout), echo=True, check=False)
            if proc.returncode != 0:
                reason = (proc.stderr.strip() or "helm failed").splitlines()[-1]
                self.fail(step, reason, changed)
        else:
            print(f"{prefix}: up to date (chart {step.chart_version}, same values); checking gates")
        objects = self.manifest(step)
        gates = readiness.gates(objects, step.namespace, self.has_conditions_in(objects))
        print(
            f"{prefix}: {len(gates)} gate(s)"
            + (f": {', '.join(g.describe() for g in gates)}" if gates else "")
        )
        try:
            self.wait(prefix, gates, started)
        except _GateTimeout as err:
            self.fail(step, str(err), changed)
        print(f"{prefix}: ready in {time.monotonic() - started:.0f}s")

    def fail(self, step: plan.Step, reason: str, changed: bool) -> None:
        event = plan.last_event(self.kube.events(step.namespace)) or "none"
        undo = "nothing to roll back (this run did not change it)"
        if changed:
            history = json.loads(
                self.helm(
                    ["helm", "history", step.release, "-n", step.namespace, "-o", "json"],
                    check=False,
                ).stdout
                or "[]"
            )
            cmd = plan.rollback(history, step) if history else None
            if cmd:
                self.helm(cmd, echo=True, check=False)
                undo = f"rolled back (`{display(cmd)}`)"
        raise UserError(
            f"release {step.release} failed: {reason}; {undo}; last event in {step.namespace}: "
            f"{event}; earlier releases stay installed: fix it and re-run with FROM={step.release}"
        )


class _GateTimeout(Exception):
    pass


def main(
    resolved: Resolved,
    *,
    dry_run: bool = False,
    start: str | None = None,
    timeout: str = plan.DEFAULT_TIMEOUT,
    charts_dir: Path = render.CHARTS_DIR,
) -> int:
    env = resolved.env
    plan.seconds(timeout)
    the_plan = plan.build(resolved, start, charts_dir)
    plan.check(the_plan)
    if dry_run:
        print("\n".join(plan.describe(the_plan, timeout)))
        return 0
    helm.binary()
    kube = Kube()
    began = time.monotonic()
    first, n = len(the_plan.skipped) + 1, len(the_plan.skipped) + len(the_plan.steps)
    print(f"install-platform {env.name}: {n} release(s) into kube context {kube.context}")
    if the_plan.skipped:
        print(f"resuming at {the_plan.steps[0].release}: skipping {', '.join(the_plan.skipped)}")
    installer = Installer(kube, timeout)
    pending = autodomain.targets(resolved)  # read the address once, before the first user
    for i, step in enumerate(the_plan.steps, first):
        if step.release in pending:
            _auto_domain(resolved, kube, timeout)
            pending = {}
        installer.install(i, n, step)
    took = time.monotonic() - began
    print(f"install-platform {env.name}: done in {took:.0f}s; next: make smoke ENV={env.name}")
    return 0


def _auto_domain(resolved: Resolved, kube: Kube, timeout: str) -> None:
    """`domain: auto`: the gateway's load-balancer IP -> <ip>.sslip.io overlays."""

    def service(namespace: str, name: str) -> Any:
        return kube.get(readiness.Ref("v1", "Service", name, namespace))

    ip = autodomain.wait_for_address(service, resolved, plan.seconds(timeout), time.sleep)
    print(f"domain auto: {autodomain.apply(resolved, ip)} (gateway address {ip})")
