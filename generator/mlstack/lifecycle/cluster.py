"""`make cluster ENV=…` / `make delete ENV=…`: create (or reuse) and delete a cluster.

The driver is the environment's `cluster:` (k3d, minikube, eks, simulated, existing), never its
name, so `values/lab/environment.yaml` with `cluster: k3d` gets a k3d cluster. The cluster
definitions are data (platform/<cluster>.yaml, or the env's `clusterConfig`); this module
turns them into the k3d / minikube / eksctl commands, checks the tools first (one line
each), reuses a cluster of the same name, writes the detected MetalLB range to the env's
local values overlay and prints the kube context to use. `existing` brings its own
cluster: create only checks that the current kube context answers. `simulated` builds and
starts a real control plane on loopback with KWOK nodes (lifecycle/simulated.py).
`--dry-run` prints the commands and touches nothing.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlstack import REPO_ROOT
from mlstack.environments import VALUES_DIR, Environment
from mlstack.errors import UserError
from mlstack.lib import yamlfile
from mlstack.lifecycle import autodomain, netrange, simulated
from mlstack.lifecycle.shell import Runner, display, missing_tools, require

PLATFORM_DIR = REPO_ROOT / "platform"
#: The tool that manages each kind of cluster.
CLUSTER_TOOL = {"k3d": "k3d", "minikube": "minikube", "eks": "eksctl", "simulated": "kubectl"}
#: Everything `make cluster` needs per driver; kubectl and helm are needed by every later step.
TOOLS = {
    "k3d": ("docker", "k3d", "kubectl", "helm"),
    "minikube": ("docker", "minikube", "kubectl", "helm"),
    "eks": ("eksctl", "kubectl", "helm"),
    "existing": ("kubectl", "helm"),
    # go only when the control plane is not built yet (simulated.build says so)
    "simulated": ("kubectl", "helm"),
}


@dataclass(frozen=True)
class ClusterSpec:
    #: the environment's name (values/<env>/) and its driver (`cluster:`).
    env: str
    kind: str
    config: Path
    data: dict[str, Any]

    @property
    def name(self) -> str:
        if self.kind == "minikube":
            return str(self.data["profile"])
        return str(self.data["metadata"]["name"])

    @property
    def context(self) -> str:
        """The kube context the cluster tool writes."""
        return {
            "k3d": f"k3d-{self.name}",
            "minikube": self.name,
            "simulated": f"{simulated.CONTEXT_PREFIX}-{self.name}",
        }.get(self.kind, "")

    @property
    def kubernetes_minor(self) -> str:
        """The pinned Kubernetes minor, read from wherever the tool keeps it."""
        if self.kind == "k3d":
            text = str(self.data["image"]).rsplit(":", 1)[1]
        elif self.kind == "minikube":
            text = str(self.data["kubernetesVersion"])
        elif self.kind == "simulated":  # built from the pinned module, not named in the file
            text = simulated.pins().kubernetes
        else:
            text = str(self.data["metadata"]["version"])
        match = re.match(r"v?(\d+\.\d+)", text)
        if not match:
            raise UserError(f"{self.config}: cannot read a Kubernetes version from {text!r}")
        return match.group(1)


def config_path(env: Environment, platform_dir: Path = PLATFORM_DIR) -> Path:
    """The env's `clusterConfig` (relative to the repository), else platform/<cluster>.yaml."""
    if env.cluster_config:
        return REPO_ROOT / env.cluster_config
    return platform_dir / f"{env.cluster}.yaml"


def load(env: Environment, platform_dir: Path = PLATFORM_DIR) -> ClusterSpec | None:
    """The cluster definition of `env`; None for `cluster: existing` (nothing to create)."""
    if env.cluster == "existing":
        return None
    path = config_path(env, platform_dir)
    if not path.is_file():
        raise UserError(
            f"{env.shown()}: clusterConfig: no cluster definition {yamlfile.shown(path)} for "
            f"cluster {env.cluster}: add it or set clusterConfig"
        )
    data = yamlfile.read(path)
    if not isinstance(data, dict):
        raise UserError(f"{yamlfile.shown(path)}: top level must be a mapping")
    if env.cluster == "simulated":
        simulated.config(path)  # schema-checked: one line naming the key
    return ClusterSpec(env.name, env.cluster, path, data)


def create_command(spec: ClusterSpec) -> list[str]:
    if spec.kind == "k3d":
        return ["k3d", "cluster", "create", "--config", str(spec.config)]
    if spec.kind == "minikube":
        d = spec.data
        if not d.get("cni"):  # minikube's default CNI ignores NetworkPolicies
            raise UserError(
                f"{yamlfile.shown(spec.config)}: cni: not set: the platform's NetworkPolicies "
                "would not be enforced; set cni: calico"
            )
        return [
            "minikube", "start", "--profile", spec.name, f"--driver={d['driver']}",
            f"--cpus={d['cpus']}", f"--memory={d['memory']}",
            f"--kubernetes-version={d['kubernetesVersion']}", f"--cni={d['cni']}",
        ]  # fmt: skip
    return ["eksctl", "create", "cluster", "--config-file", str(spec.config)]


