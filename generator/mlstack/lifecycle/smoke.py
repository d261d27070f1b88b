"""`make smoke ENV=…`: every enabled catalogue entry answers its request, one line each,
and every web app a component declares (JupyterHub) answers its health check.

The models are declared by the components that install them (`Component.samples`): each
`Sample` carries its request (the entry's `request:` over its protocol's default), so
this module knows transport, not models. Over HTTPS (port 443, SNI = the model's host)
where the environment serves TLS at the gateway. Pure parts (requests, the ingress
address, answer checks) are unit-tested on realistic payloads; the live path waits for
each model with the same readiness verdicts the installer uses, and reports its latency.
"""

from __future__ import annotations

import http.client
import json
import platform
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any

from mlstack.environments import Environment
from mlstack.errors import UserError
from mlstack.lib.facts import LAPTOP_PORTS, LOOPBACK
from mlstack.lib.samples import Request, Sample, default_request
from mlstack.lifecycle import plan, readiness
from mlstack.resolve import Resolved

#: The gateway's http port on this host: k3d's load balancer maps it to the gateway's
#: NodePort (platform/k3d.yaml); elsewhere a `kubectl port-forward` binds it.
NODE_PORT, HOST_PORT = LAPTOP_PORTS["http2"]
K3D_MAPPED = f"{LOOPBACK}:{HOST_PORT}"


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

    def curl(self, address: str) -> str:
        """The same request as a curl command (DRY_RUN=1 prints it)."""
        parts = ["curl -sS"]
        host = self.sample.host
        if self.sample.https and host:
            # SNI must name the model's host for the gateway to pick its certificate.
            parts.append(f"--resolve '{host}:443:{address}'")
            url = f"https://{host}{self.path}"
        else:
            url = f"http://{address}{self.path}"
        parts += [f"-H '{k}: {v}'" for k, v in self.headers.items()]
        if self.request.method != "POST" or self.body is None:
            parts.append(f"-X {self.request.method}")
        if self.body is not None:
            parts.append(f"-d '{json.dumps(self.body)}'")
        return " ".join([*parts, url])


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


def port_forward(ingress: str) -> str:
    """The command that binds the gateway's http port to 127.0.0.1 (minikube off Linux)."""
    namespace, name = ingress.split("/", 1)
    return f"kubectl -n {namespace} port-forward --address {LOOPBACK} svc/{name} {HOST_PORT}:80"


def localhost_route(
    env: Environment, ingress: str, gateway: str | None = None
) -> tuple[str, str] | None:
    """(127.0.0.1:8080, how) where the Istio gateway (`gateway`, namespace/name; None: any
    ingress is taken for it) answers on the host's loopback, or None."""
    if env.load_balancer != "metallb" or (gateway and ingress != gateway):
        return None
    if env.cluster == "k3d":
        return K3D_MAPPED, (
            f"k3d load balancer {K3D_MAPPED} -> NodePort {NODE_PORT} of {ingress} "
            "(platform/k3d.yaml)"
        )
    return K3D_MAPPED, f"kubectl port-forward (keep `{port_forward(ingress)}` running)"


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
    macOS/Windows (Docker Desktop) the gateway is reached on 127.0.0.1:8080: through k3d's
    load balancer, or minikube's documented port-forward. EKS load balancers publish a
    host name.
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


def post(address: str, call: Call, timeout: float = 30.0) -> tuple[int, str]:
    """Send `call` to the ingress at `address`; HTTPS with SNI = the model's host."""
    host, _, port = address.partition(":")
    https = call.sample.https and call.sample.host
    body = json.dumps(call.body).encode() if call.body is not None else None
    conn: http.client.HTTPConnection
    try:
        if https:
            context = ssl.create_default_context()
            raw = socket.create_connection((host, int(port or 443)), timeout=timeout)
            conn = http.client.HTTPSConnection(str(call.sample.host), timeout=timeout)
            conn.sock = context.wrap_socket(raw, server_hostname=call.sample.host)
        else:
            conn = http.client.HTTPConnection(host, int(port or 80), timeout=timeout)
        conn.request(call.request.method, call.path, body=body, headers=call.headers)
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    except OSError as err:
        raise UserError(f"cannot reach {address} for {call.sample.name}: {err}") from None


def main(
    resolved: Resolved, *, dry_run: bool = False, ingress: str | None = None, timeout: str = "5m"
) -> int:
    env = resolved.env
    wanted = samples(resolved)
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
        for c in calls:
            where = ingress or planned_route(env, c.sample.ingress, system, istio)[0]
            target = f"{c.sample.kind} {c.sample.namespace}/{c.sample.name}"
            print(f"{c.sample.name} ({c.sample.protocol}): wait for {target}")
            print(f"  $ {c.curl(where)}")
        return 0
    from mlstack.lifecycle.kube import Kube

    kube = Kube()
    deadline = time.monotonic() + plan.seconds(timeout)
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
        started = time.perf_counter()
        status, text = post(address, c)
        took = (time.perf_counter() - started) * 1000
        problems = check_response(c.request, status, text)
        verdict_text = "ok" if not problems else f"FAILED: {'; '.join(problems)}"
        print(f"smoke {s.name} ({s.protocol}) via {address} [{how}]: {verdict_text} {took:.0f} ms")
        failures += bool(problems)
    return 1 if failures else 0
