"""Allows `python -m mlstack`.

Stop signals are routed before the heavy imports start. Once the command is done, the
exit hooks (jsii stopping its node process and removing its temporary files) run under a
handler that ends the process with one line, and then the process ends with `os._exit`:
interpreter shutdown, which resets the handlers, is where a late SIGINT used to print a
traceback and exit 0.
"""

import atexit
import os
import sys

from mlstack import errors
from mlstack.lib import jsiinode

errors.install()
sys.unraisablehook = errors.unraisable
jsiinode.install()  # Ctrl-C reaches Python alone; node is stopped by jsii's exit hook
try:
    from mlstack.cli import main

    code = main()
except BaseException as stopped:  # only while importing: main() reports its own
    # A signal during an import of compiled code (pydantic-core) may surface as that
    # library's own exception (a PanicException) rather than KeyboardInterrupt.
    if not isinstance(stopped, KeyboardInterrupt) and not errors.received:
        raise
    signum = getattr(stopped, "signum", errors.received[0] if errors.received else 2)
    name = errors.signal_name(signum)
    print(f"error: interrupted by {name} while starting; nothing was changed", file=sys.stderr)
    code = 128 + signum
errors.exiting()
if errors.received and code == 0:  # stopped after the work was done: still not a success
    code = 128 + errors.received[0]
sys.stdout.flush()
sys.stderr.flush()
atexit._run_exitfuncs()
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
