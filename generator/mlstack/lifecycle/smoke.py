"""`make smoke ENV=…`: every enabled sample model answers an iris request in its protocol.

The samples are declared by the components that install them (`Component.samples`), so
this module knows protocols, not models. Pure parts (request bodies, the ingress address,
response checks) are unit-tested on realistic payloads; the live path waits for each
sample with the same readiness verdicts the installer uses.
"""

from __future__ import annotations

import json
import platform
import time
import urllib.error
import urllib.request
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

    def curl(self, address: str) -> str:
        head = " ".join(f"-H '{k}: {v}'" for k, v in self.headers.items())
        return f"curl -sS {head} -d '{json.dumps(self.body)}' http://{address}{self.path}"


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
            return K3D_MAPPED, "k3d load balancer port 8080 (Docker network not reachable here)"
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


def post(address: str, request: Request, timeout: float = 30.0) -> tuple[int, Any]:
    req = urllib.request.Request(
        f"http://{address}{request.path}",
        data=json.dumps(request.body).encode(),
        headers=request.headers,
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, None
    except OSError as err:
        raise UserError(f"cannot reach {address} for {request.sample.name}: {err}") from None
    try:
        return status, json.loads(text)
    except json.JSONDecodeError:
        return status, None


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
    if dry_run:
        for r in requests:
            where = ingress or f"<address of {r.sample.ingress}>"
            target = f"{r.sample.kind} {r.sample.namespace}/{r.sample.name}"
            print(f"{r.sample.name} ({r.sample.protocol}): wait for {target}")
            print(f"  $ {r.curl(where)}")
        return 0
    from mlstack.lifecycle.kube import Kube

    kube = Kube()
    deadline = time.monotonic() + plan.seconds(timeout)
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
        status, payload = post(address, r)
        problems = check_response(s.protocol, status, payload)
        verdict_text = "ok" if not problems else f"FAILED: {'; '.join(problems)}"
        print(f"smoke {s.name} ({s.protocol}) via {address} [{how}]: {verdict_text}")
        failures += bool(problems)
    return 1 if failures else 0
