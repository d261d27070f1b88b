"""Smoke requests and response checks on realistic payloads of each protocol."""

from __future__ import annotations

import dataclasses
import http.server
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import edit_env, values_copy
from mlstack import environments, registry, resolve
from mlstack.environments import Auth
from mlstack.errors import UserError
from mlstack.lib.samples import IRIS, Request, Sample
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
    request=Request("/iris/predict", body={"instances": IRIS}, expect_key="predictions"),
)


def test_requests_per_protocol() -> None:
    r = smoke.request_for(KSERVE)
    assert r.path == "/v2/models/sklearn-iris/infer"
    assert r.body is not None
    assert r.body["inputs"][0]["shape"] == [2, 4] and r.body["inputs"][0]["datatype"] == "FP32"
    assert r.headers["Host"] == "sklearn-iris.models.example.com"
    s = smoke.request_for(SELDON)
    assert s.path == "/seldon/models/iris/api/v1.0/predictions"
    assert s.body == {"data": {"ndarray": IRIS}} and "Host" not in s.headers
    p = smoke.request_for(PLAIN)
    assert p.path == "/iris/predict" and p.body == {"instances": IRIS}
    curl = r.curl("172.18.255.200")
    assert "-H 'Host: sklearn-iris.models.example.com'" in curl
    assert curl.endswith("http://172.18.255.200/v2/models/sklearn-iris/infer")
    v1 = smoke.request_for(dataclasses.replace(KSERVE, protocol="kserve-v1"))
    assert v1.path == "/v1/models/sklearn-iris:predict" and v1.body == {"instances": IRIS}


def test_https_request_sends_sni_of_the_model_host() -> None:
    call = smoke.request_for(dataclasses.replace(KSERVE, https=True))
    curl = call.curl("203.0.113.7")
    # SNI and the certificate check use the URL's host; --connect-to sends it to the address.
    assert "--connect-to ::203.0.113.7:443" in curl
    assert curl.endswith("https://sklearn-iris.models.example.com/v2/models/sklearn-iris/infer")


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
    ("sample", "payload"),
    [(KSERVE, KSERVE_V2_RESPONSE), (SELDON, SELDON_RESPONSE), (PLAIN, PLAIN_RESPONSE)],
)
def test_realistic_responses_pass(sample: Sample, payload: dict[str, Any]) -> None:
    call = smoke.request_for(sample)
    assert smoke.check_response(call.request, 200, json.dumps(payload)) == []


def test_text_answers_are_checked_for_the_expected_text() -> None:
    hello = Request("/", "GET", expect_text="Hello Go Sample v1!")
    assert smoke.check_response(hello, 200, "Hello Go Sample v1!\n") == []
    assert "does not contain" in smoke.check_response(hello, 200, "Hello World!")[0]


@pytest.mark.parametrize(
    ("sample", "status", "payload", "problem"),
    [
        (KSERVE, 404, "", "HTTP 404"),
        (KSERVE, 200, '{"error": "Model with name sklearn-iris does not exist."}', "no `outputs`"),
        (KSERVE, 200, '{"outputs": []}', "no `outputs`"),
        (SELDON, 200, '{"status": {"code": -1, "info": "bad"}}', "no `data.ndarray`"),
        (PLAIN, 200, "[1, 0]", "not a JSON object"),
        (PLAIN, 200, "<html>", "not JSON"),
    ],
)
def test_wrong_shapes_fail(sample: Sample, status: int, payload: str, problem: str) -> None:
    problems = smoke.check_response(smoke.request_for(sample).request, status, payload)
    assert problems and problem in problems[0]


def _service(**entry: str) -> dict[str, Any]:
    return {"kind": "Service", "status": {"loadBalancer": {"ingress": [entry] if entry else []}}}


