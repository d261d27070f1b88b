"""Allows `python -m mlstack`.

`generate` and `render` start jsii's Node kernel (the `cdk8s` import: mostly waiting for
Node to load the cdk8s and constructs assemblies) on a background thread first, so that
wait overlaps Python loading pydantic, the schemas and the environments instead of
preceding it; the first `import cdk8s` on the main thread then finds it ready.
"""

import importlib
import sys
import threading

if sys.argv[1:2] in (["generate"], ["render"]):
    threading.Thread(target=importlib.import_module, args=("cdk8s",), daemon=True).start()

from mlstack.cli import main  # after the warm-up, on purpose

raise SystemExit(main())
