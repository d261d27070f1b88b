"""Every committed values file is valid; every fixture under tests/invalid/ is rejected.

Each invalid fixture names the key its error must mention on a `# expect:` line, so a
message that stops naming the file or the key fails the test. A fixture that only the
generate-time checks can refuse (the runtimes an env enables, Seldon's mode) is resolved
as values/k3d/<release>.yaml of a private copy; its `# with <release>: <yaml>` lines put
other releases' values beside it (e.g. the runtimes switched off).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from helpers import values_copy
from mlstack import registry, render, resolve
from mlstack.errors import UserError
from mlstack.lib import validate

INVALID = sorted((Path(__file__).parent / "invalid").glob("*/*.yaml"))
CASES = [(r.name, release.id) for r in resolve.all_envs() for release in r.releases]


@pytest.mark.parametrize(("env", "release"), CASES)
def test_committed_values_are_valid(env: str, release: str, schema_dir: Path) -> None:
    resolved = resolve.resolve(env)  # refuses any invalid file, naming file and key
    found = resolved.release(release)
    assert found is not None
    defaults = resolve.chart_defaults()[release]
    assert resolve.check_values(found.component, list(found.files), defaults) == []
    assert render.check_passthrough(found.component, found.values, schema_dir) == []


def test_stray_values_file_is_refused(tmp_path: Path) -> None:
    values = values_copy(tmp_path / "values")
    (values / "eks" / "metallb-pool.yaml").write_text("pool: {}\n")
    with pytest.raises(UserError, match=r"eks/metallb-pool\.yaml: no release 'metallb-pool'"):
        resolve.resolve("eks", values)


def test_there_are_invalid_fixtures() -> None:
    assert len(INVALID) >= 6


def _generate_time_problems(path: Path, release: str, tmp_path: Path) -> list[str]:
    """The errors of resolving k3d with the fixture as its values file (one line each)."""
    values = values_copy(tmp_path / "values")
    shutil.copy(path, values / "k3d" / f"{release}.yaml")
    for line in path.read_text().splitlines():
        if line.startswith("# with "):
            other, data = line.removeprefix("# with ").split(":", 1)
            (values / "k3d" / f"{other}.yaml").write_text(data.strip() + "\n")
    try:
        resolve.resolve("k3d", values)
    except UserError as err:
        return str(err).replace(str(values / "k3d" / f"{release}.yaml"), str(path)).split("\n")
    return []


@pytest.mark.parametrize("path", INVALID, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_invalid_fixture_is_rejected_naming_file_and_key(
    path: Path, schema_dir: Path, tmp_path: Path
) -> None:
    component = registry.by_id()[path.parent.name]
    expected = next(
        line.split(":", 1)[1].strip()
        for line in path.read_text().splitlines()
        if line.startswith("# expect:")
    )
    defaults = resolve.chart_defaults()[component.id]
    problems = resolve.check_values(component, [path], defaults)
    if not problems:
        values = validate.deep_merge(defaults, resolve.load_values(path))
        problems = render.check_passthrough(component, values, schema_dir)
        problems = [f"{path}: {p}" for p in problems]
    if not problems:
        problems = _generate_time_problems(path, component.id, tmp_path)
    assert problems, f"{path} was accepted"
    assert all(path.name in p for p in problems)
    assert any(f" {expected}:" in p or f"{expected}:" == p.split(" ")[1] for p in problems), (
        problems
    )
    assert all("\n" not in p for p in problems)
