"""mlstack: typed Python components -> versioned Helm charts for an ML model-serving platform."""

import os
from pathlib import Path

#: Repository root (the directory holding charts/, values/, generator/ ...).
REPO_ROOT = Path(__file__).resolve().parents[2]
#: Where the generated charts live (generate writes them; render, install, package and
#: the GitOps writer read them).
CHARTS_DIR = REPO_ROOT / "charts"

# cdk8s runs on the machine's Node 20 through jsii, which otherwise prints an
# end-of-life banner on every start; the support window is ours to track, not the user's.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
