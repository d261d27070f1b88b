"""Smoke requests and response checks on realistic payloads of each protocol."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pytest

from helpers import edit_env, values_copy
from mlstack import environments, registry, resolve
from mlstack.errors import UserError
from mlstack.lib import samples
from mlstack.lib.samples import Sample
from mlstack.lifecycle import autodomain, smoke

KSERVE = Sample(
    "sklearn-iris",
    "models",
    "kserve-v2",
    "serving.kserve.io/v1beta1",
    "InferenceService",
    "istio-system/istio-ingressgateway",
    host="sklearn-iris.models.example.com",
)
SELDON = Sample(
    "iris",
    "models",
    "seldon",
    "machinelearning.seldon.io/v1",
    "SeldonDeployment",
    "istio-system/istio-ingressgateway",
)
PLAIN = Sample(
    "iris-plain",
    "models",
    "plain",
    "apps/v1",
    "Deployment",
    "emissary/emissary",
    host="iris-plain.example.com",
    path="/iris/predict",
)


def test_requests_per_protocol() -> None:
    r = smoke.request_for(KSERVE)
    assert r.path == "/v2/models/sklearn-iris/infer"
    assert r.body["inputs"][0]["shape"] == [2, 4] and r.body["inputs"][0]["datatype"] == "FP32"
    assert r.headers["Host"] == "sklearn-iris.models.example.com"
    s = smoke.request_for(SELDON)
    assert s.path == "/seldon/models/iris/api/v1.0/predictions"
    assert s.body == {"data": {"ndarray": samples.IRIS}} and "Host" not in s.headers
    p = smoke.request_for(PLAIN)
    assert p.path == "/iris/predict" and p.body == {"instances": samples.IRIS}
    curl = r.curl("172.18.255.200")
    assert "-H 'Host: sklearn-iris.models.example.com'" in curl
    assert curl.endswith("http://172.18.255.200/v2/models/sklearn-iris/infer")


KSERVE_V2_RESPONSE = {
    "model_name": "sklearn-iris",
    "model_version": None,
    "id": "823248cc-d770-4a51-9606-16803395569c",
    "parameters": None,
    "outputs": [
        {"name": "output-0", "shape": [2], "datatype": "INT64", "parameters": None, "data": [1, 0]}
    ],
}
SELDON_RESPONSE = {
    "data": {
        "names": ["t:0", "t:1", "t:2"],
        "ndarray": [
            [0.0006985194531162841, 0.003668039039435755, 0.9956334415074478],
            [0.9777, 0.0222, 0.0001],
        ],
    },
    "meta": {"requestPath": {"classifier": "seldonio/sklearnserver:1.17.1"}},
}
PLAIN_RESPONSE = {"predictions": [1, 0]}


@pytest.mark.parametrize(
    ("protocol", "payload"),
    [("kserve-v2", KSERVE_V2_RESPONSE), ("seldon", SELDON_RESPONSE), ("plain", PLAIN_RESPONSE)],
)
def test_realistic_responses_pass(protocol: str, payload: dict[str, Any]) -> None:
    assert smoke.check_response(protocol, 200, payload) == []


def test_nested_v2_output_passes() -> None:
    nested = {
        **KSERVE_V2_RESPONSE,
        "outputs": [{"name": "o", "shape": [2, 1], "datatype": "INT64", "data": [[1], [0]]}],
    }
    assert smoke.check_response("kserve-v2", 200, nested) == []


@pytest.mark.parametrize(
    ("protocol", "status", "payload", "problem"),
    [
        ("kserve-v2", 404, None, "HTTP 404"),
        (
            "kserve-v2",
            200,
            {"error": "Model with name sklearn-iris does not exist."},
            "no `outputs`",
        ),
        ("kserve-v2", 200, {"outputs": [{"data": [1]}]}, "1 predictions for 2 inputs"),
        ("kserve-v2", 200, {"outputs": [{"data": [1, 7]}]}, "not an iris class"),
        ("seldon", 200, {"status": {"code": -1, "info": "bad"}}, "no `data.ndarray`"),
        ("seldon", 200, {"data": {"ndarray": [[0.5, 0.6, 0.1], [1, 0, 0]]}}, "not an iris class"),
        ("plain", 200, {"predictions": [True, False]}, "not an iris class"),
        ("plain", 200, [1, 0], "not a JSON object"),
    ],
)
def test_wrong_shapes_fail(protocol: str, status: int, payload: Any, problem: str) -> None:
    problems = smoke.check_response(protocol, status, payload)
    assert problems and problem in problems[0]


def _service(**entry: str) -> dict[str, Any]:
    return {"kind": "Service", "status": {"loadBalancer": {"ingress": [entry] if entry else []}}}


def test_ingress_address() -> None:
    k3d, minikube, eks = (environments.load(n) for n in ("k3d", "minikube", "eks"))
    svc = _service(ip="172.18.255.200", ipMode="VIP")
    assert smoke.ingress_address(k3d, svc, "gw", "Linux")[0] == "172.18.255.200"
    assert smoke.ingress_address(k3d, svc, "gw", "Darwin")[0] == "127.0.0.1:8080"
    assert "minikube tunnel" in smoke.ingress_address(minikube, svc, "gw", "Darwin")[1]
    host = "k8s-istiosys-gw-0123456789.elb.eu-west-1.amazonaws.com"
    assert smoke.ingress_address(eks, _service(hostname=host), "gw", "Darwin")[0] == host
    with pytest.raises(UserError, match="no load-balancer address yet"):
        smoke.ingress_address(k3d, _service(), "istio-system/gw", "Linux")


def test_k3d_port_mapping_follows_the_cluster_kind_not_the_name(tmp_path: Path) -> None:
    values = values_copy(tmp_path / "values")
    (values / "lab").mkdir()
    (values / "lab" / "environment.yaml").write_text(
        (values / "k3d" / "environment.yaml").read_text()
    )
    lab = environments.load("lab", values)
    svc = _service(ip="172.18.255.200")
    assert smoke.ingress_address(lab, svc, "gw", "Darwin")[0] == "127.0.0.1:8080"


def test_samples_come_from_the_registry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A component that declares a sample gets smoke-tested in the envs enabling it."""
    pool = dataclasses.replace(
        registry.by_id()["metallb-pool"], samples=lambda facts, values: (KSERVE, SELDON)
    )
    components = tuple(pool if c.id == pool.id else c for c in registry.COMPONENTS)
    values = values_copy(tmp_path / "values")
    k3d = resolve.resolve("k3d", values, components=components, local=True)
    assert smoke.samples(k3d)[:2] == [KSERVE, SELDON]
    eks = resolve.resolve("eks", values, components=components, local=True)
    assert KSERVE not in smoke.samples(eks)
    assert smoke.main(k3d, dry_run=True) == 0
    note, *out = capsys.readouterr().out.splitlines()
    assert note.startswith("smoke k3d: domain auto is not resolved on this machine yet")
    assert out[0] == "sklearn-iris (kserve-v2): wait for InferenceService models/sklearn-iris"
    assert out[1].startswith("  $ curl -sS -H 'Content-Type: application/json' -H 'Host: sklearn")
    assert "http://<address of istio-system/istio-ingressgateway>/seldon/models/iris/" in out[3]


