"""The real installer installs the whole ci platform on the simulated cluster (issue 20, 3).

One module-scoped run: the simulated cluster (real kube-apiserver with PodSecurity, KCM,
scheduler; KWOK nodes) starts in a temporary state directory, `mlstack deps` puts every
upstream chart in place, and `mlstack install --env ci` (real Helm from .tools/bin or
PATH, every release, its readiness gates) runs against it while tests/standin_controllers.py
stands in, explicitly and only for kinds with evidence, for the controllers that cannot run
here. Then the tests read what the cluster holds: releases deployed, every workload's pods
created by the controllers, admitted by Pod Security, scheduled and running; every custom
resource accepted; the pods controllers create at run time admitted (server-side dry-run);
a second install a no-op; an uninstall that leaves nothing; no process after delete.

Deselected by `make test`; `make test-controlplane` runs it (marker `controlplane`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlstack import REPO_ROOT, environments, registry, resolve, versions
from mlstack.lib import schemas
from mlstack.lifecycle import cluster, plan, readiness, simulated

sys.path.insert(0, str(Path(__file__).parent))
from standin_controllers import Standins

pytestmark = pytest.mark.controlplane

TOOLS_BIN = REPO_ROOT / ".tools" / "bin"
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job")
#: A deadline for the whole install on a loaded 2-core machine, never a speed assertion.
INSTALL_TIMEOUT = "15m"


@dataclass
class Installed:
    kubeconfig: Path
    env: dict[str, str]
    releases: list[tuple[str, str]]  # (release, namespace) in plan order
    install: subprocess.CompletedProcess[str]
    standins: Standins
    pids: dict[str, int]
    seconds: dict[str, float] = field(default_factory=dict)

    def run(self, *cmd: str, check: bool = True, stdin: str | None = None) -> Any:
        proc = subprocess.run(
            list(cmd), env=self.env, input=stdin, capture_output=True, text=True, check=False
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)}: {proc.stderr.strip()[-2000:]}")
        return proc

    def kubectl(self, *args: str, check: bool = True, stdin: str | None = None) -> Any:
        return self.run("kubectl", *args, check=check, stdin=stdin)

    def json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def helm(self, *args: str, check: bool = True) -> Any:
        return self.run("helm", *args, check=check)

    def mlstack(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run(sys.executable, "-m", "mlstack", *args, check=False)

    def manifest(self, release: str, namespace: str) -> list[dict[str, Any]]:
        text = self.helm("get", "manifest", release, "-n", namespace).stdout
        return [d for d in yaml.safe_load_all(text) if d]

    def history(self) -> dict[str, int]:
        return {
            r: len(json.loads(self.helm("history", r, "-n", ns, "-o", "json").stdout))
            for r, ns in self.releases
        }


def operator_installs() -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The CRDs the Knative operator applies from its embedded Knative Serving release when
    it reconciles a KnativeServing: the pinned version's upstream files."""
    folder = schemas.schema_dir() / "crds" / versions.load().projects["knative-serving"].crds
    return {("operator.knative.dev", "KnativeServing"): schemas.crd_documents(folder)}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    env_model = environments.load("ci")
    spec = cluster.load(env_model)
    assert spec is not None and spec.kind == "simulated"
    root = tmp_path_factory.mktemp("l3")
    layout = simulated.Layout(spec.name, root=root / "state")
    kubeconfig = root / "kubeconfig"
    proc_env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        # the pinned helm 4 and kubectl 1.35 `make setup` puts here win over the user's
        "PATH": f"{TOOLS_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(REPO_ROOT / "generator"),
    }
    the_plan = plan.build(resolve.resolve("ci"))
    releases = [(s.release, s.namespace) for s in the_plan.steps]
    seconds: dict[str, float] = {}
    standins: Standins | None = None
    pids: dict[str, int] = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KUBECONFIG", str(kubeconfig))
        mp.setenv("PATH", proc_env["PATH"])  # the driver calls kubectl and helm by name
        try:
            began = time.monotonic()
            deps = subprocess.run(
                [sys.executable, "-m", "mlstack", "deps"],
                env=proc_env, capture_output=True, text=True, check=False,
            )  # fmt: skip
            seconds["deps"] = time.monotonic() - began
            assert deps.returncode == 0, f"mlstack deps: {deps.stderr.strip()[-2000:]}"
            began = time.monotonic()
            assert cluster._simulated_create(env_model, spec, dry_run=False, layout=layout) == 0
            seconds["cluster"] = time.monotonic() - began
            pids = {p: int(layout.pid_file(p).read_text()) for p in ("control-plane", "kwok")}
            standins = Standins(kubeconfig, registry.conditions(), operator_installs())
            standins.start()
            began = time.monotonic()
            install = subprocess.run(
                [sys.executable, "-m", "mlstack", "install", "--env", "ci",
                 "--timeout", INSTALL_TIMEOUT, "--parallel", "4"],
                env=proc_env, capture_output=True, text=True, check=False,
            )  # fmt: skip
            seconds["install"] = time.monotonic() - began
            print(install.stdout, install.stderr, sep="\n")
            yield Installed(kubeconfig, proc_env, releases, install, standins, pids, seconds)
        finally:  # also when a step failed half-way: no process outlives the tests
            if standins is not None:
                standins.stop.set()
            cluster._simulated_delete(env_model, spec, dry_run=False, layout=layout)
            print(f"l3 timings: {', '.join(f'{k}={v:.0f}s' for k, v in seconds.items())}")
    left = [f"{name} ({pid})" for name, pid in pids.items() if simulated._exists(pid)]
    assert not left, f"processes left after delete: {', '.join(left)}"


