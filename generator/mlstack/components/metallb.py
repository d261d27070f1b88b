"""MetalLB: gives Services of type LoadBalancer an address on clusters without a cloud.

Local environments only (k3d, minikube); EKS uses AWS load balancers instead. It is the
first release because the Istio ingress gateway's LoadBalancer Service needs an address.
Wrapper of the upstream chart; its address pool is the separate `metallb-pool` release,
because the pool is a custom resource and Helm cannot create one in the release that
brings its CRD.
"""

from typing import Any

from pydantic import Field

from mlstack.lib.component import Component, Dependency
from mlstack.lib.model import Values


def _upstream_defaults() -> dict[str, Any]:
    # Layer-2 mode only: the BGP backends (FRR container, frr-k8s subchart) are not needed
    # on a laptop and frr-k8s alone adds a DaemonSet and webhooks.
    return {
        "frrk8s": {"enabled": False},
        "speaker": {"frr": {"enabled": False}},
        "controller": {"logLevel": "info"},
        "crds": {"enabled": True},
    }


class MetallbValues(Values):
    metallb: dict[str, Any] = Field(
        default_factory=_upstream_defaults,
        description="Values of the upstream metallb chart (validated by its own schema).",
    )


COMPONENT = Component(
    id="metallb",
    description="MetalLB load-balancer controller and speaker (layer-2 mode) for local clusters.",
    values=MetallbValues,
    namespace="metallb-system",
    project="metallb",
    module=__name__,
    dependencies=(Dependency(chart="metallb", alias="metallb"),),
    keywords=("metallb", "load-balancer"),
)
