"""The secure serving edge: TLS per environment and JWT authentication in front of models.

Real renders (helm template of the generated charts), validated against the real upstream
CRDs (cert-manager, Istio); the install plan as `--dry-run` prints it; readiness gates
derived from the rendered manifest with the upstream CRDs' schemas; smoke's HTTPS path
against a real TLS server whose certificate a real CA signed.
"""

from __future__ import annotations

import base64
import http.server
import json
import shutil
import ssl
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import edit_env, values_copy
from mlstack import generate, registry, render, resolve
from mlstack.lib import schemas
from mlstack.lifecycle import autodomain, plan, readiness, smoke
from mlstack.resolve import Resolved


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlstack", *args], capture_output=True, text=True, check=False
    )


def _objects(resolved: Resolved, release: str, charts_dir: Path = render.CHARTS_DIR) -> list[Any]:
    found = resolved.release(release)
    assert found is not None, f"{release} is not enabled in {resolved.name}"
    return render.documents(render.template(found, resolved, charts_dir))


def _valid(resolved: Resolved, release: str, schema_dir: Path, charts_dir: Path) -> list[Any]:
    """The release's objects, after validating them against the upstream CRDs."""
    found = resolved.release(release)
    assert found is not None
    text = render.template(found, resolved, charts_dir)
    count, problems = render.check_manifest(
        text, resolved.minors, schemas.upstream_crds(schema_dir)
    )
    assert count > 0 and problems == [], problems
    return render.documents(text)


