"""Writing a tree into a directory that other people also write to, without ever touching
their files.

An ownership manifest (`.mlstack-owned.yaml` at the top of the layout) records every file
mlstack wrote and the sha256 of what it wrote. A write owns whole directories (its scopes:
the shared `charts/` and one env's `values/<env>/` and `envs/<env>/`). Before anything is
written, every file inside a scope must be one the manifest records, unchanged since; a
file someone else put there, or edited, stops the write with one error and nothing
changes. Files mlstack wrote earlier that the new tree lacks are removed; entries of other
envs' scopes are kept as they are.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import yaml

from mlstack.errors import UserError
from mlstack.lib import atomic, yamlfile

MANIFEST = ".mlstack-owned.yaml"
#: The manifest a write in progress announces (see `write`).
PENDING = ".mlstack-owned.pending.yaml"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_HEADER = (
    "# Written by mlstack (generator/mlstack/gitops/owned.py): the files mlstack owns here\n"
    "# and the sha256 of what it wrote. mlstack never overwrites or deletes other files.\n"
)


@dataclass
class Changes:
    added: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.modified or self.removed)

    def summary(self) -> str:
        return f"{len(self.added)} added, {len(self.modified)} changed, {len(self.removed)} removed"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest_path(layout: str) -> str:
    return str(PurePosixPath(layout, MANIFEST))


def read_manifest(root: Path, layout: str, name: str = MANIFEST) -> dict[str, str]:
    path = root / PurePosixPath(layout, name)
    if not path.exists() and not path.is_symlink():
        return {}
    data = yamlfile.read(path)
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(data, dict) or data.get("owner") != "mlstack" or not isinstance(files, dict):
        raise UserError(
            f"{path}: not an mlstack ownership manifest: move it away or choose another GITOPS_PATH"
        )
    for rel, digest in files.items():
        if not isinstance(rel, str) or not isinstance(digest, str) or not _SHA256.match(digest):
            raise UserError(
                f"{path}: files.{rel}: not a sha256 digest: the manifest is corrupt; restore it "
                "from git (`git checkout -- <file>`) or move it away"
            )
        pure = PurePosixPath(rel)
        if pure.is_absolute() or ".." in pure.parts:
            raise UserError(f"{path}: files.{rel}: path leaves the repository: restore it from git")
    return dict(files)


def _accepted(root: Path, layout: str) -> dict[str, set[str]]:
    """Digests each owned file may have: the manifest's, and those of a write that was
    interrupted after announcing them (PENDING) but before its manifest was replaced."""
    accepted: dict[str, set[str]] = {}
    for name in (MANIFEST, PENDING):
        for rel, digest in read_manifest(root, layout, name).items():
            accepted.setdefault(rel, set()).add(digest)
    return accepted


def _in_scope(rel: str, scopes: tuple[str, ...]) -> bool:
    return any(rel == s or rel.startswith(s.rstrip("/") + "/") for s in scopes)


def _on_disk(root: Path, scopes: tuple[str, ...]) -> list[str]:
    found = []
    for scope in scopes:
        base = root / scope
        if base.is_file() or base.is_symlink():
            found.append(scope)
        elif base.is_dir():
            found += [str(p.relative_to(root)) for p in base.rglob("*") if not p.is_dir()]
    return sorted(set(found))


def problems(root: Path, layout: str, files: dict[str, str], scopes: tuple[str, ...]) -> list[str]:
    """Why writing `files` would touch something mlstack does not own (empty: safe)."""
    owned = _accepted(root, layout)
    where = manifest_path(layout)
    found = []
    for rel in _on_disk(root, scopes) + [r for r in files if not _in_scope(r, scopes)]:
        path = root / rel
        if not path.exists() and not path.is_symlink():
            continue
        if rel not in owned:
            found.append(
                f"{path}: not written by mlstack (not in {where}): move or delete it; "
                "mlstack owns this directory"
            )
        elif path.is_symlink() or not path.is_file() or sha(path.read_bytes()) not in owned[rel]:
            found.append(
                f"{path}: changed since mlstack wrote it: revert it (edit the generator "
                "or values/ instead)"
            )
    return found


def write(root: Path, layout: str, files: dict[str, str], scopes: tuple[str, ...]) -> Changes:
    """Make the owned scopes under `root` hold exactly `files`; refuse if not ours.

    The new manifest is first written as PENDING, then the files, then PENDING replaces
    the manifest: a run killed half-way leaves files the next run still recognises as its
    own (their digest is in PENDING), so it is never blocked by its own partial write.
    """
    with atomic.lock(root):
        found = problems(root, layout, files, scopes)
        if found:
            more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
            raise UserError(found[0] + more)
        try:
            return _write(root, layout, files, scopes)
        except OSError as err:
            raise atomic.os_error(err, str(root)) from None


def _write(root: Path, layout: str, files: dict[str, str], scopes: tuple[str, ...]) -> Changes:
    owned = read_manifest(root, layout)
    kept = {r: h for r, h in owned.items() if not _in_scope(r, scopes) and r not in files}
    kept.update({rel: sha(text.encode()) for rel, text in files.items()})
    body = yaml.safe_dump({"owner": "mlstack", "files": dict(sorted(kept.items()))}, width=1000)
    target = root / manifest_path(layout)
    pending = root / PurePosixPath(layout, PENDING)
    unchanged = target.exists() and not pending.exists()
    unchanged = unchanged and yamlfile.read_text(target) == _HEADER + body
    if unchanged and all(_has(root / rel, text) for rel, text in files.items()):
        return Changes()
    _replace(pending, (_HEADER + body).encode())
    changes = Changes()
    for rel, text in files.items():
        path = root / rel
        data = text.encode()
        if path.exists():
            if path.is_file() and path.read_bytes() == data:
                continue
            changes.modified.append(rel)
        else:
            changes.added.append(rel)
        _replace(path, data)
    for rel in sorted(owned):
        if _in_scope(rel, scopes) and rel not in files:
            (root / rel).unlink(missing_ok=True)
            changes.removed.append(rel)
            _prune_empty((root / rel).parent, root)
    os.replace(pending, target)
    return changes


def _has(path: Path, text: str) -> bool:
    return path.is_file() and not path.is_symlink() and path.read_bytes() == text.encode()


def _replace(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.mlstack-tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _prune_empty(folder: Path, root: Path) -> None:
    while folder != root and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent
