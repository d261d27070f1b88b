"""Shared fixtures. Everything here is real: real helm, real upstream schemas, real files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from mlstack import REPO_ROOT
from mlstack.lib import schemas


@pytest.fixture(scope="session")
def schema_dir() -> Path:
    """The upstream schema directory; missing is a failure (in CI and locally), never a skip."""
    return schemas.schema_dir(os.environ.get(schemas.ENV_VAR))


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO_ROOT


@pytest.fixture
def charts_copy(tmp_path: Path) -> Path:
    """A private copy of the committed charts/ to generate into."""
    target = tmp_path / "charts"
    shutil.copytree(REPO_ROOT / "charts", target, ignore=shutil.ignore_patterns("charts"))
    return target


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "controlplane: starts the simulated cluster (make test-controlplane; first run builds it)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`controlplane` tests build and start a control plane: they run only when the marker
    expression names them (make test-controlplane), so `make test` stays fast and offline."""
    if "controlplane" in (config.option.markexpr or ""):
        return
    chosen = [i for i in items if i.get_closest_marker("controlplane") is None]
    if len(chosen) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in chosen])
        items[:] = chosen
