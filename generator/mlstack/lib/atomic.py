"""Output trees replaced as a whole or not at all, and one run at a time per output.

`charts/`, `values/<env>/generated/`, `build/<env>/` and `dist/` are each rebuilt from
scratch in a sibling directory (`.<name>.mlstack-new-XXXX`) and then swapped in with
renames. A transaction may hold several trees (generate writes charts/ and every env's
generated values): once all of them are complete on disk, a journal listing the swaps is
written beside each target, the renames run with SIGINT/SIGTERM/SIGHUP held back, and the
journal is deleted. A run killed even with SIGKILL therefore leaves either the old trees
(killed while staging: the next run deletes the half-built siblings) or a journal that the
next run finishes (rolls forward: every new tree was complete before the journal existed).

`lock` serialises runs that write the same output: an exclusive `flock` on
`.<name>.mlstack-lock` beside it. The kernel drops the lock when its process dies, so a
killed run never leaves a stale lock; a second run waits up to `MLSTACK_LOCK_WAIT`
seconds (default 60) and then stops with one line naming the holder's pid.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType

from mlstack.errors import UserError

NEW, OLD, JOURNAL, LOCK = "mlstack-new-", "mlstack-old-", "mlstack-journal", "mlstack-lock"
WAIT_ENV = "MLSTACK_LOCK_WAIT"
_DEFERRED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_held: dict[Path, tuple[int, int]] = {}


def _sibling(target: Path, kind: str) -> Path:
    return target.parent / f".{target.name}.{kind}"


def os_error(err: OSError, what: str) -> UserError:
    """An OSError (read-only tree, full disk, not a directory) as one line for users."""
    where = err.filename or what
    reason = err.strerror or str(err)
    hint = {
        errno.ENOSPC: "free some space",
        errno.EROFS: "the file system is read-only: choose a writable location",
        errno.EACCES: "check the permissions",
        errno.EPERM: "check the permissions",
        errno.ENOTDIR: "a path component is a file: choose a directory",
        errno.EEXIST: "a file is in the way: move it",
        errno.EDQUOT: "free some space",
        errno.EFBIG: "the file is too large for this file system",
    }.get(err.errno or 0, "fix the location")
    return UserError(f"cannot write {what} ({where}: {reason}): {hint}; nothing was changed")


# -- locking -----------------------------------------------------------------------------


def _lock_path(target: Path) -> Path:
    return _sibling(Path(os.path.abspath(target)), LOCK)


@contextlib.contextmanager
def lock(*targets: Path) -> Iterator[None]:
    """Hold the lock of every target (re-entrant within one process)."""
    paths = sorted({_lock_path(t) for t in targets})
    taken: list[Path] = []
    try:
        for path in paths:
            _acquire(path)
            taken.append(path)
        yield
    finally:
        for path in reversed(taken):
            _release(path)


def _acquire(path: Path) -> None:
    if path in _held:
        fd, count = _held[path]
        _held[path] = (fd, count + 1)
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as err:
        raise os_error(err, str(path.parent)) from None
    given = os.environ.get(WAIT_ENV, "60") or "0"
    try:
        wait = float(given)
    except ValueError:
        raise UserError(f"{WAIT_ENV}={given}: give seconds, e.g. {WAIT_ENV}=60") from None
    deadline = time.monotonic() + wait
    told = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            holder = _holder(fd)
            if time.monotonic() >= deadline:
                os.close(fd)
                raise UserError(
                    f"another run holds {path} (pid {holder}): wait for it to finish or stop "
                    f"pid {holder}; nothing was changed"
                ) from None
            if not told:
                print(f"waiting for {path} (held by pid {holder})", file=sys.stderr)
                told = True
            time.sleep(0.1)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _held[path] = (fd, 1)


def _holder(fd: int) -> str:
    try:
        return os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
    except OSError:
        return "?"


def _release(path: Path) -> None:
    fd, count = _held[path]
    if count > 1:
        _held[path] = (fd, count - 1)
        return
    del _held[path]
    os.close(fd)  # closing drops the flock; the file stays (removing it would race)


# -- transactions -------------------------------------------------------------------------


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold back SIGINT/SIGTERM/SIGHUP (delivered when the block ends)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _DEFERRED)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def recover(target: Path) -> None:
    """Finish a swap an earlier run was killed in, then delete leftover siblings."""
    target = Path(os.path.abspath(target))
    journal = _sibling(target, JOURNAL)
    if journal.exists():
        try:
            swaps = json.loads(journal.read_text())["swaps"]
        except (OSError, ValueError, KeyError, TypeError):
            swaps = []
        with signals_deferred():
            for dest, new, old in swaps:
                _swap(Path(dest), Path(new), Path(old))
            for dest, _, _ in swaps:
                _sibling(Path(dest), JOURNAL).unlink(missing_ok=True)
        journal.unlink(missing_ok=True)
    if target.parent.is_dir():
        for stale in target.parent.glob(f".{target.name}.mlstack-*"):
            if stale.name.endswith((LOCK, JOURNAL)):
                continue
            _remove(stale)


def _swap(target: Path, new: Path, old: Path) -> None:
    """new -> target (target -> old first); idempotent, so a journal can replay it."""
    if not new.exists():
        return  # already swapped in
    if target.exists() or target.is_symlink():
        if old.exists():
            _remove(old)
        os.rename(target, old)
    os.rename(new, target)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


class Transaction:
    """Stage new trees beside their targets, then swap them all in (see module doc)."""

    def __init__(self) -> None:
        self.staged: list[tuple[Path, Path]] = []

    def __enter__(self) -> Transaction:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if kind is None:
            self.commit()
        else:
            self.abort()

    def stage(self, target: Path) -> Path:
        """An empty directory that becomes `target` on commit."""
        target = Path(os.path.abspath(target))
        if any(t == target for t, _ in self.staged):
            raise ValueError(f"{target} staged twice")
        if target.exists() and not target.is_dir():
            raise UserError(f"{target} is a file, not a directory: move it or choose another")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            recover(target)
            staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.{NEW}", dir=target.parent))
        except OSError as err:
            raise os_error(err, str(target)) from None
        self.staged.append((target, staging))
        return staging

    def write(self, target: Path, files: Mapping[str, str | bytes]) -> Path:
        """Stage `target` holding exactly `files` ({relative path: content})."""
        staging = self.stage(target)
        try:
            write_files(staging, files)
        except OSError as err:
            raise os_error(err, str(target)) from None
        return staging

    def abort(self) -> None:
        for _, staging in self.staged:
            _remove(staging)
        self.staged = []

    def commit(self) -> None:
        if not self.staged:
            return
        swaps = [
            (str(t), str(s), str(s.with_name(s.name.replace(NEW, OLD)))) for t, s in self.staged
        ]
        body = json.dumps({"swaps": swaps}, indent=1)
        journals = [_sibling(t, JOURNAL) for t, _ in self.staged]
        try:
            with signals_deferred():
                for journal in journals:
                    _write_synced(journal, body)
                for dest, new, old in swaps:
                    _swap(Path(dest), Path(new), Path(old))
                for journal in journals:
                    journal.unlink(missing_ok=True)
        except OSError as err:
            raise os_error(err, ", ".join(str(t) for t, _ in self.staged)) from None
        finally:
            self.staged = []
        for _, _, old in swaps:
            _remove(Path(old))


def _write_synced(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def write_files(root: Path, files: Mapping[str, str | bytes]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode() if isinstance(content, str) else content
        path.write_bytes(data)


def carry(source: Path, dest: Path) -> None:
    """Copy a tree the run does not own into a staged tree (hard links where possible)."""

    def link(src: str, dst: str) -> object:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)
        return dst

    if source.is_dir() and not source.is_symlink():
        shutil.copytree(source, dest, symlinks=True, copy_function=link)
    elif source.exists() or source.is_symlink():
        dest.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            os.symlink(os.readlink(source), dest)
        else:
            link(str(source), str(dest))


def same_tree(target: Path, files: Mapping[str, str | bytes]) -> bool:
    """`target` holds exactly `files` (nothing more, nothing different)."""
    if not target.is_dir():
        return False
    present = {str(p.relative_to(target)) for p in target.rglob("*") if not p.is_dir()}
    if present != set(files):
        return False
    for rel, content in files.items():
        data = content.encode() if isinstance(content, str) else content
        path = target / rel
        if path.is_symlink() or not path.is_file() or path.read_bytes() != data:
            return False
    return True
