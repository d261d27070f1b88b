"""Cluster definitions (platform/*.yaml) and the commands built from them."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import edit_env, values_copy
from mlstack import environments
from mlstack.errors import UserError
from mlstack.lib import facts, netcheck
from mlstack.lifecycle import cluster, install, plan, shell, simulated


def _spec(name: str) -> cluster.ClusterSpec:
    spec = cluster.load(environments.load(name))
    assert spec is not None
    return spec


@pytest.mark.parametrize("env_name", environments.names())
def test_pinned_kubernetes_matches_the_environment(env_name: str) -> None:
    spec = _spec(env_name)
    assert spec.kubernetes_minor == environments.load(env_name).kubernetes
    assert spec.name == "mlstack"


def test_k3d_config_disables_traefik_and_servicelb_and_maps_ports() -> None:
    data = _spec("k3d").data
    args = {a["arg"] for a in data["options"]["k3s"]["extraArgs"]}
    assert {"--disable=traefik", "--disable=servicelb"} <= args
    ports = {p["port"]: p["nodeFilters"] for p in data["ports"]}
    # Loopback only, onto the gateway's fixed node ports (the k3d load balancer forwards a
    # port to the same port on the nodes): the table the gateway's values come from.
    assert ports == {
        f"{facts.LOOPBACK}:{host}:{node}": ["loadbalancer"]
        for node, host in facts.LAPTOP_PORTS.values()
    }
    assert set(ports) == {"127.0.0.1:8080:30080", "127.0.0.1:8443:30443"}
    assert data["image"] == "rancher/k3s:v1.35.8-k3s1"
    assert data["options"]["runtime"]["serversMemory"]


def test_minikube_and_eks_settings() -> None:
    mk = _spec("minikube")
    assert cluster.create_command(mk) == [
        "minikube",
        "start",
        "--profile",
        "mlstack",
        "--driver=docker",
        "--cpus=4",
        "--memory=8g",
        "--kubernetes-version=v1.35.8",
        "--cni=calico",
    ]
    eks = _spec("eks").data
    assert eks["kind"] == "ClusterConfig" and eks["metadata"]["region"]
    assert eks["managedNodeGroups"][0]["desiredCapacity"] >= 2


def test_every_cluster_the_project_creates_enforces_network_policy() -> None:
    """models-default-deny and the namespaces' policies mean nothing on a CNI that ignores
    them: EKS turns on the VPC CNI's policy agent, minikube runs Calico, k3d keeps k3s's
    embedded policy controller (not disabled)."""
    (vpc_cni,) = [a for a in _spec("eks").data["addons"] if a["name"] == "vpc-cni"]
    # eksctl's Addon.configurationValues is a string the EKS add-on API parses as JSON.
    assert isinstance(vpc_cni["configurationValues"], str)
    assert json.loads(vpc_cni["configurationValues"]) == {"enableNetworkPolicy": "true"}
    assert "--cni=calico" in cluster.create_command(_spec("minikube"))
    k3s = {a["arg"] for a in _spec("k3d").data["options"]["k3s"]["extraArgs"]}
    assert "--disable-network-policy" not in k3s


def test_a_minikube_profile_without_a_policy_cni_is_refused(tmp_path: Path) -> None:
    spec = _spec("minikube")
    data = {k: v for k, v in spec.data.items() if k != "cni"}
    mine = cluster.ClusterSpec(spec.env, spec.kind, tmp_path / "minikube.yaml", data)
    with pytest.raises(UserError, match=r"minikube\.yaml: cni: not set: .*set cni: calico$"):
        cluster.create_command(mine)


def test_driver_follows_cluster_kind_not_env_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    values = values_copy(tmp_path / "values")
    (values / "lab").mkdir()
    (values / "lab" / "environment.yaml").write_text(
        (values / "k3d" / "environment.yaml").read_text()
    )
    lab = environments.load("lab", values)
    spec = cluster.load(lab)
    assert spec is not None and spec.kind == "k3d" and spec.env == "lab"
    assert cluster.create(lab, dry_run=True, values_dir=values) == 0
    out = capsys.readouterr().out
    assert "+ k3d cluster create --config platform/k3d.yaml" in out
    assert "values/lab/local/metallb-pool.yaml" in out
    edit_env(values, "lab", clusterConfig="platform/nowhere.yaml")
    with pytest.raises(UserError, match=r"lab/environment\.yaml: clusterConfig: no cluster def"):
        cluster.load(environments.load("lab", values))


def test_existing_cluster_is_brought_by_the_user(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    values = values_copy(tmp_path / "values")
    edit_env(values, "eks", cluster="existing")
    mine = environments.load("eks", values)
    assert cluster.load(mine) is None
    assert cluster.create(mine, dry_run=True, values_dir=values) == 0
    assert "+ kubectl version --output=json" in capsys.readouterr().out
    assert cluster.delete(mine, dry_run=True, values_dir=values) == 0
    assert "never deletes it" in capsys.readouterr().out


def test_existing_cluster_listings() -> None:
    k3d = [{"name": "mlstack", "serversCount": 1, "serversRunning": 1, "agentsCount": 0}]
    assert cluster.existing_names("k3d", json.dumps(k3d)) == {"mlstack"}
    profiles = {"invalid": [], "valid": [{"Name": "mlstack", "Status": "Running"}]}
    assert cluster.existing_names("minikube", json.dumps(profiles)) == {"mlstack"}
    assert cluster.existing_names("minikube", json.dumps({"invalid": [], "valid": None})) == set()
    assert cluster.existing_names("k3d", "[]") == set()


def test_commands_reuse_and_delete() -> None:
    spec = _spec("k3d")
    assert cluster.create_command(spec)[:4] == ["k3d", "cluster", "create", "--config"]
    start, merge = cluster.reuse_commands(spec)
    assert start == ["k3d", "cluster", "start", "mlstack"]
    assert "--kubeconfig-switch-context" in merge  # a reused cluster becomes the context too
    assert cluster.delete_command(spec) == ["k3d", "cluster", "delete", "mlstack"]
    assert cluster.docker_network(spec) == "k3d-mlstack"
    assert _spec("minikube").context == "mlstack"
    assert spec.context == "k3d-mlstack"


def test_missing_tools_one_line_each() -> None:
    present = {"docker", "helm"}
    problems = shell.missing_tools(cluster.TOOLS["k3d"], lambda t: t if t in present else None)
    assert problems == [
        "k3d not found on PATH: install it (https://k3d.io/#installation)",
        "kubectl not found on PATH: install it (https://kubernetes.io/docs/tasks/tools/)",
    ]


def _cluster_create(env: str, path: Path) -> subprocess.CompletedProcess[str]:
    """`mlstack cluster create` with only `path` on PATH, plus node (jsii needs it, and
    `make setup` makes sure a user has it)."""
    node = shutil.which("node")
    assert node, "node is needed by cdk8s (make setup)"
    (path / "node").symlink_to(node)
    environ = {**os.environ, "PATH": str(path)}
    cmd = [sys.executable, "-m", "mlstack", "cluster", "create", env]
    return subprocess.run(cmd, capture_output=True, text=True, check=False, env=environ)


def test_make_cluster_names_every_missing_tool_in_one_run(tmp_path: Path) -> None:
    """Neither docker nor k3d (nor kubectl, helm) on PATH: one run names all of them."""
    proc = _cluster_create("k3d", tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    named = [line.split(": ")[2].split()[0] for line in proc.stderr.splitlines()]
    assert named == ["docker", "k3d", "kubectl", "helm"], proc.stderr


def test_a_docker_without_its_daemon_counts_as_missing_beside_k3d(tmp_path: Path) -> None:
    """A docker CLI whose daemon does not answer (`docker info` fails), and no k3d: both in
    the same run (the daemon used to be checked only once k3d was installed)."""
    docker = tmp_path / "docker"
    docker.write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
    docker.chmod(0o755)
    proc = _cluster_create("k3d", tmp_path)
    lines = proc.stderr.splitlines()
    assert proc.returncode == 2
    assert lines[0] == f"error: make cluster ENV=k3d: {cluster.DOCKER_DOWN}"
    assert any(
        line.startswith("error: make cluster ENV=k3d: k3d not found on PATH") for line in lines
    )


def test_simulated_pins_are_the_go_modules_built() -> None:
    """versions.yaml is the reviewed pin; platform/simulated/go.mod must build exactly it,
    with every k8s.io staging module at the matching v0.<minor>.<patch>."""
    pins = simulated.pins()
    gomod = (simulated.MODULE_DIR / "go.mod").read_text()
    required = dict(re.findall(r"^\s+(\S+) (v\S+)$", gomod.split("replace (")[0], re.M))
    assert required["k8s.io/kubernetes"] == pins.kubernetes
    assert required["go.etcd.io/etcd/server/v3"] == pins.etcd
    staging = "v0." + pins.kubernetes.removeprefix("v1.")
    replaced = re.findall(r"^\s+(k8s\.io/\S+) => (\S+) (v\S+)$", gomod, re.M)
    assert len(replaced) >= 25  # every staging module Kubernetes replaces
    assert {(old, new, version) for old, new, version in replaced} == {
        (old, old, staging) for old, _, _ in replaced
    }
    assert (simulated.MODULE_DIR / "go.sum").is_file()


def test_simulated_config_networks_and_nodes() -> None:
    spec = _spec("ci")
    cfg = simulated.config(spec.config)
    assert spec.kind == "simulated" and spec.context == "sim-mlstack"
    assert netcheck.CLUSTER_NETWORKS["simulated"] == (
        cfg.network.pod_cidr,
        cfg.network.service_cidr,
    )
    nodes = simulated.nodes_manifest(cfg)["items"]
    assert len(nodes) == cfg.nodes.count >= 2
    addresses = {n["status"]["addresses"][0]["address"] for n in nodes}
    assert len(addresses) == len(nodes)
    for node in nodes:
        assert node["metadata"]["annotations"] == {simulated.KWOK_ANNOTATION: "fake"}
        assert node["status"]["capacity"] == {"cpu": "32", "memory": "128Gi", "pods": "250"}
        assert node["metadata"]["labels"]["kubernetes.io/arch"] == "amd64"
    for addr in addresses:  # node addresses clear of the pod and Service ranges
        for cidr in netcheck.CLUSTER_NETWORKS["simulated"]:
            assert ipaddress.ip_address(addr) not in ipaddress.ip_network(cidr)


def test_simulated_config_errors_name_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "simulated.yaml"
    text = (cluster.PLATFORM_DIR / "simulated.yaml").read_text()
    bad.write_text(text.replace("count: 3", "count: 0"))
    with pytest.raises(
        UserError, match=r"simulated\.yaml: nodes\.count: .*greater than or equal to 1"
    ):
        simulated.config(bad)
    bad.write_text(text.replace("ports:", "portz:"))
    with pytest.raises(UserError, match=r"simulated\.yaml: portz: "):
        simulated.config(bad)
    bad.write_text(text.replace("10.96.0.0/16", "10.96.0.1/16"))
    with pytest.raises(UserError, match=r"simulated\.yaml: network\.serviceCIDR: .*host bits set"):
        simulated.config(bad)


def test_simulated_dry_run_prints_build_start_and_context(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = environments.load("ci")
    spec = _spec("ci")
    layout = simulated.Layout(spec.name, root=tmp_path / "state", tools=tmp_path / "tools")
    assert cluster._simulated_create(env, spec, dry_run=True, layout=layout) == 0
    out = capsys.readouterr().out
    assert "+ go build '-ldflags=-s -w -X k8s.io/component-base/version.gitVersion=v1.35.4" in out
    assert "+ go install '-ldflags=-s -w' sigs.k8s.io/kwok/cmd/kwok@v0.8.0" in out
    assert "--etcd-port=FREE_PORT --etcd-peer-port=FREE_PORT --apiserver-port=FREE_PORT" in out
    assert "--service-cluster-ip-range=10.96.0.0/16 --kubernetes-service-ip=10.96.0.1" in out
    assert "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake" in out
    assert out.rstrip().endswith("kube context: sim-mlstack")
    assert not (tmp_path / "state").exists() and not (tmp_path / "tools").exists()
    assert cluster._simulated_delete(env, spec, dry_run=True, layout=layout) == 0
    assert "would stop the process groups" in capsys.readouterr().out


def test_simulated_context_is_recognised_by_install() -> None:
    marker = install.CONTEXT_MARKER["simulated"]
    assert plan.context_problem("sim-mlstack", "mlstack", marker) is None
    assert plan.context_problem("k3d-mlstack", "mlstack", marker) is not None


def test_simulated_build_without_go_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no go here
    with pytest.raises(UserError) as err:
        simulated.build(tmp_path / "tools")
    assert str(err.value) == (
        "make cluster (cluster: simulated builds the control plane): go not found on PATH: "
        "install it (Go 1.25+ builds the simulated cluster: https://go.dev/dl/)"
    )


def test_simulated_stamp_follows_the_module(tmp_path: Path) -> None:
    module = tmp_path / "module"
    shutil.copytree(simulated.MODULE_DIR, module)
    before = simulated.stamp(module)
    assert simulated.stamp(module) == before
    (module / "go.sum").write_text((module / "go.sum").read_text() + "\n")
    assert simulated.stamp(module) != before