def test_ingress_address() -> None:
    k3d, minikube, eks = (environments.load(n) for n in ("k3d", "minikube", "eks"))
    svc = _service(ip="172.18.255.200", ipMode="VIP")
    assert smoke.ingress_address(k3d, svc, "gw", "Linux")[0] == "172.18.255.200"
    # k3d and minikube serve HTTPS (tls.mode self-signed): the loopback route is 8443 -> 443.
    assert smoke.ingress_address(k3d, svc, "gw", "Darwin")[0] == "127.0.0.1:8443"
    address, how = smoke.ingress_address(minikube, svc, "istio-system/gw", "Darwin")
    assert address == "127.0.0.1:8443"
    assert "kubectl -n istio-system port-forward --address 127.0.0.1 svc/gw 8443:443" in how
    # Without TLS the same routes use the http port: 8080 -> 80.
    plain_k3d = k3d.model_copy(update={"tls": k3d.tls.model_copy(update={"mode": "off"})})
    assert smoke.ingress_address(plain_k3d, svc, "gw", "Darwin")[0] == "127.0.0.1:8080"
    plain_mk = minikube.model_copy(update={"tls": minikube.tls.model_copy(update={"mode": "off"})})
    address, how = smoke.ingress_address(plain_mk, svc, "istio-system/gw", "Darwin")
    assert address == "127.0.0.1:8080"
    assert "kubectl -n istio-system port-forward --address 127.0.0.1 svc/gw 8080:80" in how
    assert smoke.ingress_address(minikube, svc, "gw", "Linux")[0] == "172.18.255.200"
    # Only the Istio gateway is behind the localhost route; a sample's own LB Service is not.
    plain = smoke.ingress_address(k3d, svc, "models/plain", "Darwin", "istio-system/gw")
    assert plain[0] == "172.18.255.200"
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
    assert smoke.ingress_address(lab, svc, "gw", "Darwin")[0] == "127.0.0.1:8443"


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
    note, *lines = capsys.readouterr().out.splitlines()
    assert note.startswith("smoke k3d: domain auto is not resolved on this machine yet")
    routes = {line.split()[4]: line for line in lines if line.startswith("smoke k3d on ")}
    out = [line for line in lines if line not in routes.values()]
    # Not the env's gateway: no localhost route is promised for it.
    other = routes["istio-system/istio-ingressgateway"]
    assert "via <address of" in other and "127.0.0.1" not in other
    assert out[0] == "sklearn-iris (kserve-v2): wait for InferenceService models/sklearn-iris"
    assert out[1].startswith("  $ curl -sS -H 'Content-Type: application/json' -H 'Host: sklearn")
    assert "http://<address of istio-system/istio-ingressgateway>/seldon/models/iris/" in out[3]


def test_models_declare_their_samples_per_env(tmp_path: Path) -> None:
    """The registered `models` component tells smoke what to call in each env."""
    k3d = smoke.samples(resolve.resolve("k3d", values_copy(tmp_path / "values"), local=True))
    gateway = "istio-system/istio-gateway"
    assert [(s.name, s.protocol, s.ingress, s.host) for s in k3d] == [
        ("sklearn-iris", "kserve-v2", gateway, "sklearn-iris-models.example.com"),
        ("helloworld-go", "knative", gateway, "helloworld-go-models.example.com"),
    ]
    assert k3d[1].request == Request("/", "GET", expect_text="Hello Go Sample v1!")
    models = registry.by_id()["models"]
    assert models.samples is not None
    values = {
        "inferenceServices": [],
        "seldonDeployments": [{"name": "iris-model", "modelUri": "gs://m/iris"}],
        "plainServers": [
            {"name": "model-server", "image": "example.org/server:1", "serviceType": "LoadBalancer"}
        ],
    }
    facts = resolve.resolve("k3d").facts
    ambassador = dataclasses.replace(
        facts, env=facts.env.model_copy(update={"seldon": "ambassador"})
    )
    found = {s.name: s for s in models.samples(ambassador, values)}
    assert found["iris-model"].ingress == "emissary/emissary-ingress"
    assert found["iris-model"].request_path == "/seldon/models/iris-model/api/v1.0/predictions"
    assert found["model-server"].ingress == "models/model-server"
    assert found["model-server"].skipped is None
    # A ClusterIP plain server (the default) has no address smoke could call: it is
    # declared as skipped, with the reason smoke prints.
    values["plainServers"][0]["serviceType"] = "ClusterIP"
    skipped = {s.name: s for s in models.samples(ambassador, values)}["model-server"]
    assert skipped.skipped is not None
    assert skipped.skipped.startswith("its Service is ClusterIP (")
    assert "models.yaml plainServers[model-server].serviceType)" in skipped.skipped
    istio = dataclasses.replace(facts, env=facts.env.model_copy(update={"seldon": "istio"}))
    assert models.samples(istio, values)[0].ingress == "istio-system/istio-gateway"


