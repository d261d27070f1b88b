"""model-runtimes: the catalogue against KServe's own runtime definitions, through real helm.

The reference file is KServe v0.20.0's ClusterServingRuntimes as its chart ships them
(upstream reference/ in the schema directory). Our catalogue must state the same facts:
names, server types, model formats with versions/priorities, protocols, args, command,
env, volumes and security. Images differ only by tag (KServe's file says `latest`; we pin).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import dead_values_keys, synth
from mlstack import registry, render, resolve, versions
from mlstack.components import model_runtimes
from mlstack.lib import schemas

REFERENCE = Path("reference/kserve-0.20.0/clusterservingruntimes.yaml")
REQUIRED = {
    "sklearn", "xgboost", "lightgbm", "tensorflow", "pytorch",
    "triton", "mlserver", "huggingface", "pmml", "paddle",
}  # fmt: skip


def _helm(tmp_path: Path, values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Real `helm template` of the committed chart, optionally with a values file."""
    files = []
    if values is not None:
        files.append(tmp_path / "v.yaml")
        files[0].write_text(yaml.safe_dump(values))
    resolved = resolve.resolve("k3d")
    release = resolved.release("model-runtimes")
    assert release is not None
    text = render.template(dataclasses.replace(release, files=tuple(files)), resolved)
    return [d for d in yaml.safe_load_all(text) if d]


@pytest.fixture(scope="module")
def reference(schema_dir: Path) -> dict[str, dict[str, Any]]:
    docs = yaml.safe_load_all((schema_dir / REFERENCE).read_text())
    return {d["metadata"]["name"]: d for d in docs if d}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in _helm(tmp_path_factory.mktemp("mr"))}


def test_catalogue_covers_the_required_runtimes() -> None:
    assert {r.key for r in model_runtimes.CATALOGUE} == REQUIRED


def _facts(obj: dict[str, Any]) -> dict[str, Any]:
    """What must agree with KServe: everything but image tag, resources, labels, pull policy,
    and what we add for hardening and air-gapped clusters (seccomp, pull secrets)."""
    spec = dict(obj["spec"])
    spec.pop("imagePullSecrets", None)
    container = dict(spec.pop("containers")[0])
    if "securityContext" in container:
        security = dict(container["securityContext"])
        security.pop("seccompProfile", None)
        container["securityContext"] = security
    repository = container.pop("image").rsplit(":", 1)[0]
    container.pop("resources")
    container.pop("imagePullPolicy", None)
    return {
        "annotations": obj["metadata"]["annotations"],
        "repository": repository,
        "container": container,
        "spec": spec,
    }


@pytest.mark.parametrize("runtime", model_runtimes.CATALOGUE, ids=lambda r: r.key)
def test_runtime_facts_match_kserve(
    runtime: model_runtimes.Runtime,
    rendered: dict[str, dict[str, Any]],
    reference: dict[str, dict[str, Any]],
) -> None:
    assert runtime.name in reference, f"KServe has no runtime {runtime.name}"
    assert _facts(rendered[runtime.name]) == _facts(reference[runtime.name])


def test_pinned_tags_agree_with_reference_where_it_pins(
    rendered: dict[str, dict[str, Any]], reference: dict[str, dict[str, Any]]
) -> None:
    """Where KServe pins a tag (not `latest`) we pin the same one; images come from versions."""
    data = versions.load()
    for runtime in model_runtimes.CATALOGUE:
        ours = rendered[runtime.name]["spec"]["containers"][0]["image"]
        theirs = reference[runtime.name]["spec"]["containers"][0]["image"]
        assert ours == data.images[runtime.image].ref
        if not theirs.endswith(":latest"):
            assert ours == theirs
        else:
            assert ours.endswith(":" + data.projects["kserve"].app_version)


def test_go_templates_reach_the_cluster_literally(rendered: dict[str, dict[str, Any]]) -> None:
    sklearn = rendered["kserve-sklearnserver"]["spec"]["containers"][0]
    assert sklearn["args"][0] == "--model_name={{.Name}}"
    mlserver = rendered["kserve-mlserver"]["spec"]["containers"][0]
    assert {"name": "MLSERVER_MODEL_IMPLEMENTATION", "value": "{{.Labels.modelClass}}"} in (
        mlserver["env"]
    )


def test_every_runtime_is_a_valid_custom_resource(
    schema_dir: Path, rendered: dict[str, dict[str, Any]]
) -> None:
    text = yaml.safe_dump_all(list(rendered.values()))
    count, problems = render.check_manifest(
        text, resolve.resolve("k3d").minors, schemas.upstream_crds(schema_dir)
    )
    assert (count, problems) == (len(REQUIRED), [])


def test_each_runtime_toggles_and_resources_are_values(tmp_path: Path) -> None:
    values = {
        "runtimes": {
            "triton": {"enabled": False},
            "huggingface": {"enabled": False},
            "sklearn": {
                "image": "registry.local/sklearnserver:v0.20.0",
                "resources": {
                    "requests": {"cpu": "250m", "memory": "512Mi"},
                    "limits": {"cpu": "2", "memory": "4Gi"},
                },
            },
        }
    }
    docs = {d["metadata"]["name"]: d for d in _helm(tmp_path, values)}
    assert "kserve-tritonserver" not in docs and "kserve-huggingfaceserver" not in docs
    assert len(docs) == len(REQUIRED) - 2
    sklearn = docs["kserve-sklearnserver"]["spec"]["containers"][0]
    assert sklearn["image"] == "registry.local/sklearnserver:v0.20.0"
    assert sklearn["resources"]["limits"] == {"cpu": "2", "memory": "4Gi"}


def test_no_dead_values_keys() -> None:
    templates = synth(registry.by_id()["model-runtimes"])
    assert dead_values_keys(templates, model_runtimes.ModelRuntimesValues) == []
    assert len(templates) == len(REQUIRED)
    assert all("{{- if .Values.runtimes." in t for t in templates.values())


def test_every_runtime_runs_with_seccomp_runtime_default(
    rendered: dict[str, dict[str, Any]],
) -> None:
    for name, obj in rendered.items():
        for container in obj["spec"]["containers"]:
            assert container["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, (
                name
            )
