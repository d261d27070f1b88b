"""The README's commands on a user's first run: a fresh clone with no team mirror beside it.

Every other test reads the upstream schemas from the mirror; a user has none. Here a real
`git clone` of this checkout (committed state plus uncommitted edits of tracked files)
fetches them through `MLSTACK_UPSTREAM_URL` from a loopback stand-in of the raw-file host,
renders, renders again with the host gone (from the cache), and with neither cache nor
host gets one line saying what to do. The clone reuses this checkout's .venv and helm
(`make VENV=…`, `HELM=…`) so the test costs the commands, not a 40 s package install.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlstack import REPO_ROOT, project
from mlstack.lib import fetch, helm
from upstream_standin import Standin, table

pytestmark = pytest.mark.slow
#: The venv running these tests (the checkout's .venv, or the one `make VENV=…` names).
VENV = Path(sys.prefix)


def checkout(target: Path) -> Path:
    """`git clone` of this repository at its working state (tracked files)."""
    work = subprocess.run(
        ["git", "stash", "create"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    subprocess.run(["git", "clone", "--quiet", str(REPO_ROOT), str(target)], check=True)
    if work:  # uncommitted edits: the clone shares the objects, so check out that tree
        subprocess.run(["git", "checkout", "--quiet", work, "--", "."], cwd=target, check=True)
    return target


def user_env(upstream: str) -> dict[str, str]:
    """The environment of a user's shell: no mirror setting, nothing from the outer make."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"MLSTACK_SCHEMA_DIR", "PYTHONPATH", "MAKEFLAGS", "MAKELEVEL", "MFLAGS"}
    }
    env["MLSTACK_UPSTREAM_URL"] = upstream
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1"  # a CI proxy must not see the loopback host
    env["HELM"] = helm.binary()
    return env


@pytest.fixture(scope="module")
def standin(schema_dir: Path) -> Iterator[Standin]:
    with Standin(table(schema_dir)) as running:
        yield running


def _venv_stamp() -> Path:
    """This checkout's venv stamp for the current pyproject.toml. The clone names it so that
    make never reinstalls into the shared venv: a `pip install -e` from the clone would point
    the venv's editable install at a temporary directory that is deleted after the test."""
    digest = hashlib.sha256((REPO_ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    stamp = VENV / f".installed-{digest}"
    assert stamp.exists(), f"{stamp} missing: run `make setup` first"
    return stamp


def _make(clone: Path, env: dict[str, str], *targets: str) -> subprocess.CompletedProcess[str]:
    venv = f"VENV={VENV}"
    return subprocess.run(
        ["make", "--no-print-directory", venv, f"VENV_STAMP={_venv_stamp()}", *targets],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_render_from_a_fresh_clone_then_offline(tmp_path: Path, standin: Standin) -> None:
    clone = checkout(tmp_path / "mlstack")
    assert not (clone.parent / "shared").exists()
    env = user_env(standin.url)
    total = len(fetch.sources())

    first = _make(clone, env, "schemas")
    assert first.returncode == 0, first.stderr
    assert f"fetched {total} of {total} upstream files" in first.stdout
    assert (clone / ".cache/upstream/crds/emissary-4.1.0/emissary-crds.rendered.yaml").exists()

    render = _make(clone, env, "render")
    assert render.returncode == 0, render.stdout + render.stderr
    assert "render k3d: " in render.stdout
    assert (clone / "build/k3d").is_dir()

    standin.stop()  # the network is gone: the cache is enough
    again = _make(clone, env, "render")
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"{total} upstream files in {clone}/.cache/upstream match" in again.stdout

    shutil.rmtree(clone / ".cache/upstream")  # ...and with no cache, one line says what to do
    offline = _make(clone, env, "render")
    assert offline.returncode != 0
    ours = [line for line in offline.stderr.splitlines() if not line.startswith("make: ***")]
    assert len(ours) == 1, offline.stderr
    assert ours[0].startswith(f"error: could not download {standin.url}/")
    assert "MLSTACK_UPSTREAM_URL" in ours[0] and "MLSTACK_SCHEMA_DIR" in ours[0]


def test_publish_dry_run_defaults_to_the_project_registry(tmp_path: Path) -> None:
    """`make publish DRY_RUN=1` without REGISTRY pushes to project.yaml's registry (make
    passed an empty --registry, refused as not an OCI reference)."""
    clone = checkout(tmp_path / "mlstack")
    proc = _make(clone, user_env("http://127.0.0.1:9"), "publish", "DRY_RUN=1")
    assert proc.returncode == 0, proc.stderr
    registry = project.load().registry
    pushes = [ln for ln in proc.stdout.splitlines() if ln.startswith("would run: helm push ")]
    assert pushes and all(ln.split()[5] == registry for ln in pushes), proc.stdout


def test_install_plan_of_a_new_env_folder_generates_first(tmp_path: Path) -> None:
    """`cp -r values/k3d values/lab` (no generated/ yet): `make install-platform ENV=lab
    DRY_RUN=1` generates what it needs, as `make render` does, and plans."""
    clone = checkout(tmp_path / "mlstack")
    shutil.copytree(
        clone / "values" / "k3d",
        clone / "values" / "lab",
        ignore=shutil.ignore_patterns("generated", "local"),
    )
    proc = _make(clone, user_env("http://127.0.0.1:9"), "install-platform", "ENV=lab", "DRY_RUN=1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[1].startswith("install-platform lab: ")
    assert (clone / "values" / "lab" / "generated" / "namespaces.yaml").is_file()
    assert (clone / "build" / "lab" / "install.sh").is_file()
