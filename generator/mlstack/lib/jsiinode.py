"""jsii's node child runs in a process group of its own.

A terminal's Ctrl-C (and `kill -INT -<pgid>`) reaches the whole foreground process group.
With node in it, node dies first and the Python side then writes to a closed pipe:
BrokenPipeError tracebacks, once even exit status 0. In a group of its own node hears no
such signal: Python's handler turns it into one line and an exit status, and jsii's exit
hook still stops node through its stdin (node also ends when that pipe closes, so a
killed Python leaves no node behind).

jsii starts node inside `import cdk8s`, from `jsii._kernel.providers.process`, which calls
`subprocess.Popen` through its module global. `install()` arranges that the first import
of that module sees a `subprocess` whose Popen starts a new session; it imports nothing
itself, so commands that never load cdk8s pay nothing.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import subprocess
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

PROVIDER = "jsii._kernel.providers.process"


class _OwnSession:
    """The `subprocess` module jsii's provider sees: the real one, but Popen starts node
    in a new session (and so a new process group)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(subprocess, name)

    @staticmethod
    def Popen(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        kwargs.setdefault("start_new_session", True)
        return subprocess.Popen(*args, **kwargs)


class _Loader(importlib.abc.Loader):
    def __init__(self, real: importlib.abc.Loader) -> None:
        self.real = real

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.real.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.real.exec_module(module)
        module.subprocess = _OwnSession()  # type: ignore[attr-defined]


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name != PROVIDER:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader)
        return spec


def install() -> None:
    """Start jsii's node in its own process group, whenever cdk8s is first imported."""
    if PROVIDER in sys.modules:  # already imported: patch the module itself
        sys.modules[PROVIDER].subprocess = _OwnSession()  # type: ignore[attr-defined]
    elif not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
