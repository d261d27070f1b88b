"""`gitops-sync`: put one env's charts, values and manifests into a GitOps repository.

Uses the real `git` CLI. The repository is cloned into a throw-away directory (or a kept
checkout, `--checkout`), the layout is written through the ownership manifest (so files
mlstack did not write are never touched), and one commit naming the chart versions that
changed is pushed without force. Nothing changed: no commit. A dirty or diverged checkout,
a hand-edited or foreign file in the owned layout, or a remote that moved while we worked:
one error, nothing pushed. A local path that does not exist yet is initialised as a bare
repository, so a first sync can start from nothing.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from mlstack.environments import Environment
from mlstack.errors import UserError
from mlstack.gitops import owned
from mlstack.gitops.plan import Settings
from mlstack.gitops.tree import Tree
from mlstack.lib import atomic, releases, yamlfile

_REMOTE_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://|^[^/]+@[^/]+:")
IDENTITY = ("-c", "user.name=mlstack", "-c", "user.email=mlstack@localhost")


@dataclass(frozen=True)
class Outcome:
    commit: str | None
    message: str | None
    changes: owned.Changes
    seconds: float


def git(cwd: Path | None, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=300
    )
    if check and proc.returncode != 0:
        last = (proc.stderr.strip() or proc.stdout.strip() or "no output").splitlines()[-1]
        raise UserError(f"git {args[0]} failed ({cwd or '.'}): {last}")
    return proc


def is_local(remote: str) -> bool:
    return not _REMOTE_URL.match(remote)


def ensure_remote(remote: str, branch: str) -> str:
    """A URL as is; a local path made absolute, initialised as a bare repo when missing."""
    if not is_local(remote):
        return remote
    try:
        path = Path(remote).expanduser().resolve()
    except (RuntimeError, OSError) as err:  # a symlink loop: RuntimeError before 3.13
        raise UserError(f"GITOPS_REPO={remote}: cannot follow the path ({err}): fix it") from None
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        git(None, "init", "--quiet", "--bare", f"--initial-branch={branch}", str(path))
        print(f"gitops-sync: initialised bare repository {path}")
    elif git(path, "rev-parse", "--git-dir", check=False).returncode != 0:
        raise UserError(f"GITOPS_REPO={remote} exists but is not a Git repository")
    return str(path)


def _remote_has(checkout: Path, branch: str) -> bool:
    refs = git(checkout, "ls-remote", "--heads", "origin", branch).stdout
    return bool(refs.strip())


def prepare(checkout: Path, remote: str, branch: str) -> None:
    """Make `checkout` a clean clone of `remote` at the tip of `branch` (or a new branch)."""
    if not (checkout / ".git").exists():
        git(None, "clone", "--quiet", "--no-checkout", remote, str(checkout))
    else:
        origin = git(checkout, "remote", "get-url", "origin", check=False).stdout.strip()
        if origin != remote:
            raise UserError(
                f"checkout {checkout} clones {origin or 'nothing'}, not {remote}: "
                "use another GITOPS_CHECKOUT"
            )
        dirty = git(checkout, "status", "--porcelain").stdout.strip()
        if dirty:
            first = dirty.splitlines()[0]
            raise UserError(
                f"checkout {checkout} is dirty ({first!r}): commit, stash or remove the "
                "changes; nothing was pushed"
            )
        git(checkout, "fetch", "--quiet", "origin")
    if not _remote_has(checkout, branch):
        if git(checkout, "rev-parse", "--verify", "--quiet", "HEAD", check=False).returncode:
            git(checkout, "symbolic-ref", "HEAD", f"refs/heads/{branch}")
        else:
            git(checkout, "switch", "--quiet", "--orphan", branch)
        return
    upstream = f"origin/{branch}"
    local = git(checkout, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False)
    if local.returncode == 0:
        counts = git(checkout, "rev-list", "--left-right", "--count", f"{branch}...{upstream}")
        ahead, behind = (int(n) for n in counts.stdout.split())
        if ahead:
            state = f"diverged ({ahead} local, {behind} remote)" if behind else "ahead"
            raise UserError(
                f"checkout {checkout}: branch {branch} is {state} of {upstream}: push or "
                "drop the local commits first; nothing was pushed"
            )
    git(checkout, "checkout", "--quiet", "-B", branch, upstream)


def chart_versions(root: Path, settings: Settings) -> dict[str, str]:
    """{chart id: version} of the charts in a layout on disk."""
    found = {}
    for meta in sorted((root / settings.at("charts")).glob("*/Chart.yaml")):
        data = yamlfile.read_mapping(meta)
        found[meta.parent.name] = str(data.get("version", "?"))
    return found


def message(env: Environment, before: dict[str, str], after: dict[str, str]) -> str:
    """Subject names every chart version that changed; body says what changed in each."""
    lines, names = [], []
    for chart, version in after.items():
        if before.get(chart) == version:
            continue
        names.append(f"{chart} {version}")
        was = f"{before[chart]} -> {version}" if chart in before else f"{version} (new)"
        changes = _changelog(chart, version)
        lines.append(f"- {chart} {was}" + (f": {'; '.join(changes)}" if changes else ""))
    lines += [f"- {chart} {before[chart]} removed" for chart in before if chart not in after]
    names += [f"{chart} removed" for chart in before if chart not in after]
    subject = f"mlstack {env.name}: " + (", ".join(names) or "values and manifests")
    body = "\n".join(lines) if lines else "No chart version changed."
    return f"{subject}\n\n{body}\n"


def _changelog(chart: str, version: str) -> list[str]:
    entry = releases.load().get(chart)
    found = [r.changes for r in entry.releases if r.version == version] if entry else []
    return found[0] if found else []


def sync(
    env: Environment,
    settings: Settings,
    tree: Tree,
    remote: str,
    branch: str,
    checkout: Path | None = None,
) -> Outcome:
    started = time.perf_counter()
    remote = ensure_remote(remote, branch)
    temp: Path | None = None
    if checkout is None:
        temp = Path(tempfile.mkdtemp(prefix="mlstack-gitops."))
        work = temp / "repo"
    else:
        try:
            work = checkout.resolve()
        except (RuntimeError, OSError) as err:
            raise UserError(
                f"GITOPS_CHECKOUT={checkout}: cannot follow the path ({err}): fix it"
            ) from None
    layout = settings.path or "."
    with atomic.lock(work):  # one sync at a time per checkout
        try:
            recover(work, layout)
            prepare(work, remote, branch)
            _begin(work, branch)
            before = chart_versions(work, settings)
            changes = owned.write(work, layout, tree.files, tree.scopes)
            # The checkout was clean, so everything that changed under the layout is ours.
            git(work, "add", "--all", "--", layout)
            if not git(work, "status", "--porcelain", "--", layout).stdout.strip():
                return Outcome(None, None, changes, time.perf_counter() - started)
            text = message(env, before, chart_versions(work, settings))
            head = git(work, "rev-parse", "--verify", "--quiet", "HEAD", check=False).stdout.strip()
            has_identity = git(work, "config", "user.email", check=False).stdout.strip()
            identity = () if has_identity else IDENTITY
            git(work, *identity, "commit", "--quiet", "-m", text)
            push = git(work, "push", "--quiet", "origin", f"HEAD:refs/heads/{branch}", check=False)
            if push.returncode != 0:
                _undo(work, head, branch)
                last = (push.stderr.strip() or "no output").splitlines()[-1]
                raise UserError(
                    f"push to {remote} ({branch}) refused, nothing pushed: {last}: the remote "
                    "branch moved or diverged; run gitops-sync again"
                )
            commit = git(work, "rev-parse", "HEAD").stdout.strip()
            (work / ".git" / IN_PROGRESS).unlink(missing_ok=True)
            return Outcome(commit, text, changes, time.perf_counter() - started)
        finally:
            if temp is not None:
                shutil.rmtree(temp, ignore_errors=True)
            else:
                recover(work, layout)  # no-op after success; undoes a failed or interrupted run


#: Marker in a kept checkout's .git/ while a sync changes it: {"branch", "head"}.
IN_PROGRESS = "mlstack-sync-in-progress"


def _begin(work: Path, branch: str) -> None:
    """Record where the clean checkout was before this run changes it."""
    head = git(work, "rev-parse", "--verify", "--quiet", "HEAD", check=False).stdout.strip()
    (work / ".git" / IN_PROGRESS).write_text(json.dumps({"branch": branch, "head": head}))


def recover(work: Path, layout: str) -> None:
    """Put a kept checkout back where an interrupted (even SIGKILLed) sync found it.

    Only acts when this run's marker is there, so a checkout someone else made dirty is
    still refused by `prepare`, never cleaned: the files under the layout are ours (the
    checkout was clean when the marker was written), and so is a commit not yet pushed.
    """
    marker = work / ".git" / IN_PROGRESS
    if not marker.exists():
        return
    try:
        state = json.loads(marker.read_text())
        head, branch = str(state["head"]), str(state["branch"])
    except (OSError, ValueError, KeyError, TypeError):
        head, branch = "", ""
    (work / ".git" / "index.lock").unlink(missing_ok=True)  # left by a killed git
    if head:
        git(work, "reset", "--quiet", "--hard", head, check=False)
    else:
        git(work, "rm", "-r", "-q", "--cached", "--ignore-unmatch", ".", check=False)
        if branch:
            git(work, "update-ref", "-d", f"refs/heads/{branch}", check=False)
    git(work, "clean", "-fdq", "--", layout, check=False)
    marker.unlink(missing_ok=True)


def _undo(work: Path, head: str, branch: str) -> None:
    """Leave a kept checkout as it was, so the next run is not blocked by our commit."""
    if head:
        git(work, "reset", "--quiet", "--hard", head, check=False)
    else:
        git(work, "update-ref", "-d", f"refs/heads/{branch}", check=False)
