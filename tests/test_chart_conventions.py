"""Chart conventions users of Helm and Artifact Hub expect: metadata, annotations, the
recommended labels on every own object (filled by Helm from the release), NOTES.txt."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from helpers import committed_envs
from mlstack import REPO_ROOT, project, registry
from mlstack.lib import chartgen, helm, releases

CHARTS = REPO_ROOT / "charts"
GOLDEN = Path(__file__).parent / "golden"


def _meta(chart_id: str) -> dict:
    return yaml.safe_load((CHARTS / chart_id / "Chart.yaml").read_text())


@pytest.mark.parametrize("component", registry.COMPONENTS, ids=lambda c: c.id)
def test_chart_yaml_has_standard_metadata_and_artifact_hub_annotations(component) -> None:
    meta = _meta(component.id)
    publisher = project.load()
    assert meta["home"] == publisher.home and meta["sources"] == list(publisher.sources)
    assert meta["maintainers"] and all(m["name"] for m in meta["maintainers"])
    assert meta["kubeVersion"].startswith(">=")
    notes = meta["annotations"]
    assert notes["artifacthub.io/license"] == publisher.license
    changes = yaml.safe_load(notes["artifacthub.io/changes"])
    current = releases.for_chart(component.id).releases[0]
    assert [c["description"] for c in changes] == current.changes
    assert {c["kind"] for c in changes} <= {"added", "changed", "fixed", "removed"}


def test_images_annotation_lists_the_runtime_images() -> None:
    images = yaml.safe_load(_meta("model-runtimes")["annotations"]["artifacthub.io/images"])
    refs = {i["image"] for i in images}
    assert "kserve/sklearnserver:v0.20.0" in refs and "tensorflow/serving:2.6.2" in refs


@pytest.mark.parametrize(
    "component", [c for c in registry.COMPONENTS if c.kind == "glue"], ids=lambda c: c.id
)
def test_every_glue_chart_has_notes_and_the_labels_helper(component) -> None:
    templates = CHARTS / component.id / "templates"
    notes = (templates / "NOTES.txt").read_text()
    assert "{{ .Release.Name }}" in notes and "Next:" in notes
    assert 'define "mlstack.labels"' in (templates / "_helpers.tpl").read_text()
    readme = (CHARTS / component.id / "README.md").read_text()
    assert "| Key | Type | Default | Description |" in readme
    assert f"helm install {component.id} {project.load().chart_ref(component.id)}" in readme


@pytest.mark.parametrize("env", committed_envs())  # goldens exist for these only
def test_every_rendered_own_object_carries_the_recommended_labels(env: str) -> None:
    """Goldens are real `helm template` output with release name = chart id."""
    files = sorted((GOLDEN / env).glob("*.yaml"))
    assert files
    for path in files:
        release = path.stem
        version = _meta(release)["version"]
        for doc in (d for d in yaml.safe_load_all(path.read_text()) if d):
            labels = doc["metadata"]["labels"]
            where = f"{env}/{release}: {doc['kind']} {doc['metadata']['name']}"
            assert labels["app.kubernetes.io/instance"] == release, where
            assert labels["app.kubernetes.io/managed-by"] == "Helm", where
            assert labels["helm.sh/chart"] == f"{release}-{version}", where
            assert labels["app.kubernetes.io/name"] == release, where
            assert labels["app.kubernetes.io/part-of"] == chartgen.PART_OF, where


def test_instance_label_follows_the_release_name() -> None:
    proc = helm.run(
        [
            "template",
            "team-a-samples",
            str(CHARTS / "models"),
            "-n",
            "models",
            "--kube-version",
            "1.35.0",
        ]
    )
    assert proc.returncode == 0, proc.stderr
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    assert docs
    for doc in docs:
        assert doc["metadata"]["labels"]["app.kubernetes.io/instance"] == "team-a-samples"


def test_an_object_setting_a_writer_label_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from cdk8s import ApiObject

    from mlstack.errors import UserError
    from mlstack.lib.component import Component
    from mlstack.lib.model import Values

    def build(scope) -> None:
        ApiObject(
            scope,
            "cm",
            api_version="v1",
            kind="ConfigMap",
            metadata={"name": "cm", "labels": {"app.kubernetes.io/instance": "x"}},
        )

    component = Component("probe", "probe", Values, "default", "kserve", "tests.probe", build=build)
    with pytest.raises(UserError, match=r"sets label app.kubernetes.io/instance.*remove it"):
        chartgen.synthesize(component, {})


def test_models_has_a_helm_test_pod_template_per_catalogue_list() -> None:
    """One test Pod per entry of each list (tests/test_models.py renders and runs them)."""
    templates = CHARTS / "models" / "templates"
    pods = sorted(p.name for p in templates.glob("pod-test-*.yaml"))
    assert pods == [
        "pod-test-inference-services.yaml",
        "pod-test-knative-services.yaml",
        "pod-test-plain-servers.yaml",
        "pod-test-seldon-deployments.yaml",
    ]
    for name in pods:
        assert '"helm.sh/hook" "test"' in (templates / name).read_text()
    notes = (templates / "NOTES.txt").read_text()
    assert "helm test {{ .Release.Name }}" in notes and "test-isvc" not in notes
