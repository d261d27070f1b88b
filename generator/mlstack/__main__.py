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

errors.install()
try:
    from mlstack.cli import main

    code = main()
except KeyboardInterrupt as stopped:  # only while importing: main() reports its own
    signum = getattr(stopped, "signum", 2)
    print(f"error: interrupted ({stopped}) while starting; nothing was changed", file=sys.stderr)
    code = 128 + signum
errors.exiting()
sys.stdout.flush()
sys.stderr.flush()
atexit._run_exitfuncs()
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
