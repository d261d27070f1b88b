"""`make smoke ENV=…`: every enabled catalogue entry answers its request, one line each,
and every web app a component declares (JupyterHub) answers its health check.

The models are declared by the components that install them (`Component.samples`): each
`Sample` carries its request (the entry's `request:` over its protocol's default), so
this module knows transport, not models. Over HTTPS (port 443, SNI = the model's host)
where the environment serves TLS at the gateway. Pure parts (requests, the ingress
address, answer checks) are unit-tested on realistic payloads; the live path waits for
each model with the same readiness verdicts the installer uses, and reports its latency.
In self-signed mode smoke trusts the CA cert-manager wrote into the gateway's secret; where
the environment turns auth on it sends a bearer token (MLSTACK_TOKEN, or one from the
bundled Dex by the password grant).
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
from dataclasses import dataclass, replace
from typing import Any, Literal

from mlstack.environments import Environment
from mlstack.errors import UserError
from mlstack.lib.facts import LAPTOP_PORTS, LOOPBACK
from mlstack.lib.samples import Request, Sample, default_request
from mlstack.lifecycle import plan, readiness
from mlstack.resolve import Resolved

#: The gateway on this host's loopback: k3d's load balancer maps host ports to the
#: gateway's NodePorts (platform/k3d.yaml); elsewhere a `kubectl port-forward` binds them.
#: Which pair depends on TLS: HTTPS environments are reached on 8443, plain HTTP on 8080.
GATEWAY_PORTS = {"http2": 80, "https": 443}


def laptop_port(env: Environment) -> tuple[str, int, int]:
    """(gateway port name, node port, host port) smoke uses off Linux for `env`."""
    name = "https" if env.tls.enabled else "http2"
    node, host = LAPTOP_PORTS[name]
    return name, node, host


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
class Call:
    """A sample and the request smoke sends it."""

    sample: Sample
    request: Request

    @property
    def path(self) -> str:
        return self.request.path

    @property
    def body(self) -> dict[str, Any] | None:
        return self.request.body

    @property
    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"} if self.body is not None else {}
        if self.sample.host:
            headers["Host"] = self.sample.host
        return headers

    def curl(self, address: str, ca_file: str | None = None) -> str:
        """The same request as a curl command (DRY_RUN=1 prints it). Over HTTPS the URL
        names the model's host (SNI and the certificate check use it) and --connect-to
        sends it to `address`, which rarely resolves to itself."""
        parts = ["curl -sS", *(f"-H '{k}: {v}'" for k, v in self.headers.items())]
        if self.sample.auth:
            parts.append("-H 'Authorization: Bearer $TOKEN'")
        if self.request.method != "POST" or self.body is None:
            parts.append(f"-X {self.request.method}")
        if self.body is not None:
            parts.append(f"-d '{json.dumps(self.body)}'")
        if not self.sample.https:
            return " ".join([*parts, f"http://{address}{self.path}"])
        host, port = split_address(address, 443)
        if ca_file:
            parts.append(f"--cacert {ca_file}")
        parts.append(f"--connect-to ::{host}:{port}")
        return " ".join([*parts, f"https://{self.sample.host or host}{self.path}"])


#: What the gateway must answer a request without a token (auth on) and a plain-HTTP
#: request (TLS on): a refusal, and nothing but a redirect to HTTPS.
REFUSED = (401, 403)
REDIRECTS = (301, 302, 308)
#: The gateway's HTTP port where smoke is not given one (a load-balancer address).
HTTP_PORT = 80
NegativeKind = Literal["no token", "plain HTTP"]


@dataclass(frozen=True)
class Negative:
    """A request the entry point must NOT serve: the entry's own request without the
    token, or over plain HTTP; `expect` lists the only acceptable answers."""

    call: Call
    kind: NegativeKind
    #: the entry point checks a token: plain HTTP without one may be refused before the
    #: redirect (the gateway's authorization filter runs before the router, which sends
    #: the redirect); either way nothing is served in clear, and no token is sent in clear.
    gated: bool = False

    @property
    def expect(self) -> tuple[int, ...]:
        if self.kind == "no token":
            return REFUSED
        return REDIRECTS + (REFUSED if self.gated else ())

    def address(self, address: str) -> str:
        """Where to send it: the given address, or for plain HTTP the gateway's HTTP port
        on the same host (the localhost route's http host port, else port 80)."""
        if self.kind == "no token":
            return address
        host, port = split_address(address, HTTP_PORT)
        if host == LOOPBACK and port == LAPTOP_PORTS["https"][1]:
            return f"{LOOPBACK}:{LAPTOP_PORTS['http2'][1]}"
        return f"{host}:{HTTP_PORT}"

    def curl(self, address: str, ca_file: str | None = None) -> str:
        """The curl of the check: the status code is what counts (-o /dev/null -w)."""
        line = self.call.curl(self.address(address), ca_file).replace(
            "curl -sS", "curl -sS -o /dev/null -w '%{http_code}\\n'", 1
        )
        return f"{line}  # expect {'/'.join(map(str, self.expect))} ({self.kind})"

    def verdict(self, status: int) -> str | None:
        """None when the answer is one `expect` allows, else what went wrong."""
        if status in self.expect:
            return None
        wanted = "/".join(map(str, self.expect))
        served = "served it" if 200 <= status < 300 else f"answered HTTP {status}"
        return f"the gateway {served}; expected {wanted}"


def negatives(call: Call) -> list[Negative]:
    """The checks of what `call`'s entry point must refuse: without a token where the
    gateway checks one, over plain HTTP where it serves HTTPS."""
    sample, found = call.sample, []
    if sample.auth:
        found.append(Negative(Call(replace(sample, auth=False), call.request), "no token"))
    if sample.https:
        clear = replace(sample, auth=False, https=False)
        found.append(Negative(Call(clear, call.request), "plain HTTP", gated=sample.auth))
    return found


def samples(resolved: Resolved) -> list[Sample]:
    """The samples enabled in the env, from each release's values as install layers them
    (resolve with local=True: the machine's overlays, e.g. the `domain: auto` address)."""
    found: list[Sample] = []
    for r in resolved.releases:
        if r.component.samples is not None:
            found += r.component.samples(resolved.facts, r.values)
    return found


def request_for(sample: Sample) -> Call:
    request = sample.request or default_request(sample.protocol, sample.name, sample.namespace)
    return Call(sample, request)


def _dig(payload: Any, key: str) -> Any:
    for part in key.split("."):
        if not isinstance(payload, dict) or part not in payload:
            return None
        payload = payload[part]
    return payload


def check_response(request: Request, status: int, text: str) -> list[str]:
    """Problems with an answer; [] when it is a 2xx with the shape the request expects."""
    if not 200 <= status < 300:
        return [f"HTTP {status}"]
    if request.expect_text is not None and request.expect_text not in text:
        return [f"answer does not contain {request.expect_text!r}"]
    if request.expect_key is None:
        return []
    try:
        payload = json.loads(text)
    except json.JSONDecodeError:
        return ["answer is not JSON"]
    if not isinstance(payload, dict):
        return ["answer is not a JSON object"]
    found = _dig(payload, request.expect_key)
    if found is None or found == [] or found == {}:
        return [f"no `{request.expect_key}` in the answer"]
    return []


def port_forward(env: Environment, ingress: str) -> str:
    """The command that binds the gateway's port (https where the env serves TLS, else
    http) to 127.0.0.1 (minikube off Linux); with TLS also http, where smoke checks that
    plain HTTP only redirects."""
    namespace, name = ingress.split("/", 1)
    port, _, host = laptop_port(env)
    targets = [f"{host}:{GATEWAY_PORTS[port]}"]
    if port == "https":
        targets.append(f"{LAPTOP_PORTS['http2'][1]}:{GATEWAY_PORTS['http2']}")
    return (
        f"kubectl -n {namespace} port-forward --address {LOOPBACK} svc/{name} {' '.join(targets)}"
    )


def localhost_route(
    env: Environment, ingress: str, gateway: str | None = None
) -> tuple[str, str] | None:
    """(127.0.0.1:8080, or :8443 with TLS; how) where the Istio gateway (`gateway`,
    namespace/name; None: any ingress is taken for it) answers on the loopback, or None."""
    if env.load_balancer != "metallb" or (gateway and ingress != gateway):
        return None
    _, node, host = laptop_port(env)
    mapped = f"{LOOPBACK}:{host}"
    if env.cluster == "k3d":
        return mapped, (
            f"k3d load balancer {mapped} -> NodePort {node} of {ingress} (platform/k3d.yaml)"
        )
    return mapped, f"kubectl port-forward (keep `{port_forward(env, ingress)}` running)"


def off_linux(
    env: Environment, ingress: str, system: str, gateway: str | None
) -> tuple[str, str] | None:
    """The localhost route where the host cannot reach the Docker network (not Linux)."""
    local = None if system == "Linux" else localhost_route(env, ingress, gateway)
    if not local:
        return None
    where = f"the Docker network is not reachable from {system}"
    return local[0], f"localhost route: {local[1]}; {where}"


def ingress_address(
    env: Environment,
    service: dict[str, Any] | None,
    ingress: str,
    system: str,
    gateway: str | None = None,
) -> tuple[str, str]:
    """(host[:port], how it was found) for the Service in front of the samples.

    A MetalLB address lives on the Docker network, which only a Linux host reaches; on
    macOS/Windows (Docker Desktop) the gateway is reached on 127.0.0.1:8080 (8443 with
    TLS): through k3d's load balancer, or minikube's documented port-forward. EKS load
    balancers publish a host name.
    """
    chosen = off_linux(env, ingress, system, gateway)
    if chosen:
        return chosen
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


def planned_route(env: Environment, ingress: str, system: str, gateway: str) -> tuple[str, str]:
    """What the dry run shows: the address smoke will use on `system`, and why."""
    chosen = off_linux(env, ingress, system, gateway)
    if chosen:
        return chosen
    local = localhost_route(env, ingress, gateway)
    lb = "MetalLB" if env.load_balancer == "metallb" else "cloud load-balancer"
    how = f"the {lb} address of {ingress}"
    if local:
        how += f" (Linux reaches the Docker network); localhost route: {local[1]}"
    return f"<address of {ingress}>", how


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
    body: bytes | None,
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
    address: str,
    call: Call,
    token: str | None = None,
    context: ssl.SSLContext | None = None,
) -> tuple[int, str]:
    """Send `call` to the ingress at `address` (HTTPS with SNI = the model's host where the
    gateway serves TLS), with the bearer token where the gateway checks one."""
    headers = dict(call.headers)
    if token and call.sample.auth:
        headers["Authorization"] = f"Bearer {token}"
    body = json.dumps(call.body).encode() if call.body is not None else None
    scheme = "https" if call.sample.https else "http"
    status, raw = send(
        address, scheme, call.sample.host, call.request.method, call.path, body, headers, context
    )
    return status, raw.decode(errors="replace")


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
    declared = samples(resolved)
    for s in declared:
        if s.skipped:
            print(f"smoke {s.name} ({s.protocol}): skipped: {s.skipped}")
    wanted = [s for s in declared if not s.skipped]
    if not wanted:
        print(f"smoke {env.name}: no models are enabled in {env.name}; nothing to call")
        return 0
    calls = [request_for(s) for s in wanted]
    if env.auto_domain:  # no local overlay yet: install-platform has not found the address
        print(
            f"smoke {env.name}: domain auto is not resolved on this machine yet (run "
            f"make install-platform ENV={env.name}); Host headers use {resolved.facts.domain}"
        )
    istio = resolved.facts.gateway.address
    if dry_run:
        system = platform.system()
        for gateway in sorted({c.sample.ingress for c in calls} - {""}):
            where, how = planned_route(env, gateway, system, istio)
            print(f"smoke {env.name} on {system}: {gateway} via {ingress or where} [{how}]")
        if any(c.sample.auth for c in calls):
            print(f"auth: {_token_note(resolved)}")
        ca_file = _ca_note(resolved)
        for c in calls:
            where = ingress or planned_route(env, c.sample.ingress, system, istio)[0]
            target = f"{c.sample.kind} {c.sample.namespace}/{c.sample.name}"
            print(f"{c.sample.name} ({c.sample.protocol}): wait for {target}")
            print(f"  $ {c.curl(where, ca_file if c.sample.https else None)}")
            for n in negatives(c):
                print(f"  $ {n.curl(where, ca_file if n.call.sample.https else None)}")
        return 0
    from mlstack.lifecycle.kube import Kube

    kube = Kube()
    deadline = time.monotonic() + plan.seconds(timeout)
    context = _context(resolved, kube) if any(c.sample.https for c in calls) else None
    token: str | None = None
    failures = 0
    for c in calls:
        s = c.sample
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
            address, how = ingress_address(env, service, s.ingress, platform.system(), istio)
        if s.auth and token is None:  # before the clock: the latency is the model's
            token = _token(resolved, kube, address, context)
        started = time.perf_counter()
        status, text = post(address, c, token, context)
        took = (time.perf_counter() - started) * 1000
        problems = check_response(c.request, status, text)
        verdict_text = "ok" if not problems else f"FAILED: {'; '.join(problems)}"
        print(f"smoke {s.name} ({s.protocol}) via {address} [{how}]: {verdict_text} {took:.0f} ms")
        failures += bool(problems)
        failures += sum(not check_negative(n, n.address(address), context) for n in negatives(c))
    return 1 if failures else 0


def check_negative(negative: Negative, target: str, context: ssl.SSLContext | None) -> bool:
    """Send `negative` (no token, or plain HTTP) to the entry point at `target` (its
    `address`) and print one line; True when the gateway refused it as it must."""
    s = negative.call.sample
    try:
        status, _ = post(target, negative.call, None, context)
        problem = negative.verdict(status)
        answer = f"HTTP {status}"
    except UserError as err:
        problem, answer = str(err), "no answer"
    verdict = f"ok ({answer})" if problem is None else f"FAILED: {problem}"
    print(f"smoke {s.name} ({s.protocol}) {negative.kind} via {target}: {verdict}")
    return problem is None


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
