"""Derived values of the kserve row (data/components.yaml): KServe's ingress settings.

KServe runs in Knative serverless mode in every environment. Its ingress settings (Knative
ingress gateway, local gateway and its Service, the domain, the URL scheme) are not typed
anywhere: they are derived per environment from the same facts Knative uses
(mlstack.lib.facts), written to values/<env>/generated/kserve.yaml, so KServe and Knative
cannot disagree (a hand-written value that differs is refused by resolution, naming both
files).
"""

from __future__ import annotations

from typing import Any

from mlstack.errors import UserError
from mlstack.lib.facts import Facts

#: What KServe 0.20.0's controller accepts as the chart's `kserve.controller.deploymentMode`
#: (inferenceservice-config `deploy.defaultDeploymentMode`): NewDeployConfig in
#: pkg/apis/serving/v1beta1/configmap.go (tag v0.20.0) refuses anything but Knative,
#: Standard and ModelMesh, after mapping the deprecated Serverless and RawDeployment to
#: them (DeploymentModeType, pkg/constants/constants.go); an empty value is "required".
DEPLOYMENT_MODES = ("Knative", "Standard", "ModelMesh", "Serverless", "RawDeployment")
DEPLOYMENT_MODE_KEY = "kserveResources.kserve.controller.deploymentMode"


def derive(facts: Facts) -> dict[str, Any]:
    """KServe's ingress config from the facts Knative uses (same gateways, same domain)."""
    gateway = {
        "domain": facts.domain,
        # The URL KServe writes into an InferenceService's status: https once the
        # gateway serves the env's certificate (environment.yaml tls.mode).
        "urlScheme": facts.scheme,
        "ingressGateway": {"gateway": facts.gateway.knative_gateway},
        "localGateway": {
            "gateway": facts.gateway.local_gateway,
            "gatewayService": facts.gateway.local_gateway_service_fqdn,
        },
    }
    return {"kserveResources": {"kserve": {"controller": {"gateway": gateway}}}}


def check(facts: Facts, values: dict[str, Any]) -> None:
    """The deployment mode KServe's controller reads at start-up: the chart copies any
    string into its ConfigMap, and a mode KServe does not know stops the controller."""
    node: Any = values
    for part in DEPLOYMENT_MODE_KEY.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if node not in DEPLOYMENT_MODES:
        raise UserError(
            f"{facts.file('kserve')}: {DEPLOYMENT_MODE_KEY}: {node!r} is not a deployment mode "
            f"KServe 0.20 accepts: use {', '.join(DEPLOYMENT_MODES[:3])} "
            "(Knative is what this platform runs)"
        )
