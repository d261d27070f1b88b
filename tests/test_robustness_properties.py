"""Issue 13, property suite: mutate every real input file, run the real commands in-process.

Each example copies the committed charts/ and values/ (and a rendered build/ and GitOps
tree) into a temporary checkout, mutates ONE real input file (a values file,
versions.yaml, chart-versions.yaml, a committed Chart.yaml or values.schema.json, or the
GitOps ownership manifest) and runs one of `generate`, `render` and `gitops` (drawn with
the mutation) through `cli.main`. The property, for every example:

- exit 0 and the output is valid (render validated it; generated charts are re-read), or
- exit 2 with error lines only, the first naming the mutated file, and the outputs
  (charts/, values/*/generated, build/<env>, the GitOps tree) byte-for-byte as before;
- never a traceback, never another exit status, never leftovers of a staged tree.

Examples per run: VALUES_CASES + DATA_CASES + CHART_CASES = 300 (derandomized, so CI is
reproducible; set MLSTACK_PROPERTY_SCALE=N for N times as many). Mutations and the
inputs they target live in `MUTATIONS` and `targets()`: extending the suite to a new
input file (environment.yaml, once environments are data) is one entry there.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import random
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import committed_envs, values_copy
from mlstack import REPO_ROOT, cli, versions
from mlstack.lib import releases, yamlfile

SCALE = int(os.environ.get("MLSTACK_PROPERTY_SCALE", "1"))
VALUES_CASES, DATA_CASES, CHART_CASES = 100 * SCALE, 120 * SCALE, 80 * SCALE
URL = "https://git.example.test/platform/gitops.git"
SETTINGS = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

#: Values users type where the checks matter (plus anything hypothesis draws).
TRICKY = (
    "127.0.0.0/8",
    "0.0.0.0/0",
    "224.0.0.0/28",
    "255.255.255.255/32",
    "10.0.0.0/8",
    "latest",
    "00.2.0",
    "\uff11.2.3",
    "-1",
    "lots",
    "a" * 64,
    "UPPER_case",
    "{{ .Values.x }}",
    "",
    "\x00",
    # issue 22: strings a lax model took as bools, versions Helm cannot read, huge input
    "yes",
    "on",
    "true",
    "9" * 23 + ".0.0",
    "1" * 5000,
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.sampled_from(TRICKY)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3)
    ),
    max_leaves=6,
)


# -- mutations: (name, function(text bytes, draw) -> bytes) ------------------------------


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield (*prefix, index)
            yield from _paths(value, (*prefix, index))


def _structural(data: bytes, draw: Callable[[Any], Any], action: str) -> bytes:
    try:
        tree = yaml.safe_load(data.decode())
    except (UnicodeDecodeError, yaml.YAMLError):
        return data + b"\n"
    if not isinstance(tree, dict | list) or not tree:
        tree = {"x": tree}
    paths = list(_paths(tree))
    path = draw(st.sampled_from(paths))
    parent = tree
    for step in path[:-1]:
        parent = parent[step]
    if action == "set":
        parent[path[-1]] = draw(VALUES)
    elif action == "delete":
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[draw(st.text(min_size=1, max_size=12))] = draw(VALUES)
    dumped = yaml.safe_dump(tree, allow_unicode=True, sort_keys=False, width=1000)
    return dumped.encode()


def _bytes(data: bytes, draw: Callable[[Any], Any], action: str) -> bytes:
    at = draw(st.integers(min_value=0, max_value=len(data)))
    if action == "insert":
        return data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    if action == "cut":
        return data[:at] + data[at + draw(st.integers(1, 40)) :]
    if action == "utf16":
        return data.decode(errors="replace").encode("utf-16")
    lines = data.splitlines(keepends=True) or [b"x: 1\n"]
    line = draw(st.integers(0, len(lines) - 1))
    return b"".join(lines[: line + 1] + lines[line:])  # a repeated line: duplicate keys


MUTATIONS: dict[str, Callable[[bytes, Callable[[Any], Any]], bytes]] = {
    "set-value": lambda d, draw: _structural(d, draw, "set"),
    "delete-key": lambda d, draw: _structural(d, draw, "delete"),
    "add-key": lambda d, draw: _structural(d, draw, "add"),
    "insert-bytes": lambda d, draw: _bytes(d, draw, "insert"),
    "cut-bytes": lambda d, draw: _bytes(d, draw, "cut"),
    "utf16": lambda d, draw: _bytes(d, draw, "utf16"),
    "repeat-line": lambda d, draw: _bytes(d, draw, "repeat"),
    "empty": lambda d, draw: b"",
}


# -- the checkout and the commands -------------------------------------------------------


@dataclass
class Checkout:
    root: Path

    @property
    def charts(self) -> Path:
        return self.root / "charts"

    @property
    def values(self) -> Path:
        return self.root / "values"

    @property
    def build(self) -> Path:
        return self.root / "build"

    @property
    def gitops(self) -> Path:
        return self.root / "gitops"

    def run(self, *argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(list(argv))
        return code, out.getvalue(), err.getvalue()

    def dirs(self, env: str) -> list[str]:
        return ["--charts-dir", str(self.charts), "--values-dir", str(self.values)]

    def generate(self) -> tuple[int, str, str]:
        return self.run("generate", *self.dirs(""))

    def render(self, env: str) -> tuple[int, str, str]:
        return self.run("render", "--env", env, "--out", str(self.build), *self.dirs(env))

    def gitops_write(self, env: str) -> tuple[int, str, str]:
        return self.run(
            "gitops", "--env", env, "--repo-url", URL, "--revision", "main",
            *(["--domain", "192.0.2.10.sslip.io"] if env == "k3d" else []),
            "--out", str(self.gitops), *self.dirs(env),
        )  # fmt: skip


def tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    if root.exists():
        for path in sorted(p for p in root.rglob("*") if not p.is_dir() and "lock" not in p.name):
            # a link (LINKS mutations) is its target's name: it may lead nowhere
            data = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
            h.update(str(path.relative_to(root)).encode() + b"\0" + data)
    return h.hexdigest()


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """charts/ + values/ as committed, with build/ and a GitOps tree already written."""
    root = tmp_path_factory.mktemp("pristine")
    shutil.copytree(REPO_ROOT / "charts", root / "charts", ignore=shutil.ignore_patterns("charts"))
    values_copy(root / "values")
    checkout = Checkout(root)
    for env in ("k3d", "eks"):
        assert checkout.render(env)[0] == 0
    assert checkout.gitops_write("k3d")[0] == 0
    return root


@contextlib.contextmanager
def fresh(pristine: Path, tmp_path: Path) -> Iterator[Checkout]:
    root = tmp_path / f"c{random.getrandbits(32):08x}"
    # Hard links: the commands replace files (lib/atomic, owned.write), never write into
    # them, and `_mutate` breaks the link of the one file it changes.
    shutil.copytree(pristine, root, symlinks=True, copy_function=os.link)
    try:
        yield Checkout(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def check_outcome(
    result: tuple[int, str, str], mutated: Path, outputs: dict[Path, str], what: str
) -> str:
    """The property for one command; returns "ok" or "refused"."""
    code, out, err = result
    assert "Traceback" not in err + out, err
    if code == 0:
        return "ok"
    assert code == 2, (what, code, err)
    lines = err.splitlines()
    assert lines and all(line.startswith("error: ") for line in lines), (what, err)
    assert mutated.name in lines[0] or mutated.parent.name in lines[0], (what, mutated, err)
    for folder, before in outputs.items():
        assert tree_digest(folder) == before, f"{what} changed {folder} although it failed"
    for folder in outputs:
        assert not list(folder.parent.glob(f".{folder.name}.mlstack-new-*")), "staged leftovers"
    return "refused"


#: Issue 22: the input file replaced by a link that leads nowhere, or back to itself.
LINKS = {"dangling-link": "nowhere.yaml", "looping-link": None}


def _mutate(path: Path, data: st.DataObject) -> str:
    name = data.draw(st.sampled_from(sorted([*MUTATIONS, *LINKS])))
    # every draw before the unlink: hypothesis may stop a case at any draw
    new = None if name in LINKS else MUTATIONS[name](path.read_bytes(), data.draw)
    path.unlink()  # never write through a hard link into the pristine copy
    if new is None:
        path.symlink_to(LINKS[name] or path.name)
    else:
        path.write_bytes(new)
    return name


def values_targets() -> list[str]:
    """Hand-written and generated values files of the committed environments (a user's own
    values/lab/ and machine-local overlays left out)."""
    return sorted(
        str(p.relative_to(REPO_ROOT / "values"))
        for env in committed_envs()
        for p in (REPO_ROOT / "values" / env).rglob("*.yaml")
        if "local" not in p.parts
    )


def _values_case(
    pristine: Path, tmp_path: Path, target: str, command: str, data: st.DataObject
) -> str:
    env = target.split("/")[0]
    with fresh(pristine, tmp_path) as checkout:
        path = checkout.values / target
        _mutate(path, data)
        if command == "generate":
            generated = checkout.values / env / "generated"
            outputs = {checkout.charts: tree_digest(checkout.charts)}
            outputs[generated] = tree_digest(generated)
            return check_outcome(checkout.generate(), path, outputs, command)
        if command == "render":
            build = checkout.build / env
            outcome = check_outcome(
                checkout.render(env), path, {build: tree_digest(build)}, command
            )
            if outcome == "ok":
                for manifest in build.iterdir():  # validated manifests, written as a whole
                    assert list(yaml.safe_load_all(manifest.read_text()))
            return outcome
        gitops = {checkout.gitops: tree_digest(checkout.gitops)}
        return check_outcome(checkout.gitops_write(env), path, gitops, command)


@pytest.mark.parametrize("group", ["k3d", "other envs"])
def test_mutated_values_files(pristine: Path, tmp_path: Path, group: str) -> None:
    """Half of VALUES_CASES per group, so the two halves can run on two workers."""
    targets = [t for t in values_targets() if (t.split("/")[0] == "k3d") == (group == "k3d")]
    outcomes: Counter[str] = Counter()

    commands = ["generate", "render"] + (["gitops"] if group == "k3d" else [])

    @settings(SETTINGS, max_examples=VALUES_CASES // 2)
    @given(target=st.sampled_from(targets), command=st.sampled_from(commands), data=st.data())
    def case(target: str, command: str, data: st.DataObject) -> None:
        outcomes[_values_case(pristine, tmp_path, target, command, data)] += 1

    case()
    report(f"values files ({group})", outcomes)


@pytest.fixture
def data_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Path]]:
    """Private copies of versions.yaml and chart-versions.yaml that the loaders read."""
    copies = {
        "versions.yaml": tmp_path / "data" / "versions.yaml",
        "chart-versions.yaml": tmp_path / "data" / "chart-versions.yaml",
    }
    copies["versions.yaml"].parent.mkdir()
    shutil.copy(versions.VERSIONS_FILE, copies["versions.yaml"])
    shutil.copy(releases.RELEASES_FILE, copies["chart-versions.yaml"])
    monkeypatch.setattr(versions, "VERSIONS_FILE", copies["versions.yaml"])
    monkeypatch.setattr(releases, "RELEASES_FILE", copies["chart-versions.yaml"])
    yield copies
    versions.load.cache_clear()
    releases.load.cache_clear()


def test_mutated_data_files(pristine: Path, tmp_path: Path, data_files: dict[str, Path]) -> None:
    outcomes: Counter[str] = Counter()

    @settings(SETTINGS, max_examples=DATA_CASES)
    @given(target=st.sampled_from(sorted(data_files)), data=st.data())
    def case(target: str, data: st.DataObject) -> None:
        path = data_files[target]
        original = path.read_bytes()
        _mutate(path, data)
        versions.load.cache_clear()
        releases.load.cache_clear()
        try:
            with fresh(pristine, tmp_path) as checkout:
                outputs = {checkout.charts: tree_digest(checkout.charts)}
                outcome = check_outcome(checkout.generate(), path, outputs, "generate")
                if outcome == "ok":
                    for meta in checkout.charts.glob("*/Chart.yaml"):
                        assert isinstance(yamlfile.read(meta)["version"], str)
                outcomes[outcome] += 1
        finally:
            path.unlink()  # it may be a link now
            path.write_bytes(original)
            versions.load.cache_clear()
            releases.load.cache_clear()

    case()
    report("data files", outcomes)


def chart_targets() -> list[str]:
    found = [
        str(p.relative_to(REPO_ROOT / "charts"))
        for name in ("Chart.yaml", "values.schema.json")
        for p in (REPO_ROOT / "charts").glob(f"*/{name}")
    ]
    return [*sorted(found), "gitops:.mlstack-owned.yaml"]


def _chart_case(pristine: Path, tmp_path: Path, target: str, data: st.DataObject) -> list[str]:
    with fresh(pristine, tmp_path) as checkout:
        if target.startswith("gitops:"):
            path = checkout.gitops / "mlstack" / ".mlstack-owned.yaml"
            _mutate(path, data)
            gitops = {checkout.gitops: tree_digest(checkout.gitops)}
            return [check_outcome(checkout.gitops_write("k3d"), path, gitops, "gitops")]
        path = checkout.charts / target
        _mutate(path, data)
        if data.draw(st.booleans()):
            build = checkout.build / "k3d"
            return [
                check_outcome(checkout.render("k3d"), path, {build: tree_digest(build)}, "render")
            ]
        # generate either restores the committed chart or names the file it cannot read.
        code, _, err = checkout.generate()
        assert "Traceback" not in err, err
        if code == 0:
            assert tree_digest(checkout.charts) == tree_digest(pristine / "charts")
            return ["ok"]
        assert code == 2 and path.parent.name in err.splitlines()[0], err
        return ["refused"]


def test_mutated_committed_chart_files_and_manifest(pristine: Path, tmp_path: Path) -> None:
    outcomes: Counter[str] = Counter()

    @settings(SETTINGS, max_examples=CHART_CASES)
    @given(target=st.sampled_from(chart_targets()), data=st.data())
    def case(target: str, data: st.DataObject) -> None:
        outcomes.update(_chart_case(pristine, tmp_path, target, data))

    case()
    report("chart files and GitOps manifest", outcomes)


def report(what: str, outcomes: Counter[str]) -> None:
    """Both outcomes must occur: a suite where everything is refused (or accepted) would
    prove nothing. The counts are printed for `pytest -s` and the benchmark note."""
    print(f"\nproperty suite, {what}: {dict(outcomes)}")
    assert outcomes["ok"] and outcomes["refused"], outcomes


def test_the_suite_reaches_three_hundred_cases() -> None:
    assert VALUES_CASES + DATA_CASES + CHART_CASES >= 300


def test_every_kind_of_input_is_a_target() -> None:
    assert len(values_targets()) >= 10 and len(chart_targets()) >= 30
