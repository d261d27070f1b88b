"""Automation: renovate.json against Renovate's own schema, every pin covered by a
manager (the regexes run here over the real files), and the workflows call make targets
with actions pinned by digest."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from mlstack import REPO_ROOT, versions

RENOVATE = json.loads((REPO_ROOT / "renovate.json").read_text())
WORKFLOWS = REPO_ROOT / ".github" / "workflows"
MAKEFILE = (REPO_ROOT / "Makefile").read_text()


@pytest.fixture(scope="module")
def renovate_schema() -> dict[str, Any]:
    """Renovate's schema from its npm package; missing is a failure, never a skip."""
    pinned = re.search(r"^RENOVATE_NPM_VERSION := (\S+)$", MAKEFILE, re.M)
    default = REPO_ROOT / ".cache" / "renovate" / f"renovate-schema-{pinned and pinned[1]}.json"
    path = os.environ.get("MLSTACK_RENOVATE_SCHEMA", "") or str(default)
    found = Path(path)
    if not found.exists():
        pytest.fail(f"no Renovate schema at {path or '(MLSTACK_RENOVATE_SCHEMA unset)'}: run "
                    "`make renovate-schema` (or the tests through `make test`)")  # fmt: skip
    return json.loads(found.read_text())


def test_renovate_json_validates_against_renovates_schema(renovate_schema: dict) -> None:
    validator = jsonschema.Draft7Validator(renovate_schema)
    assert [e.message for e in validator.iter_errors(RENOVATE)] == []
    # The schema leaves objects open; a misspelt option would pass, so check names too.
    assert set(RENOVATE) - {"$schema"} <= set(renovate_schema["properties"])
    manager_keys = renovate_schema["definitions"]["customManagers"]["items"]["allOf"][0]
    for manager in RENOVATE["customManagers"]:
        assert set(manager) <= set(manager_keys["properties"]), manager["description"]
    # A package rule takes its match* keys plus any repository-level option (groupName, ...).
    rule_keys = set(
        renovate_schema["definitions"]["packageRules"]["items"]["allOf"][0]["properties"]
    )
    rule_keys |= set(renovate_schema["properties"])
    for rule in RENOVATE["packageRules"]:
        assert set(rule) <= rule_keys, rule["description"]


def test_schema_check_can_fail(renovate_schema: dict) -> None:
    broken = {**RENOVATE, "customManagers": [{"customType": "regexx", "matchStrings": "x"}]}
    assert list(jsonschema.Draft7Validator(renovate_schema).iter_errors(broken))


def _files(manager: dict[str, Any]) -> list[Path]:
    patterns = [re.compile(p.strip("/")) for p in manager["managerFilePatterns"]]
    found = [
        p
        for p in REPO_ROOT.rglob("*")
        if p.is_file()
        and not {".git", ".venv", ".tools", ".cache", "node_modules"} & set(p.parts)
        and any(r.search(str(p.relative_to(REPO_ROOT))) for r in patterns)
    ]
    assert found, f"{manager['description']}: its managerFilePatterns match no file"
    return found


def _matches(manager: dict[str, Any]) -> list[dict[str, str]]:
    """What Renovate extracts: each named-group match ((?<x>) is JavaScript's (?P<x>))."""
    out = []
    for path in _files(manager):
        text = path.read_text()
        for js in manager["matchStrings"]:
            regex = re.compile(js.replace("(?<", "(?P<"))
            out += [{"file": path.name, **m.groupdict()} for m in regex.finditer(text)]
    return out


def test_every_manager_extracts_a_current_value() -> None:
    for manager in RENOVATE["customManagers"]:
        found = _matches(manager)
        assert found, f"{manager['description']}: matches nothing"
        for match in found:
            assert match.get("currentValue") or "currentValueTemplate" in manager
            assert match.get("depName") or "depNameTemplate" in manager


def _by_description(word: str) -> list[dict[str, str]]:
    return [m for c in RENOVATE["customManagers"] if word in c["description"] for m in _matches(c)]


def test_every_pin_in_versions_yaml_is_covered() -> None:
    data = versions.load()
    charts = {(m["depName"], m["currentValue"]) for m in _by_description("Helm charts from")}
    assert charts == {(c.name, c.version) for c in data.charts.values()}
    images = {(m["depName"], m["currentValue"]) for m in _by_description("Container images")}
    assert images == {(i.repository, i.tag) for i in data.images.values()}
    tools = [m["currentValue"] for m in _by_description("whose CRDs the GitOps output")]
    assert sorted(tools) == sorted(t.version for t in data.tools.values())
    (kwok,) = _by_description("simulated cluster's nodes")
    assert data.simulated is not None and kwok["currentValue"] == data.simulated.kwok


def test_cluster_kubernetes_and_toolchain_pins_are_covered() -> None:
    k3s = _by_description("k3s image")
    k3d_config = yaml.safe_load((REPO_ROOT / "platform" / "k3d.yaml").read_text())
    assert [f"{m['depName']}:{m['currentValue']}" for m in k3s] == [k3d_config["image"]]
    minikube = yaml.safe_load((REPO_ROOT / "platform" / "minikube.yaml").read_text())
    assert [m["currentValue"] for m in _by_description("minikube")] == [
        minikube["kubernetesVersion"]
    ]
    makefile = (REPO_ROOT / "Makefile").read_text()
    (pin,) = _by_description("renovate-schema")
    assert f"RENOVATE_NPM_VERSION := {pin['currentValue']}\n" in makefile
    setup_helm = (REPO_ROOT / "scripts" / "setup-helm.sh").read_text()
    for word in ("Helm 4 binary", "Helm 3 (render-compat"):
        (manager,) = [c for c in RENOVATE["customManagers"] if word in c["description"]]
        (pin,) = _matches(manager)
        assert f"{manager['depNameTemplate']}@{pin['currentValue']}|" in setup_helm


def _workflow(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def _make_targets() -> set[str]:
    text = (REPO_ROOT / "Makefile").read_text()
    return {t for line in re.findall(r"^([a-z0-9 -]+):(?!=)", text, re.M) for t in line.split()}


@pytest.mark.parametrize("name", sorted(p.name for p in WORKFLOWS.glob("*.yaml")))
def test_workflows_pin_actions_by_digest_and_call_make_targets(name: str) -> None:
    text = (WORKFLOWS / name).read_text()
    uses = re.findall(r"uses:\s*(\S+)(.*)$", text, re.M)
    assert uses
    for ref, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", ref), ref
        assert re.fullmatch(r"\s+# v\d+\.\d+\.\d+", comment), f"{ref}: say the version"
    targets = _make_targets()
    for step in (s for job in _workflow(name)["jobs"].values() for s in job["steps"]):
        for called in re.findall(r"\bmake ([a-z][a-z0-9-]*)", step.get("run", "")):
            assert called in targets, f"{name}: make {called} is not a Makefile target"


def test_pull_requests_lint_and_test_and_tags_release() -> None:
    ci = _workflow("ci.yaml")
    assert "pull_request" in ci["on"]
    runs = [s.get("run", "") for s in ci["jobs"]["check"]["steps"]]
    assert "make check" in runs  # generate + drift + lint + test
    release = _workflow("release.yaml")
    assert release["on"]["push"]["tags"] == ["v*"]
    assert release["permissions"]["id-token"] == "write"  # keyless cosign
    runs = [s.get("run", "") for s in release["jobs"]["publish"]["steps"]]
    assert "make package STRICT=1" in runs and "make publish" in runs
    assert any("cosign-installer" in s.get("uses", "") for s in release["jobs"]["publish"]["steps"])
