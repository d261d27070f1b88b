"""`make smoke ENV=…`: every enabled sample model answers an iris request in its protocol.

The samples are declared by the components that install them (`Component.samples`), so
this module knows protocols, not models. Pure parts (request bodies, the ingress address,
response checks) are unit-tested on realistic payloads; the live path waits for each
sample with the same readiness verdicts the installer uses.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import platform
import socket
import ssl
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

from mlstack.environments import Environment
from mlstack.errors import UserError
from mlstack.lib.samples import IRIS, Sample, request_body
from mlstack.lifecycle import plan, readiness
from mlstack.resolve import Resolved

IRIS_CLASSES = {0, 1, 2}
#: Host ports the k3d load balancer maps to the gateway (platform/k3d.yaml).
K3D_MAPPED = "127.0.0.1:8080"
K3D_MAPPED_TLS = "127.0.0.1:8443"
#: A token for an external issuer (environment.yaml auth.issuer), sent as a bearer token.
TOKEN_ENV = "MLSTACK_TOKEN"
#: The bundled Dex's password grant: the user (default: the first static user's e-mail)
#: and password; the OAuth client's secret is read from the users Secret unless set.
DEX_USER_ENV, DEX_PASSWORD_ENV, DEX_CLIENT_SECRET_ENV = (
    "DEX_USER", "DEX_PASSWORD", "DEX_CLIENT_SECRET",
)  # fmt: skip
#: Key of the CA certificate cert-manager writes next to tls.crt (self-signed mode).
CA_KEY = "ca.crt"


@dataclass(frozen=True)
class Request:
    sample: Sample
    path: str
    body: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.sample.host:
            headers["Host"] = self.sample.host
        return headers

    @property
    def tls(self) -> bool:
        return self.sample.scheme == "https"

    def curl(self, address: str, ca_file: str | None = None) -> str:
        """The same request for a shell. Over TLS the URL names the host (SNI and the
        certificate check use it) and --connect-to sends it to `address`."""
        body = f"-d '{json.dumps(self.body)}'"
        if not self.tls:
            head = " ".join(f"-H '{k}: {v}'" for k, v in self.headers.items())
            extra = " -H 'Authorization: Bearer $TOKEN'" if self.sample.auth else ""
            return f"curl -sS {head}{extra} {body} http://{address}{self.path}"
        host, port = split_address(address, 443)
        parts = ["curl -sS -H 'Content-Type: application/json'"]
        if self.sample.auth:
            parts.append("-H 'Authorization: Bearer $TOKEN'")
        if ca_file:
            parts.append(f"--cacert {ca_file}")
        parts += [f"--connect-to ::{host}:{port}", body]
        parts.append(f"https://{self.sample.host or host}{self.path}")
        return " ".join(parts)


def samples(resolved: Resolved) -> list[Sample]:
    """The samples enabled in the env, from each release's values as install layers them
    (resolve with local=True: the machine's overlays, e.g. the `domain: auto` address)."""
    found: list[Sample] = []
    for r in resolved.releases:
        if r.component.samples is not None:
            found += r.component.samples(resolved.facts, r.values)
    return found


def request_for(sample: Sample) -> Request:
    """The one iris request of the sample's protocol (lib/samples.py; `helm test` sends it
    too), on the sample's path with its Host header."""
    return Request(sample, sample.request_path, request_body(sample.protocol))


def _is_class(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value in IRIS_CLASSES


def _is_distribution(row: Any) -> bool:
    return (
        isinstance(row, list)
        and len(row) == len(IRIS_CLASSES)
        and all(isinstance(p, (int, float)) and 0 <= p <= 1 for p in row)
        and abs(sum(row) - 1) < 1e-3
    )


def _flat(data: Any) -> list[Any]:
    """V2 tensors may come flat or nested; one prediction per input row either way."""
    if isinstance(data, list) and data and isinstance(data[0], list):
        return [x for row in data for x in row] if len(data[0]) == 1 else data
    return data if isinstance(data, list) else []


def check_response(protocol: str, status: int, payload: Any) -> list[str]:
    """Problems with a response; [] when it has the shape of an iris prediction."""
    if status != 200:
        return [f"HTTP {status}"]
    if not isinstance(payload, dict):
        return ["response is not a JSON object"]
    if protocol == "kserve-v2":
        outputs = payload.get("outputs")
        if not isinstance(outputs, list) or not outputs or not isinstance(outputs[0], dict):
            return ["no `outputs` list (KServe v2 inference response)"]
        predictions: Any = _flat(outputs[0].get("data"))
    elif protocol == "seldon":
        data = payload.get("data")
        predictions = data.get("ndarray") if isinstance(data, dict) else None
        if not isinstance(predictions, list):
            return ["no `data.ndarray` (Seldon REST prediction response)"]
    else:
        predictions = payload.get("predictions")
        if not isinstance(predictions, list):
            return ["no `predictions` list"]
    if len(predictions) != len(IRIS):
        return [f"{len(predictions)} predictions for {len(IRIS)} inputs"]
    bad = [p for p in predictions if not (_is_class(p) or _is_distribution(p))]
    if bad:
        return [f"not an iris class (0-2) or class probabilities: {bad[0]!r}"]
    return []


def ingress_address(
    env: Environment, service: dict[str, Any] | None, ingress: str, system: str
) -> tuple[str, str]:
    """(host[:port], how it was found) for the Service in front of the samples.

    A MetalLB address lives on the Docker network, which only a Linux host reaches; on
    macOS/Windows k3d's load balancer maps the gateway to localhost:8080 and minikube needs
    `minikube tunnel`. EKS load balancers publish a host name.
    """
    if env.load_balancer == "metallb" and system != "Linux":
        if env.cluster == "k3d":
            mapped = K3D_MAPPED_TLS if env.tls.enabled else K3D_MAPPED
            port = mapped.rsplit(":", 1)[1]
            return mapped, f"k3d load balancer port {port} (Docker network not reachable here)"
        return "127.0.0.1", "minikube tunnel (keep `minikube tunnel` running in another terminal)"
    entries = ((service or {}).get("status") or {}).get("loadBalancer", {}).get("ingress") or []
    for entry in entries:
        address = entry.get("ip") or entry.get("hostname")
        if address:
            return str(address), f"LoadBalancer address of {ingress}"
    source = "the MetalLB pool" if env.load_balancer == "metallb" else "the cloud load balancer"
    raise UserError(
        f"Service {ingress} has no load-balancer address yet: check {source} "
        "or set INGRESS=host:port"
    )


def split_address(address: str, default_port: int) -> tuple[str, int]:
    host, _, port = address.rpartition(":") if address.count(":") == 1 else (address, "", "")
    return (host, int(port)) if port.isdigit() else (address, default_port)


class _Pinned(http.client.HTTPSConnection):
    """HTTPS to `address` while SNI and the certificate check use the virtual host's name
    (what curl's --connect-to does): the gateway's address rarely resolves to itself."""

    def __init__(self, address: str, port: int, name: str, context: ssl.SSLContext, timeout: float):
        super().__init__(address, port, context=context, timeout=timeout)
        self.name, self.tls_context = name, context

    def connect(self) -> None:
        raw = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self.tls_context.wrap_socket(raw, server_hostname=self.name)


def send(
    address: str,
    scheme: str,
    name: str | None,
    method: str,
    path: str,
    body: bytes,
    headers: dict[str, str],
    context: ssl.SSLContext | None = None,
    timeout: float = 30.0,
) -> tuple[int, bytes]:
    """One HTTP(S) request to `address` for the virtual host `name` (Host header, SNI)."""
    host, port = split_address(address, 443 if scheme == "https" else 80)
    conn: http.client.HTTPConnection
    if scheme == "https":
        ctx = context or ssl.create_default_context()
        conn = _Pinned(host, port, name or host, ctx, timeout)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException) as err:
        raise UserError(f"cannot reach {address} ({scheme}) for {name or path}: {err}") from None
    finally:
        conn.close()


def post(
    address: str, request: Request, token: str | None = None, context: ssl.SSLContext | None = None
) -> tuple[int, Any]:
    headers = dict(request.headers)
    if token and request.sample.auth:
        headers["Authorization"] = f"Bearer {token}"
    status, raw = send(
        address,
        request.sample.scheme,
        request.sample.host,
        "POST",
        request.path,
        json.dumps(request.body).encode(),
        headers,
        context,
    )
    try:
        return status, json.loads(raw.decode() or "null")
    except (UnicodeDecodeError, json.JSONDecodeError):
        return status, None


def tls_context(ca_pem: str | None) -> ssl.SSLContext:
    """Trust the CA the cluster made (self-signed mode), else the system's roots."""
    return ssl.create_default_context(cadata=ca_pem) if ca_pem else ssl.create_default_context()


def ca_from_secret(secret: dict[str, Any] | None) -> str | None:
    """The PEM CA certificate cert-manager put in the gateway's TLS secret (`ca.crt`)."""
    data = ((secret or {}).get("data") or {}).get(CA_KEY)
    return base64.b64decode(data).decode() if data else None


def dex_token(
    resolved: Resolved, address: str, context: ssl.SSLContext | None, client_secret: str
) -> str:
    """A JWT from the bundled Dex by the password grant, through the same gateway."""
    facts, dex = resolved.facts, resolved.env.auth.dex
    password = os.environ.get(DEX_PASSWORD_ENV)
    user = os.environ.get(DEX_USER_ENV) or dex.users[0].email
    if not password:
        raise UserError(
            f"smoke: auth is on in {resolved.env.shown(resolved.values_dir)}: set "
            f"{DEX_PASSWORD_ENV} (the password of {user}; {DEX_USER_ENV} picks another user) "
            f"or {TOKEN_ENV} (a token of the issuer)"
        )
    form = urllib.parse.urlencode(
        {"grant_type": "password", "username": user, "password": password,
         "scope": "openid email profile"}
    ).encode()  # fmt: skip
    basic = base64.b64encode(f"{dex.client_id}:{client_secret}".encode()).decode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Authorization": f"Basic {basic}",
        "Host": facts.dex_host,
    }
    path = urllib.parse.urlparse(facts.dex_issuer).path + "/token"
    status, raw = send(address, facts.scheme, facts.dex_host, "POST", path, form, headers, context)
    try:
        token = json.loads(raw.decode()).get("id_token") if status == 200 else None
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        token = None
    if not token:
        raise UserError(
            f"smoke: Dex at {facts.dex_issuer} refused the password grant for {user} "
            f"(HTTP {status}): check {DEX_PASSWORD_ENV} and the Secret {dex.users_secret}"
        )
    return str(token)


