"""Derived values of the cert-manager row (data/components.yaml): Route53 credentials.

Only for `tls.mode: acme` with the Route53 DNS-01 solver: cert-manager's ServiceAccount is
annotated with the env's IAM role (IRSA), which the ACME ClusterIssuer uses as ambient
credentials (components/gateway_tls.py). No AWS key is ever written to a values file.
"""

from __future__ import annotations

from typing import Any

from mlstack.lib.facts import Facts

IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"


def derive(facts: Facts) -> dict[str, Any]:
    acme = facts.env.tls.acme
    if facts.env.tls.mode != "acme" or acme is None or acme.route53 is None:
        return {}
    account = {"annotations": {IRSA_ANNOTATION: acme.route53.role}}
    return {"cert-manager": {"serviceAccount": account}}
