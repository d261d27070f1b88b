"""The CLI as users meet it: one-line errors naming file and key, nothing half-written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpers import committed_envs, edit_env, values_copy
from mlstack import registry, resolve


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlstack", *args], capture_output=True, text=True, check=False
    )


def test_render_k3d_writes_validated_output(tmp_path: Path) -> None:
    proc = _run("render", "--env", "k3d", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "RELEASE" in proc.stdout and "metallb-pool" in proc.stdout
    assert (tmp_path / "k3d" / "metallb-pool.yaml").exists()


def test_wrong_type_fails_with_one_line_and_writes_nothing(tmp_path: Path) -> None:
    values = values_copy(tmp_path / "values")
    (values / "k3d" / "metallb-pool.yaml").write_text(
        "pool:\n  addresses: [10.0.0.0/28]\n  autoAssign: maybe\n"
    )
    out = tmp_path / "build"
    proc = _run("render", "--env", "k3d", "--out", str(out), "--values-dir", str(values))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "metallb-pool.yaml" in lines[0] and "pool.autoAssign" in lines[0]
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_unknown_env_is_one_line() -> None:
    proc = _run("render", "--env", "kind")
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: unknown environment 'kind': no values/kind/environment")
    assert "cp -r values/k3d values/kind" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_missing_schema_dir_is_an_error(tmp_path: Path) -> None:
    proc = _run(
        "render",
        "--env",
        "k3d",
        "--schema-dir",
        str(tmp_path / "nope"),
        "--out",
        str(tmp_path / "b"),
    )
    assert proc.returncode == 2 and "run `make schemas`" in proc.stderr


def test_invalid_yaml_is_one_line(tmp_path: Path) -> None:
    values = values_copy(tmp_path / "values")
    (values / "k3d" / "metallb-pool.yaml").write_text("pool: [unclosed\n")
    proc = _run("render", "--env", "k3d", "--values-dir", str(values), "--out", str(tmp_path))
    assert proc.returncode == 2
    assert "metallb-pool.yaml: line" in proc.stderr and "not valid YAML" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_envs_says_why_each_release_is_on_in_aligned_columns(tmp_path: Path) -> None:
    """`make envs`' release table: every env column starts where its header does, the
    marks are the resolved releases, and the reason is the setting that really decides
    (the base, TLS and auth releases used to be labelled `seldon:`)."""
    values = values_copy(tmp_path / "values")
    edit_env(values, "k3d", auth={"enabled": True}, components={"jupyterhub": True})
    proc = _run("envs", "--values-dir", str(values))
    assert proc.returncode == 0, proc.stderr
    table = proc.stdout.split("\n\n")[1].splitlines()
    header, rows = table[0], table[1:]
    envs = header.split()[4:]  # release, on, by, (environment.yaml), then the envs
    assert envs == committed_envs()
    starts = [header.index(f" {e}") + 1 for e in envs]
    reasons = {}
    for row in rows:
        release = row.split()[0]
        marks = [row[s:].split()[0] for s in starts]
        assert all(row[s - 1] == " " for s in starts), row
        for env, mark in zip(envs, marks, strict=True):
            on = release in resolve.resolve(env, values).ids
            assert mark == ("yes" if on else "-"), (release, env, row)
        reasons[release] = row[len(release) : starts[0]].strip()
    assert [r.split()[0] for r in rows] == [c.id for c in registry.COMPONENTS]
    assert reasons["namespaces"] == reasons["istio-ingress-class"] == "always"
    assert reasons["gateway-tls"] == "tls.mode: self-signed|acme"
    assert reasons["dex"] == "auth.bundledDex: true"
    assert reasons["model-auth"] == "auth.enabled: true"
    assert reasons["metallb"] == "loadBalancer: metallb, components: metallb"
    assert reasons["kserve"] == "default, components: kserve"
    assert reasons["jupyterhub"] == "components: jupyterhub"
    seldon = {r for r, why in reasons.items() if "seldon:" in why}
    assert seldon == {"emissary-crds", "emissary", "seldon-gateway", "seldon-core-operator"}


def test_missing_chart_is_one_line(tmp_path: Path) -> None:
    proc = _run(
        "render",
        "--env",
        "k3d",
        "--charts-dir",
        str(tmp_path / "none"),
        "--out",
        str(tmp_path / "b"),
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "has no Chart.yaml: run `make generate`" in proc.stderr


def test_malformed_data_file_is_one_line(tmp_path: Path) -> None:
    from mlstack.errors import UserError
    from mlstack.lib import releases, yamlfile

    broken = tmp_path / "chart-versions.yaml"
    broken.write_text("metallb:\n  - version: 0.1.0\n    changes: [\n")
    try:
        releases.load(broken)
    except UserError as err:
        assert str(err).startswith(f"{broken}: line ") and "not valid YAML" in str(err)
    else:
        raise AssertionError("malformed YAML was accepted")
    try:
        yamlfile.read(tmp_path / "absent.yaml")
    except UserError as err:
        assert "absent.yaml: file not found" in str(err)
    else:
        raise AssertionError("a missing file was accepted")