def test_models_declare_their_samples_per_env(tmp_path: Path) -> None:
    """The registered `models` component tells smoke what to call in each env."""
    k3d = smoke.samples(resolve.resolve("k3d", values_copy(tmp_path / "values"), local=True))
    assert [(s.name, s.protocol, s.ingress, s.host) for s in k3d] == [
        (
            "sklearn-iris",
            "kserve-v2",
            "istio-system/istio-gateway",
            "sklearn-iris-models.example.com",
        )
    ]
    models = registry.by_id()["models"]
    assert models.samples is not None
    values = {
        "sklearnIris": {"enabled": False},
        "seldonIris": {"enabled": True},
        "plainServer": {"enabled": True, "serviceType": "LoadBalancer"},
    }
    facts = resolve.resolve("k3d").facts
    ambassador = dataclasses.replace(
        facts, env=facts.env.model_copy(update={"seldon": "ambassador"})
    )
    found = {s.name: s for s in models.samples(ambassador, values)}
    assert found["iris-model"].ingress == "emissary/emissary-ingress"
    assert found["iris-model"].request_path == "/seldon/models/iris-model/api/v1.0/predictions"
    assert found["model-server"].ingress == "models/model-server"
    # A ClusterIP plain server (the default) has no address smoke could call.
    values["plainServer"]["serviceType"] = "ClusterIP"
    assert "model-server" not in {s.name for s in models.samples(ambassador, values)}
    istio = dataclasses.replace(facts, env=facts.env.model_copy(update={"seldon": "istio"}))
    assert models.samples(istio, values)[0].ingress == "istio-system/istio-gateway"


