"""Environments are data: values/<env>/environment.yaml, strict, schema'd, documented.

The acceptance scenario of the refactor runs here as a user would, on a private copy of
the repository's values and charts: copy an environment folder, edit two keys, render the
whole platform and plan its install, with no Python edited.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import types
import typing
from pathlib import Path

import jsonschema
import pytest
import yaml
from pydantic import BaseModel

from helpers import committed_envs, edit_env, values_copy
from mlstack import environments, resolve
from mlstack.errors import UserError


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlstack", *args], capture_output=True, text=True, check=False
    )


def test_a_copied_folder_is_a_new_environment_with_no_python_edited(
    tmp_path: Path, charts_copy: Path
) -> None:
    values = values_copy(tmp_path / "values")
    shutil.copytree(values / "k3d", values / "lab")  # cp -r values/k3d values/lab
    edit_env(values, "lab", domain="ml.lab.test", seldon="istio")
    dirs = ("--values-dir", str(values), "--charts-dir", str(charts_copy))
    out = tmp_path / "build"
    render = _cli("render", "--generate", "--env", "lab", "--out", str(out), *dirs)
    assert render.returncode == 0, render.stderr
    assert "render lab: 17 releases" in render.stdout and "FAILED" not in render.stdout
    assert "seldon-gateway: Gateway: seldon-gateway" in render.stdout
    (serving,) = [
        d
        for d in yaml.safe_load_all((out / "lab" / "knative-serving.yaml").read_text())
        if d and d["kind"] == "KnativeServing"
    ]
    assert serving["spec"]["config"]["domain"] == {"ml.lab.test": ""}
    assert (out / "lab" / "seldon-gateway.yaml").exists()
    kserve = yaml.safe_load((values / "lab" / "generated" / "kserve.yaml").read_text())
    assert kserve["kserveResources"]["kserve"]["controller"]["gateway"]["domain"] == "ml.lab.test"
    install = _cli("install", "--env", "lab", "--dry-run", *dirs)
    assert install.returncode == 0, install.stderr
    assert install.stdout.startswith("install-platform lab: 17 release(s)")
    for release in ("seldon-core-operator", "seldon-gateway"):
        assert f"helm upgrade --install {release} " in install.stdout
    assert "domain auto" not in install.stdout  # a fixed domain needs no address
    names = _cli("envs", "--names", "--values-dir", str(values))
    assert names.stdout.split() == ["ci", "eks", "k3d", "lab", "minikube"]


def test_unknown_key_is_refused_naming_file_and_key(tmp_path: Path) -> None:
    values = values_copy(tmp_path / "values")
    edit_env(values, "k3d", domian="ml.lab.test")
    proc = _cli("render", "--env", "k3d", "--values-dir", str(values), "--out", str(tmp_path))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: ") and "values/k3d/environment.yaml: domian: unknown key" in line
    assert "use one of " in line and "loadBalancer" in line and " name" not in line


def test_a_misspelt_required_key_is_named_not_reported_missing(tmp_path: Path) -> None:
    """`domian:` instead of `domain:` leaves `domain` missing too; the typo is the cause, so
    the one line names it and suggests the key meant, not `domain: Field required`."""
    values = values_copy(tmp_path / "values")
    path = values / "k3d" / "environment.yaml"
    text = path.read_text()
    assert "\ndomain: auto\n" in text
    path.write_text(text.replace("\ndomain: auto\n", "\ndomian: auto\n"))
    proc = _cli("render", "--env", "k3d", "--values-dir", str(values), "--out", str(tmp_path))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert "values/k3d/environment.yaml: domian: unknown key: did you mean domain?" in line
    assert "Field required" not in line


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"seldon": "yes"}, r"environment\.yaml: seldon: Input should be 'off', 'istio'"),
        (
            {"domain": "Not A Domain"},
            r"environment\.yaml: domain: 'Not A Domain' is malformed: DNS domain",
        ),
        ({"kubernetes": 1.35}, r"environment\.yaml: kubernetes: Input should be a valid string"),
        ({"tls": {"mode": "acme", "issuer": "x"}}, r"environment\.yaml: tls\.issuer: unknown"),
        (
            {"tls": {"enabled": True}},
            r"tls\.enabled: unknown key: use one of acme, mode, secretName",
        ),
        ({"tls": {"mode": "acme"}}, r"environment\.yaml: tls: .*mode acme needs acme"),
        (
            {"tls": {"mode": "acme", "acme": {"email": "a@b.c"}}},
            r"tls\.acme: .*solver http01 needs hosts",
        ),
        ({"auth": {"enabled": True, "issuer": "https://x"}}, r"auth: .*issuer and jwksUri"),
        ({"components": {"emisary": True}}, r"components\.emisary: unknown component: use one"),
        ({"name": "lab"}, r"environment\.yaml: name: unknown key: the environment's name is"),
    ],
)
def test_bad_settings_are_one_line(tmp_path: Path, change: dict[str, object], message: str) -> None:
    values = values_copy(tmp_path / "values")
    edit_env(values, "k3d", **change)
    with pytest.raises(UserError, match=message) as err:
        resolve.resolve("k3d", values)
    assert "\n" not in str(err.value)


def test_switching_a_default_component_off(tmp_path: Path) -> None:
    values = values_copy(tmp_path / "values")
    (values / "k3d" / "models.yaml").write_text("{}\n")
    edit_env(values, "k3d", components={"models": False, "emissary": True})
    (values / "k3d" / "models.yaml").unlink()
    ids = resolve.resolve("k3d", values).ids
    assert "models" not in ids and {"emissary-crds", "emissary"} <= set(ids)


def test_committed_environments_match_the_generated_schema(repo: Path) -> None:
    schema = json.loads((repo / "values" / environments.SCHEMA_FILE).read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["additionalProperties"] is False
    validator = jsonschema.Draft7Validator(schema)
    for name in environments.names():
        data = yaml.safe_load((repo / "values" / name / environments.FILE).read_text())
        assert list(validator.iter_errors(data)) == [], name
    assert list(validator.iter_errors({**data, "domian": "x"}))  # the schema can fail


def test_readme_documents_every_key(repo: Path) -> None:
    readme = (repo / "README.md").read_text()
    section = readme.split("## Environments", 1)[1].split("\n## ", 1)[0]
    for name, field in environments.Environment.model_fields.items():
        if name == "name":
            continue
        assert f"`{field.alias or name}`" in section, f"README: {field.alias or name}"
    for key in _nested_keys(environments.Environment):
        assert f"`{key}`" in section, f"README: {key}"
    assert "cp -r values/k3d values/lab" in section


def test_every_env_folder_with_values_is_an_environment(repo: Path) -> None:
    folders = {p.name for p in (repo / "values").iterdir() if p.is_dir()}
    assert folders == set(environments.names()), "a values/ folder lacks environment.yaml"
    assert set(committed_envs()) == {"ci", "eks", "k3d", "minikube"}


def _nested_keys(model: type, prefix: str = "") -> list[str]:
    """Dotted keys of every setting inside a nested block (`tls.acme.route53.region`)."""
    out = []
    for name, field in model.model_fields.items():  # type: ignore[attr-defined]
        key = f"{prefix}{field.alias or name}"
        optional = typing.get_origin(field.annotation) in (typing.Union, types.UnionType)
        inner = [field.annotation, *(typing.get_args(field.annotation) if optional else ())]
        nested = [t for t in inner if isinstance(t, type) and issubclass(t, BaseModel)]
        if nested:
            out += [key] if prefix else []
            out += _nested_keys(nested[0], f"{key}.")
        elif prefix:
            out.append(key)
    return out