def test_install_exits_0(installed: Installed) -> None:
    out = installed.install
    assert out.returncode == 0, f"install failed:\n{out.stdout[-4000:]}\n{out.stderr[-2000:]}"
    assert not installed.standins.errors, installed.standins.errors


def test_every_planned_release_deployed(installed: Installed) -> None:
    listed = json.loads(installed.helm("list", "-A", "-o", "json").stdout)
    status = {(r["name"], r["namespace"]): r["status"] for r in listed}
    missing = [f"{r} ({status.get((r, ns), 'absent')})" for r, ns in installed.releases
               if status.get((r, ns)) != "deployed"]  # fmt: skip
    assert not missing, f"releases not deployed: {', '.join(missing)}"


def _pods_of(installed: Installed, namespace: str, selector: dict[str, Any]) -> list[Any]:
    labels = ",".join(f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items())
    return list(installed.json("get", "pods", "-n", namespace, "-l", labels)["items"])


def test_every_workload_has_its_pods_scheduled_and_running(installed: Installed) -> None:
    """Created by the real controllers, admitted by Pod Security, placed by the scheduler
    on a KWOK node, Running (Succeeded for a Job)."""
    nodes = {n["metadata"]["name"] for n in installed.json("get", "nodes")["items"]}
    problems, running = [], 0
    for release, namespace in installed.releases:
        for obj in installed.manifest(release, namespace):
            if obj.get("kind") not in WORKLOADS:
                continue
            ns = obj["metadata"].get("namespace") or namespace
            name = f"{release}: {obj['kind']} {ns}/{obj['metadata']['name']}"
            pods = _pods_of(installed, ns, obj["spec"].get("selector") or {})
            if obj["kind"] == "Job":
                pods = [p for p in pods if p["metadata"].get("labels", {}).get("job-name")
                        == obj["metadata"]["name"]]  # fmt: skip
            want = "Succeeded" if obj["kind"] == "Job" else "Running"
            if not pods and (obj["spec"].get("replicas") != 0):
                problems.append(f"{name}: no pod created")
            for pod in pods:
                phase, node = pod["status"].get("phase"), pod["spec"].get("nodeName")
                if node not in nodes or phase != want:
                    problems.append(f"{name}: pod {pod['metadata']['name']} {phase} on {node}")
                else:
                    running += 1
    assert not problems, "\n".join(problems)
    assert running >= 8


def test_no_pod_refused_by_pod_security(installed: Installed) -> None:
    events = installed.json("get", "events", "-A", "--field-selector", "reason=FailedCreate")
    refused = [f"{e['involvedObject'].get('namespace')}/{e['involvedObject']['name']}: "
               f"{e.get('message', '')}" for e in events["items"]]  # fmt: skip
    assert not refused, "\n".join(refused)