def _by_kind(objects: list[Any], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


# --- TLS -------------------------------------------------------------------------------


def test_eks_certificate_covers_the_domain_with_the_secret_knative_serves(
    schema_dir: Path,
) -> None:
    eks = resolve.resolve("eks")
    tls = _valid(eks, "gateway-tls", schema_dir, render.CHARTS_DIR)
    (certificate,) = _by_kind(tls, "Certificate")
    domain = eks.env.domain
    assert certificate["spec"]["dnsNames"] == [f"*.{domain}", domain]
    (serving,) = _by_kind(_objects(eks, "knative-serving"), "KnativeServing")
    servers = serving["spec"]["ingress"]["istio"]["knative-ingress-gateway"]["servers"]
    (https,) = [s for s in servers if s["port"]["protocol"] == "HTTPS"]
    assert certificate["spec"]["secretName"] == https["tls"]["credentialName"]
    assert certificate["metadata"]["namespace"] == eks.facts.gateway.namespace
    # Let's Encrypt by DNS-01 in Route53, with the IRSA role on cert-manager's account.
    (issuer,) = _by_kind(tls, "ClusterIssuer")
    assert certificate["spec"]["issuerRef"] == {
        "name": issuer["metadata"]["name"], "kind": "ClusterIssuer", "group": "cert-manager.io"
    }  # fmt: skip
    (solver,) = issuer["spec"]["acme"]["solvers"]
    assert solver["dns01"]["route53"]["hostedZoneID"] == eks.env.tls.acme.route53.hosted_zone_id  # type: ignore[union-attr]
    cert_manager = eks.release("cert-manager")
    assert cert_manager is not None
    account = cert_manager.values["cert-manager"]["serviceAccount"]["annotations"]
    assert account["eks.amazonaws.com/role-arn"] == eks.env.tls.acme.route53.role  # type: ignore[union-attr]
    kserve = eks.release("kserve")
    assert kserve is not None
    assert (
        kserve.values["kserveResources"]["kserve"]["controller"]["gateway"]["urlScheme"] == "https"
    )


def test_self_signed_ca_signs_the_gateway_certificate_in_its_namespace(schema_dir: Path) -> None:
    k3d = resolve.resolve("k3d")
    objects = _valid(k3d, "gateway-tls", schema_dir, render.CHARTS_DIR)
    issuers = {o["metadata"]["name"]: o["spec"] for o in _by_kind(objects, "Issuer")}
    certs = {o["metadata"]["name"]: o["spec"] for o in _by_kind(objects, "Certificate")}
    assert not _by_kind(objects, "ClusterIssuer")
    assert certs["mlstack-ca"]["isCA"] is True
    assert issuers[certs["mlstack-ca"]["issuerRef"]["name"]] == {"selfSigned": {}}
    ca_issuer = issuers[certs["gateway"]["issuerRef"]["name"]]
    assert ca_issuer == {"ca": {"secretName": certs["mlstack-ca"]["secretName"]}}
    assert {o["metadata"]["namespace"] for o in objects} == {k3d.facts.gateway.namespace}


def test_install_waits_for_the_certificate_to_be_ready(schema_dir: Path) -> None:
    """Gates come from the manifest: cert-manager is known to set Ready on the Certificate
    and Issuers (evidence in data/components.yaml), so each is a gate before
    knative-serving starts."""
    crds = {
        (d["spec"]["group"], d["spec"]["names"]["kind"]): d
        for path in sorted((schema_dir / "crds").glob("cert-manager-*/*.yaml"))
        for d in yaml.safe_load_all(path.read_text())
        if d
    }
    known = readiness.known_conditions(registry.conditions())

    def scoped(api_version: str, kind: str) -> bool:
        return readiness.cluster_scoped(crds[(api_version.rsplit("/", 1)[0], kind)])

    eks = resolve.resolve("eks")
    objects = _objects(eks, "gateway-tls")
    gates = readiness.gates(objects, "istio-system", known, scoped)
    described = [g.describe() for g in gates]
    assert "Certificate istio-system/gateway Ready" in described
    assert "ClusterIssuer mlstack-acme Ready" in described
    ids = eks.ids
    assert ids.index("cert-manager") < ids.index("gateway-tls") < ids.index("knative-serving")


def test_tls_off_drops_the_certificate_and_secret_mode_brings_your_own(tmp_path: Path) -> None:
    values = values_copy(tmp_path / "values")
    edit_env(values, "k3d", tls={"mode": "off"})
    off = resolve.resolve("k3d", values)
    assert "gateway-tls" not in off.ids and off.facts.scheme == "http"
    edit_env(values, "k3d", tls={"mode": "secret", "secretName": "my-wildcard"})
    own = resolve.resolve("k3d", values)
    assert "gateway-tls" not in own.ids
    serving = own.release("knative-serving")
    assert serving is not None and serving.derived["tls"] == {
        "enabled": True, "credentialName": "my-wildcard"
    }  # fmt: skip


def test_http01_certifies_listed_hosts_through_the_istio_gateway(tmp_path: Path) -> None:
    values = values_copy(tmp_path / "values")
    acme = {"email": "ops@ml.lab.test", "solver": "http01", "hosts": ["a.ml.lab.test"]}
    edit_env(values, "k3d", domain="ml.lab.test", tls={"mode": "acme", "acme": acme})
    resolved = resolve.resolve("k3d", values)
    tls = resolved.release("gateway-tls")
    istiod = resolved.release("istiod")
    assert tls is not None and istiod is not None
    assert tls.derived["dnsNames"] == ["a.ml.lab.test"]
    assert tls.derived["acme"]["solvers"] == [
        {"http01": {"ingress": {"ingressClassName": "istio"}}}
    ]
    # istiod serves the solver's Ingresses (their class) on OUR gateway (its labels).
    gateway = resolved.facts.gateway
    mesh = istiod.derived["istiod"]["meshConfig"]
    assert (mesh["ingressService"], mesh["ingressSelector"], mesh["ingressClass"]) == (
        gateway.service, gateway.pod_labels["istio"], "istio"
    )  # fmt: skip


def test_smoke_dry_run_on_eks_speaks_https() -> None:
    proc = _cli("smoke", "--env", "eks", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if "$ curl" in line]
    # Every model call is HTTPS; plain HTTP only in the checks that it redirects.
    curls = [c for c in lines if not c.endswith("# expect 301/302/308 (plain HTTP)")]
    assert len(curls) == len(lines) // 2 == 2
    assert all(" https://" in c and " http://" not in c for c in curls)
    assert "https://sklearn-iris-models.models.example.org/v2/models/sklearn-iris/infer" in curls[0]


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def tls_server(tmp_path: Path) -> Any:
    """A real HTTPS server whose certificate for *.models.test a fresh CA signed."""
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make a CA for the HTTPS test")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "1",
             "-subj", "/CN=test CA", cwd=tmp_path)  # fmt: skip
    _openssl("req", *ec, "-keyout", "tls.key", "-out", "tls.csr", "-subj", "/CN=models.test",
             cwd=tmp_path)  # fmt: skip
    (tmp_path / "ext").write_text("subjectAltName=DNS:*.models.test,DNS:models.test\n")
    sign = ["-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-extfile", "ext"]
    _openssl("x509", "-req", "-in", "tls.csr", *sign, "-out", "tls.crt", "-days", "1",
             cwd=tmp_path)  # fmt: skip
    seen: list[dict[str, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            seen.append(dict(self.headers))
            body = json.dumps({"outputs": [{"data": [1, 0]}]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "tls.crt", tmp_path / "tls.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}", (tmp_path / "ca.crt").read_text(), seen
    server.shutdown()


def test_smoke_posts_over_https_trusting_the_cluster_ca(tls_server: Any) -> None:
    address, ca, seen = tls_server
    sample = smoke.Sample(
        "sklearn-iris", "models", "kserve-v2", "serving.kserve.io/v1beta1", "InferenceService",
        "istio-system/gw", host="sklearn-iris-models.models.test", https=True, auth=True,
    )  # fmt: skip
    call = smoke.request_for(sample)
    status, text = smoke.post(address, call, "a.b.c", smoke.tls_context(ca))
    assert status == 200 and smoke.check_response(call.request, status, text) == []
    assert seen[-1]["Authorization"] == "Bearer a.b.c"
    assert seen[-1]["Host"] == "sklearn-iris-models.models.test"
    # Without the cluster's CA the certificate is refused: trust is real, not switched off.
    with pytest.raises(smoke.UserError, match="CERTIFICATE_VERIFY_FAILED"):
        smoke.post(address, call, None, smoke.tls_context(None))
    secret = {"data": {"ca.crt": base64.b64encode(ca.encode()).decode()}}
    assert smoke.ca_from_secret(secret) == ca
    # The no-token check goes the same way (HTTPS, the model's SNI and Host) without the
    # token; this server answers anyway, as a gateway without the check would: it fails.
    no_token, _ = smoke.negatives(call)
    assert smoke.check_negative(no_token, no_token.address(address), smoke.tls_context(ca)) is False
    assert "Authorization" not in seen[-1] and seen[-1]["Host"] == sample.host


# --- authentication --------------------------------------------------------------------


@pytest.fixture
def auth_env(tmp_path: Path, charts_copy: Path) -> tuple[Path, Path]:
    """k3d with `auth: {enabled: true}` (the bundled Dex), generated into copies."""
    values = values_copy(tmp_path / "values")
    edit_env(values, "k3d", auth={"enabled": True})
    generate.generate(charts_copy, values)
    return values, charts_copy


def test_auth_renders_valid_istio_objects_on_the_gateway(
    auth_env: tuple[Path, Path], schema_dir: Path
) -> None:
    values, charts = auth_env
    k3d = resolve.resolve("k3d", values)
    objects = _valid(k3d, "model-auth", schema_dir, charts)
    (authn,) = _by_kind(objects, "RequestAuthentication")
    (policy,) = _by_kind(objects, "AuthorizationPolicy")
    (route,) = _by_kind(objects, "VirtualService")
    labels = k3d.facts.gateway.pod_labels
    assert (
        authn["spec"]["selector"]["matchLabels"]
        == labels
        == policy["spec"]["selector"]["matchLabels"]
    )
    (rule,) = authn["spec"]["jwtRules"]
    domain = k3d.facts.domain
    assert rule["issuer"] == f"https://dex.{domain}/dex"
    assert rule["jwksUri"] == "http://dex.dex.svc.cluster.local:5556/dex/keys"
    assert rule["audiences"] == ["mlstack"]
    assert policy["spec"]["action"] == "DENY"
    (deny,) = policy["spec"]["rules"]
    assert deny["from"] == [{"source": {"notRequestPrincipals": ["*"]}}]
    operation = deny["to"][0]["operation"]
    assert "/v2/health/ready" in operation["notPaths"]
    assert operation["notHosts"] == [f"dex.{domain}", f"dex.{domain}:*"]
    assert route["spec"]["hosts"] == [f"dex.{domain}"]
    assert route["spec"]["gateways"] == [k3d.facts.gateway.knative_gateway]


def test_auth_plan_installs_dex_before_the_auth_objects(auth_env: tuple[Path, Path]) -> None:
    values, charts = auth_env
    proc = _cli("install", "--env", "k3d", "--dry-run", "--values-dir", str(values),
                "--charts-dir", str(charts))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    steps = [line.split()[1] for line in proc.stdout.splitlines() if line.startswith("[")]
    assert steps.index("dex") < steps.index("model-auth")
    assert steps.index("knative-serving") < steps.index("dex")


def test_dex_config_is_derived_and_keeps_secrets_out_of_git(auth_env: tuple[Path, Path]) -> None:
    values, _ = auth_env
    k3d = resolve.resolve("k3d", values)
    dex = k3d.release("dex")
    assert dex is not None
    config = dex.values["dex"]["config"]
    assert config["issuer"] == k3d.facts.auth_issuer
    assert config["oauth2"]["passwordConnector"] == "local"
    (user,) = config["staticPasswords"]
    assert "hash" not in user and user["hashFromEnv"] == "DEX_HASH_ADMIN"
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in dex.values["dex"]["envVars"]}
    assert env["DEX_HASH_ADMIN"] == {"name": "dex-users", "key": "admin"}
    assert env["DEX_CLIENT_SECRET"] == {"name": "dex-users", "key": "client-secret"}
    generated = (values / "k3d" / "generated" / "dex.yaml").read_text()
    assert "$2" not in generated and "password:" not in generated
    # The keys we set exist in the upstream chart's values (it ships no schema).
    upstream = yaml.safe_load(
        (Path(schemas.schema_dir()) / "chart-values" / "dex-0.24.0" / "values.yaml").read_text()
    )
    assert {"config", "envVars", "replicaCount", "rbac"} <= set(upstream)


def test_external_issuer_needs_no_dex(tmp_path: Path, charts_copy: Path) -> None:
    values = values_copy(tmp_path / "values")
    issuer = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Example"
    edit_env(values, "k3d", auth={"enabled": True, "issuer": issuer,
                                  "jwksUri": f"{issuer}/.well-known/jwks.json",
                                  "audiences": ["models"]})  # fmt: skip
    generate.generate(charts_copy, values)
    k3d = resolve.resolve("k3d", values)
    assert "dex" not in k3d.ids and "model-auth" in k3d.ids
    objects = _objects(k3d, "model-auth", charts_copy)
    assert not _by_kind(objects, "VirtualService")
    (authn,) = _by_kind(objects, "RequestAuthentication")
    assert authn["spec"]["jwtRules"][0]["issuer"] == issuer
    assert authn["spec"]["jwtRules"][0]["audiences"] == ["models"]
    (policy,) = _by_kind(objects, "AuthorizationPolicy")
    assert policy["spec"]["rules"][0]["to"][0]["operation"]["notHosts"] == []
    proc = _cli("smoke", "--env", "k3d", "--dry-run", "--values-dir", str(values))
    assert proc.returncode == 0, proc.stderr
    assert "Authorization: Bearer $TOKEN" in proc.stdout and "MLSTACK_TOKEN" in proc.stdout


def test_auto_domain_moves_dex_and_the_jwt_issuer_together(auth_env: tuple[Path, Path]) -> None:
    """domain: auto -> the install step rewrites Dex's issuer, the RequestAuthentication's
    issuer and Dex's host with every other domain-derived value (one address, one domain)."""
    values, _ = auth_env
    k3d = resolve.resolve("k3d", values, local=True)
    assert {"gateway-tls", "dex", "model-auth"} <= set(autodomain.targets(k3d))
    overlays = autodomain.overlays(k3d, "192.0.2.10.sslip.io")
    assert overlays["dex"]["dex"]["config"]["issuer"] == "https://dex.192.0.2.10.sslip.io/dex"
    auth = overlays["model-auth"]
    assert auth["jwt"]["issuer"] == "https://dex.192.0.2.10.sslip.io/dex"
    assert auth["dex"]["host"] == "dex.192.0.2.10.sslip.io"


def test_jupyterhub_logs_in_through_the_bundled_dex_and_its_host_stays_open(
    tmp_path: Path, charts_copy: Path, schema_dir: Path
) -> None:
    """auth + JupyterHub: no shared password; Dex knows the hub as a client, the hub sends
    browsers to Dex and talks to it in-cluster; the JWT check leaves the hub's host open
    (it logs users in itself); HTTP-01 certifies its host; the plan puts Dex first."""
    values = values_copy(tmp_path / "values")
    edit_env(values, "k3d", auth={"enabled": True}, components={"jupyterhub": True})
    generate.generate(charts_copy, values)  # no passwordSecret: Dex is the login
    k3d = resolve.resolve("k3d", values)
    domain, hub_host = k3d.facts.domain, f"jupyter.{k3d.facts.domain}"
    dex = k3d.release("dex")
    hub = k3d.release("jupyterhub")
    assert dex is not None and hub is not None
    clients = {c["id"]: c for c in dex.values["dex"]["config"]["staticClients"]}
    assert clients["jupyterhub"]["redirectURIs"] == [f"https://{hub_host}/hub/oauth_callback"]
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in dex.values["dex"]["envVars"]}
    assert env[clients["jupyterhub"]["secretEnv"]]["key"] == "jupyterhub-client-secret"
    config = hub.values["jupyterhub"]["hub"]["config"]
    assert config["JupyterHub"]["authenticator_class"] == "generic-oauth"
    oauth = config["GenericOAuthenticator"]
    assert oauth["authorize_url"] == f"https://dex.{domain}/dex/auth"
    assert oauth["token_url"] == "http://dex.dex.svc.cluster.local:5556/dex/token"
    assert oauth["oauth_callback_url"] == clients["jupyterhub"]["redirectURIs"][0]
    assert "DummyAuthenticator" not in str(hub.values)
    (policy,) = _by_kind(_valid(k3d, "model-auth", schema_dir, charts_copy), "AuthorizationPolicy")
    assert hub_host in policy["spec"]["rules"][0]["to"][0]["operation"]["notHosts"]
    steps = [r.id for r in k3d.releases]
    assert steps.index("dex") < steps.index("jupyterhub")
    # Without auth the shared password is required again, in one line.
    edit_env(values, "k3d", auth={"enabled": False})
    with pytest.raises(resolve.UserError, match=r"jupyterhub\.yaml: passwordSecret: not set"):
        resolve.resolve("k3d", values)
    # HTTP-01 certifies the platform's own hosts beside the listed model hosts.
    acme = {"email": "ops@ml.lab.test", "solver": "http01", "hosts": ["a.ml.lab.test"]}
    edit_env(values, "k3d", domain="ml.lab.test", auth={"enabled": True},
             tls={"mode": "acme", "acme": acme})  # fmt: skip
    tls = resolve.resolve("k3d", values).release("gateway-tls")
    assert tls is not None
    assert tls.derived["dnsNames"] == ["a.ml.lab.test", "dex.ml.lab.test", "jupyter.ml.lab.test"]


def test_the_gateways_wait_for_the_certificate_where_tls_is_on(tmp_path: Path) -> None:
    """Releases install in parallel along needs/after: knative-serving and seldon-gateway
    serve the secret gateway-tls's Certificate fills, so they follow it where it is on, and
    need nothing of it where TLS is off. JupyterHub's route binds to Knative's gateway, so
    it follows knative-serving."""
    values = values_copy(tmp_path / "values")
    edit_env(values, "k3d", seldon="istio", components={"jupyterhub": True})
    (values / "k3d" / "jupyterhub.yaml").write_text("passwordSecret: hub-password\n")
    steps = {s.release: s for s in plan.build(resolve.resolve("k3d", values)).steps}
    for release in ("knative-serving", "seldon-gateway"):
        assert "gateway-tls" in steps[release].needs, release
    assert {"jupyterhub", "knative-serving"} <= set(steps["jupyterhub-route"].needs)
    edit_env(values, "k3d", tls={"mode": "off"})
    steps = {s.release: s for s in plan.build(resolve.resolve("k3d", values)).steps}
    assert "gateway-tls" not in steps and "gateway-tls" not in steps["knative-serving"].needs


def test_a_route53_block_without_the_route53_solver_is_refused(tmp_path: Path) -> None:
    values = values_copy(tmp_path / "values")
    zone = {
        "region": "eu-west-1",
        "hostedZoneId": "Z123",
        "role": "arn:aws:iam::123456789012:role/dns",
    }
    acme = {"email": "ops@ml.lab.test", "solver": "http01", "hosts": ["a.ml.lab.test"]}
    edit_env(
        values, "k3d", domain="ml.lab.test", tls={"mode": "acme", "acme": acme | {"route53": zone}}
    )
    with pytest.raises(resolve.UserError) as err:
        resolve.resolve("k3d", values)
    assert "\n" not in str(err.value) and "set solver: route53 or remove route53" in str(err.value)