def main(
    resolved: Resolved, *, dry_run: bool = False, ingress: str | None = None, timeout: str = "5m"
) -> int:
    env = resolved.env
    wanted = samples(resolved)
    if not wanted:
        print(f"smoke {env.name}: no sample models are enabled in {env.name}; nothing to call")
        return 0
    requests = [request_for(s) for s in wanted]
    if env.auto_domain:  # no local overlay yet: install-platform has not found the address
        print(
            f"smoke {env.name}: domain auto is not resolved on this machine yet (run "
            f"make install-platform ENV={env.name}); Host headers use {resolved.facts.domain}"
        )
    ca_file = _ca_note(resolved)
    if dry_run:
        if env.auth.enabled:
            print(f"auth: {_token_note(resolved)}")
        for r in requests:
            where = ingress or f"<address of {r.sample.ingress}>"
            target = f"{r.sample.kind} {r.sample.namespace}/{r.sample.name}"
            print(f"{r.sample.name} ({r.sample.protocol}): wait for {target}")
            print(f"  $ {r.curl(where, ca_file if r.tls else None)}")
        return 0
    from mlstack.lifecycle.kube import Kube

    kube = Kube()
    deadline = time.monotonic() + plan.seconds(timeout)
    context = _context(resolved, kube) if any(r.tls for r in requests) else None
    token: str | None = None
    failures = 0
    for r in requests:
        s = r.sample
        gate_kind: readiness.GateKind = "available" if s.kind == "Deployment" else "ready"
        gate = readiness.Gate(gate_kind, readiness.Ref(s.api_version, s.kind, s.name, s.namespace))
        while not (verdict := readiness.evaluate(gate, kube.get(gate.ref))).done:
            if time.monotonic() > deadline:
                raise UserError(
                    f"smoke: {gate.describe()} not reached in {timeout}: {verdict.detail}"
                )
            time.sleep(2)
        address, how = ingress or "", "INGRESS"
        if not ingress:
            ns, name = s.ingress.split("/", 1)
            service = kube.get(readiness.Ref("v1", "Service", name, ns))
            address, how = ingress_address(env, service, s.ingress, platform.system())
        if s.auth and token is None:
            token = _token(resolved, kube, address, context)
        status, payload = post(address, r, token, context)
        problems = check_response(s.protocol, status, payload)
        verdict_text = "ok" if not problems else f"FAILED: {'; '.join(problems)}"
        print(f"smoke {s.name} ({s.protocol}) via {address} [{how}]: {verdict_text}")
        failures += bool(problems)
    return 1 if failures else 0


