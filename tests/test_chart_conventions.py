"""Chart conventions users of Helm and Artifact Hub expect: metadata, annotations, the
recommended labels on every own object (filled by Helm from the release), NOTES.txt."""

from __future__ import annotations

import http.server
import json
import subprocess
import threading
from pathlib import Path

import pytest
import yaml

from mlstack import REPO_ROOT, environments, project, registry
from mlstack.lib import chartgen, helm, releases, samples

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


@pytest.mark.parametrize("env", environments.names())
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


def _test_pods() -> dict[str, dict]:
    pods = {}
    for path in (CHARTS / "models" / "templates").glob("pod-*.yaml"):
        body = "\n".join(line for line in path.read_text().splitlines() if "{{" not in line)
        pod = yaml.safe_load(body)
        pods[pod["metadata"]["name"]] = pod
    return pods


def test_models_has_a_helm_test_pod_per_sample() -> None:
    pods = _test_pods()
    assert set(pods) == {"test-sklearn-iris", "test-iris-model", "test-model-server"}
    for pod in pods.values():
        assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
        assert pod["spec"]["restartPolicy"] == "Never"
    notes = (CHARTS / "models" / "templates" / "NOTES.txt").read_text()
    assert "helm test {{ .Release.Name }}" in notes and "test-sklearn-iris" not in notes


class _Model(http.server.BaseHTTPRequestHandler):
    """Stands in for a model server: answers the iris request the way KServe v2 does."""

    reply = b'{"outputs": [{"name": "output-0", "data": [1, 0]}]}'
    status = 200
    seen: list[dict] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        type(self).seen.append(json.loads(self.rfile.read(length)))
        self.send_response(self.status)
        self.end_headers()
        self.wfile.write(self.reply)

    def log_message(self, format: str, *args: object) -> None:
        """Asserted through the results, not logged."""


@pytest.mark.parametrize(
    ("status", "reply", "passes"),
    [(200, b'{"outputs": []}', True), (200, b'{"error": "no"}', False), (500, b"{}", False)],
)
def test_the_test_pod_script_really_checks_the_answer(
    status: int, reply: bytes, passes: bool
) -> None:
    """The Pod's own shell, run here with curl against a local stand-in for the model."""
    handler = type("Model", (_Model,), {"status": status, "reply": reply, "seen": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        command = _test_pods()["test-sklearn-iris"]["spec"]["containers"][0]["command"]
        url = "http://sklearn-iris.models.svc.cluster.local"
        local = command[2].replace(url, f"http://127.0.0.1:{server.server_address[1]}")
        local = local.replace("--retry 10", "--retry 0")
        proc = subprocess.run([command[0], command[1], local], capture_output=True, check=False)
    finally:
        server.shutdown()
        server.server_close()
    assert (proc.returncode == 0) == passes, proc.stderr
    assert handler.seen == [samples.request_body("kserve-v2")]  # the smoke request