def test_smoke_serves_https_where_the_env_has_tls() -> None:
    eks = smoke.samples(resolve.resolve("eks"))
    assert eks and all(s.https for s in eks if s.kind != "Deployment")


def test_every_entry_through_the_istio_gateway_gets_its_tls_and_jwt() -> None:
    """Catalogue entries of every kind: what passes the Istio gateway is HTTPS (Seldon on a
    name the wildcard covers) and carries the token; Emissary and plain servers do not."""
    facts = resolve.resolve("k3d").facts
    env = facts.env.model_copy(update={"seldon": "istio", "auth": Auth(enabled=True)})
    values = {
        "inferenceServices": [{"name": "fraud", "modelFormat": "xgboost", "storageUri": "s3://m"}],
        "seldonDeployments": [{"name": "iris-model", "modelUri": "gs://m/iris"}],
        "knativeServices": [{"name": "hello", "image": "example.org/hello:1"}],
        "plainServers": [
            {"name": "model-server", "image": "example.org/server:1", "serviceType": "LoadBalancer"}
        ],
    }
    models = registry.by_id()["models"]
    assert models.samples is not None and facts.env.tls.mode == "self-signed"
    found = {s.name: s for s in models.samples(dataclasses.replace(facts, env=env), values)}
    gated = [found[n] for n in ("fraud", "iris-model", "hello")]
    assert all(s.https and s.auth for s in gated)
    assert found["iris-model"].host == f"seldon.{facts.domain}"
    assert not found["model-server"].https and not found["model-server"].auth
    ambassador = env.model_copy(update={"seldon": "ambassador"})
    seldon = models.samples(dataclasses.replace(facts, env=ambassador), values)[1]
    assert (seldon.name, seldon.https, seldon.auth, seldon.host) == (
        "iris-model",
        False,
        False,
        None,
    )


def test_auto_domain_reaches_smoke_after_install_wrote_it(tmp_path: Path) -> None:
    """domain: auto -> the installer's overlays -> Knative, KServe and smoke see <ip>.sslip.io."""
    values = values_copy(tmp_path / "values")
    resolved = resolve.resolve("k3d", values, local=True)
    assert set(autodomain.targets(resolved)) == {"gateway-tls", "knative-serving", "kserve"}
    service = {"status": {"loadBalancer": {"ingress": [{"ip": "172.18.255.201"}]}}}
    ip = autodomain.wait_for_address(lambda ns, name: service, resolved, 4, lambda s: None)
    assert autodomain.apply(resolved, ip) == "172.18.255.201.sslip.io"
    after = resolve.resolve("k3d", values, local=True)
    serving, kserve = after.release("knative-serving"), after.release("kserve")
    assert serving is not None and kserve is not None
    assert serving.values["domain"] == "172.18.255.201.sslip.io"
    gateway = kserve.values["kserveResources"]["kserve"]["controller"]["gateway"]
    assert gateway["domain"] == "172.18.255.201.sslip.io"
    # The certificate follows the resolved domain: its wildcard covers every model host.
    certificate = after.release("gateway-tls")
    assert certificate is not None
    assert certificate.values["dnsNames"] == [
        "*.172.18.255.201.sslip.io",
        "172.18.255.201.sslip.io",
    ]
    local = values / "k3d" / "local" / "knative-serving.yaml"
    assert local in serving.files  # helm gets the overlay
    sample, _ = smoke.samples(after)
    assert sample.host == "sklearn-iris-models.172.18.255.201.sslip.io"
    assert sample.https
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


def test_health_checks_are_gets_that_must_answer_200() -> None:
    hub = Sample("hub", "jupyterhub", "health", "apps/v1", "Deployment", "istio-system/gw",
                 host="jupyter.example.com", request=Request("/hub/health", "GET"))  # fmt: skip
    r = smoke.request_for(hub)
    assert r.body is None and r.headers == {"Host": "jupyter.example.com"}
    assert r.curl("127.0.0.1:8080") == (
        "curl -sS -H 'Host: jupyter.example.com' -X GET http://127.0.0.1:8080/hub/health"
    )
    assert smoke.check_response(r.request, 200, "") == []
    assert smoke.check_response(r.request, 503, "") == ["HTTP 503"]
    # Without its own request, a health check GETs the protocol's /health.
    bare = dataclasses.replace(hub, request=None)
    assert smoke.request_for(bare).request == Request("/health", "GET")


