"""The IngressClass `istio`: Kubernetes Ingress objects handled by the Istio gateway.

Every environment (Istio is always on). An Ingress names its controller through an
IngressClass; without one of controller `istio.io/ingress-controller`, istiod ignores
`ingressClassName: istio` (istio.io "Kubernetes Ingress" task) and nothing renders it
upstream: istiod's chart only configures the controller (components/istiod.py). A release
of its own after istiod (its controller), cluster-scoped, so a team's Ingress (and
cert-manager's ACME HTTP-01 solver) binds to our gateway.

Port 80: istiod converts every Ingress of this class into a Gateway with a plain-HTTP
server for `*` on port 80, and never a redirect (istio pilot/pkg/config/kube/ingress/
gateways.go), even where the Ingress has TLS. The platform's own web apps therefore use
VirtualServices on Knative's gateway (HTTPS, port 80 redirected: jupyterhub-route); the
README says so to users who publish with an Ingress.
"""

from __future__ import annotations

from constructs import Construct
from pydantic import Field

from mlstack.lib.component import spec_object
from mlstack.lib.facts import INGRESS_CLASS, INGRESS_CONTROLLER
from mlstack.lib.model import Values

#: Kubernetes' annotation marking the class Ingresses without a class name get.
DEFAULT_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"


class IstioIngressClassValues(Values):
    default_class: bool = Field(
        False,
        description=(
            "Make istio the cluster's default IngressClass (Ingresses without "
            "ingressClassName bind to the Istio gateway). Off: another controller may own it."
        ),
    )


class IstioIngressClass(Construct):
    def __init__(self, scope: Construct, id: str = "istio-ingress-class") -> None:
        super().__init__(scope, id)
        spec = {"controller": INGRESS_CONTROLLER}
        api = "networking.k8s.io/v1"
        # Two variants of one object: the annotation's value must be the string "true".
        spec_object(
            self,
            "default",
            api,
            "IngressClass",
            INGRESS_CLASS,
            spec,
            when="defaultClass",
            annotations={DEFAULT_ANNOTATION: "true"},
        )
        spec_object(self, "class", api, "IngressClass", INGRESS_CLASS, spec, when="!defaultClass")
