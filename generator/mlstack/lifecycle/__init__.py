"""Platform lifecycle: create a cluster, install the releases in order, smoke-test, uninstall.

Every decision (plans, address ranges, readiness, response shapes) is a pure function over
data so that tests exercise it here; the live paths only fetch that data from the cluster
and the tools, and `--dry-run` prints what they would run.
"""
