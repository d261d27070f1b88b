"""`make benchmark`: the speed targets, measured as medians of whole-process runs.

Speed targets live here, never in timed tests (a loaded CI machine would make such tests
flaky). Each figure is the median wall time of RUNS fresh processes, because what users
wait for includes Python and jsii (Node) start-up:

- `render --generate --env all` (`make render-all`): target ~1.8 s for three envs here;
- `generate` against a bare one-object cdk8s synth in the same run: cdk8s start-up is the
  floor no generator can go below, so the ratio (target <= 1.5x) is what the code costs.

`--root` measures another checkout of the repository (e.g. the main branch) with the same
interpreter, so before/after figures come from one session.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlstack import REPO_ROOT

#: The smallest cdk8s program that synthesizes: one App, one Chart, one ConfigMap.
BARE_SYNTH = """
import cdk8s
app = cdk8s.App()
chart = cdk8s.Chart(app, "bare", disable_resource_name_hashes=True)
cdk8s.ApiObject(chart, "cm", api_version="v1", kind="ConfigMap", metadata={"name": "cm"})
chart.to_json()
"""


def _time(cmd: list[str], root: Path, runs: int) -> float:
    """Median seconds of `runs` runs of `cmd` in `root` (the package imported from there)."""
    env = {**os.environ, "PYTHONPATH": str(root / "generator")}
    took = []
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, check=False)
        took.append(time.perf_counter() - started)
        if proc.returncode != 0:
            last = (proc.stderr.strip() or proc.stdout.strip() or "no output").splitlines()[-1]
            raise SystemExit(f"benchmark: {' '.join(cmd[2:])} failed in {root}: {last}")
    return statistics.median(took)


def measure(root: Path, runs: int) -> dict[str, float]:
    py = [sys.executable, "-m", "mlstack"]
    with tempfile.TemporaryDirectory() as out:
        render = [*py, "render", "--generate", "--env", "all", "--out", out]
        return {
            "render-all": _time(render, root, runs),
            "generate": _time([*py, "generate"], root, runs),
            "bare-synth": _time([sys.executable, "-c", BARE_SYNTH], root, runs),
        }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="mlstack-benchmark", description=__doc__.splitlines()[0])
    p.add_argument("--root", default=str(REPO_ROOT), help="repository checkout to measure")
    p.add_argument("--runs", type=int, default=5, help="runs per figure (median is printed)")
    args = p.parse_args(argv)
    root = Path(args.root).resolve()
    figures = measure(root, args.runs)
    ratio = figures["generate"] / figures["bare-synth"]
    print(f"benchmark {root} (median of {args.runs} runs each)")
    print(f"  make render-all          {figures['render-all']:.2f}s   (target: ~1.8s, 3 envs)")
    print(f"  make generate            {figures['generate']:.2f}s")
    print(f"  bare one-object synth    {figures['bare-synth']:.2f}s")
    print(f"  generate / bare synth    {ratio:.2f}x   (target: <= 1.5x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
