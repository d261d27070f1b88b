"""KServe controller and webhook (upstream kserve-resources), Knative serverless mode.

Every environment. Installed after `kserve-crd` and, for its webhook certificate and the
Knative mode, after cert-manager and knative-serving. The ingress settings (Knative
ingress gateway, local gateway and its Service, the domain) are not typed here: they are
derived per environment from the same facts Knative uses (mlstack.ingress), written to
values/<env>/generated/kserve.yaml, so KServe and Knative cannot disagree.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from mlstack.components import kserve_crd
from mlstack.environments import Environment
from mlstack.errors import UserError
from mlstack.ingress import domain, ingress
from mlstack.lib.component import Component, Dependency
from mlstack.lib.model import Values


def _upstream_defaults() -> dict[str, Any]:
    return {
        "kserve": {
            "controller": {
                # Knative ("serverless") mode: scale to zero, revisions, Istio routing.
                "deploymentMode": "Knative",
                "gateway": {
                    "ingressGateway": {"enableGatewayApi": False, "createGateway": False},
                },
            },
        }
    }


class KserveValues(Values):
    kserve_resources: dict[str, Any] = Field(
        default_factory=_upstream_defaults,
        description="Values of the upstream kserve-resources chart (ingress derived per env).",
    )


def _gateway(env: Environment) -> dict[str, Any]:
    """KServe's ingress config from the facts Knative uses (same gateways, same domain)."""
    facts = ingress(env)
    return {
        "domain": domain(env),
        "ingressGateway": {"gateway": facts.knative_gateway},
        "localGateway": {
            "gateway": facts.local_gateway,
            "gatewayService": facts.local_gateway_service_fqdn,
        },
    }


def _env_values(env: Environment) -> dict[str, Any]:
    return {"kserveResources": {"kserve": {"controller": {"gateway": _gateway(env)}}}}


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def check(env: Environment, values: dict[str, Any] | None) -> None:
    """Hand-written values must not contradict the derived gateway facts."""
    if values is None:
        return
    base = "kserveResources.kserve.controller.gateway."
    actual = _flatten(values.get("kserveResources", {}))
    for key, wanted in _flatten(_gateway(env), base).items():
        got = actual.get(key.removeprefix("kserveResources."))
        if got != wanted:
            raise UserError(
                f"values/{env.name}/kserve.yaml: {key} is {got!r} but Knative's ingress "
                f"gives {wanted!r}: remove the override (it is derived)"
            )


COMPONENT = Component(
    id="kserve",
    description="KServe controller (v0.20) in Knative serverless mode.",
    values=KserveValues,
    namespace=kserve_crd.NAMESPACE,
    project="kserve",
    module=__name__,
    dependencies=(Dependency(chart="kserve-resources", alias="kserveResources"),),
    # cert-manager issues the webhook certificate; Knative must serve before Knative mode.
    needs=("cert-manager", "knative-serving", "kserve-crd"),
    env_values=_env_values,
    check=check,
    keywords=("kserve", "model-serving", "knative"),
)