@pytest.mark.parametrize(
    ("system", "route"),
    [
        ("Linux", "via <address of istio-system/istio-gateway> [the MetalLB address"),
        (
            "Darwin",
            "via 127.0.0.1:8443 [localhost route: k3d load balancer 127.0.0.1:8443 -> NodePort",
        ),
        (
            "Windows",
            "via 127.0.0.1:8443 [localhost route: k3d load balancer 127.0.0.1:8443 -> NodePort",
        ),
    ],
)
def test_dry_run_shows_the_localhost_route_and_the_hub_health_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    system: str, route: str,
) -> None:  # fmt: skip
    values = values_copy(tmp_path / "values")
    edit_env(values, "k3d", components={"jupyterhub": True})
    (values / "k3d" / "jupyterhub.yaml").write_text("passwordSecret: hub-password\n")
    monkeypatch.setattr(smoke.platform, "system", lambda: system)
    assert smoke.main(resolve.resolve("k3d", values, local=True), dry_run=True) == 0
    out = capsys.readouterr().out
    assert f"smoke k3d on {system}: istio-system/istio-gateway {route}" in out
    # k3d serves HTTPS (tls.mode self-signed): the route is the https node port, 8443.
    assert "localhost route: k3d load balancer 127.0.0.1:8443 -> NodePort 30443" in out
    assert "hub (health): wait for Deployment jupyterhub/hub" in out
    where = "<address of istio-system/istio-gateway>:443" if system == "Linux" else "127.0.0.1:8443"
    assert f"--connect-to ::{where} https://jupyter.example.com/hub/health" in out


# --- what the entry points must refuse: real HTTP servers on 127.0.0.1 --------------------


class _Gateway(http.server.BaseHTTPRequestHandler):
    """Answers like the Istio gateway with auth and TLS on: on its HTTPS side (`secure`),
    403 without a bearer token and the model's answer with one; on its plain-HTTP side, a
    301 to HTTPS for every request. `open_` makes it a broken gateway that serves all."""

    secure = True
    open_ = False

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if not self.secure and not self.open_:
            self.send_response(301)
            self.send_header("Location", f"https://{self.headers['Host']}{self.path}")
            body = b""
        elif not self.headers.get("Authorization", "").startswith("Bearer ") and not self.open_:
            self.send_response(403)
            body = b"RBAC: access denied"
        else:
            self.send_response(200)
            body = json.dumps({"outputs": [{"data": [1, 0]}]}).encode()
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


def _serve(**behaviour: bool) -> Iterator[str]:
    handler = type("Handler", (_Gateway,), behaviour)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def gateway() -> Iterator[str]:
    yield from _serve(secure=True)


@pytest.fixture
def gateway_http() -> Iterator[str]:
    yield from _serve(secure=False)


@pytest.fixture
def open_gateway() -> Iterator[str]:
    yield from _serve(open_=True)


GATED = dataclasses.replace(KSERVE, auth=True)


def test_a_request_without_a_token_must_be_refused(
    gateway: str, capsys: pytest.CaptureFixture[str]
) -> None:
    call = smoke.request_for(GATED)
    # The positive call carries the token and is served...
    status, _ = smoke.post(gateway, call, "a-token")
    assert status == 200
    # ...the negative check sends the same request without it.
    (check,) = smoke.negatives(call)
    assert check.kind == "no token"
    assert smoke.check_negative(check, check.address(gateway), None) is True
    line = capsys.readouterr().out.strip()
    assert line == f"smoke sklearn-iris (kserve-v2) no token via {gateway}: ok (HTTP 403)"


