"""Issue 13, bad input files: every case gives one line naming the file (and line/key),
never a traceback and never a silent accept.

Each test feeds the real reader or the real loader (versions.yaml, chart-versions.yaml,
values files, committed Chart.yaml / values.schema.json, the GitOps ownership manifest)
a file as a user could produce it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import helpers
from mlstack import REPO_ROOT, environments, generate, render, resolve, versions
from mlstack.errors import UserError
from mlstack.gitops import owned
from mlstack.lib import releases, yamlfile

VERSIONS = versions.VERSIONS_FILE.read_text()
RELEASES = releases.RELEASES_FILE.read_text()


def refused(call: Callable[[], object], *needles: str) -> str:
    """The one-line UserError `call` raises; it must contain every needle."""
    with pytest.raises(UserError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message, message
    for needle in needles:
        assert needle in message, (needle, message)
    return message


# -- the reader -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "needles"),
    [
        ("a: 1\n".encode("utf-16"), ["is UTF-16 encoded: save it as UTF-8"]),
        ("a: 1\n".encode("utf-32"), ["is UTF-32 encoded"]),
        (b"a: 1\nb: caf\xe9\n", ["line 2: byte 0xe9 is not UTF-8"]),
        (b"a:\n  b: 1\n  b: 2\n", ["line 3: key 'a.b': key given twice (first on line 2)"]),
        (b"x:\n  - k: 1\n    k: 2\n", ["key 'x.0.k': key given twice"]),
        (b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n", ["nested deeper than 64 levels"]),
        (b"".join(b"  " * i + b"k%d:\n" % i for i in range(500)), ["nested deeper than"]),
        (b"a: &a [*a]\n", ["an alias refers to itself"]),
        (
            b"a: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
            b"c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
            b"e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n",
            ["expands to more than"],
        ),
        (b"a: 1\n---\nb: 2\n", ["line 2", "is not valid YAML"]),
        (b"a: [1,\n", ["is not valid YAML"]),
        (b"a: \x00\n", ["is not valid YAML"]),
        (b"x" * (yamlfile.MAX_BYTES + 1), ["too large"]),
    ],
    ids=[
        "utf16",
        "utf32",
        "latin1",
        "duplicate-key",
        "duplicate-in-list",
        "deep-flow",
        "deep-block",
        "alias-cycle",
        "alias-bomb",
        "two-documents",
        "syntax",
        "nul",
        "oversize",
    ],
)
def test_reader_refuses_bad_content(tmp_path: Path, content: bytes, needles: list[str]) -> None:
    path = tmp_path / "values.yaml"
    path.write_bytes(content)
    refused(lambda: yamlfile.read(path), str(path), *needles)


def test_reader_refuses_files_that_are_not_regular(tmp_path: Path) -> None:
    folder = tmp_path / "dir.yaml"
    folder.mkdir()
    refused(lambda: yamlfile.read(folder), "is a directory, not a file")
    zero = tmp_path / "zero.yaml"
    zero.symlink_to("/dev/zero")
    refused(lambda: yamlfile.read(zero), "is not a regular file")
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    refused(lambda: yamlfile.read(fifo), "is not a regular file")  # and does not block
    refused(lambda: yamlfile.read(tmp_path / "absent.yaml"), "file not found")


def test_reader_keeps_good_files_and_reports_json_problems(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("\ufeffa: {b: [1, 2]}\nc: &x 1\nd: *x\n")
    assert yamlfile.read(path) == {"a": {"b": [1, 2]}, "c": 1, "d": 1}
    schema = tmp_path / "values.schema.json"
    schema.write_text('{"a": 1, "a": 2}')
    refused(lambda: yamlfile.read_json(schema), "key 'a': key given twice")
    schema.write_text('{"a": ')
    refused(lambda: yamlfile.read_json(schema), "line 1", "is not valid JSON")
    schema.write_text("[" * 100_000 + "]" * 100_000)
    refused(lambda: yamlfile.read_json(schema), "nested")


# -- versions.yaml ----------------------------------------------------------------------


def _versions(tmp_path: Path, old: str, new: str) -> Callable[[], object]:
    assert old in VERSIONS, old
    path = tmp_path / "versions.yaml"
    path.write_text(VERSIONS.replace(old, new, 1))
    return lambda: versions.load.__wrapped__(path)


@pytest.mark.parametrize(
    ("old", "new", "needles"),
    [
        ("    version: 0.16.1\n    appVersion", "    version: v0.x\n    appVersion", ["version"]),
        ("    version: 0.16.1\n    appVersion", "    version: 00.2.0\n    appVersion", ["00.2.0"]),
        (
            "    version: 0.16.1\n    appVersion",
            "    version: \uff10.16.1\n    appVersion",
            ["projects.metallb.version", "ASCII digits"],
        ),
        ("    version: 1.30.3\n    repository", "    version: latest\n    repository", ["latest"]),
        (
            "    version: 1.30.3\n    repository: https://istio-release.storage.googleapis.com/"
            "charts\n    values: istio-gateway",
            "    version: 1.31.0\n    repository: https://istio-release.storage.googleapis.com/"
            "charts\n    values: istio-gateway",
            ["charts.istio-gateway.version 1.31.0 leaves projects.istio.version 1.30.3"],
        ),
        ("    repository: https://metallb.github.io/metallb", '    repository: ""', ["repository"]),
        ("    appVersion: v0.16.1", '    appVersion: ""', ["appVersion"]),
        ("    appVersion: v0.16.1", "    appVersion: v0.16.2", ["appVersion v0.16.2 is not"]),
        ('kubernetes: {min: "1.25", max: "1.36"}', "kubernetes: {min: 1.25, max: 1.36}", ["min"]),
        ('kubernetes: {min: "1.25", max: "1.36"}', 'kubernetes: {min: "1.36", max: "1.25"}', []),
        ('    tag: "v0.20.0"', '    tag: "latest"', ["images.kserve-sklearnserver.tag", "pin"]),
        ("    repository: kserve/sklearnserver", "    repository: Kserve/SK", ["repository"]),
        ("charts:\n", "charts: []\nold_charts:\n", ["charts"]),
        ("projects:\n", "projects: 5\nold:\n", ["projects"]),
    ],
)
def test_versions_file_is_checked_where_read(
    tmp_path: Path, old: str, new: str, needles: list[str]
) -> None:
    refused(_versions(tmp_path, old, new), "versions.yaml", *needles)


def test_missing_versions_entries_are_one_line() -> None:
    data = versions.load()
    refused(lambda: data.charts["nope"], "versions.yaml: no charts.nope: add it")
    refused(lambda: data.images["nope"], "no images.nope")
    refused(lambda: data.projects["nope"], "no projects.nope")
    with pytest.raises(ValueError, match="not a version"):
        versions.parse_version("\uff11.2.3")


# -- chart-versions.yaml ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "needles"),
    [
        ("metallb:\n  - version: 0.1.0\n", "metallb: []\nx:\n  - version: 0.1.0\n", ["metallb"]),
        ("metallb:\n  - version: 0.1.0\n", "metallb: 0.1.0\nx:\n  - version: 0.1.0\n", ["list"]),
        ("metallb:\n  - version: 0.1.0\n", "metallb:\n  - version: 00.1.0\n", ["00.1.0"]),
        ("metallb:\n  - version: 0.1.0\n", "metallb:\n  - version: latest\n", ["latest"]),
        ("metallb:\n  - version: 0.1.0\n", "metallb:\n  - version: \uff10.1.0\n", ["ASCII"]),
        ("metallb:\n  - version: 0.1.0\n", "metallb:\n  - version: 0.1.0\n    version: 2\n", []),
    ],
    ids=["empty", "scalar", "leading-zero", "latest", "full-width", "duplicate"],
)
def test_chart_versions_file_is_checked_where_read(
    tmp_path: Path, old: str, new: str, needles: list[str]
) -> None:
    path = tmp_path / "chart-versions.yaml"
    first = re.search(r"^metallb:\n  - version: \S+\n", RELEASES, re.MULTILINE)
    assert first is not None
    current = first.group(0).split("version: ")[1].strip()
    old = old.replace("0.1.0", current)
    new = new.replace("0.1.0", current) if "00.1.0" not in new else new
    path.write_text(RELEASES.replace(old, new, 1))
    refused(lambda: releases.load.__wrapped__(path), "chart-versions.yaml", *needles)
    path.write_text("- a\n- b\n")
    refused(lambda: releases.load.__wrapped__(path), "top level must be a mapping")


# -- values files -----------------------------------------------------------------------


@pytest.fixture
def values_copy(tmp_path: Path) -> Path:
    return helpers.values_copy(tmp_path / "values")


@pytest.mark.parametrize(
    ("release", "text", "needles"),
    [
        ("knative-serving", "ingressGateway: 5\n", ["ingressGateway: 5 is not of type"]),
        ("knative-serving", "kserveResources: 'x'\n", ["kserveResources: unknown key"]),
        ("istio-gateway", "gateway:\n  labels: 5\n", ["gateway.labels"]),
        ("kserve", "kserveResources: 'x'\n", ["kserveResources"]),
        ("models", "sklearnIris: []\n", ["sklearnIris"]),
    ],
)
def test_wrong_types_stop_before_cross_checks(
    values_copy: Path, charts_copy: Path, release: str, text: str, needles: list[str]
) -> None:
    (values_copy / "k3d" / f"{release}.yaml").write_text(text)
    refused(lambda: generate.generate(charts_copy, values_copy), f"k3d/{release}.yaml", *needles)


def test_a_values_file_that_is_a_directory_or_misnamed_is_refused(
    values_copy: Path, charts_copy: Path
) -> None:
    target = values_copy / "k3d" / "metallb-pool.yaml"
    target.unlink()
    target.mkdir()
    refused(lambda: generate.generate(charts_copy, values_copy), "is a directory, not a file")
    target.rmdir()
    (values_copy / "k3d" / "metallb-pool.yml").write_text("pool:\n  name: x\n")
    refused(
        lambda: generate.generate(charts_copy, values_copy),
        "metallb-pool.yml: not read (values files end in .yaml)",
    )
    env = environments.load("k3d", values_copy)
    assert any("metallb-pool.yml" in p for p in resolve.stray_files(env, set(), values_copy))


def test_corrupt_committed_chart_files_are_one_line(
    charts_copy: Path, values_copy: Path, schema_dir: Path, tmp_path: Path
) -> None:
    meta = charts_copy / "metallb-pool" / "Chart.yaml"
    meta.write_bytes(b"\xff\xfe garbage")
    refused(
        lambda: generate.generate(charts_copy, values_copy),
        "charts/metallb-pool/Chart.yaml",
        "restore it with `git checkout",
    )
    refused(
        lambda: render.render_env(resolve.resolve("k3d"), schema_dir, charts_copy), "Chart.yaml"
    )
    meta.write_text("[1, 2]\n")
    refused(lambda: generate.generate(charts_copy, values_copy), "not a chart's metadata")
    shutil.copy(REPO_ROOT / "charts" / "metallb-pool" / "Chart.yaml", meta)
    schema = charts_copy / "metallb-pool" / "values.schema.json"
    schema.write_text('{"type": "object", "type": "array"}')
    # render validates against the model's schema in memory; helm reads the committed
    # one, and package / GitOps copy it: the reader still refuses it in one line.
    refused(lambda: yamlfile.read_json(schema), "values.schema.json", "given twice")


def test_corrupt_ownership_manifest_is_one_line(tmp_path: Path) -> None:
    files = {"m/charts/a.yaml": "a: 1\n"}
    owned.write(tmp_path, "m", files, ("m/charts",))
    manifest = tmp_path / "m" / owned.MANIFEST
    for garbage, needle in (
        (b"\xff\xfe\x00", "UTF-16"),
        (b"owner: mlstack\nfiles: [1]\n", "not an mlstack ownership manifest"),
        (b"owner: mlstack\nfiles:\n  m/charts/a.yaml: nothex\n", "not a sha256 digest"),
        (b"owner: mlstack\nfiles:\n  ../x: '" + b"a" * 64 + b"'\n", "leaves the repository"),
        (b"owner: [\n", "is not valid YAML"),
    ):
        manifest.write_bytes(garbage)
        refused(lambda: owned.write(tmp_path, "m", files, ("m/charts",)), needle)


def test_cli_prints_one_line_for_a_values_directory(tmp_path: Path) -> None:
    values = helpers.values_copy(tmp_path / "values")
    (values / "k3d" / "istiod.yaml").unlink()
    (values / "k3d" / "istiod.yaml").symlink_to("/dev/zero")
    cmd = [sys.executable, "-m", "mlstack", "generate", "--charts-dir", str(tmp_path / "c")]
    proc = subprocess.run(
        [*cmd, "--values-dir", str(values)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "istiod.yaml: is not a regular file" in proc.stderr
    assert not (tmp_path / "c").exists()


def test_wrong_pass_through_type_without_upstream_schemas_is_one_line(
    values_copy: Path, charts_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No schema directory at hand: the value the gateway's names are derived from is
    type-checked where it is read (lib/facts.setting), so the line names file and key."""
    monkeypatch.setenv("MLSTACK_SCHEMA_DIR", str(values_copy / "nowhere"))
    (values_copy / "k3d" / "istio-gateway.yaml").write_text("gateway:\n  labels: 5\n")
    refused(
        lambda: generate.generate(charts_copy, values_copy),
        "k3d/istio-gateway.yaml: gateway.labels: must be a mapping of keys",
    )