def reuse_commands(spec: ClusterSpec) -> list[list[str]]:
    """Start (if stopped) an existing cluster and make it the current context; idempotent."""
    if spec.kind == "k3d":
        return [
            ["k3d", "cluster", "start", spec.name],
            ["k3d", "kubeconfig", "merge", spec.name, "--kubeconfig-merge-default",
             "--kubeconfig-switch-context"],
        ]  # fmt: skip
    if spec.kind == "minikube":
        return [["minikube", "start", "--profile", spec.name]]
    region = spec.data["metadata"]["region"]
    return [["eksctl", "utils", "write-kubeconfig", "--cluster", spec.name, "--region", region]]


def delete_command(spec: ClusterSpec) -> list[str]:
    if spec.kind == "k3d":
        return ["k3d", "cluster", "delete", spec.name]
    if spec.kind == "minikube":
        return ["minikube", "delete", "--profile", spec.name]
    return ["eksctl", "delete", "cluster", "--config-file", str(spec.config), "--wait"]


def existing_names(kind: str, listing: str) -> set[str]:
    """Cluster names from `k3d cluster list -o json` / `minikube profile list -o json`."""
    data = json.loads(listing or "null")
    if kind == "k3d":
        return {c["name"] for c in data or []}
    if kind == "minikube":
        return {p["Name"] for p in (data or {}).get("valid") or []}
    return set()


def exists(spec: ClusterSpec, runner: Runner) -> bool:
    if spec.kind == "eks":
        region = spec.data["metadata"]["region"]
        cmd = ["eksctl", "get", "cluster", "--name", spec.name, "--region", region]
        return runner.query(cmd, check=False).returncode == 0
    cmd = {"k3d": ["k3d", "cluster", "list", "-o", "json"]}.get(
        spec.kind, ["minikube", "profile", "list", "-o", "json"]
    )
    proc = runner.query(cmd, check=False)
    # minikube exits non-zero when there are no profiles at all.
    return proc.returncode == 0 and spec.name in existing_names(spec.kind, proc.stdout)


def docker_network(spec: ClusterSpec) -> str:
    """k3d names the cluster network k3d-<name> unless the config names one."""
    return str(spec.data.get("network") or f"k3d-{spec.name}")


def detect_range(spec: ClusterSpec, runner: Runner) -> tuple[str, str]:
    """(address range, where it came from) for the env's MetalLB pool."""
    if spec.kind == "k3d":
        network = docker_network(spec)
        out = runner.query(["docker", "network", "inspect", network]).stdout
        return netrange.range_from_docker_networks(json.loads(out), network), (
            f"docker network {network}"
        )
    ip = runner.query(["minikube", "ip", "--profile", spec.name]).stdout
    return netrange.range_from_node_ip(ip), f"`minikube ip` ({ip.strip()})"


DOCKER_DOWN = "docker is installed but its daemon is not reachable (docker info): start Docker"


def tool_problems(
    tools: tuple[str, ...], runner: Runner, which: Callable[[str], str | None] = shutil.which
) -> list[str]:
    """Every reason the tools cannot run, in one list: those not on PATH and a docker
    whose daemon does not answer (a docker CLI alone is as good as none), so one run of
    `make cluster` names them all."""
    problems = missing_tools(tools, which)
    docker = "docker" in tools and which("docker") is not None
    if docker and runner.query(["docker", "info"], check=False).returncode != 0:
        problems.insert(0, DOCKER_DOWN)
    return problems


def _existing(env: Environment, runner: Runner, dry_run: bool) -> int:
    """Bring your own cluster: nothing to create; the current kube context must answer."""
    cmd = ["kubectl", "version", "--output=json"]
    if dry_run:
        print(f"cluster {env.name}: cluster: existing (bring your own); would check:")
        runner.run(cmd)
        return 0
    require(TOOLS["existing"], f"make cluster ENV={env.name}")
    if runner.query(cmd, check=False).returncode != 0:
        raise UserError(
            f"cluster {env.name} is `existing` but the current kube context does not answer: "
            "point KUBECONFIG/kubectl config use-context at your cluster"
        )
    context = runner.query(["kubectl", "config", "current-context"]).stdout.strip()
    print(f"cluster {env.name}: using kube context {context}")
    print(f"next: make install-platform ENV={env.name}")
    return 0


