"""`cluster: simulated`: a real Kubernetes control plane on loopback, with simulated nodes.

Why: no Docker here (CI, these machines), yet the installer, Pod Security, the CRD schemas
and CEL rules can only be proven against a real API server. This driver builds, once per
machine, two binaries from Go modules pinned in versions.yaml (`simulated:`), verified by
Go against platform/simulated/go.sum and sum.golang.org:

- platform/simulated (our own small module): etcd + kube-apiserver + kube-controller-manager
  + kube-scheduler in one process, serving on 127.0.0.1 only;
- KWOK's controller: plays the kubelet of the nodes listed in platform/simulated.yaml (node
  heartbeats, pod status and IPs with its default stages; pods never run).

The binaries and a stamp of their inputs live in .tools/simulated/ (rebuilt only when the
pins, go.mod/go.sum or main.go change). A running cluster's state (pid files, logs, ports,
certificates, etcd data) lives in .cache/simulated/<name>/; `make delete` stops the process
groups it started and removes that directory. The kube context is `sim-<name>`, merged into
the user's kubeconfig like k3d's `k3d-<name>`.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from mlstack import REPO_ROOT, versions
from mlstack.errors import UserError
from mlstack.lib import yamlfile
from mlstack.lifecycle.shell import display, require

MODULE_DIR = REPO_ROOT / "platform" / "simulated"
TOOLS_DIR = REPO_ROOT / ".tools" / "simulated"
STATE_ROOT = REPO_ROOT / ".cache" / "simulated"
#: The prefix of the kube context (and the token install's context check looks for).
CONTEXT_PREFIX = "sim"
#: KWOK's default stages (what kwokctl loads): node init + lease heartbeat, pod ready,
#: complete (Job pods) and delete. Read from the KWOK module Go downloaded and verified.
KWOK_STAGES = (
    "kustomize/stage/node/fast/node-initialize.yaml",
    "kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "kustomize/stage/pod/fast/pod-ready.yaml",
    "kustomize/stage/pod/fast/pod-complete.yaml",
    "kustomize/stage/pod/fast/pod-delete.yaml",
)
#: The annotation KWOK selects the nodes it plays by.
KWOK_ANNOTATION = "kwok.x-k8s.io/node"
GO_BUILD_FLAGS = "-mod=readonly -p=2 -trimpath"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


Port = Annotated[int, Field(ge=0, le=65535)]
Quantity = Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|M|G|T)?$")]


class Metadata(_Strict):
    name: Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=40)]


class Capacity(_Strict):
    cpu: Quantity
    memory: Quantity
    pods: Quantity


class Nodes(_Strict):
    count: Annotated[int, Field(ge=1, le=20)]
    capacity: Capacity


def _cidr(text: str) -> str:
    ipaddress.ip_network(text, strict=True)  # ValueError names the problem
    return text


Cidr = Annotated[str, AfterValidator(_cidr)]


class Network(_Strict):
    service_cidr: Cidr = Field(alias="serviceCIDR")
    pod_cidr: Cidr = Field(alias="podCIDR")


class Ports(_Strict):
    """Loopback ports; 0 picks a free one at each start (two clusters never collide)."""

    apiserver: Port = 0
    etcd: Port = 0
    etcd_peer: Port = Field(0, alias="etcdPeer")


class Config(_Strict):
    """platform/simulated.yaml."""

    api_version: Literal["mlstack.io/v1"] = Field(alias="apiVersion")
    kind: Literal["SimulatedCluster"]
    metadata: Metadata
    nodes: Nodes
    network: Network
    ports: Ports = Ports()
    start_timeout_seconds: Annotated[int, Field(ge=10, le=900, alias="startTimeoutSeconds")] = 180


def config(path: Path) -> Config:
    return yamlfile.model(path, Config)


@dataclass(frozen=True)
class Layout:
    """Where one simulated cluster keeps its state; tests pass their own root."""

    name: str
    root: Path = STATE_ROOT
    tools: Path = TOOLS_DIR

    @property
    def state(self) -> Path:
        return self.root / self.name

    @property
    def context(self) -> str:
        return f"{CONTEXT_PREFIX}-{self.name}"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.state / "data" / "admin.kubeconfig"

    def pid_file(self, process: str) -> Path:
        return self.state / f"{process}.pid"

    def log(self, process: str) -> Path:
        return self.state / f"{process}.log"


# -- build ---------------------------------------------------------------------------------


def pins() -> versions.Simulated:
    pinned = versions.load().simulated
    if pinned is None:
        raise UserError(f"{versions.SHOWN}: no simulated: section: add the pinned versions")
    return pinned


def stamp(module_dir: Path = MODULE_DIR) -> str:
    """What the binaries are built from: the pins and our module's files."""
    h = hashlib.sha256(json.dumps(pins().model_dump(), sort_keys=True).encode())
    for name in ("go.mod", "go.sum", "main.go"):
        h.update(name.encode() + b"\0" + (module_dir / name).read_bytes())
    return h.hexdigest()[:16]


