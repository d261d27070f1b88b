"""Pod Security: the levels namespaces enforce and the hardened pod our own workloads run.

Kubernetes' Pod Security admission reads three labels per namespace (enforce, audit,
warn) naming a level: `privileged` < `baseline` < `restricted`. A namespace shared by
several releases can enforce no more than its least-hardened pod passes, so the level of a
namespace is the loosest level its releases declare (`loosest`); audit and warn stay at
`restricted` everywhere so users see what keeps a namespace from the strictest level.

`violations` says what keeps a pod spec from a level (the Pod Security Standards' checks),
so the render is checked as admission would check it: every pod template of every release
(upstream charts' included where downloaded) and the pods controllers create at run time
(JupyterHub's user pods, from its values), each against its namespace's enforced level.

`hardened_pod` is the one pod spec our own servers use (the plain model server, the
catalogue issue 10 builds): it passes `restricted` and what checkov checks on top of it
(read-only root filesystem, no service-account token, probes, seccomp RuntimeDefault).
"""

from __future__ import annotations

from typing import Any, Literal

Level = Literal["privileged", "baseline", "restricted"]
LEVELS: tuple[Level, ...] = ("privileged", "baseline", "restricted")
PREFIX = "pod-security.kubernetes.io"
#: The seccomp profile the container runtime ships: restricted requires it (or Localhost).
SECCOMP = {"type": "RuntimeDefault"}
#: A container's securityContext that passes `restricted` (and checkov's container checks).
CONTAINER_SECURITY: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "privileged": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "seccompProfile": SECCOMP,
}
#: Writable scratch space for servers on a read-only root filesystem.
TMP_VOLUME = {"name": "tmp", "emptyDir": {}}
TMP_MOUNT = {"name": "tmp", "mountPath": "/tmp"}


def loosest(levels: list[Level]) -> Level:
    """The level a namespace can enforce when each of its releases passes `levels`."""
    return min(levels, key=LEVELS.index) if levels else "restricted"


def labels(level: Any) -> dict[str, Any]:
    """Pod Security labels: enforce `level` (a value or a slot), audit/warn restricted."""
    return {
        f"{PREFIX}/enforce": level,
        f"{PREFIX}/enforce-version": "latest",
        f"{PREFIX}/audit": "restricted",
        f"{PREFIX}/warn": "restricted",
    }


def hardened_container(container: dict[str, Any], *, uid: int = 65532) -> dict[str, Any]:
    """`container` with the restricted securityContext, a non-zero uid (checkov wants one
    above 10000) and /tmp writable on the read-only root filesystem."""
    security = {**CONTAINER_SECURITY, "runAsUser": uid, "runAsGroup": uid}
    mounts = [*container.get("volumeMounts", []), TMP_MOUNT]
    return {**container, "securityContext": security, "volumeMounts": mounts}


