"""Per-environment facts, in one place.

An environment says which components it enables, which Kubernetes minor its clusters run
(and the range of minors it supports, all of which rendered output is validated against)
The range is where the pinned stack overlaps: Knative 1.23 needs >= 1.34 and is tested up
to 1.35; Istio 1.30, cert-manager 1.21 and the EKS standard-support window all cover it.
and how Services of type LoadBalancer get an address. EKS gets addresses from AWS load
balancers, so it has no MetalLB.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal

from mlstack.errors import UserError
from mlstack.versions import KubeRange

SeldonMode = Literal["istio", "ambassador"]


@dataclass(frozen=True)
class Environment:
    name: str
    description: str
    kubernetes: str
    supported: KubeRange
    load_balancer: Literal["metallb", "aws"]
    components: frozenset[str]
    #: The ONE domain of the environment (Knative config-domain, KServe, smoke tests read
    #: it through mlstack.ingress.domain). Local envs: example.com, reached with a Host
    #: header, or <lb-ip>.sslip.io once the gateway address is known (see magic_dns_domain).
    domain: str = "example.com"
    #: True where the install step may replace `domain` by the magic-DNS name of the
    #: gateway's load-balancer address (laptops have no DNS of their own).
    magic_dns: bool = False
    #: Seldon Core v1 is opt-in: None = off. To opt in, set the ingress it publishes models
    #: through ("istio": glue seldon-gateway on the Istio gateway; "ambassador": Emissary,
    #: enabled separately with EMISSARY) and add `seldon_components(mode)` to `components`.
    seldon: SeldonMode | None = None

    def minors(self) -> list[str]:
        """Every Kubernetes minor this environment supports, oldest first."""
        low, high = (int(v.split(".")[1]) for v in (self.supported.min, self.supported.max))
        return [f"1.{m}" for m in range(low, high + 1)]


#: EKS serves under the user's own domain: replace this placeholder here, in one place.
EKS_DOMAIN = "models.example.org"
MAGIC_DNS_SUFFIX = "sslip.io"


def magic_dns_domain(lb_ip: str) -> str:
    """`<lb-ip>.sslip.io`: a wildcard DNS name resolving to the gateway's address."""
    try:
        address = ipaddress.ip_address(lb_ip)
    except ValueError:
        raise UserError(
            f"load-balancer address {lb_ip!r} is not an IP address: cannot build a "
            f"{MAGIC_DNS_SUFFIX} domain"
        ) from None
    # sslip.io spells IPv6 addresses with dashes instead of colons.
    label = str(address) if address.version == 4 else str(address).replace(":", "-")
    return f"{label}.{MAGIC_DNS_SUFFIX}"


_SERVING = frozenset(
    {"istio-base", "istiod", "istio-gateway", "cert-manager", "knative-operator", "knative-serving"}
)
_LOCAL = frozenset({"metallb", "metallb-pool"}) | _SERVING
#: KServe (Knative serverless mode) is the serving operator of every environment.
KSERVE = frozenset({"kserve-crd", "kserve", "model-runtimes", "models"})


#: Emissary-ingress (Ambassador API gateway): Seldon's ambassador mode publishes through it.
EMISSARY = frozenset({"emissary-crds", "emissary"})


def seldon_components(mode: SeldonMode) -> frozenset[str]:
    """The releases Seldon Core v1 brings in `mode` (ambassador mode also needs EMISSARY)."""
    return frozenset({"seldon-core-operator", *(["seldon-gateway"] if mode == "istio" else [])})


#: The Kubernetes window every environment supports: where the pinned stack overlaps.
_MINOR, _WINDOW = "1.35", KubeRange(min="1.34", max="1.35")


def _laptop(name: str, description: str) -> Environment:
    """k3d and minikube differ only in how the cluster is made (platform/<name>.yaml)."""
    return Environment(
        name=name,
        description=f"{description}; MetalLB hands out addresses.",
        load_balancer="metallb",
        components=_LOCAL | KSERVE,
        magic_dns=True,
        kubernetes=_MINOR,
        supported=_WINDOW,
    )


ENVIRONMENTS: dict[str, Environment] = {
    env.name: env
    for env in (
        _laptop("k3d", "k3s in Docker on a laptop"),
        _laptop("minikube", "minikube (docker driver) on a laptop"),
        Environment(
            name="eks",
            description="Amazon EKS; AWS network load balancers, TLS at the gateway.",
            load_balancer="aws",
            components=_SERVING | KSERVE,
            domain=EKS_DOMAIN,
            kubernetes=_MINOR,
            supported=_WINDOW,
        ),
    )
}

DEFAULT_ENV = "k3d"


def get(name: str) -> Environment:
    try:
        return ENVIRONMENTS[name]
    except KeyError:
        known = ", ".join(sorted(ENVIRONMENTS))
        raise UserError(f"unknown environment {name!r}: use one of {known}") from None