def test_every_custom_resource_accepted(installed: Installed) -> None:
    missing, seen = [], 0
    for release, namespace in installed.releases:
        for obj in installed.manifest(release, namespace):
            if obj.get("kind") == "CustomResourceDefinition" or not readiness.is_custom(obj):
                continue
            seen += 1
            ref = readiness.ref_of(obj, None)
            group = readiness.group_of(ref.api_version)
            where = ["-n", ref.namespace or namespace]
            got = installed.kubectl(
                "get", f"{ref.kind.lower()}.{group}", ref.name, *where, check=False
            )
            if got.returncode != 0:
                missing.append(f"{release}: {ref}: {got.stderr.strip()}")
    assert not missing, "\n".join(missing)
    assert seen > 0


def test_standin_acted_only_for_kinds_with_evidence(installed: Installed) -> None:
    allowed = {f"{g}/{k}" for g, k in registry.conditions()} | {
        "v1/Service type LoadBalancer (MetalLB)",
        *(f"{g}/{k} (its controller's CRDs)" for g, k in operator_installs()),
    }
    print(f"stand-in acted for: {', '.join(sorted(installed.standins.acted))}")
    assert installed.standins.acted <= allowed
    assert installed.standins.acted  # the install waited on at least one stood-in gate


def test_helm_test_pods_admitted(installed: Installed) -> None:
    """`helm test` pods (hooks) of every release, created with server-side dry-run in the
    release's namespace: Pod Security admits them at that namespace's level."""
    submitted, refused = 0, []
    for release, namespace in installed.releases:
        hooks = installed.helm("get", "hooks", release, "-n", namespace).stdout
        for doc in (d for d in yaml.safe_load_all(hooks) if d):
            notes = doc.get("metadata", {}).get("annotations") or {}
            if doc.get("kind") != "Pod" or "test" not in notes.get("helm.sh/hook", ""):
                continue
            submitted += 1
            got = installed.kubectl(
                "create", "--dry-run=server", "-n", namespace, "-f", "-",
                check=False, stdin=json.dumps(doc),
            )  # fmt: skip
            if got.returncode != 0:
                refused.append(f"{release}: {doc['metadata']['name']}: {got.stderr.strip()}")
    assert not refused, "\n".join(refused)
    assert submitted > 0


def test_second_install_makes_no_new_revision(installed: Installed) -> None:
    before = installed.history()
    again = installed.mlstack("install", "--env", "ci", "--timeout", INSTALL_TIMEOUT)
    assert again.returncode == 0, f"{again.stdout[-3000:]}\n{again.stderr[-2000:]}"
    assert installed.history() == before


def test_uninstall_purge_leaves_nothing(installed: Installed) -> None:
    objects = {
        (release, namespace): installed.manifest(release, namespace)
        for release, namespace in installed.releases
    }
    out = installed.mlstack("uninstall", "--env", "ci", "--purge", "--timeout", INSTALL_TIMEOUT)
    assert out.returncode == 0, f"{out.stdout[-3000:]}\n{out.stderr[-2000:]}"
    listed = json.loads(installed.helm("list", "-A", "-o", "json").stdout)
    assert [r["name"] for r in listed] == []
    # Helm deletes and returns; a Namespace then finalizes (the namespace controller empties
    # it), so poll, bounded, until what is left is gone.
    deadline = time.monotonic() + 180
    while True:
        left = []
        for (release, namespace), objs in objects.items():
            for obj in objs:
                ref = readiness.ref_of(obj, None)
                group = readiness.group_of(ref.api_version)
                kind = f"{ref.kind.lower()}.{group}" if group else ref.kind.lower()
                where = ["-n", ref.namespace or namespace]
                got = installed.kubectl("get", kind, ref.name, *where, "--ignore-not-found",
                                        "-o", "json", check=False)  # fmt: skip
                notes = (obj.get("metadata") or {}).get("annotations") or {}
                if notes.get("helm.sh/resource-policy") == "keep":
                    continue  # kept by design (users' Secrets live in the namespaces)
                if got.stdout.strip():
                    phase = (json.loads(got.stdout).get("status") or {}).get("phase", "")
                    left.append(f"{release}: {ref} {phase}".rstrip())
        if not left or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert not left, "objects left after uninstall --purge:\n" + "\n".join(left)
