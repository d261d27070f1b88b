"""Running the external tools (docker, k3d, minikube, eksctl, kubectl, helm) or printing them.

A missing tool is the most common first failure on a laptop, so each gets one line saying
which tool, why it is needed and where to get it, before anything starts.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mlstack import REPO_ROOT
from mlstack.errors import UserError

#: Where to get each prerequisite, for the one-line error.
INSTALL_HINTS = {
    "docker": "https://docs.docker.com/get-docker/",
    "k3d": "https://k3d.io/#installation",
    "minikube": "https://minikube.sigs.k8s.io/docs/start/",
    "eksctl": "https://eksctl.io/installation/",
    "kubectl": "https://kubernetes.io/docs/tasks/tools/",
    "helm": "`make setup` (or https://helm.sh/docs/intro/install/)",
    "go": "Go 1.25+ builds the simulated cluster: https://go.dev/dl/",
}


def missing_tools(
    tools: Sequence[str], which: Callable[[str], str | None] = shutil.which
) -> list[str]:
    """One line per tool that is not on PATH (`which` is injectable for tests)."""
    return [
        f"{tool} not found on PATH: install it ({INSTALL_HINTS.get(tool, 'see its docs')})"
        for tool in tools
        if which(tool) is None
    ]


def require(tools: Sequence[str], purpose: str) -> None:
    problems = missing_tools(tools)
    if problems:
        raise UserError("\n".join(f"{purpose}: {p}" for p in problems))


def display(cmd: Sequence[str]) -> str:
    """A command as a user would paste it from the repository root."""
    shown = []
    for arg in cmd:
        path = Path(arg)
        if path.is_absolute() and path.is_relative_to(REPO_ROOT):
            arg = str(path.relative_to(REPO_ROOT))
        shown.append(arg)
    return shlex.join(shown)


@dataclass
class Runner:
    """Runs commands, or in dry-run mode prints them and pretends they succeeded."""

    dry_run: bool = False
    say: Callable[[str], None] = print
    env: dict[str, str] = field(default_factory=dict)

    def run(self, cmd: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        self.say(f"+ {display(cmd)}")
        if self.dry_run:
            return subprocess.CompletedProcess(list(cmd), 0, "", "")
        return self.query(cmd, check=check)

    def query(self, cmd: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run without echoing (reads such as `k3d cluster list`); also runs in dry-run."""
        try:
            proc = subprocess.run(
                list(cmd),
                capture_output=True,
                text=True,
                check=False,
                cwd=REPO_ROOT,
                env={**os.environ, **self.env},
            )
        except FileNotFoundError:
            raise UserError(f"{cmd[0]} not found on PATH: install it") from None
        if check and proc.returncode != 0:
            last = (proc.stderr.strip() or proc.stdout.strip() or "no output").splitlines()[-1]
            raise UserError(f"`{display(cmd)}` failed: {last}")
        return proc
