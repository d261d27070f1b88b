"""The simulated cluster (`cluster: simulated`, values/ci) behaves like Kubernetes 1.35.

A real control plane, so these tests assert behaviour only a real API server has: the
server's version, Pod Security refusing a privileged pod, controllers creating and the
scheduler placing pods that KWOK then runs, EndpointSlices carrying pod IPs, a CRD's CEL
rule refusing a bad object, and no process left after `make delete`.

Deselected by `make test` (conftest.py: the `controlplane` marker runs only when asked
for); `make test-controlplane` runs them. The first run on a machine builds the binaries
(minutes); the cluster starts once for the module, in a temporary state directory with its
own kubeconfig, so it never touches a user's cluster or ~/.kube/config.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlstack import REPO_ROOT, environments
from mlstack.errors import UserError
from mlstack.lifecycle import cluster, simulated

pytestmark = pytest.mark.controlplane

#: Generous: a deadline for a condition to come true on a loaded 2-core machine, never an
#: assertion about how fast it did.
WAIT = 180
#: The kubectl `make setup` pins (1.35, the server's minor), else the one on PATH.
PINNED_KUBECTL = REPO_ROOT / ".tools" / "bin" / "kubectl"
KUBECTL = str(PINNED_KUBECTL) if PINNED_KUBECTL.is_file() else "kubectl"


@dataclass(frozen=True)
class Sim:
    layout: simulated.Layout
    kubeconfig: Path
    pids: dict[str, int]
    nodes: int

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> Any:
        proc = subprocess.run(
            [KUBECTL, f"--kubeconfig={self.kubeconfig}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {proc.stderr.strip()}")
        return proc

    def json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def apply(self, *objects: dict[str, Any], check: bool = True) -> Any:
        doc = {"apiVersion": "v1", "kind": "List", "items": list(objects)}
        return self.kubectl("apply", "-f", "-", stdin=json.dumps(doc), check=check)


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    env = environments.load("ci")
    spec = cluster.load(env)
    assert spec is not None and spec.kind == "simulated"
    root = tmp_path_factory.mktemp("simulated")
    layout = simulated.Layout(spec.name, root=root / "state")
    kubeconfig = root / "kubeconfig"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KUBECONFIG", str(kubeconfig))
        try:
            assert cluster._simulated_create(env, spec, dry_run=False, layout=layout) == 0
            pids = {p: int(layout.pid_file(p).read_text()) for p in ("control-plane", "kwok")}
            yield Sim(layout, kubeconfig, pids, simulated.config(spec.config).nodes.count)
        finally:  # also when the start failed half-way: no process outlives the tests
            cluster._simulated_delete(env, spec, dry_run=False, layout=layout)


def _until(what: str, probe: Any) -> Any:
    """Poll `probe` until it returns something truthy; fail naming `what` after WAIT s."""
    deadline = time.monotonic() + WAIT
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not true after {WAIT}s")
        time.sleep(1)


def _namespace(name: str, level: str) -> dict[str, Any]:
    labels = {f"pod-security.kubernetes.io/{mode}": level for mode in ("enforce", "warn")}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def _pod(namespace: str, privileged: bool) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "c", "image": "registry.k8s.io/pause:3.10"}
    if privileged:
        container["securityContext"] = {"privileged": True}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "priv", "namespace": namespace},
        "spec": {"containers": [container]},
    }


def test_context_is_the_drivers_and_server_is_pinned_1_35(sim: Sim) -> None:
    assert sim.kubectl("config", "current-context").stdout.strip() == "sim-mlstack"
    server = sim.json("version")["serverVersion"]["gitVersion"]
    assert server == simulated.pins().kubernetes and server.startswith("v1.35.")


def test_nodes_are_ready_with_their_capacity(sim: Sim) -> None:
    nodes = sim.json("get", "nodes")["items"]
    assert len(nodes) == sim.nodes
    for node in nodes:
        ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
        assert ready == "True", node["metadata"]["name"]
        assert node["status"]["allocatable"]["cpu"] == "32"


def test_pod_security_refuses_a_privileged_pod_where_restricted(sim: Sim) -> None:
    sim.apply(_namespace("ps-restricted", "restricted"), _namespace("ps-privileged", "privileged"))
    for namespace in ("ps-restricted", "ps-privileged"):  # the service-account controller
        _until(  # adds `default` a moment after the namespace; until then any pod is refused
            f"serviceaccount default in {namespace}",
            lambda ns=namespace: (
                sim.kubectl("get", "serviceaccount", "default", "-n", ns, check=False).returncode
                == 0
            ),
        )
    refused = sim.apply(_pod("ps-restricted", privileged=True), check=False)
    assert refused.returncode != 0
    assert 'violates PodSecurity "restricted:latest"' in refused.stderr
    assert "privileged" in refused.stderr
    # The same pod where the namespace allows it: the refusal above was Pod Security's.
    sim.apply(_pod("ps-privileged", privileged=True))


def _restricted_container() -> dict[str, Any]:
    return {
        "name": "web",
        "image": "registry.k8s.io/pause:3.10",
        "ports": [{"containerPort": 8080}],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "runAsNonRoot": True,
            "runAsUser": 65532,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }


def test_deployment_pods_are_created_scheduled_running_and_in_endpointslices(sim: Sim) -> None:
    labels = {"app": "web"}
    sim.apply(
        _namespace("apps", "baseline"),
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "apps"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [_restricted_container()]},
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": "apps"},
            "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]},
        },
    )
    sim.kubectl("-n", "apps", "rollout", "status", "deployment/web", f"--timeout={WAIT}s")
    pods = sim.json("-n", "apps", "get", "pods", "-l", "app=web")["items"]
    nodes = {n["metadata"]["name"] for n in sim.json("get", "nodes")["items"]}
    assert len(pods) == 2
    for pod in pods:
        assert pod["spec"]["nodeName"] in nodes  # bound by the scheduler
        assert pod["status"]["phase"] == "Running"
        assert pod["status"]["podIP"]
    pod_ips = {p["status"]["podIP"] for p in pods}

    def sliced() -> set[str]:
        slices = sim.json(
            "-n", "apps", "get", "endpointslices", "-l", "kubernetes.io/service-name=web"
        )["items"]
        found = {
            addr
            for s in slices
            for ep in s.get("endpoints") or []
            if (ep.get("conditions") or {}).get("ready")
            for addr in ep["addresses"]
        }
        return found if found == pod_ips else set()

    assert _until("EndpointSlice carries both pod IPs", sliced) == pod_ips


def test_job_pods_complete(sim: Sim) -> None:
    sim.apply(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "once", "namespace": "apps"},
            "spec": {
                "template": {
                    "spec": {"restartPolicy": "Never", "containers": [_restricted_container()]}
                }
            },
        }
    )
    sim.kubectl("-n", "apps", "wait", "--for=condition=complete", "job/once", f"--timeout={WAIT}s")


def test_crd_cel_rule_refuses_a_bad_custom_resource(sim: Sim) -> None:
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "min": {"type": "integer"},
                    "max": {"type": "integer"},
                },
                "x-kubernetes-validations": [
                    {"rule": "self.min <= self.max", "message": "min must not exceed max"}
                ],
            }
        },
    }
    sim.apply(
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "ranges.test.mlstack.io"},
            "spec": {
                "group": "test.mlstack.io",
                "scope": "Namespaced",
                "names": {"plural": "ranges", "singular": "range", "kind": "Range"},
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {"openAPIV3Schema": schema},
                    }
                ],
            },
        }
    )
    sim.kubectl("wait", "--for=condition=Established", "crd/ranges.test.mlstack.io",
                f"--timeout={WAIT}s")  # fmt: skip

    def cr(name: str, low: int, high: int) -> dict[str, Any]:
        return {
            "apiVersion": "test.mlstack.io/v1",
            "kind": "Range",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"min": low, "max": high},
        }

    bad = sim.apply(cr("bad", 5, 1), check=False)
    assert bad.returncode != 0 and "min must not exceed max" in bad.stderr
    sim.apply(cr("good", 1, 5))


def test_a_failed_start_says_why_and_leaves_no_process(sim: Sim, tmp_path: Path) -> None:
    """The apiserver's port is taken: the control plane exits, the error quotes its log."""
    spec = cluster.load(environments.load("ci"))
    assert spec is not None
    cfg = simulated.config(spec.config)
    layout = simulated.Layout("broken", root=tmp_path, tools=sim.layout.tools)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = cfg.model_copy(update={"ports": simulated.Ports(apiserver=taken.getsockname()[1])})
        with pytest.raises(UserError, match=r"control plane exited \(exit status 1\): .*in use"):
            simulated.up(busy, layout)
    pid = int(layout.pid_file("control-plane").read_text())
    assert not simulated._exists(pid)
    assert not layout.pid_file("kwok").exists()  # never started


def test_delete_stops_every_process_and_removes_state(sim: Sim) -> None:
    env = environments.load("ci")
    spec = cluster.load(env)
    assert spec is not None
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KUBECONFIG", str(sim.kubeconfig))
        assert cluster._simulated_delete(env, spec, dry_run=False, layout=sim.layout) == 0
    for name, pid in sim.pids.items():
        assert not simulated._exists(pid), f"{name} (pid {pid}) still runs"
    assert not sim.layout.state.exists()
    contexts = sim.kubectl("config", "get-contexts", "-o", "name").stdout.split()
    assert "sim-mlstack" not in contexts
