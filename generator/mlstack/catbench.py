"""`make benchmark-catalogue`: does a team with hundreds of models wait?

Renders and validates the k3d environment (every release: `helm template`, Kubernetes
and CRD schema validation, values checks) with a model catalogue of 10 and of 1 000
InferenceServices, as whole `mlstack render` processes (what a user waits for), and
prints the medians and their ratio. Target: 1 000 entries in at most 4x the time of 10,
cost linear in entries: one `helm template` per release whatever the catalogue's size,
each CRD schema compiled once per run (not per entry), no process per entry.

The entries cycle through the formats and protocols the default runtimes serve and set
the optional keys (autoscaling, resources, service account), so each one exercises the
schema, the generate-time checks and the CRD validation like a real entry.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from mlstack import REPO_ROOT, bench
from mlstack.lib import yamlfile

ENV = "k3d"
SIZES = (10, 1000)
#: (modelFormat, protocolVersion) pairs an enabled default runtime serves.
FORMATS = (
    ("sklearn", "v2"),
    ("xgboost", "v1"),
    ("lightgbm", "v2"),
    ("tensorflow", "v1"),
    ("pytorch", "v1"),
    ("onnx", "v2"),
    ("huggingface", "v1"),
    ("pmml", "v1"),
    ("paddle", "v2"),
)


def catalogue(size: int) -> dict[str, Any]:
    """`size` realistic InferenceService entries."""
    entries = []
    for i in range(size):
        fmt, protocol = FORMATS[i % len(FORMATS)]
        entries.append(
            {
                "name": f"{fmt}-model-{i:04d}",
                "modelFormat": fmt,
                "protocolVersion": protocol,
                "storageUri": f"s3://team-models/{fmt}/{i:04d}",
                "serviceAccountName": "s3-reader",
                "minReplicas": 0,
                "maxReplicas": 1 + i % 4,
                "resources": {
                    "requests": {"cpu": "100m", "memory": "256Mi"},
                    "limits": {"cpu": "1", "memory": "1Gi"},
                },
            }
        )
    return {"inferenceServices": entries}


def values_dir(root: Path, size: int, into: Path) -> Path:
    """A copy of the repository's k3d environment whose models.yaml has `size` entries."""
    target = into / f"values-{size}"
    shutil.copytree(root / "values" / ENV, target / ENV, ignore=shutil.ignore_patterns("local"))
    (target / ENV / "models.yaml").write_text(yamlfile.dumps(catalogue(size)))
    return target


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="mlstack-catbench", description=__doc__.splitlines()[0])
    p.add_argument("--root", default=str(REPO_ROOT), help="repository checkout to measure")
    p.add_argument("--runs", type=int, default=5, help="runs per size (median is printed)")
    args = p.parse_args(argv)
    root = Path(args.root).resolve()
    py = [sys.executable, "-m", "mlstack", "render", "--env", ENV]
    took: dict[int, list[float]] = {n: [] for n in SIZES}
    with tempfile.TemporaryDirectory() as tmp:
        dirs = {n: values_dir(root, n, Path(tmp)) for n in SIZES}
        for _ in range(args.runs):  # interleaved: load changes skew both sizes alike
            for n in SIZES:
                cmd = [*py, "--values-dir", str(dirs[n]), "--out", str(Path(tmp) / f"out-{n}")]
                took[n].append(bench._once(cmd, root))
    small, large = (statistics.median(took[n]) for n in SIZES)
    ratio = large / small
    per_entry = (large - small) / (SIZES[1] - SIZES[0]) * 1000
    verdict = "ok" if ratio <= 4 else "ABOVE TARGET"
    print(f"benchmark-catalogue {root} (render + validate {ENV}; median of {args.runs} runs)")
    print(f"  {SIZES[0]:>5} entries   {small:.2f}s")
    print(f"  {SIZES[1]:>5} entries   {large:.2f}s")
    print(f"  ratio           {ratio:.2f}x   (target: <= 4x) {verdict}")
    print(f"  per extra entry {per_entry:.2f} ms")
    return 0 if ratio <= 4 else 1


if __name__ == "__main__":
    raise SystemExit(main())
