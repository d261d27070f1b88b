"""`make cluster-<env>` / `make delete-<env>`: create (or reuse) and delete a cluster.

The cluster definitions are data in platform/<env>.yaml; this module turns them into the
k3d / minikube / eksctl commands, checks the tools first (one line each), reuses a cluster
of the same name, writes the detected MetalLB range to the env's local values overlay and
prints the kube context to use. `--dry-run` prints the commands and touches nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlstack import REPO_ROOT, environments
from mlstack.errors import UserError
from mlstack.lifecycle import netrange
from mlstack.lifecycle.shell import Runner, require

PLATFORM_DIR = REPO_ROOT / "platform"
VALUES_DIR = REPO_ROOT / "values"
#: The tool that manages each kind of cluster.
CLUSTER_TOOL = {"k3d": "k3d", "minikube": "minikube", "eks": "eksctl"}
#: Everything `make cluster-<env>` needs; kubectl and helm are needed by every later step.
TOOLS = {
    "k3d": ("docker", "k3d", "kubectl", "helm"),
    "minikube": ("docker", "minikube", "kubectl", "helm"),
    "eks": ("eksctl", "kubectl", "helm"),
}


@dataclass(frozen=True)
class ClusterSpec:
    env: str
    config: Path
    data: dict[str, Any]

    @property
    def name(self) -> str:
        if self.env == "minikube":
            return str(self.data["profile"])
        return str(self.data["metadata"]["name"])

    @property
    def context(self) -> str:
        """The kube context the cluster tool writes."""
        return {"k3d": f"k3d-{self.name}", "minikube": self.name}.get(self.env, "")

    @property
    def kubernetes_minor(self) -> str:
        """The pinned Kubernetes minor, read from wherever the tool keeps it."""
        if self.env == "k3d":
            text = str(self.data["image"]).rsplit(":", 1)[1]
        elif self.env == "minikube":
            text = str(self.data["kubernetesVersion"])
        else:
            text = str(self.data["metadata"]["version"])
        match = re.match(r"v?(\d+\.\d+)", text)
        if not match:
            raise UserError(f"{self.config}: cannot read a Kubernetes version from {text!r}")
        return match.group(1)


def load(env_name: str, platform_dir: Path = PLATFORM_DIR) -> ClusterSpec:
    env = environments.get(env_name)
    path = platform_dir / f"{env.name}.yaml"
    if env.name not in TOOLS or not path.exists():
        raise UserError(f"no cluster definition for {env.name}: add platform/{env.name}.yaml")
    return ClusterSpec(env.name, path, yaml.safe_load(path.read_text()))


def create_command(spec: ClusterSpec) -> list[str]:
    if spec.env == "k3d":
        return ["k3d", "cluster", "create", "--config", str(spec.config)]
    if spec.env == "minikube":
        d = spec.data
        return [
            "minikube", "start", "--profile", spec.name, f"--driver={d['driver']}",
            f"--cpus={d['cpus']}", f"--memory={d['memory']}",
            f"--kubernetes-version={d['kubernetesVersion']}",
        ]  # fmt: skip
    return ["eksctl", "create", "cluster", "--config-file", str(spec.config)]


def reuse_commands(spec: ClusterSpec) -> list[list[str]]:
    """Start (if stopped) an existing cluster and make it the current context; idempotent."""
    if spec.env == "k3d":
        return [
            ["k3d", "cluster", "start", spec.name],
            ["k3d", "kubeconfig", "merge", spec.name, "--kubeconfig-merge-default",
             "--kubeconfig-switch-context"],
        ]  # fmt: skip
    if spec.env == "minikube":
        return [["minikube", "start", "--profile", spec.name]]
    region = spec.data["metadata"]["region"]
    return [["eksctl", "utils", "write-kubeconfig", "--cluster", spec.name, "--region", region]]


def delete_command(spec: ClusterSpec) -> list[str]:
    if spec.env == "k3d":
        return ["k3d", "cluster", "delete", spec.name]
    if spec.env == "minikube":
        return ["minikube", "delete", "--profile", spec.name]
    return ["eksctl", "delete", "cluster", "--config-file", str(spec.config), "--wait"]


def existing_names(env: str, listing: str) -> set[str]:
    """Cluster names from `k3d cluster list -o json` / `minikube profile list -o json`."""
    data = json.loads(listing or "null")
    if env == "k3d":
        return {c["name"] for c in data or []}
    if env == "minikube":
        return {p["Name"] for p in (data or {}).get("valid") or []}
    return set()


def exists(spec: ClusterSpec, runner: Runner) -> bool:
    if spec.env == "eks":
        region = spec.data["metadata"]["region"]
        cmd = ["eksctl", "get", "cluster", "--name", spec.name, "--region", region]
        return runner.query(cmd, check=False).returncode == 0
    cmd = {"k3d": ["k3d", "cluster", "list", "-o", "json"]}.get(
        spec.env, ["minikube", "profile", "list", "-o", "json"]
    )
    proc = runner.query(cmd, check=False)
    # minikube exits non-zero when there are no profiles at all.
    return proc.returncode == 0 and spec.name in existing_names(spec.env, proc.stdout)


def docker_network(spec: ClusterSpec) -> str:
    """k3d names the cluster network k3d-<name> unless the config names one."""
    return str(spec.data.get("network") or f"k3d-{spec.name}")


def detect_range(spec: ClusterSpec, runner: Runner) -> tuple[str, str]:
    """(address range, where it came from) for the env's MetalLB pool."""
    if spec.env == "k3d":
        network = docker_network(spec)
        out = runner.query(["docker", "network", "inspect", network]).stdout
        return netrange.range_from_docker_networks(json.loads(out), network), (
            f"docker network {network}"
        )
    ip = runner.query(["minikube", "ip", "--profile", spec.name]).stdout
    return netrange.range_from_node_ip(ip), f"`minikube ip` ({ip.strip()})"


def check_docker(runner: Runner) -> None:
    if runner.query(["docker", "info"], check=False).returncode != 0:
        raise UserError("docker is installed but its daemon is not reachable: start Docker")


def create(env_name: str, dry_run: bool = False, values_dir: Path = VALUES_DIR) -> int:
    spec = load(env_name)
    env = environments.get(env_name)
    runner = Runner(dry_run=dry_run)
    wants_pool = netrange.POOL_RELEASE in env.components
    overlay = values_dir / env.name / "local" / f"{netrange.POOL_RELEASE}.yaml"
    if dry_run:
        print(f"cluster {env.name}: needs {', '.join(TOOLS[env.name])} (not checked in dry run)")
        runner.run(create_command(spec))
        if wants_pool:
            print(
                f"then: detect the MetalLB range and write {overlay.relative_to(values_dir.parent)}"
            )
        print(f"kube context: {spec.context or '(written by eksctl)'}")
        return 0
    require(TOOLS[env.name], f"make cluster-{env.name}")
    if "docker" in TOOLS[env.name]:
        check_docker(runner)
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


def delete(env_name: str, dry_run: bool = False, values_dir: Path = VALUES_DIR) -> int:
    spec = load(env_name)
    runner = Runner(dry_run=dry_run)
    if not dry_run:
        require([CLUSTER_TOOL[spec.env]], f"make delete-{spec.env}")
        if not exists(spec, runner):
            print(f"cluster {spec.env}: no cluster named {spec.name}; nothing to delete")
            return 0
    runner.run(delete_command(spec))
    overlay = values_dir / spec.env / "local" / f"{netrange.POOL_RELEASE}.yaml"
    if overlay.exists() and not dry_run:
        overlay.unlink()  # the detected range belonged to the deleted cluster
    return 0