def test_a_gateway_serving_without_a_token_fails_the_check(
    open_gateway: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (check,) = smoke.negatives(smoke.request_for(GATED))
    assert smoke.check_negative(check, open_gateway, None) is False
    assert (
        capsys.readouterr()
        .out.strip()
        .endswith(
            "no token via " + open_gateway + ": FAILED: the gateway served it; expected 401/403"
        )
    )


def test_plain_http_must_only_redirect(
    gateway_http: str, open_gateway: str, capsys: pytest.CaptureFixture[str]
) -> None:
    https = dataclasses.replace(KSERVE, https=True)
    (check,) = smoke.negatives(smoke.request_for(https))
    assert check.kind == "plain HTTP" and check.expect == (301, 302, 308)
    assert smoke.check_negative(check, gateway_http, None) is True
    assert smoke.check_negative(check, open_gateway, None) is False
    lines = capsys.readouterr().out.splitlines()
    assert (
        lines[0] == f"smoke sklearn-iris (kserve-v2) plain HTTP via {gateway_http}: ok (HTTP 301)"
    )
    assert lines[1].endswith(": FAILED: the gateway served it; expected 301/302/308")


def test_an_unreachable_http_port_fails_the_redirect_check(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Nothing listening is not a redirect: the check fails, in one line."""
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Gateway) as server:
        closed = f"127.0.0.1:{server.server_address[1]}"
    (check,) = smoke.negatives(smoke.request_for(dataclasses.replace(KSERVE, https=True)))
    assert smoke.check_negative(check, closed, None) is False
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith(f"smoke sklearn-iris (kserve-v2) plain HTTP via {closed}: FAILED: ")


def test_negative_checks_follow_the_gateways_guarantees() -> None:
    both = smoke.request_for(dataclasses.replace(KSERVE, auth=True, https=True))
    assert [n.kind for n in smoke.negatives(both)] == ["no token", "plain HTTP"]
    # Behind the token check, plain HTTP without a token may be refused before the
    # redirect: either answer serves nothing in clear.
    assert smoke.negatives(both)[1].expect == (301, 302, 308, 401, 403)
    assert smoke.negatives(smoke.request_for(KSERVE)) == []
    # Plain HTTP goes to the gateway's HTTP port on the same host: the localhost route's
    # 8080 beside its 8443, else port 80 of the load-balancer address.
    _, clear = smoke.negatives(both)
    assert clear.address("127.0.0.1:8443") == "127.0.0.1:8080"
    assert clear.address("172.18.255.200") == "172.18.255.200:80"
    assert clear.address("a1b2.elb.eu-west-1.amazonaws.com:443") == (
        "a1b2.elb.eu-west-1.amazonaws.com:80"
    )
    # Neither check sends the token.
    assert all("Bearer" not in n.curl("127.0.0.1:8443") for n in smoke.negatives(both))


def test_dry_run_prints_the_negative_checks_and_the_skipped_plain_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    values = values_copy(tmp_path / "values")
    edit_env(values, "k3d", auth={"enabled": True})
    plain = {"name": "my-server", "image": "registry.example.com/my-server:1.0"}
    (values / "k3d" / "models.yaml").write_text(json.dumps({"plainServers": [plain]}))
    monkeypatch.setattr(smoke.platform, "system", lambda: "Linux")
    assert smoke.main(resolve.resolve("k3d", values, local=True), dry_run=True) == 0
    out = capsys.readouterr().out
    assert out.startswith("smoke my-server (plain): skipped: its Service is ClusterIP (")
    gateway = "<address of istio-system/istio-gateway>"
    head = "curl -sS -o /dev/null -w '%{http_code}\\n' -H 'Content-Type: application/json'"
    host = "-H 'Host: sklearn-iris-models.example.com'"
    no_token = [ln for ln in out.splitlines() if ln.endswith("# expect 401/403 (no token)")]
    clear = [
        ln for ln in out.splitlines() if ln.endswith("# expect 301/302/308/401/403 (plain HTTP)")
    ]
    # One of each per gated entry (sklearn-iris, helloworld-go), never with the token.
    assert len(no_token) == len(clear) == 2
    assert no_token[0].startswith(f"  $ {head} {host} -d ")
    assert (
        f"--connect-to ::{gateway}:443 https://sklearn-iris-models.example.com/v2/" in no_token[0]
    )
    assert clear[0].startswith(f"  $ {head} {host} -d ")
    assert f" http://{gateway}:80/v2/models/sklearn-iris/infer  #" in clear[0]
    assert not any("Bearer" in ln for ln in no_token + clear)
