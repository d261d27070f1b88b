"""Output trees replaced as a whole or not at all, and one run at a time per output.

`charts/`, `values/<env>/generated/`, `build/<env>/` and `dist/` are each rebuilt from
scratch in a sibling directory (`.<name>.mlstack-new-XXXX`) and then swapped in with
renames. A transaction may hold several trees (generate writes charts/ and every env's
generated values, and the environment schema file): once all of them are complete on disk,
a journal listing the swaps is written beside each target, the renames run with
SIGINT/SIGTERM/SIGHUP held back, and the journal is deleted. A run killed even with SIGKILL
therefore leaves either the old trees (killed while staging: the next run deletes the
half-built siblings) or a journal that the next run finishes (rolls forward: every new tree
was complete before the journal existed). The bookkeeping around the swaps (registering a
staged tree, removing the replaced ones, aborting) also runs with signals held, so a
signal never leaves a staged or replaced sibling behind: an interrupted run leaves every
target as it was, or all of them new.

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
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from mlstack.errors import UserError

NEW, OLD, JOURNAL, LOCK = "mlstack-new-", "mlstack-old-", "mlstack-journal", "mlstack-lock"
UNDONE = "mlstack-undone-"
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
    """Hold back SIGINT/SIGTERM/SIGHUP; deliver them, once each, when the block ends.

    The Python-level handlers are swapped for one that only records: Python runs handlers
    in the main thread whichever thread the kernel picked, so this holds a signal back even
    when other threads exist (a thread's signal mask would not). Off the main thread, where
    handlers cannot be changed, the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []

    def hold(signum: int, frame: object) -> None:
        pending.append(signum)

    previous: dict[int, Any] = {}
    for signum in _DEFERRED:
        current = signal.getsignal(signum)
        if current not in (signal.SIG_IGN, None):
            previous[signum] = current
            signal.signal(signum, hold)
    try:
        yield
    finally:
        for held, handler in previous.items():
            signal.signal(held, handler)
        for arrived in dict.fromkeys(pending):
            signal.raise_signal(arrived)


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
                _swap(Path(dest), Path(new) if new else None, Path(old))
            for dest, _, _ in swaps:
                _sibling(Path(dest), JOURNAL).unlink(missing_ok=True)
        journal.unlink(missing_ok=True)
    if target.parent.is_dir():
        with signals_deferred():
            for stale in target.parent.glob(f".{target.name}.mlstack-*"):
                if not stale.name.endswith((LOCK, JOURNAL)):
                    _remove(stale)


def _swap(target: Path, new: Path | None, old: Path) -> None:
    """new -> target (target -> old first); idempotent, so a journal can replay it.

    `new` None takes `target` away (to `old`): undoing the creation of a target."""
    if new is None:
        if target.exists() or target.is_symlink():
            os.rename(target, old)
        return
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
        #: (target, new, old) of a commit(keep=True), for release() or undo()
        self.kept: list[tuple[str, str, str]] = []
        #: locks taken by stage(lock=True), held until commit or abort
        self._locks = contextlib.ExitStack()

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

    def stage(self, target: Path, locked: bool = False) -> Path:
        """An empty directory that becomes `target` on commit; `locked=True` also takes the
        target's lock until then (its first write: render locks build/<env> only once it
        has something to write)."""
        target = Path(os.path.abspath(target))
        if target.exists() and not target.is_dir():
            raise UserError(f"{target} is a file, not a directory: move it or choose another")
        if locked:
            self._locks.enter_context(lock(target))
        return self._reserve(target)

    def _reserve(self, target: Path) -> Path:
        """A new sibling of `target`, registered for commit and abort."""
        if any(t == target for t, _ in self.staged):
            raise ValueError(f"{target} staged twice")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            recover(target)
            with signals_deferred():  # created and registered, or neither
                staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.{NEW}", dir=target.parent))
                self.staged.append((target, staging))
        except OSError as err:
            raise os_error(err, str(target)) from None
        return staging

    def write(self, target: Path, files: Mapping[str, str | bytes], locked: bool = False) -> Path:
        """Stage `target` holding exactly `files` ({relative path: content})."""
        staging = self.stage(target, locked)
        try:
            write_files(staging, files)
        except OSError as err:
            raise os_error(err, str(target)) from None
        return staging

    def write_file(self, target: Path, content: str | bytes) -> None:
        """Stage one file that replaces `target` on commit (swapped like a tree)."""
        target = Path(os.path.abspath(target))
        if target.is_dir() and not target.is_symlink():
            raise UserError(f"{target} is a directory, not a file: move it or choose another")
        staging = self._reserve(target)
        try:  # the reserved name now holds the file itself
            staging.rmdir()
            write_files(staging.parent, {staging.name: content})
        except OSError as err:
            raise os_error(err, str(target)) from None

    def abort(self) -> None:
        with signals_deferred():
            for _, staging in self.staged:
                _remove(staging)
            self.staged = []
        self._locks.close()

    def commit(self, keep: bool = False) -> None:
        """Swap every staged tree in, then remove the replaced ones: all with signals held,
        so a signal during commit is delivered only once every target is new and clean.

        `keep=True` leaves the replaced trees beside their targets until `release()` (or
        `undo()` puts them back): a command that checks its own output after writing it
        (`render --generate`) refuses it as a whole. A run killed meanwhile keeps the new
        trees, which are complete and consistent; the next run removes the old ones."""
        if not self.staged:
            return
        swaps = [
            (str(t), str(s), str(s.with_name(s.name.replace(NEW, OLD)))) for t, s in self.staged
        ]
        targets = [t for t, _ in self.staged]
        with signals_deferred():
            try:
                _journaled(targets, swaps)
            finally:
                self.staged = []
                self._locks.close()
            if keep:
                self.kept = swaps
            else:
                for _, _, old in swaps:
                    _remove(Path(old))

    def release(self) -> None:
        """The kept trees are not needed: remove them."""
        with signals_deferred():
            for _, _, old in self.kept:
                _remove(Path(old))
            self.kept = []

    def undo(self) -> None:
        """Put back every tree the last `commit(keep=True)` replaced, as one journaled step
        (a kill midway is finished by the next run); targets it created go away."""
        steps = []
        for dest, _, old in reversed(self.kept):
            back = Path(old)
            undone = back.with_name(back.name.replace(OLD, UNDONE))
            steps.append((dest, str(back) if back.exists() else "", str(undone)))
        with signals_deferred():
            _journaled([Path(d) for d, _, _ in steps], steps)
            for _, _, gone in steps:
                _remove(Path(gone))
            self.kept = []


def _journaled(targets: list[Path], swaps: list[tuple[str, str, str]]) -> None:
    """Write the journal beside every target, run the swaps, delete the journals."""
    body = json.dumps({"swaps": swaps}, indent=1)
    journals = [_sibling(t, JOURNAL) for t in targets]
    try:
        for journal in journals:
            _write_synced(journal, body)
        for dest, new, old in swaps:
            _swap(Path(dest), Path(new) if new else None, Path(old))
        for journal in journals:
            journal.unlink(missing_ok=True)
    except OSError as err:
        raise os_error(err, ", ".join(str(t) for t in targets)) from None


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