def hardened_pod(containers: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A pod spec that passes `restricted`: no token, seccomp, non-root, read-only root."""
    return {
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": SECCOMP},
        "containers": [hardened_container(c) for c in containers],
        "volumes": [TMP_VOLUME],
        **extra,
    }


def checkov_skips(**reasons: str) -> dict[str, str]:
    """checkov's in-chart exceptions as object annotations: `checkov.io/skip<N>:
    <CHECK>=<reason>`, e.g. checkov_skips(CKV_K8S_43="why")."""
    return {
        f"checkov.io/skip{i}": f"{check}={reason}"
        for i, (check, reason) in enumerate(sorted(reasons.items()), start=1)
    }


# --- admission: does a pod pass a level? ----------------------------------------------
#
# The Pod Security Standards (kubernetes.io/docs/concepts/security/pod-security-standards,
# "latest", which our namespaces enforce): the checks below are the ones a pod spec can
# fail; a spec passes a level when it passes every check of that level and the looser ones.

#: Capabilities baseline lets a container add; restricted only NET_BIND_SERVICE.
BASELINE_CAPABILITIES = frozenset(
    {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
     "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
)  # fmt: skip
#: Sysctls baseline allows (the "safe" set of Kubernetes 1.29+).
SAFE_SYSCTLS = frozenset(
    {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_local_reserved_ports",
     "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range",
     "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
     "net.ipv4.tcp_keepalive_probes"}
)  # fmt: skip
#: Volume types restricted allows.
RESTRICTED_VOLUMES = frozenset(
    {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
     "projected", "secret", "image"}
)  # fmt: skip
#: Kinds whose objects carry a pod template, and where it sits.
POD_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
ENFORCE = f"{PREFIX}/enforce"


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        c
        for key in ("initContainers", "containers", "ephemeralContainers")
        for c in spec.get(key) or []
    ]


def _baseline(spec: dict[str, Any]) -> list[str]:
    found = [f"{key}: true" for key in ("hostNetwork", "hostPID", "hostIPC") if spec.get(key)]
    found += [
        f"volume {v.get('name')}: hostPath" for v in spec.get("volumes") or [] if "hostPath" in v
    ]
    pod_sc = spec.get("securityContext") or {}
    found += [
        f"sysctl {s.get('name')}: not in the safe set"
        for s in pod_sc.get("sysctls") or []
        if s.get("name") not in SAFE_SYSCTLS
    ]
    for ctx, where in [
        (pod_sc, "pod"),
        *((c.get("securityContext") or {}, c.get("name")) for c in _containers(spec)),
    ]:
        if (ctx.get("seccompProfile") or {}).get("type") == "Unconfined":
            found.append(f"{where}: seccompProfile Unconfined")
        if (ctx.get("appArmorProfile") or {}).get("type") == "Unconfined":
            found.append(f"{where}: appArmorProfile Unconfined")
        if (ctx.get("windowsOptions") or {}).get("hostProcess"):
            found.append(f"{where}: windowsOptions.hostProcess")
        selinux = ctx.get("seLinuxOptions") or {}
        if selinux.get("user") or selinux.get("role") or selinux.get("type") not in (
            None, "", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"
        ):  # fmt: skip
            found.append(f"{where}: seLinuxOptions beyond the allowed types")
    for c in _containers(spec):
        ctx, name = c.get("securityContext") or {}, c.get("name")
        if ctx.get("privileged"):
            found.append(f"container {name}: privileged")
        added = set((ctx.get("capabilities") or {}).get("add") or []) - BASELINE_CAPABILITIES
        if added:
            found.append(f"container {name}: adds capabilities {', '.join(sorted(added))}")
        if ctx.get("procMount") not in (None, "Default"):
            found.append(f"container {name}: procMount {ctx['procMount']}")
        found += [
            f"container {name}: hostPort {p['hostPort']}"
            for p in c.get("ports") or []
            if p.get("hostPort")
        ]
    return found


def _restricted(spec: dict[str, Any]) -> list[str]:
    found = [
        f"volume {v.get('name')}: type {next(iter(set(v) - {'name'}), '?')}"
        for v in spec.get("volumes") or []
        if not set(v) - {"name"} <= RESTRICTED_VOLUMES
    ]
    pod_sc = spec.get("securityContext") or {}
    if pod_sc.get("runAsUser") == 0:
        found.append("pod: runAsUser 0")
    for c in _containers(spec):
        ctx, name = c.get("securityContext") or {}, c.get("name")
        if ctx.get("allowPrivilegeEscalation") is not False:
            found.append(f"container {name}: allowPrivilegeEscalation not false")
        if not ctx.get("runAsNonRoot", pod_sc.get("runAsNonRoot")):
            found.append(f"container {name}: runAsNonRoot not true")
        if ctx.get("runAsUser") == 0:
            found.append(f"container {name}: runAsUser 0")
        seccomp = (ctx.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            found.append(f"container {name}: seccompProfile not RuntimeDefault or Localhost")
        caps = ctx.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            found.append(f"container {name}: capabilities do not drop ALL")
        if set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
            found.append(f"container {name}: adds capabilities beyond NET_BIND_SERVICE")
    return found


def violations(spec: dict[str, Any], level: Level) -> list[str]:
    """What keeps a pod spec from `level` (empty: Pod Security admits it there)."""
    if level == "privileged":
        return []
    found = _baseline(spec)
    return found + _restricted(spec) if level == "restricted" else found


def pod_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The pod spec an object runs (its template's), or None for other kinds."""
    path = POD_PATHS.get(str(obj.get("kind")))
    node: Any = obj
    for key in path or ():
        node = (node or {}).get(key)
    return node if path and isinstance(node, dict) else None


def enforced(objects: list[dict[str, Any]]) -> dict[str, Level]:
    """namespace -> the level its rendered Namespace object enforces."""
    return {
        o["metadata"]["name"]: o["metadata"]["labels"][ENFORCE]
        for o in objects
        if o.get("kind") == "Namespace"
        and ENFORCE in ((o.get("metadata") or {}).get("labels") or {})
    }


def refused(objects: list[tuple[str, dict[str, Any]]], levels: dict[str, Level]) -> list[str]:
    """One line per pod template Pod Security would refuse: (namespace it runs in, object)
    against the level its namespace enforces (a namespace not labelled here: privileged,
    the API server's default, so nothing to report)."""
    out = []
    for namespace, obj in objects:
        spec = pod_spec(obj)
        ns = (obj.get("metadata") or {}).get("namespace") or namespace
        level = levels.get(ns, "privileged")
        for problem in violations(spec, level) if spec is not None else []:
            name = (obj.get("metadata") or {}).get("name")
            out.append(f"{obj['kind']} {ns}/{name}: {problem}: namespace {ns} enforces {level}")
    return out