def _ca_note(resolved: Resolved) -> str | None:
    """What the dry run names as the CA file: the self-signed CA, read from the secret."""
    tls = resolved.env.tls
    if tls.mode != "self-signed":
        return None
    return f"<{CA_KEY} of secret {resolved.facts.gateway.namespace}/{tls.secret_name}>"


def _token_note(resolved: Resolved) -> str:
    auth = resolved.env.auth
    if not auth.bundled_dex:
        return f"$TOKEN from {TOKEN_ENV} (a token of {auth.issuer})"
    facts = resolved.facts
    return (
        f"$TOKEN from {TOKEN_ENV}, else the password grant of {auth.dex.users[0].email} "
        f"({DEX_PASSWORD_ENV}) at {facts.dex_issuer}/token, client {auth.dex.client_id}"
    )


def _context(resolved: Resolved, kube: Any) -> ssl.SSLContext:
    tls = resolved.env.tls
    ca = None
    if tls.mode in ("self-signed", "secret"):
        ref = readiness.Ref("v1", "Secret", tls.secret_name, resolved.facts.gateway.namespace)
        ca = ca_from_secret(kube.get(ref))
        if ca is None and tls.mode == "self-signed":
            raise UserError(
                f"smoke: secret {ref.namespace}/{ref.name} has no {CA_KEY} yet: is the "
                "gateway-tls Certificate Ready? (make install-platform waits for it)"
            )
    return tls_context(ca)


def _token(resolved: Resolved, kube: Any, address: str, context: ssl.SSLContext | None) -> str:
    given = os.environ.get(TOKEN_ENV)
    if given:
        return given
    auth = resolved.env.auth
    if not auth.bundled_dex:
        raise UserError(
            f"smoke: auth is on with issuer {auth.issuer}: set {TOKEN_ENV} to one of its tokens"
        )
    secret = os.environ.get(DEX_CLIENT_SECRET_ENV)
    if not secret:
        dex = resolved.release("dex")
        namespace = dex.namespace if dex else "dex"
        found = kube.get(readiness.Ref("v1", "Secret", auth.dex.users_secret, namespace))
        data = ((found or {}).get("data") or {}).get("client-secret")
        if not data:
            raise UserError(
                f"smoke: secret {namespace}/{auth.dex.users_secret} has no client-secret: "
                f"create it (README: auth) or set {DEX_CLIENT_SECRET_ENV}"
            )
        secret = base64.b64decode(data).decode()
    return dex_token(resolved, address, context, secret)