def test_auto_domain_reaches_smoke_after_install_wrote_it(tmp_path: Path) -> None:
    """domain: auto -> the installer's overlays -> Knative, KServe and smoke see <ip>.sslip.io."""
    values = values_copy(tmp_path / "values")
    resolved = resolve.resolve("k3d", values, local=True)
    assert set(autodomain.targets(resolved)) == {"knative-serving", "kserve"}
    service = {"status": {"loadBalancer": {"ingress": [{"ip": "172.18.255.201"}]}}}
    ip = autodomain.wait_for_address(lambda ns, name: service, resolved, 4, lambda s: None)
    assert autodomain.apply(resolved, ip) == "172.18.255.201.sslip.io"
    after = resolve.resolve("k3d", values, local=True)
    serving, kserve = after.release("knative-serving"), after.release("kserve")
    assert serving is not None and kserve is not None
    assert serving.values["domain"] == "172.18.255.201.sslip.io"
    gateway = kserve.values["kserveResources"]["kserve"]["controller"]["gateway"]
    assert gateway["domain"] == "172.18.255.201.sslip.io"
    local = values / "k3d" / "local" / "knative-serving.yaml"
    assert local in serving.files  # helm gets the overlay
    (sample,) = smoke.samples(after)
    assert sample.host == "sklearn-iris-models.172.18.255.201.sslip.io"
    assert resolve.resolve("k3d", values).facts.domain == "example.com"  # render: unchanged
    shutil.copytree(values / "k3d", values / "lab")  # copied along, then a fixed domain:
    edit_env(values, "lab", domain="ml.lab.test")
    lab = resolve.resolve("lab", values, local=True)
    assert lab.facts.domain == "ml.lab.test"
    lab_serving = lab.release("knative-serving")
    assert lab_serving is not None and lab_serving.values["domain"] == "ml.lab.test"
    assert not any("/local/" in str(p) for p in lab_serving.files)
    autodomain.forget(values, "k3d")
    assert not local.exists()


def test_auto_domain_without_an_address_is_one_line(tmp_path: Path) -> None:
    resolved = resolve.resolve("k3d", values_copy(tmp_path / "values"))
    with pytest.raises(UserError, match=r"Service istio-system/istio-gateway has no load-bal"):
        autodomain.wait_for_address(lambda ns, name: {}, resolved, 4, lambda s: None)


def test_fixed_domain_needs_no_overlay(tmp_path: Path) -> None:
    values = values_copy(tmp_path / "values")
    edit_env(values, "k3d", domain="ml.lab.test")
    resolved = resolve.resolve("k3d", values, local=True)
    assert autodomain.targets(resolved) == {} and autodomain.describe(resolved) == []
