"""The lifecycle commands as users meet them: one line per problem, dry runs need no cluster."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import enabled
from mlstack import REPO_ROOT, cli


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """In a fresh process, as users run it."""
    return subprocess.run(
        [sys.executable, "-m", "mlstack", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )


def _main(capsys: pytest.CaptureFixture[str], *args: str) -> subprocess.CompletedProcess[str]:
    """In this process (fast): same exit code and output as the command line."""
    code = cli.main(list(args))
    out = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), code, out.out, out.err)


@pytest.mark.parametrize(
    "args",
    [
        ("install", "--env", "kind", "--dry-run"),
        ("uninstall", "--env", "kind", "--dry-run"),
        ("smoke", "--env", "kind", "--dry-run"),
        ("cluster", "create", "kind", "--dry-run"),
    ],
)
def test_unknown_env_is_one_line(args: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    proc = _main(capsys, *args)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: unknown environment 'kind': no values/kind/environment")
    assert "(environments: ci, eks, k3d, " in proc.stderr
    assert len(proc.stderr.splitlines()) == 1


def test_missing_prerequisites_one_line_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    proc = _main(capsys, "cluster", "create", "k3d")
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert [ln.split(" not found")[0] for ln in lines] == [
        f"error: make cluster ENV=k3d: {tool}" for tool in ("docker", "k3d", "kubectl", "helm")
    ]
    assert "Traceback" not in proc.stderr


def test_no_kube_context_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    for command in ("install", "uninstall"):
        proc = _main(capsys, command, "--env", "k3d")
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr == (
            "error: no kube context: create a cluster (`make cluster ENV=<env>`) or point "
            "KUBECONFIG at one\n"
        )


def test_dry_runs_need_no_cluster(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = {"KUBECONFIG": str(tmp_path / "missing")}
    install = _run("install", "--env", "k3d", "--dry-run", env=env)
    assert install.returncode == 0, install.stderr
    assert "$ helm upgrade --install metallb-pool charts/metallb-pool" in install.stdout
    uninstall = _main(capsys, "uninstall", "--env", "minikube", "--dry-run", "--purge")
    releases = enabled("minikube")
    first = f"[1/{len(releases)}] {releases[-1]}"  # reverse install order
    assert uninstall.returncode == 0 and first in uninstall.stdout
    assert "delete the CRDs" in uninstall.stdout
    created = _main(capsys, "cluster", "create", "k3d", "--dry-run")
    assert created.returncode == 0, created.stderr
    assert "+ k3d cluster create --config platform/k3d.yaml" in created.stdout
    assert not (REPO_ROOT / "values" / "k3d" / "local" / ".metallb-pool.yaml.tmp").exists()
    deleted = _main(capsys, "cluster", "delete", "minikube", "--dry-run")
    assert deleted.stdout.strip() == "+ minikube delete --profile mlstack"


def test_bad_from_and_timeout_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    proc = _main(capsys, "install", "--env", "k3d", "--dry-run", "--from", "kserve-nope")
    releases = ", ".join(enabled("k3d"))
    assert proc.stderr == (
        f"error: FROM=kserve-nope is not a release of k3d: use one of {releases}\n"
    )
    proc = _main(capsys, "install", "--env", "k3d", "--dry-run", "--timeout", "soon")
    assert proc.returncode == 2 and proc.stderr.startswith("error: TIMEOUT=soon is not a duration")


def test_readme_quick_start_matches_the_makefile() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    for line in (
        "make cluster-k3d && make install-platform",
        "make cluster-minikube && make install-platform ENV=minikube",
        "make cluster-eks && make install-platform ENV=eks",
    ):
        assert line in readme
    rules = {
        name
        for line in (REPO_ROOT / "Makefile").read_text().splitlines()
        if re.match(r"^[a-z0-9 -]+:", line)
        for name in line.split(":")[0].split()
    }
    wanted = {"cluster-k3d", "cluster-minikube", "cluster-eks", "delete-k3d", "install-platform"}
    assert wanted | {"cluster", "delete", "uninstall-platform", "smoke", "e2e", "envs"} <= rules
