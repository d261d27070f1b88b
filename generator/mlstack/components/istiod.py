"""Derived values of the istiod row (data/components.yaml): Kubernetes Ingress on Istio.

istiod turns every Ingress of its class into an Istio Gateway + VirtualService. Its mesh
config names the gateway those Gateways select (`ingressSelector`: the `istio:` pod label)
and the Service whose address it writes into the Ingresses' status (`ingressService`).
Istio's defaults (`ingressgateway`, `istio-ingressgateway`) name the legacy gateway, not
ours, so an Ingress would never bind; here both follow the istio-gateway release's facts
(lib/facts.py) and `mlstack.invariants` checks them. STRICT mode: only Ingresses of class
`istio` (IngressClass rendered by the istio-ingress-class release) are taken.
"""

from __future__ import annotations

from typing import Any

from mlstack.lib.facts import INGRESS_CLASS, Facts


def derive(facts: Facts) -> dict[str, Any]:
    return {
        "istiod": {
            "meshConfig": {
                "ingressService": facts.gateway.service,
                "ingressSelector": facts.gateway.istio_label,
                "ingressClass": INGRESS_CLASS,
                "ingressControllerMode": "STRICT",
            }
        }
    }
