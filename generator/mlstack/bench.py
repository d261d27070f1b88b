"""`make benchmark`: the speed targets, measured as medians of whole-process runs.

Speed targets live here, never in timed tests (a loaded CI machine would make such tests
flaky). Each figure is the median wall time of RUNS fresh processes, because what users
wait for includes Python and jsii (Node) start-up:

- `render --generate --env all` (`make render-all`): target ~1.8 s for three envs here;
- `generate` against a bare one-object cdk8s synth in the same run: cdk8s start-up is the
  floor no generator can go below, so the ratio (target <= 1.5x) is what the code costs.

`--root` measures another checkout of the repository with the same interpreter;
`--compare` adds a second one (e.g. the main branch), interleaved run by run, so
before/after figures come from the same moments of one session.
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


def _once(cmd: list[str], root: Path) -> float:
    """Seconds of one run of `cmd` in `root` (the package imported from there)."""
    env = {**os.environ, "PYTHONPATH": str(root / "generator")}
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - started
    if proc.returncode != 0:
        last = (proc.stderr.strip() or proc.stdout.strip() or "no output").splitlines()[-1]
        raise SystemExit(f"benchmark: {' '.join(cmd[2:])} failed in {root}: {last}")
    return took


def measure(roots: list[Path], runs: int) -> dict[Path, dict[str, list[float]]]:
    """Per root, the seconds of each run of each figure. Runs are interleaved (every root
    and figure once per round), so a machine whose load changes meanwhile skews them all
    alike; per-round ratios compare generate with the synth of the same moment."""
    py = [sys.executable, "-m", "mlstack"]
    figures: dict[Path, dict[str, list[float]]] = {r: {} for r in roots}
    with tempfile.TemporaryDirectory() as out:
        commands = {
            "render-all": [*py, "render", "--generate", "--env", "all", "--out", out],
            "generate": [*py, "generate"],
            "bare-synth": [sys.executable, "-c", BARE_SYNTH],
        }
        for _ in range(runs):
            for root in roots:
                for name, cmd in commands.items():
                    figures[root].setdefault(name, []).append(_once(cmd, root))
    return figures


def report(root: Path, figures: dict[str, list[float]], runs: int) -> list[str]:
    median = {name: statistics.median(took) for name, took in figures.items()}
    ratios = [g / b for g, b in zip(figures["generate"], figures["bare-synth"], strict=True)]
    return [
        f"benchmark {root} (median of {runs} interleaved runs each)",
        f"  make render-all          {median['render-all']:.2f}s   (target: ~1.8s, 3 envs)",
        f"  make generate            {median['generate']:.2f}s",
        f"  bare one-object synth    {median['bare-synth']:.2f}s",
        f"  generate / bare synth    {statistics.median(ratios):.2f}x   (target: <= 1.5x)",
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="mlstack-benchmark", description=__doc__.splitlines()[0])
    p.add_argument("--root", default=str(REPO_ROOT), help="repository checkout to measure")
    p.add_argument("--compare", default=None, help="another checkout, measured interleaved")
    p.add_argument("--runs", type=int, default=5, help="runs per figure (median is printed)")
    args = p.parse_args(argv)
    roots = [Path(args.root).resolve()]
    if args.compare:
        roots.append(Path(args.compare).resolve())
    figures = measure(roots, args.runs)
    for root in roots:
        print("\n".join(report(root, figures[root], args.runs)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
