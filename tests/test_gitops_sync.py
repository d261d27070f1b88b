"""gitops-sync against real local bare Git repositories, with the real git CLI."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from mlstack import registry, resolve
from mlstack.errors import UserError
from mlstack.gitops import plan, sync, tree
from mlstack.lib import releases

URL = "https://git.example.test/platform/gitops.git"
#: k3d and minikube have `domain: auto`: GitOps needs the domain given (an RFC 5737 address).
SETTINGS = plan.Settings(
    repo_url=URL, revision="main", path="mlstack", domain="192.0.2.10.sslip.io"
)
#: Commits the tests make as "someone else"; mlstack's own commits need no identity.
OTHER = ("-c", "user.name=Someone Else", "-c", "user.email=else@example.invalid")


def git(cwd: Path | None, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return proc.stdout.strip()


def commits(bare: Path, branch: str = "main") -> list[str]:
    return git(bare, "log", "--format=%H", branch).splitlines()


def show(bare: Path, path: str, branch: str = "main") -> str:
    return git(bare, "show", f"{branch}:{path}")


@pytest.fixture
def bare(tmp_path: Path) -> Path:
    path = tmp_path / "gitops.git"
    git(None, "init", "--quiet", "--bare", "--initial-branch=main", str(path))
    return path


def _sync(
    remote: Path,
    schema_dir: Path,
    env: str = "k3d",
    charts_dir: Path = plan.CHARTS_DIR,
    checkout: Path | None = None,
    branch: str = "main",
) -> sync.Outcome:
    resolved = resolve.resolve(env)
    layout = tree.tree(resolved, SETTINGS, schema_dir, charts_dir=charts_dir)
    return sync.sync(resolved.env, SETTINGS, layout, str(remote), branch, checkout)


def _other_clone(bare: Path, where: Path) -> Path:
    git(None, "clone", "--quiet", str(bare), str(where))
    return where


def _next_patch(version: str) -> str:
    major, minor, patch = releases.semver(version)
    return f"{major}.{minor}.{patch + 1}"


def test_first_sync_one_commit_then_nothing_then_one_per_chart_change(
    bare: Path, schema_dir: Path, charts_copy: Path
) -> None:
    first = _sync(bare, schema_dir, charts_dir=charts_copy)
    assert first.commit and commits(bare) == [first.commit]
    subject = git(bare, "log", "-1", "--format=%s", "main")
    # The tree ships every registered chart (opt-in ones too, e.g. Seldon), so all are new.
    shipped = {c.id for c in registry.COMPONENTS}
    versions = {c: releases.for_chart(c).current for c in sorted(shipped)}
    assert subject == "mlstack k3d: " + ", ".join(f"{c} {v}" for c, v in versions.items())
    pool = releases.for_chart("metallb-pool")
    current, bumped = pool.current, _next_patch(pool.current)
    assert f"- metallb-pool {current} (new): {pool.releases[0].changes[0]}" in (first.message or "")
    assert "kind: HelmRelease" in show(bare, "mlstack/envs/k3d/flux/releases/metallb-pool.yaml")
    assert "mlstack/charts/metallb/Chart.lock" in show(bare, "mlstack/.mlstack-owned.yaml")

    second = _sync(bare, schema_dir, charts_dir=charts_copy)
    assert second.commit is None and not second.changes
    assert commits(bare) == [first.commit]

    chart = charts_copy / "metallb-pool" / "Chart.yaml"
    chart.write_text(chart.read_text().replace(f"version: {current}", f"version: {bumped}"))
    third = _sync(bare, schema_dir, charts_dir=charts_copy)
    assert commits(bare) == [third.commit, first.commit]
    assert git(bare, "log", "-1", "--format=%s", "main") == f"mlstack k3d: metallb-pool {bumped}"
    assert f"- metallb-pool {current} -> {bumped}" in (third.message or "")
    changed = git(bare, "diff", "--name-only", first.commit or "", third.commit or "")
    assert set(changed.splitlines()) >= {
        "mlstack/charts/metallb-pool/Chart.yaml",
        "mlstack/envs/k3d/argocd/apps/metallb-pool.yaml",  # chart-version annotation
        "mlstack/.mlstack-owned.yaml",
    }


def test_foreign_file_in_owned_path_is_an_error_and_nothing_is_pushed(
    bare: Path, schema_dir: Path, tmp_path: Path
) -> None:
    _sync(bare, schema_dir)
    other = _other_clone(bare, tmp_path / "other")
    (other / "mlstack" / "charts" / "metallb" / "NOTES.txt").write_text("hand-written\n")
    (other / "README.md").write_text("outside the owned layout: fine\n")
    git(other, "add", "-A")
    git(other, *OTHER, "commit", "--quiet", "-m", "someone adds files")
    git(other, "push", "--quiet", "origin", "main")
    tip = commits(bare)
    with pytest.raises(UserError, match=r"NOTES.txt: not written by mlstack"):
        _sync(bare, schema_dir, env="minikube")
    assert commits(bare) == tip


def test_hand_edited_owned_file_is_an_error(bare: Path, schema_dir: Path, tmp_path: Path) -> None:
    _sync(bare, schema_dir)
    other = _other_clone(bare, tmp_path / "other")
    values = other / "mlstack" / "values" / "k3d" / "metallb-pool.yaml"
    values.write_text(values.read_text() + "# tweak\n")
    git(other, *OTHER, "commit", "--quiet", "-am", "hand edit")
    git(other, "push", "--quiet", "origin", "main")
    tip = commits(bare)
    with pytest.raises(UserError, match=r"metallb-pool.yaml: changed since mlstack wrote it"):
        _sync(bare, schema_dir)
    assert commits(bare) == tip


def test_files_outside_the_layout_and_other_envs_are_kept(
    bare: Path, schema_dir: Path, tmp_path: Path
) -> None:
    other = _other_clone(bare, tmp_path / "other")
    (other / "README.md").write_text("the team's own file\n")
    git(other, "add", "-A")
    git(other, *OTHER, "commit", "--quiet", "-m", "start")
    git(other, "push", "--quiet", "origin", "main")
    _sync(bare, schema_dir, env="k3d")
    _sync(bare, schema_dir, env="minikube")
    listed = git(bare, "ls-tree", "-r", "--name-only", "main").splitlines()
    assert "README.md" in listed
    assert "mlstack/envs/k3d/argocd/root.yaml" in listed
    assert "mlstack/envs/minikube/argocd/root.yaml" in listed
    assert len(commits(bare)) == 3


def test_missing_local_repo_is_initialised_and_new_branch_created(
    tmp_path: Path, schema_dir: Path
) -> None:
    remote = tmp_path / "new" / "gitops.git"
    outcome = _sync(remote, schema_dir, branch="platform")
    assert outcome.commit and commits(remote, "platform") == [outcome.commit]


def test_kept_checkout_dirty_or_diverged_is_an_error_and_nothing_is_pushed(
    bare: Path, schema_dir: Path, tmp_path: Path, charts_copy: Path
) -> None:
    checkout = tmp_path / "checkout"
    _sync(bare, schema_dir, checkout=checkout)
    assert _sync(bare, schema_dir, checkout=checkout).commit is None
    (checkout / "scratch.txt").write_text("left behind\n")
    tip = commits(bare)
    with pytest.raises(UserError, match=r"is dirty .*nothing was pushed"):
        _sync(bare, schema_dir, checkout=checkout)
    (checkout / "scratch.txt").unlink()

    git(checkout, *OTHER, "commit", "--quiet", "--allow-empty", "-m", "local only")
    other = _other_clone(bare, tmp_path / "other")
    git(other, *OTHER, "commit", "--quiet", "--allow-empty", "-m", "remote only")
    git(other, "push", "--quiet", "origin", "main")
    tip = commits(bare)
    chart = charts_copy / "metallb-pool" / "Chart.yaml"
    current = releases.for_chart("metallb-pool").current
    chart.write_text(chart.read_text().replace(f"version: {current}", "version: 9.0.0"))
    with pytest.raises(UserError, match=r"diverged \(1 local, 1 remote\).*nothing was pushed"):
        _sync(bare, schema_dir, checkout=checkout, charts_dir=charts_copy)
    assert commits(bare) == tip

    git(checkout, "reset", "--quiet", "--hard", "origin/main")
    fresh = _sync(bare, schema_dir, checkout=checkout, charts_dir=charts_copy)
    assert fresh.commit and commits(bare)[0] == fresh.commit  # behind is fine: fast-forward


def test_cli_sync_reports_and_errors_in_one_line(bare: Path, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "mlstack", "gitops-sync", "--env", "k3d", "--repo", str(bare)]
    cmd += ["--domain", SETTINGS.domain]
    proc = subprocess.run([*cmd, "--repo-url", URL], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    versions = [releases.for_chart(c).current for c in ("metallb", "metallb-pool")]
    shown = rf"metallb {re.escape(versions[0])}, metallb-pool {re.escape(versions[1])}"
    assert re.search(rf"pushed [0-9a-f]{{12}} .*{shown}", proc.stdout)
    again = subprocess.run([*cmd, "--repo-url", URL], capture_output=True, text=True, check=False)
    assert again.returncode == 0 and "is up to date" in again.stdout
    local = subprocess.run(cmd, capture_output=True, text=True, check=False)  # URL = local path
    assert local.returncode == 2 and "pull over https:// or ssh://" in local.stderr
    assert len(local.stderr.strip().splitlines()) == 1
