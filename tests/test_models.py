"""The model catalogue: lists in values, one validated object per entry, smoke per entry.

Real renders (`helm template` of the generated chart with a values file as a user writes
it) validated against KServe's, Knative's and Kubernetes' own schemas.
"""

from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import edit_env, synth, values_copy
from mlstack import registry, render, resolve
from mlstack.components import models
from mlstack.lib import catalogue, samples, schemas
from mlstack.lifecycle import smoke

THREE = Path(__file__).parent / "data" / "three-models.yaml"


def _render(values: Path, schema_dir: Path, env: str = "k3d") -> list[dict[str, Any]]:
    resolved = resolve.resolve(env, values)
    release = resolved.release("models")
    assert release is not None
    text = render.template(release, resolved)
    count, problems = render.check_manifest(
        text, resolved.minors, schemas.upstream_crds(schema_dir)
    )
    assert problems == []
    docs = [d for d in yaml.safe_load_all(text) if d]
    assert count == len(docs)
    return docs


def _objects(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the release installs (not its `helm test` Pods)."""
    return [d for d in docs if "helm.sh/hook" not in d["metadata"].get("annotations", {})]


def test_three_entries_render_three_valid_inference_services_with_exactly_their_fields(
    tmp_path: Path, schema_dir: Path
) -> None:
    values = values_copy(tmp_path / "values")
    shutil.copy(THREE, values / "k3d" / "models.yaml")
    docs = _objects(_render(values, schema_dir))
    assert [d["kind"] for d in docs] == ["InferenceService"] * 3
    specs = {d["metadata"]["name"]: d["spec"]["predictor"] for d in docs}
    # Every predictor pod is hardened for the restricted models namespace (no token).
    hardened = {
        "automountServiceAccountToken": False,
        "imagePullSecrets": [],
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
    }
    for spec in specs.values():
        assert {k: spec.pop(k) for k in hardened} == hardened
    assert specs == {
        "fraud-xgb": {
            "minReplicas": 1,
            "maxReplicas": 4,
            "serviceAccountName": "s3-reader",
            "model": {
                "modelFormat": {"name": "xgboost"},
                "storageUri": "s3://team-models/fraud/xgb-2024-06",
            },
        },
        "churn-sk": {
            "model": {
                "modelFormat": {"name": "sklearn"},
                "protocolVersion": "v2",
                "storageUri": "pvc://models-pvc/churn",
            }
        },
        "sentiment": {
            "model": {
                "modelFormat": {"name": "huggingface"},
                "storageUri": "hf://distilbert/distilbert-base-uncased-finetuned-sst-2-english",
            }
        },
    }
    assert all(set(d["metadata"]) == {"name", "labels"} for d in docs)


def test_smoke_dry_run_lists_a_request_for_each_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    values = values_copy(tmp_path / "values")
    shutil.copy(THREE, values / "k3d" / "models.yaml")
    assert smoke.main(resolve.resolve("k3d", values, local=True), dry_run=True) == 0
    out = capsys.readouterr().out.splitlines()
    waits = [line for line in out if ": wait for " in line]
    assert waits == [
        "fraud-xgb (kserve-v1): wait for InferenceService models/fraud-xgb",
        "churn-sk (kserve-v2): wait for InferenceService models/churn-sk",
        "sentiment (kserve-v1): wait for InferenceService models/sentiment",
    ]
    # The models' calls; the checks of what must be refused follow each (# expect ...).
    curls = [line for line in out if line.startswith("  $ curl") and "# expect" not in line]
    assert "-H 'Host: fraud-xgb-models.example.com'" in curls[0]
    assert curls[0].endswith("/v1/models/fraud-xgb:predict")
    assert curls[1].endswith("/v2/models/churn-sk/infer") and '"datatype": "FP32"' in curls[1]
    assert "The service was quick and friendly." in curls[2]


def test_samples_are_switchable_default_entries(tmp_path: Path, schema_dir: Path) -> None:
    values = values_copy(tmp_path / "values")
    names = {(d["kind"], d["metadata"]["name"]) for d in _objects(_render(values, schema_dir))}
    assert names == {("InferenceService", "sklearn-iris"), ("Service", "helloworld-go")}
    defaults = resolve.chart_defaults()["models"]
    switched = [{**e, "enabled": not e["enabled"]} for e in defaults["inferenceServices"]]
    (values / "k3d" / "models.yaml").write_text(yaml.safe_dump({"inferenceServices": switched}))
    docs = _objects(_render(values, schema_dir))
    mnist = next(d for d in docs if d["metadata"]["name"] == "mnist")
    assert "sklearn-iris" not in {d["metadata"]["name"] for d in docs}
    assert mnist["spec"]["predictor"]["logger"]["mode"] == "all"
    assert mnist["spec"]["predictor"]["model"]["protocolVersion"] == "v1"


def test_plain_server_is_a_rolling_deployment_behind_its_own_service(
    tmp_path: Path, schema_dir: Path
) -> None:
    values = values_copy(tmp_path / "values")
    # Its own public address only without TLS and auth (models.public_plain_server).
    edit_env(values, "k3d", tls={"mode": "off"})
    server = {"name": "scorer", "image": "ghcr.io/team/scorer:1.0", "replicas": 2, "port": 9000}
    server |= {"serviceType": "LoadBalancer", "healthPath": "/healthz"}
    server["resources"] = {"requests": {"cpu": "250m"}, "limits": {"cpu": "1"}}
    (values / "k3d" / "models.yaml").write_text(
        yaml.safe_dump({"inferenceServices": [], "knativeServices": [], "plainServers": [server]})
    )
    docs = {d["kind"]: d for d in _objects(_render(values, schema_dir))}
    deployment, service = docs["Deployment"], docs["Service"]
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
    }
    assert deployment["spec"]["replicas"] == 2
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"] == server["resources"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert service["spec"]["type"] == "LoadBalancer"
    assert service["spec"]["ports"][0] == {
        "name": "http",
        "port": 80,
        "protocol": "TCP",
        "targetPort": 9000,
    }
    assert service["spec"]["selector"] == deployment["spec"]["template"]["metadata"]["labels"]


def test_every_entry_key_reaches_the_object_or_smoke() -> None:
    """No dead catalogue keys: each is read by its template or is smoke's `request`."""
    built = synth(registry.by_id()["models"])
    # 4 lists + a plain server's Service and NetworkPolicy + a test Pod per list
    assert len(built) == 10
    for structure, entry in (
        (models._inference_service(), models.InferenceServiceEntry),
        (models._seldon_deployment(), models.SeldonDeploymentEntry),
        (models._knative_service(), models.KnativeServiceEntry),
        (models._plain_deployment(), models.PlainServerEntry),
    ):
        used = set(catalogue.keys_used(structure)) | {"enabled", "request"}
        if entry is models.PlainServerEntry:  # its Service reads the rest
            used |= set(catalogue.keys_used(models._plain_service()))
        keys = {f.alias or n for n, f in entry.model_fields.items()}
        assert keys - used == set(), entry.__name__


def test_template_compiles_structure_to_one_json_object_per_entry() -> None:
    structure = {
        "kind": "Thing",
        "metadata": {"name": catalogue.Key("name"), **catalogue.optional("namespace")},
        "spec": {"replicas": catalogue.Key("replicas", 1), "args": ["--x={{.Name}}", True]},
    }
    assert catalogue.expression(structure) == (
        '(dict "kind" "Thing" "metadata" (merge (dict "name" $e.name) (pick $e "namespace")) '
        '"spec" (dict "replicas" (dig "replicas" 1 $e) "args" (list "--x={{.Name}}" true)))'
    )
    assert catalogue.keys_used(structure) == ["name", "namespace", "replicas"]


def test_chart_writer_refuses_a_key_the_entry_model_does_not_define() -> None:
    import dataclasses

    from constructs import Construct

    from mlstack.errors import UserError
    from mlstack.lib import chartgen

    def build(scope: Construct) -> None:
        structure = {"kind": "Thing", "spec": {"x": catalogue.Key("stroageUri")}}
        entry = models.InferenceServiceEntry
        catalogue.Each(scope, "things", key="inferenceServices", entry=entry, structure=structure)

    broken = dataclasses.replace(registry.by_id()["models"], build=build)
    with pytest.raises(UserError, match=r"uses \.Values\.inferenceServices\[\]\.stroageUri"):
        chartgen.synthesize(broken, resolve.chart_defaults()["models"])


def _pods(docs: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Test Pod name -> its request environment."""
    return {
        d["metadata"]["name"]: {e["name"]: e["value"] for e in d["spec"]["containers"][0]["env"]}
        for d in docs
        if d["kind"] == "Pod"
    }


def test_helm_test_pods_send_each_entry_the_request_smoke_sends(
    tmp_path: Path, schema_dir: Path
) -> None:
    values = values_copy(tmp_path / "values")
    catalogue_data = yaml.safe_load(THREE.read_text())
    catalogue_data["knativeServices"] = resolve.chart_defaults()["models"]["knativeServices"]
    catalogue_data["plainServers"] = [{"name": "scorer", "image": "ghcr.io/team/scorer:1.0"}]
    (values / "k3d" / "models.yaml").write_text(yaml.safe_dump(catalogue_data))
    docs = _render(values, schema_dir)
    pods = _pods(docs)
    resolved = resolve.resolve("k3d", values, local=True)
    calls = [smoke.request_for(s) for s in smoke.samples(resolved)]
    short = {"InferenceService": "isvc", "Service": "ksvc", "Deployment": "plain"}
    # Smoke reaches a ClusterIP plain server only in-cluster: its helm test is the check.
    tested = {f"test-{short[c.sample.kind]}-models-{c.sample.name}" for c in calls}
    assert set(pods) == tested | {"test-plain-models-scorer"}
    for call in calls:
        env = pods[f"test-{short[call.sample.kind]}-models-{call.sample.name}"]
        host = f"http://{call.sample.name}.models.svc.cluster.local"
        assert env["URL"] == host + call.path
        assert json.loads(env["BODY"]) == call.body
        assert env["EXPECT_KEY"] == (call.request.expect_key or "")
        assert env["EXPECT_TEXT"] == (call.request.expect_text or "")
        method = env["METHOD"] or ("POST" if call.body is not None else "GET")
        assert method == call.request.method
    assert all(
        d["metadata"]["annotations"]["helm.sh/hook"] == "test" for d in docs if d["kind"] == "Pod"
    )


class _StandIn(http.server.BaseHTTPRequestHandler):
    """Stands in for a model server; records what it was sent, answers `reply`."""

    status = 200
    reply = b"{}"
    seen: list[tuple[str, Any]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append((self.path, body))
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(self.reply)))
        self.end_headers()
        self.wfile.write(self.reply)

    def log_message(self, *args: Any) -> None:
        """Asserted through the results, not logged."""


@pytest.mark.skipif(shutil.which("curl") is None, reason="the test Pod's script needs curl")
@pytest.mark.parametrize(
    ("status", "reply", "passes"),
    [
        (200, b'{"outputs": [{"name": "output-0", "data": [1, 0]}]}', True),
        (200, b'{"error": "no"}', False),
        (500, b"{}", False),
    ],
)
def test_helm_test_script_passes_a_good_answer_and_fails_a_wrong_one(
    status: int, reply: bytes, passes: bool, tmp_path: Path, schema_dir: Path
) -> None:
    """The test Pod's own shell and environment, run here with curl against a stand-in."""
    values = values_copy(tmp_path / "values")
    shutil.copy(THREE, values / "k3d" / "models.yaml")
    docs = _render(values, schema_dir)
    pod = next(d for d in docs if d["metadata"]["name"] == "test-isvc-models-churn-sk")
    container = pod["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    handler = type("Model", (_StandIn,), {"status": status, "reply": reply, "seen": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        local = f"http://127.0.0.1:{server.server_address[1]}"
        env["URL"] = env["URL"].replace("http://churn-sk.models.svc.cluster.local", local)
        script = container["command"][2].replace("--retry 10", "--retry 0")
        proc = subprocess.run(["/bin/sh", "-c", script], env=env, capture_output=True, text=True)
    finally:
        server.shutdown()
        server.server_close()
    assert (proc.returncode == 0) == passes, proc.stderr
    assert handler.seen == [("/v2/models/churn-sk/infer", samples.request_body("kserve-v2"))]


def test_the_helloworld_sample_runs_as_a_non_root_uid() -> None:
    """Its image sets no USER (knative/docs helloworld-go Dockerfile: alpine, CMD /server):
    it would run as root, which the runAsNonRoot of Knative's secure-pod-defaults refuses."""
    resolved = resolve.resolve("k3d")
    release = resolved.release("models")
    assert release is not None
    services = [
        o
        for o in render.documents(render.template(release, resolved))
        if o["kind"] == "Service" and o["apiVersion"] == "serving.knative.dev/v1"
    ]
    (hello,) = [s for s in services if s["metadata"]["name"] == "helloworld-go"]
    (container,) = hello["spec"]["template"]["spec"]["containers"]
    assert container["securityContext"]["runAsUser"] > 0
