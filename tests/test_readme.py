"""The README as a newcomer reads it: its sample output comes from the real commands.

A sample that drifts from what the command prints (13 releases shown while render prints
15) teaches the wrong platform; these tests run the command and compare, so the README
cannot go stale silently.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from helpers import values_copy
from mlstack import REPO_ROOT

README = REPO_ROOT / "README.md"


def _block_after(text: str, marker: str) -> list[str]:
    """The lines of the first fenced block after `marker`."""
    rest = text[text.index(marker) :]
    start = rest.index("```\n") + 4
    return rest[start : rest.index("```", start)].splitlines()


MLSTACK_RENDER = [sys.executable, "-m", "mlstack", "render", "--env", "k3d"]


def _replace_block(path: Path, marker: str, output: str, out_dir: Path) -> None:
    """Write `output` (its build path shown as a user's) into the block after `marker`."""
    text = path.read_text()
    at = text.index(marker)
    start = text.index("```\n", at) + 4
    end = text.index("```", start)
    shown = output.replace(f"{out_dir}/", "build/")
    path.write_text(text[:start] + shown + text[end:])


def _render_table(lines: list[str]) -> tuple[list[list[str]], list[str], str]:
    """(rows as columns, custom-resource lines, summary without path and time)."""
    assert lines[0].split() == ["RELEASE", "CHART", "OBJECTS", "UPSTREAM", "VALIDATION"], lines[0]
    rows = [re.split(r"\s{2,}", ln.strip(), maxsplit=4) for ln in lines[1:] if ln[:1] != " "]
    summary = rows.pop()[0]
    resources = [ln for ln in lines if ln.startswith("  ")]
    shown = re.sub(r" -> \S+ in [0-9.]+s$", "", summary)
    return rows, resources, shown


def test_the_sample_render_table_is_what_make_render_prints(
    tmp_path: Path, charts_copy: Path
) -> None:
    """The whole sample, rows, custom resources and summary: what `make render` prints on a
    fresh clone (the committed charts, no upstream chart downloaded yet)."""
    out = tmp_path / "build"
    proc = subprocess.run(
        [*MLSTACK_RENDER, "--charts-dir", str(charts_copy), "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    if os.environ.get("UPDATE_GOLDEN") == "1":  # the README's sample is a golden file too
        _replace_block(README, "`make render` prints one row", proc.stdout, out)
    real = _render_table(proc.stdout.splitlines())
    sample = _render_table(_block_after(README.read_text(), "`make render` prints one row"))
    assert sample == real, "README: rerun UPDATE_GOLDEN=1 pytest tests/test_readme.py"


def test_the_first_screen_shows_the_commands_that_work_anywhere() -> None:
    """The first 40 lines: what the project is, `make render` and `make test` (no cluster
    needed), the mirror setting right below them, then the cluster quick start."""
    lines = README.read_text().splitlines()[:40]
    text = "\n".join(lines)
    assert lines[0].startswith("# mlstack") and "Helm charts" in text[:600]
    render = next(i for i, ln in enumerate(lines) if ln.startswith("make render "))
    test = next(i for i, ln in enumerate(lines) if ln.startswith("make test "))
    block_end = next(i for i in range(test, len(lines)) if lines[i] == "```")
    mirror = next(i for i, ln in enumerate(lines) if "MLSTACK_UPSTREAM_URL" in ln)
    cluster = next(i for i, ln in enumerate(lines) if ln.startswith("make cluster"))
    assert render < test < block_end < mirror == block_end + 2 < cluster
    whole = README.read_text()
    headings = {
        re.sub(r"[^a-z0-9 -]", "", h.lstrip("#").strip().lower()).replace(" ", "-")
        for h in whole.splitlines()
        if h.startswith("#")
    }
    for link in re.findall(r"\]\(#([a-z0-9-]+)\)", whole):  # every in-page link resolves
        assert link in headings, link


def test_the_sample_duplicate_key_error_is_what_render_prints(tmp_path: Path) -> None:
    """The README's one-line error for a key given twice, reproduced: the k3d gateway
    values with `replicaCount` written again at the end (line 15; the first is on line 7)."""
    (sample,) = _block_after(README.read_text(), "naming the file, the line and the key")
    values = values_copy(tmp_path / "values")
    gateway = values / "k3d" / "istio-gateway.yaml"
    text = gateway.read_text()
    shape = len(text.splitlines()) == 14 and text.splitlines()[6] == "  replicaCount: 1"
    assert shape, "values/k3d/istio-gateway.yaml changed: update the README's sample error"
    gateway.write_text(text + "  replicaCount: 2\n")
    cmd = [sys.executable, "-m", "mlstack", "render", "--env", "k3d", "--out", str(tmp_path)]
    proc = subprocess.run(
        [*cmd, "--values-dir", str(values)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().replace(f"{tmp_path}/", "") == sample
