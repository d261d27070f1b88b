"""Derived values of the istiod row (data/components.yaml): which gateway serves Ingresses.

Only for `tls.mode: acme` with the HTTP-01 solver: cert-manager answers the challenge with
a Kubernetes Ingress of class `istio`, which istiod turns into routes on the gateway whose
pods carry `istio: <meshConfig.ingressSelector>` (upstream default `ingressgateway`, not
our release's label). The selector and Service are derived from the istio-gateway release
(lib/facts.py), so the challenge reaches the same gateway the certificate is for.
"""

from __future__ import annotations

from typing import Any

from mlstack.lib.facts import Facts


def derive(facts: Facts) -> dict[str, Any]:
    acme = facts.env.tls.acme
    if facts.env.tls.mode != "acme" or acme is None or acme.solver != "http01":
        return {}
    gateway = facts.gateway
    mesh = {"ingressService": gateway.service, "ingressSelector": gateway.pod_labels["istio"]}
    return {"istiod": {"meshConfig": mesh}}
