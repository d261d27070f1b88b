"""The exception types users see.

Expected failures (bad values, version mismatch, missing tool) raise `UserError`; the CLI
prints its message as a single line and exits non-zero, never a traceback. The message
says what is wrong, where (file, key, release) and what to do.

`Interrupted` is how SIGINT, SIGTERM and SIGHUP reach the CLI: `on_signal` (installed
before anything else is imported, see __main__) raises it wherever the program is, and
the CLI turns it into one line and exit status 128 + signal number. Writers hold signals
back only while swapping finished trees in (lib/atomic), so an interrupted run leaves
each output either as it was or complete.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: Signals received so far (a failure after one is reported as the interruption).
received: list[int] = []
#: Whether the command already told the user what went wrong (its one line).
reported = False


def brief(value: object) -> str:
    """repr() of a user's value cut to a line's worth: a 5,000-digit version is shown by
    its head and length, so the one line stays one readable line."""
    shown = repr(value)
    return shown if len(shown) <= 40 else f"{shown[:30]}...({len(str(value))} characters)"


class UserError(Exception):
    """A failure the user can fix; `str(err)` is the whole message."""


class Interrupted(KeyboardInterrupt):
    """A stop signal arrived; `signum` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def on_signal(signum: int, frame: FrameType | None) -> None:
    received.append(signum)
    raise Interrupted(signum)


def install() -> dict[int, Any]:
    """Route the stop signals to `on_signal` (a signal the parent ignores stays ignored);
    returns the handlers it replaced, for `restore`."""
    previous: dict[int, Any] = {}
    for signum in SIGNALS:
        current = signal.getsignal(signum)
        if current is not signal.SIG_IGN:
            previous[signum] = current
            signal.signal(signum, on_signal)
    return previous


def restore(previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def unraisable(info: Any) -> None:
    """`sys.unraisablehook` for the CLI: a library's clean-up failing after the command's
    own error (jsii's node never started, so its `__del__` trips) adds nothing; otherwise
    one line, never a traceback."""
    if reported or received:
        return
    sys.stderr.write(f"warning: while cleaning up: {info.exc_type.__name__}: {info.exc_value}\n")


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name


def exiting() -> None:
    """From here on (interpreter shutdown, jsii's exit hooks) a stop signal ends the
    process at once with one line: never a traceback, never exit status 0."""

    def stop(signum: int, frame: FrameType | None) -> None:
        sys.stderr.write(f"error: interrupted by {signal.Signals(signum).name} while exiting\n")
        os._exit(128 + signum)

    for signum in SIGNALS:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, stop)