def create(env: Environment, dry_run: bool = False, values_dir: Path = VALUES_DIR) -> int:
    runner = Runner(dry_run=dry_run)
    spec = load(env)
    if spec is None:
        return _existing(env, runner, dry_run)
    if spec.kind == "simulated":
        return _simulated_create(env, spec, dry_run)
    wants_pool = env.load_balancer == "metallb" and spec.kind != "eks"
    overlay = values_dir / env.name / "local" / f"{netrange.POOL_RELEASE}.yaml"
    tools = TOOLS[spec.kind]
    if dry_run:
        print(f"cluster {env.name}: needs {', '.join(tools)} (not checked in dry run)")
        runner.run(create_command(spec))
        if wants_pool:
            print(f"then: detect the MetalLB range and write {yamlfile.shown(overlay)}")
        print(f"kube context: {spec.context or '(written by eksctl)'}")
        return 0
    problems = tool_problems(tools, runner)
    if problems:
        raise UserError("\n".join(f"make cluster ENV={env.name}: {p}" for p in problems))
    if exists(spec, runner):
        print(f"cluster {env.name}: reusing the existing cluster {spec.name}")
        for cmd in reuse_commands(spec):
            runner.run(cmd)
    else:
        runner.run(create_command(spec))
    if wants_pool:
        address_range, source = detect_range(spec, runner)
        netrange.write_overlay(values_dir, env.name, address_range, source)
        print(f"metallb pool: {address_range} from {source} -> {overlay}")
    context = runner.query(["kubectl", "config", "current-context"]).stdout.strip()
    print(f"kube context: {context} (kubectl config use-context {context})")
    print(f"next: make install-platform ENV={env.name}")
    return 0


def delete(env: Environment, dry_run: bool = False, values_dir: Path = VALUES_DIR) -> int:
    spec = load(env)
    if spec is None:
        print(f"cluster {env.name}: cluster: existing is yours; mlstack never deletes it")
        return 0
    if spec.kind == "simulated":
        return _simulated_delete(env, spec, dry_run)
    runner = Runner(dry_run=dry_run)
    if not dry_run:
        require([CLUSTER_TOOL[spec.kind]], f"make delete ENV={env.name}")
        if not exists(spec, runner):
            print(f"cluster {env.name}: no cluster named {spec.name}; nothing to delete")
            return 0
    runner.run(delete_command(spec))
    if not dry_run:  # the detected range and address belonged to the deleted cluster
        overlay = values_dir / env.name / "local" / f"{netrange.POOL_RELEASE}.yaml"
        overlay.unlink(missing_ok=True)
        autodomain.forget(values_dir, env.name)
    return 0


def _simulated_create(
    env: Environment, spec: ClusterSpec, dry_run: bool, layout: simulated.Layout | None = None
) -> int:
    """Build once, then start (or reuse) the simulated cluster and merge its context. No
    address pool to detect: nothing routes to LoadBalancer addresses here, so the env's
    committed metallb-pool values stand."""
    cfg = simulated.config(spec.config)
    layout = layout or simulated.Layout(spec.name)
    target = simulated.user_kubeconfig()
    if dry_run:
        print(f"cluster {env.name}: needs {', '.join(TOOLS['simulated'])} (not checked in dry run)")
        simulated.build(layout.tools, dry_run=True)
        bins = simulated.binaries(layout.tools)
        print(f"start (detached, own process group; state in {display([str(layout.state)])}):")
        placeholder = simulated.control_plane_command(
            layout, cfg, bins["simulated"], lambda: "FREE_PORT"
        )
        print(f"+ {display(placeholder)}")
        print(
            f"+ kubectl apply -f {display([str(layout.state / 'nodes.json')])}  "
            f"# {cfg.nodes.count} simulated node(s)"
        )
        print(f"+ {display(simulated.kwok_command(layout, cfg, layout.tools))}")
        print(
            f"then: wait for /readyz and every node Ready; merge context {layout.context} "
            f"into {target}"
        )
        print(f"kube context: {spec.context}")
        return 0
    require(TOOLS["simulated"], f"make cluster ENV={env.name}")
    simulated.build(layout.tools)
    if simulated.running(layout, layout.tools):
        print(f"cluster {env.name}: reusing the running simulated cluster {spec.name}")
    else:
        simulated.up(cfg, layout)
    simulated.merge_kubeconfig(layout, target)
    print(f"kube context: {layout.context} (kubectl config use-context {layout.context})")
    print(f"next: make install-platform ENV={env.name}")
    return 0


def _simulated_delete(
    env: Environment, spec: ClusterSpec, dry_run: bool, layout: simulated.Layout | None = None
) -> int:
    layout = layout or simulated.Layout(spec.name)
    if dry_run:
        print(
            f"would stop the process groups in {display([str(layout.state)])}/*.pid, "
            f"remove that directory and context {layout.context}"
        )
        return 0
    if not layout.state.exists():
        print(f"cluster {env.name}: no simulated cluster named {spec.name}; nothing to delete")
        return 0
    stopped = simulated.down(layout)
    simulated.forget_kubeconfig(layout, simulated.user_kubeconfig())
    print(f"cluster {env.name}: stopped {len(stopped)} process group(s); removed {layout.context}")
    return 0