def binaries(tools: Path = TOOLS_DIR) -> dict[str, Path]:
    return {
        "simulated": tools / "bin" / "simulated",
        "kwok": tools / "bin" / "kwok",
        "stages": tools / "kwok-stages.yaml",
    }


def version_ldflags(kubernetes: str) -> str:
    """Kubernetes' release builds stamp the version into these variables (hack/lib/version.sh);
    without them the server reports v0.0.0-master and clients cannot parse it."""
    major, minor = kubernetes.removeprefix("v").split(".")[:2]
    flags = []
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion={kubernetes}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
        ]
    return " ".join(flags)


def build_commands(tools: Path = TOOLS_DIR) -> list[list[str]]:
    out = binaries(tools)
    kwok = f"sigs.k8s.io/kwok/cmd/kwok@{pins().kwok}"
    ldflags = f"-ldflags=-s -w {version_ldflags(pins().kubernetes)}"
    return [
        ["go", "build", ldflags, "-o", str(out["simulated"]), "."],
        ["go", "install", "-ldflags=-s -w", kwok],
        ["go", "mod", "download", "-json", f"sigs.k8s.io/kwok@{pins().kwok}"],
    ]


def build(
    tools: Path = TOOLS_DIR, dry_run: bool = False, say: Callable[[str], None] = print
) -> None:
    """Build the binaries unless the stamp says they are current (Go's cache makes a rebuild
    after a pin bump cheap for what did not change)."""
    stamp_file = tools / "stamp"
    want = stamp()
    out = binaries(tools)
    current = stamp_file.is_file() and stamp_file.read_text().strip() == want
    if current and all(p.is_file() for p in out.values()):
        return
    commands = build_commands(tools)
    if dry_run:
        say(f"build (once per machine, into {display([str(tools)])}; GOFLAGS={GO_BUILD_FLAGS}):")
        for cmd in commands:
            say(f"+ {display(cmd)}")
        return
    require(["go"], "make cluster (cluster: simulated builds the control plane)")
    say(
        "simulated: building the control plane and KWOK from the pinned Go modules "
        "(first time on a machine: several minutes)"
    )
    started = time.monotonic()
    (tools / "bin").mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "GOFLAGS": f"{os.environ.get('GOFLAGS', '')} {GO_BUILD_FLAGS}".strip(),
        "GOBIN": str(tools / "bin"),
    }
    _go(commands[0], MODULE_DIR, env)
    # `go install mod@version` runs outside any module: sums come from sum.golang.org.
    _go(commands[1], tools, {**env, "GOFLAGS": env["GOFLAGS"].replace("-mod=readonly", "")})
    info = json.loads(_go(commands[2], tools, {**env, "GOFLAGS": ""}))
    module = Path(info["Dir"])
    stages = [(module / rel).read_text() for rel in KWOK_STAGES]
    out["stages"].write_text("---\n".join(s if s.endswith("\n") else s + "\n" for s in stages))
    stamp_file.write_text(want + "\n")
    say(f"simulated: built in {time.monotonic() - started:.0f}s")


def _go(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        last = (proc.stderr.strip() or proc.stdout.strip() or "no output").splitlines()[-3:]
        raise UserError(f"`{display(cmd)}` failed: {' | '.join(last)}")
    return proc.stdout


# -- processes -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def alive(layout: Layout, process: str, binary: Path) -> int | None:
    """The pid of `process` when its pid file names a live process of `binary`, else None
    (a recycled pid that runs something else is never ours). Read from /proc/<pid>/exe:
    /proc/<pid>/cmdline is briefly empty while a large binary is being exec'd, and a
    zombie has no exe. A binary rebuilt under a running process shows as "(deleted)"."""
    try:
        pid = int(layout.pid_file(process).read_text().strip())
        exe = os.readlink(f"/proc/{pid}/exe").removesuffix(" (deleted)")
    except (OSError, ValueError):
        return None
    return pid if exe == str(binary.resolve()) else None


def _spawn(layout: Layout, process: str, cmd: list[str]) -> int:
    """Start `cmd` detached in its own session (so one signal to its group stops it and its
    children), output to its log, pid to its pid file."""
    with layout.log(process).open("ab") as log:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=layout.state,
        )
    layout.pid_file(process).write_text(f"{proc.pid}\n")
    return proc.pid


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return " | ".join(text[-lines:]) or "empty log"


