"""The component contract, walked over every registry entry, and the import rules.

Adding a component adds its checks here by itself: a wrapper's values key is its
dependency alias (derived from the upstream chart's name), every chart has a changelog
entry, invalid fixtures and its upstream schemas; a component module never imports
another component, the registry, render, resolve or the lifecycle code, and the package
has no import cycle (function-level imports included).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from mlstack import REPO_ROOT, registry, resolve, versions
from mlstack.lib import releases
from mlstack.lib.component import Component
from mlstack.lib.table import values_key

PACKAGE = REPO_ROOT / "generator" / "mlstack"
INVALID = Path(__file__).parent / "invalid"
KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@pytest.mark.parametrize("component", registry.COMPONENTS, ids=lambda c: c.id)
def test_component_contract(component: Component, schema_dir: Path) -> None:
    data = versions.load()
    assert KEBAB.match(component.id)
    assert component.description and (component.why or _docstring(component.module))
    assert component.project in data.projects
    assert releases.for_chart(component.id).current  # a changelog entry (chart-versions.yaml)
    fixtures = sorted((INVALID / component.id).glob("*.yaml"))
    assert fixtures, f"tests/invalid/{component.id}/ has no invalid fixture"
    defaults = resolve.chart_defaults()[component.id]
    crds = data.projects[component.project].crds
    if crds:
        assert (schema_dir / "crds" / crds).is_dir(), f"upstream CRDs {crds} missing"
    for dep in component.dependencies:
        upstream = data.charts[dep.chart]
        keys = [f.alias or n for n, f in component.values.model_fields.items()]
        assert dep.alias in keys and dep.alias in defaults  # defaults reach the subchart
        assert dep.alias in (upstream.name, values_key(upstream.name)), dep.alias
        if upstream.values:
            folder = schema_dir / "chart-values" / upstream.values
            assert (folder / "values.yaml").is_file(), f"upstream values {folder} missing"
    if component.kind == "glue":
        assert component.build is not None


def _docstring(module: str) -> str:
    path = PACKAGE.parent / Path(*module.split(".")).with_suffix(".py")
    return ast.get_docstring(ast.parse(path.read_text())) or ""


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(path: Path, known: dict[str, Path]) -> set[str]:
    """mlstack modules `path` imports anywhere (top level or inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mlstack"):
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                found.add(name if name in known else str(node.module))
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("mlstack")}
    return {m for m in found if m in known and m != "mlstack"}


def test_components_import_no_component_registry_render_or_lifecycle() -> None:
    known = _modules()
    forbidden = ("mlstack.components.", "mlstack.lifecycle", "mlstack.gitops")
    banned = {"mlstack.registry", "mlstack.render", "mlstack.resolve", "mlstack.generate"}
    for name, path in known.items():
        if not name.startswith("mlstack.components."):
            continue
        bad = {m for m in _imports(path, known) if m in banned or m.startswith(forbidden)}
        assert not bad, f"{name} imports {sorted(bad)}"


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """The first import cycle of `graph` (module -> modules it imports) as a path that ends
    where it starts, or [] when there is none (depth-first, in name order)."""
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> list[str]:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*trail[trail.index(nxt) :], nxt] if nxt in trail else [node, nxt]
            if nxt not in state and (found := visit(nxt, [*trail, nxt])):
                return found
        state[node] = 2
        return []

    for name in sorted(graph):
        if name not in state and (found := visit(name, [name])):
            return found
    return []


def test_no_import_cycles() -> None:
    known = _modules()
    graph = {name: _imports(path, known) - {name} for name, path in known.items()}
    cycle = _cycle(graph)
    assert not cycle, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_check_can_fail(tmp_path: Path) -> None:
    a = tmp_path / "a.py"
    a.write_text("def f():\n    from mlstack import render\n")
    assert _imports(a, _modules()) == {"mlstack.render"}  # function-level imports count
    assert _cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"b"}}) == ["b", "c", "b"]
    assert _cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []  # shared imports are fine
