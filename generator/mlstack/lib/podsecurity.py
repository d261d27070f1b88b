"""Pod Security: the levels namespaces enforce and the hardened pod our own workloads run.

Kubernetes' Pod Security admission reads three labels per namespace (enforce, audit,
warn) naming a level: `privileged` < `baseline` < `restricted`. A namespace shared by
several releases can enforce no more than its least-hardened pod passes, so the level of a
namespace is the loosest level its releases declare (`loosest`); audit and warn stay at
`restricted` everywhere so users see what keeps a namespace from the strictest level.

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
