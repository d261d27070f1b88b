"""Sample models a component declares, so `make smoke` knows what to call.

A component that installs a sample model (an InferenceService, a SeldonDeployment, a plain
Deployment + Service) lists it in `Component.samples`; the smoke test then waits for it,
finds the address of the Service named in `ingress`, and sends an iris request in the
sample's protocol with its Host header. Adding a sample needs no change to the smoke test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Protocol = Literal["kserve-v2", "seldon", "plain"]
#: Two iris flowers (sepal length/width, petal length/width): a versicolor and a setosa.
IRIS = [[6.8, 2.8, 4.8, 1.4], [5.1, 3.5, 1.4, 0.2]]
#: A key every successful prediction response of the protocol carries.
RESPONSE_KEY: dict[str, str | None] = {"kserve-v2": "outputs", "seldon": "ndarray", "plain": None}


def request_body(protocol: Protocol) -> dict[str, Any]:
    """The iris request in `protocol` (smoke from outside and `helm test` inside send it)."""
    if protocol == "kserve-v2":
        shape = [len(IRIS), 4]
        return {"inputs": [{"name": "input-0", "shape": shape, "datatype": "FP32", "data": IRIS}]}
    if protocol == "seldon":
        return {"data": {"ndarray": IRIS}}
    return {"instances": IRIS}


@dataclass(frozen=True)
class Sample:
    #: model / object name, e.g. "sklearn-iris".
    name: str
    namespace: str
    protocol: Protocol
    #: the object to wait for: InferenceService and SeldonDeployment report a Ready
    #: condition, a plain server is a Deployment that must be available.
    api_version: str
    kind: str
    #: "namespace/name" of the LoadBalancer Service in front of it (the ingress gateway).
    ingress: str
    #: Host header the gateway routes on; None sends none.
    host: str | None = None
    #: request path; None means the protocol's standard path for `name`/`namespace`.
    path: str | None = None

    @property
    def request_path(self) -> str:
        if self.path:
            return self.path
        if self.protocol == "kserve-v2":
            return f"/v2/models/{self.name}/infer"
        if self.protocol == "seldon":
            return f"/seldon/{self.namespace}/{self.name}/api/v1.0/predictions"
        return "/predict"