def control_plane_command(
    layout: Layout, cfg: Config, binary: Path, pick: Callable[[], int | str] = free_port
) -> list[str]:
    """The control plane's command line; `pick` chooses each port set to 0 (dry runs show a
    placeholder instead of a port that would differ at the real start)."""
    ports = cfg.ports
    return [
        str(binary),
        f"--data-dir={layout.state / 'data'}",
        f"--cluster-name={cfg.metadata.name}",
        f"--context={layout.context}",
        f"--etcd-port={ports.etcd or pick()}",
        f"--etcd-peer-port={ports.etcd_peer or pick()}",
        f"--apiserver-port={ports.apiserver or pick()}",
        f"--service-cluster-ip-range={cfg.network.service_cidr}",
        f"--kubernetes-service-ip={_first_ip(cfg.network.service_cidr)}",
    ]


def kwok_command(layout: Layout, cfg: Config, tools: Path) -> list[str]:
    out = binaries(tools)
    return [
        str(out["kwok"]),
        f"--kubeconfig={layout.state / 'data' / 'kwok.kubeconfig'}",
        f"--config={out['stages']}",
        f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION}=fake",
        f"--cidr={cfg.network.pod_cidr}",
    ]


def _first_ip(cidr: str) -> str:
    return str(next(ipaddress.ip_network(cidr).hosts()))


def nodes_manifest(cfg: Config) -> dict[str, Any]:
    """The simulated Nodes: amd64 Linux, capacity from the config, one internal address
    each (outside the pod and Service ranges), annotated for KWOK."""
    cap = cfg.nodes.capacity.model_dump()
    items = []
    for i in range(cfg.nodes.count):
        name = f"{cfg.metadata.name}-node-{i}"
        items.append(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "annotations": {KWOK_ANNOTATION: "fake"},
                    "labels": {
                        "kubernetes.io/arch": "amd64",
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/hostname": name,
                        "type": "kwok",
                    },
                },
                "status": {
                    "allocatable": cap,
                    "capacity": cap,
                    "addresses": [{"type": "InternalIP", "address": f"192.168.240.{i + 10}"}],
                },
            }
        )
    return {"apiVersion": "v1", "kind": "List", "items": items}


def readyz(layout: Layout) -> bool:
    """GET /readyz with the admin certificate; False while anything is not ready."""
    try:
        kc = yamlfile.read(layout.admin_kubeconfig)
        server = kc["clusters"][0]["cluster"]["server"]
    except (OSError, UserError, KeyError, IndexError, TypeError):
        return False
    pki = layout.state / "data" / "pki"
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
    try:
        with urllib.request.urlopen(f"{server}/readyz", context=ctx, timeout=5) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def running(layout: Layout, tools: Path = TOOLS_DIR) -> bool:
    out = binaries(tools)
    return bool(
        alive(layout, "control-plane", out["simulated"])
        and alive(layout, "kwok", out["kwok"])
        and readyz(layout)
    )


def up(
    cfg: Config, layout: Layout, kubectl: str = "kubectl", say: Callable[[str], None] = print
) -> None:
    """Start the control plane and KWOK (after stopping leftovers of an earlier run), then
    wait for /readyz and every node Ready. Certificates and etcd data of an earlier run are
    reused. On any failure (Ctrl-C included) both are stopped again: nothing is left
    running; the logs stay for the error message to point at."""
    down(layout, remove=False)
    (layout.state / "data").mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        _start(cfg, layout, kubectl, started + cfg.start_timeout_seconds)
    except BaseException:
        down(layout, remove=False)
        raise
    say(
        f"simulated: control plane ready and {cfg.nodes.count} node(s) Ready in "
        f"{time.monotonic() - started:.1f}s"
    )


