"""Every committed values file is valid; every fixture under tests/invalid/ is rejected.

Each invalid fixture names the key its error must mention on a `# expect:` line, so a
message that stops naming the file or the key fails the test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlstack import environments, registry, render

INVALID = sorted((Path(__file__).parent / "invalid").glob("*/*.yaml"))
CASES = [
    (env, c)
    for env in environments.ENVIRONMENTS.values()
    for c in registry.COMPONENTS
    if c.id in env.components
]


@pytest.mark.parametrize(
    ("env", "component"), CASES, ids=lambda x: getattr(x, "name", None) or x.id
)
def test_committed_values_are_valid(
    env: environments.Environment, component: registry.Component, schema_dir: Path
) -> None:
    files = render.values_files(env, component)
    assert render.check_values(component, files) == []
    values = render.merged_values(component, files)
    assert render.check_passthrough(component, values, schema_dir) == []


def test_no_stray_values_files() -> None:
    for env in environments.ENVIRONMENTS.values():
        assert render.check_stray_files(env) == []


def test_there_are_invalid_fixtures() -> None:
    assert len(INVALID) >= 6


@pytest.mark.parametrize("path", INVALID, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_invalid_fixture_is_rejected_naming_file_and_key(path: Path, schema_dir: Path) -> None:
    component = registry.by_id()[path.parent.name]
    expected = next(
        line.split(":", 1)[1].strip()
        for line in path.read_text().splitlines()
        if line.startswith("# expect:")
    )
    problems = render.check_values(component, [path])
    if not problems:
        values = render.merged_values(component, [path])
        problems = render.check_passthrough(component, values, schema_dir)
        problems = [f"{path}: {p}" for p in problems]
    assert problems, f"{path} was accepted"
    assert all(path.name in p for p in problems)
    assert any(f" {expected}:" in p or f"{expected}:" == p.split(" ")[1] for p in problems), (
        problems
    )
    assert all("\n" not in p for p in problems)
