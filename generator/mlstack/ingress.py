"""The ingress facts every serving component shares, derived from one place.

Knative's `knative-ingress-gateway`/`knative-local-gateway` selectors, net-istio's service
FQDNs, KServe's ingress settings and Seldon's `istio.gateway` all have to name the Istio
gateway's pods and Service. Guides type those names by hand and break when the gateway
release is not called `istio-ingressgateway`. Here they are computed from the
`istio-gateway` component (its release id and values) with the upstream chart's own
naming rules, so renaming the release or its labels moves every consumer with it.

The domain is likewise one fact per environment (`Environment.domain`), read through
`domain()`; the install step swaps in `<lb-ip>.sslip.io` on laptops via `install_domain`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlstack import REPO_ROOT
from mlstack.environments import Environment, magic_dns_domain
from mlstack.errors import UserError
from mlstack.lib import model, validate
from mlstack.lib.component import Component

#: Key of the upstream istio/gateway chart in versions.yaml `charts:`.
GATEWAY_CHART = "istio-gateway"
#: Namespace and Gateway names net-istio creates (fixed by its manifests).
KNATIVE_NAMESPACE = "knative-serving"
KNATIVE_INGRESS_GATEWAY = "knative-ingress-gateway"
KNATIVE_LOCAL_GATEWAY = "knative-local-gateway"
#: net-istio's ClusterIP Service for cluster-local traffic; the operator places it in the
#: namespace config-istio `local-gateways` names, which we set to the gateway's namespace.
KNATIVE_LOCAL_SERVICE = "knative-local-gateway"
CLUSTER_DOMAIN = "svc.cluster.local"
VALUES_DIR = REPO_ROOT / "values"


@dataclass(frozen=True)
class Ingress:
    namespace: str  # namespace of the Istio ingress gateway release ("istio-system")
    service: str  # Service name of the gateway (= istio-gateway release's fullname)
    pod_labels: dict[str, str]  # pod labels of the gateway (selector for Istio Gateways)
    service_fqdn: str  # <service>.<namespace>.svc.cluster.local
    knative_gateway: str  # "knative-serving/knative-ingress-gateway"
    local_gateway: str  # "knative-serving/knative-local-gateway"
    local_gateway_service_fqdn: str  # "knative-local-gateway.istio-system.svc.cluster.local"
    release: str = "istio-gateway"  # the gateway's release id (named in error messages)


def gateway_component(components: tuple[Component, ...] | None = None) -> Component:
    """The one registered component that wraps the upstream istio/gateway chart."""
    if components is None:
        from mlstack import registry  # registry imports components, which import us

        components = registry.COMPONENTS
    found = [c for c in components if any(d.chart == GATEWAY_CHART for d in c.dependencies)]
    if len(found) != 1:
        names = ", ".join(c.id for c in found) or "none"
        raise UserError(
            f"registry: exactly one component must wrap the {GATEWAY_CHART} chart (found "
            f"{names}): Knative and KServe derive their gateway selectors from it"
        )
    return found[0]


def gateway_values(
    component: Component, env: Environment | None = None, values_dir: Path = VALUES_DIR
) -> dict[str, Any]:
    """The gateway chart's pass-through values: model defaults + env's hand-written file."""
    alias = next(d.alias for d in component.dependencies if d.chart == GATEWAY_CHART)
    merged = model.defaults(component.values)
    if env is not None:
        from mlstack.render import load_values  # render imports the registry

        path = values_dir / env.name / f"{component.id}.yaml"
        if path.exists():
            merged = validate.deep_merge(merged, load_values(path))
    block = merged.get(alias) or {}
    return block if isinstance(block, dict) else {}


def derive(component: Component, values: dict[str, Any]) -> Ingress:
    """Names and labels exactly as the upstream istio/gateway chart computes them.

    Upstream rules (manifests/charts/gateway/templates/_helpers.tpl, Istio 1.30): the name
    is `.Values.name` or the release name; the Service and Deployment take that name; the
    selector labels are `app: <labels.app or name>` and
    `istio: <labels.istio or name without its "istio-" prefix>`; the namespace is
    `.Values.namespace` or the release namespace.
    """
    name = str(values.get("name") or component.id)
    labels = values.get("labels") or {}
    namespace = str(values.get("namespace") or component.namespace)
    pod_labels = {
        "app": str(labels.get("app") or name),
        "istio": str(labels.get("istio") or name.removeprefix("istio-")),
    }
    return Ingress(
        namespace=namespace,
        service=name,
        pod_labels=pod_labels,
        service_fqdn=f"{name}.{namespace}.{CLUSTER_DOMAIN}",
        knative_gateway=f"{KNATIVE_NAMESPACE}/{KNATIVE_INGRESS_GATEWAY}",
        local_gateway=f"{KNATIVE_NAMESPACE}/{KNATIVE_LOCAL_GATEWAY}",
        local_gateway_service_fqdn=f"{KNATIVE_LOCAL_SERVICE}.{namespace}.{CLUSTER_DOMAIN}",
        release=component.id,
    )


def ingress(env: Environment | None = None, values_dir: Path = VALUES_DIR) -> Ingress:
    """The gateway facts, from the registered istio-gateway component (and env's values)."""
    component = gateway_component()
    return derive(component, gateway_values(component, env, values_dir))


def domain(env: Environment) -> str:
    """The ONE domain setting of an environment (Knative config-domain, KServe, smoke)."""
    return env.domain


def install_domain(env: Environment, lb_ip: str | None) -> str:
    """The domain to install with: `<lb-ip>.sslip.io` on laptops once the address is known,
    otherwise the environment's domain (reached with a Host header on laptops)."""
    if env.magic_dns and lb_ip:
        return magic_dns_domain(lb_ip)
    return domain(env)
