"""Allows `python -m mlstack`."""

from mlstack.cli import main

raise SystemExit(main())
