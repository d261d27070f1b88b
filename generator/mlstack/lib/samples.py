"""The models a component declares, so `make smoke` knows what to call and how.

A component that installs models (the `models` catalogue) lists them in
`Component.samples`; the smoke test then waits for each, finds the address of the Service
named in `ingress`, and sends its `Request` with the Host header. Each protocol has a
default request (an iris request where the protocol has a standard body), which a
catalogue entry's `request:` overrides key by key. Adding a model needs no change here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

#: "health": a GET that must answer 2xx (a web app's health endpoint, e.g. JupyterHub's).
Protocol = Literal["kserve-v1", "kserve-v2", "seldon", "knative", "plain", "health"]
#: Two iris flowers (sepal length/width, petal length/width): a versicolor and a setosa.
IRIS = [[6.8, 2.8, 4.8, 1.4], [5.1, 3.5, 1.4, 0.2]]


@dataclass(frozen=True)
class Request:
    """What smoke sends and what the answer must show."""

    path: str
    method: Literal["GET", "POST"] = "POST"
    body: dict[str, Any] | None = None
    #: dotted key the JSON answer must carry (e.g. "outputs", "data.ndarray").
    expect_key: str | None = None
    #: text the answer must contain (non-JSON answers, e.g. helloworld-go).
    expect_text: str | None = None


def request_body(protocol: str) -> dict[str, Any]:
    """The iris request of `protocol` (the default body of its entries)."""
    if protocol == "kserve-v2":
        shape = [len(IRIS), 4]
        return {"inputs": [{"name": "input-0", "shape": shape, "datatype": "FP32", "data": IRIS}]}
    if protocol == "seldon":
        return {"data": {"ndarray": IRIS}}
    return {"instances": IRIS}


def default_request(protocol: str, name: str, namespace: str) -> Request:
    """The protocol's standard request for a model `name` in `namespace`."""
    if protocol == "kserve-v2":
        path, key = f"/v2/models/{name}/infer", "outputs"
    elif protocol == "kserve-v1":
        path, key = f"/v1/models/{name}:predict", "predictions"
    elif protocol == "seldon":
        path, key = f"/seldon/{namespace}/{name}/api/v1.0/predictions", "data.ndarray"
    elif protocol == "knative":
        return Request("/", "GET")
    elif protocol == "health":
        return Request("/health", "GET")
    else:
        path, key = "/predict", "predictions"
    return Request(path, "POST", request_body(protocol), expect_key=key)


@dataclass(frozen=True)
class Sample:
    #: model / object name, e.g. "sklearn-iris".
    name: str
    namespace: str
    protocol: Protocol | str
    #: the object to wait for: InferenceService, SeldonDeployment and Knative Service
    #: report a Ready condition, a plain server is a Deployment that must be available.
    api_version: str
    kind: str
    #: "namespace/name" of the LoadBalancer Service in front of it (the ingress gateway).
    ingress: str
    #: Host header the gateway routes on; None sends none.
    host: str | None = None
    request: Request | None = None
    #: HTTPS (port 443, SNI = host) where the environment serves TLS at the gateway
    #: (environment.yaml tls): smoke trusts the cluster's CA in self-signed mode.
    https: bool = False
    #: the gateway checks a JWT (environment.yaml auth): smoke sends a bearer token.
    auth: bool = False
    #: why smoke cannot call it from outside (e.g. a ClusterIP plain server): smoke says so
    #: in one line instead of calling it; None: it is called.
    skipped: str | None = None

    @property
    def request_path(self) -> str:
        return (self.request or default_request(self.protocol, self.name, self.namespace)).path
