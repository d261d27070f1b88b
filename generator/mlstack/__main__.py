"""Allows `python -m mlstack`; stop signals are routed before the heavy imports start."""

import sys

from mlstack import errors

errors.install()
try:
    from mlstack.cli import main
except KeyboardInterrupt as stopped:
    signum = getattr(stopped, "signum", 2)
    print(f"error: interrupted ({stopped}) while starting; nothing was changed", file=sys.stderr)
    raise SystemExit(128 + signum) from None

raise SystemExit(main())