def _start(cfg: Config, layout: Layout, kubectl: str, deadline: float) -> None:
    out = binaries(layout.tools)
    pid = _spawn(layout, "control-plane", control_plane_command(layout, cfg, out["simulated"]))
    while not readyz(layout):
        if not alive(layout, "control-plane", out["simulated"]):
            raise UserError(
                f"simulated control plane exited ({_exit_status(pid)}): "
                f"{_tail(layout.log('control-plane'))} (log: {layout.log('control-plane')})"
            )
        if time.monotonic() > deadline:
            raise UserError(f"simulated control plane not ready: see {layout.log('control-plane')}")
        time.sleep(0.5)
    nodes = layout.state / "nodes.json"
    nodes.write_text(json.dumps(nodes_manifest(cfg), indent=2) + "\n")
    admin = f"--kubeconfig={layout.admin_kubeconfig}"
    _kubectl([kubectl, admin, "apply", "-f", str(nodes)])
    _spawn(layout, "kwok", kwok_command(layout, cfg, layout.tools))
    remaining = max(1, int(deadline - time.monotonic()))
    wait = [kubectl, admin, "wait", "--for=condition=Ready", "node", "--all",
            f"--timeout={remaining}s"]  # fmt: skip
    proc = subprocess.run(wait, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise UserError(
            f"simulated nodes not Ready: {proc.stderr.strip() or proc.stdout.strip()} "
            f"(kwok log: {_tail(layout.log('kwok'))})"
        )


def _kubectl(cmd: list[str]) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        last = (proc.stderr.strip() or proc.stdout.strip() or "no output").splitlines()[-1]
        raise UserError(f"`{display(cmd)}` failed: {last}")
    return proc.stdout


def down(layout: Layout, remove: bool = True, grace: float = 15.0) -> list[int]:
    """Stop every process group this cluster started (TERM, then KILL after `grace`
    seconds); remove the state directory when `remove`. Returns the pids stopped."""
    out = binaries(layout.tools)
    stopped = []
    for process, binary in (("kwok", out["kwok"]), ("control-plane", out["simulated"])):
        pid = alive(layout, process, binary)
        if pid is None:
            continue
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        end = time.monotonic() + grace
        while _exists(pid) and time.monotonic() < end:
            time.sleep(0.1)
        if _exists(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            while _exists(pid):
                time.sleep(0.05)
        stopped.append(pid)
        layout.pid_file(process).unlink(missing_ok=True)
    if remove:
        shutil.rmtree(layout.state, ignore_errors=True)
    return stopped


def _exit_status(pid: int) -> str:
    """How a child of this process ended, for the one-line error."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return "status unknown"
    if not done:
        return "still running, but not the built binary"
    code = os.waitstatus_to_exitcode(status)
    return f"signal {-code}" if code < 0 else f"exit status {code}"


def _exists(pid: int) -> bool:
    """The process is there and not a zombie (a detached child of this very process, as in
    tests, stays a zombie until reaped)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


# -- kubeconfig ----------------------------------------------------------------------------


def user_kubeconfig() -> Path:
    """Where the context goes: the first file of $KUBECONFIG, else ~/.kube/config (as
    kubectl writes)."""
    first = next((p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p), "")
    return Path(first) if first else Path.home() / ".kube" / "config"


def merge_commands(layout: Layout, target: Path, kubectl: str = "kubectl") -> list[list[str]]:
    """kubectl config set-* into `target`: entries of the same name are replaced (a restart
    has new ports), others kept; the context becomes current."""
    pki = layout.state / "data" / "pki"
    kc = yamlfile.read(layout.admin_kubeconfig)
    server = kc["clusters"][0]["cluster"]["server"]
    user = kc["users"][0]["name"]
    base = [kubectl, f"--kubeconfig={target}", "config"]
    embed = "--embed-certs=true"
    return [
        [*base, "set-cluster", layout.context, f"--server={server}",
         f"--certificate-authority={pki / 'ca.crt'}", embed],
        [*base, "set-credentials", user, f"--client-certificate={pki / 'admin.crt'}",
         f"--client-key={pki / 'admin.key'}", embed],
        [*base, "set-context", layout.context, f"--cluster={layout.context}", f"--user={user}"],
        [*base, "use-context", layout.context],
    ]  # fmt: skip


def merge_kubeconfig(layout: Layout, target: Path, kubectl: str = "kubectl") -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    for cmd in merge_commands(layout, target, kubectl):
        _kubectl(cmd)


def forget_kubeconfig(layout: Layout, target: Path, kubectl: str = "kubectl") -> None:
    """Remove the context, cluster and user `merge_kubeconfig` wrote; absent ones are fine."""
    if not target.is_file():
        return
    base = [kubectl, f"--kubeconfig={target}", "config"]
    for what, name in (
        ("delete-context", layout.context),
        ("delete-cluster", layout.context),
        ("delete-user", f"{layout.context}-admin"),
    ):
        subprocess.run([*base, what, name], capture_output=True, check=False)
