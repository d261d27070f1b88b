"""The cross-component facts of a resolved environment, and the upstream naming rules.

Knative's `knative-ingress-gateway`/`knative-local-gateway` selectors, net-istio's service
FQDNs, KServe's ingress settings and Seldon's `istio.gateway` all have to name the Istio
gateway's pods and Service; Knative, KServe and smoke all need the one domain. Guides type
those names by hand and break when the gateway release is not called
`istio-ingressgateway`. Here `mlstack.resolve` computes them once per environment (from the
gateway release's id and values, with the upstream chart's own naming rules below) and
hands them to every component as `Facts`: components are pure functions of (their values,
these facts) and never import each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlstack.environments import FILE, Environment
from mlstack.errors import UserError
from mlstack.lib import yamlfile

#: Namespace and Gateway names net-istio creates (fixed by its manifests).
KNATIVE_NAMESPACE = "knative-serving"
KNATIVE_INGRESS_GATEWAY = "knative-ingress-gateway"
KNATIVE_LOCAL_GATEWAY = "knative-local-gateway"
#: net-istio's ClusterIP Service for cluster-local traffic (`<name>.<ns>.svc.cluster.local`
#: of a Knative Service is an ExternalName to it). The Knative operator 1.23 creates it in
#: istio-system, or in the namespace of config-istio's `local-gateways` entry named
#: knative-local-gateway (knative/operator@knative-v1.23.0
#: pkg/reconciler/knativeserving/ingress/ingress_service.go); net-istio reads that same
#: entry's namespace as the Gateway object's, which the operator puts in knative-serving.
#: One entry cannot say both, so config-istio leaves `local-gateways` out: net-istio's
#: default (pkg/reconciler/ingress/config/istio.go defaultLocalGateways) is the Gateway
#: knative-serving/knative-local-gateway with the Service below, where the operator puts it.
#: Its selector picks the gateway pods, so they must run in that namespace (checked).
KNATIVE_LOCAL_SERVICE = "knative-local-gateway"
KNATIVE_LOCAL_SERVICE_NAMESPACE = "istio-system"
CLUSTER_DOMAIN = "svc.cluster.local"
#: Knative Serving's data-plane pods in knative-serving and the ports they are called on
#: (knative/serving@knative-v1.23.0 config/core/deployments/activator.yaml, autoscaler.yaml;
#: pkg/autoscaler/metrics/stats_scraper.go): the activator takes requests for revisions on
#: http1 8012 and h2c 8013 and, with the Knative-Serving-Namespace/-Revision headers, routes
#: them to any revision, so only the gateway pods may reach it (components/knative_serving.py);
#: the activator and the autoscaler (scraping queue-proxy's 9090) are the only Knative pods
#: that call the models (components/namespaces.py). The activator opens its websocket to
#: the autoscaler itself (cmd/activator/main.go): nothing else calls the activator.
KNATIVE_APP_LABEL = "app"
KNATIVE_ACTIVATOR = "activator"
KNATIVE_AUTOSCALER = "autoscaler"
KNATIVE_ACTIVATOR_PORTS = (8012, 8013)
#: The Istio Gateway the seldon-gateway release creates and Seldon's operator binds to.
SELDON_GATEWAY_NAME = "seldon-gateway"
#: The bundled Dex is published through the gateway as `dex.<domain>`, issuer path /dex.
DEX_HOST_LABEL = "dex"
DEX_ISSUER_PATH = "/dex"
#: The dex chart's HTTP port (service.ports.http.port default) and Dex's listener.
DEX_PORT = 5556
#: JupyterHub (optional) is published as `jupyter.<domain>`; it logs users in itself (its
#: own password, or Dex where the env bundles it), so the JWT check leaves its host open.
JUPYTERHUB = "jupyterhub"
JUPYTER_HOST_LABEL = "jupyter"
#: z2jh 4.4.0's public Service of its proxy (templates/proxy/service.yaml: proxy-public,
#: port 80 `http` -> the proxy's 8000): what the jupyterhub-route VirtualService routes to.
JUPYTER_PROXY_SERVICE = "proxy-public"
JUPYTER_PROXY_PORT = 80
#: Where Dex sends the browser back after a JupyterHub login (OAuthenticator's callback).
JUPYTER_CALLBACK_PATH = "/hub/oauth_callback"
#: Kubernetes Ingress on Istio: the IngressClass name (istiod's meshConfig.ingressClass)
#: and the controller istiod answers for (istio.io "Kubernetes Ingress" task).
INGRESS_CLASS = "istio"
INGRESS_CONTROLLER = "istio.io/ingress-controller"
#: Laptop reachability on k3d: the gateway's Service keeps these node ports, and the k3d
#: load balancer maps 127.0.0.1:<host port> to them (platform/k3d.yaml; a test keeps the
#: two in step). Gateway Service port name -> (node port, host port).
LAPTOP_PORTS = {"http2": (30080, 8080), "https": (30443, 8443)}
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Gateway:
    """The Istio ingress gateway as its consumers must name it."""

    release: str  # the gateway's release id (named in error messages)
    namespace: str  # namespace of the gateway ("istio-system")
    service: str  # Service name (= the release's fullname)
    pod_labels: dict[str, str]  # selector of Istio Gateways that bind to it

    @property
    def service_fqdn(self) -> str:
        return f"{self.service}.{self.namespace}.{CLUSTER_DOMAIN}"

    @property
    def address(self) -> str:
        """namespace/service of the Service in front of the models."""
        return f"{self.namespace}/{self.service}"

    knative_gateway = f"{KNATIVE_NAMESPACE}/{KNATIVE_INGRESS_GATEWAY}"
    local_gateway = f"{KNATIVE_NAMESPACE}/{KNATIVE_LOCAL_GATEWAY}"

    @property
    def local_gateway_service_fqdn(self) -> str:
        """Where the operator creates knative-local-gateway (see KNATIVE_LOCAL_SERVICE)."""
        return f"{KNATIVE_LOCAL_SERVICE}.{KNATIVE_LOCAL_SERVICE_NAMESPACE}.{CLUSTER_DOMAIN}"

    @property
    def local_service_problem(self) -> str | None:
        """Why knative-local-gateway would select no pod, or None: its Service lands in
        istio-system, and a Service selects pods of its own namespace only."""
        if self.namespace == KNATIVE_LOCAL_SERVICE_NAMESPACE:
            return None
        return (
            f"the {self.release} pods run in namespace {self.namespace}, but the Knative "
            f"operator creates Service {KNATIVE_LOCAL_SERVICE} (cluster-local traffic) in "
            f"{KNATIVE_LOCAL_SERVICE_NAMESPACE}, where its selector would match no pod: "
            f"keep the gateway in {KNATIVE_LOCAL_SERVICE_NAMESPACE} (drop its namespace setting)"
        )

    @property
    def istio_label(self) -> str:
        """The `istio:` pod label: what istiod's `ingressSelector` must name for Ingresses
        of class istio to bind here (its generated Gateways select `istio: <selector>`)."""
        return self.pod_labels["istio"]


def setting(values: dict[str, Any], path: str, kind: type, where: str) -> Any:
    """The pass-through value at dotted `path` (None where unset). The upstream chart's
    schema may not type it, and a wrong type here would break every derived name: one
    line naming `where` (file: values key) and the key instead."""
    node: Any = values
    for depth, part in enumerate(path.split(".")):
        if node is None:
            return None
        if not isinstance(node, dict):
            key = ".".join(path.split(".")[:depth])
            raise UserError(f"{where}.{key}: must be a mapping of keys")
        node = node.get(part)
    if node is not None and (not isinstance(node, kind) or isinstance(node, bool)):
        what = {str: "a string", int: "a whole number"}.get(kind, kind.__name__)
        raise UserError(f"{where}.{path}: must be {what}, not {node!r}")
    return node


def istio_gateway(
    release: str, namespace: str, values: dict[str, Any], where: str = "values"
) -> Gateway:
    """Names and labels exactly as the upstream istio/gateway chart computes them.

    Upstream rules (manifests/charts/gateway/templates/_helpers.tpl, Istio 1.30): the name
    is `.Values.name` or the release name; the Service and Deployment take that name; the
    selector labels are `app: <labels.app or name>` and
    `istio: <labels.istio or name without its "istio-" prefix>`; the namespace is
    `.Values.namespace` or the release namespace.
    """
    name = setting(values, "name", str, where) or release
    return Gateway(
        release=release,
        namespace=setting(values, "namespace", str, where) or namespace,
        service=name,
        pod_labels={
            "app": setting(values, "labels.app", str, where) or name,
            "istio": setting(values, "labels.istio", str, where) or name.removeprefix("istio-"),
        },
    )


@dataclass(frozen=True)
class ServingRuntime:
    """A ClusterServingRuntime an enabled release registers, as KServe selects runtimes:
    by model format name (`auto_select`: chosen when an InferenceService names no runtime)
    and protocol version."""

    name: str
    formats: tuple[str, ...]
    auto_select: tuple[str, ...]
    protocols: tuple[str, ...]


@dataclass(frozen=True)
class Facts:
    """Everything a component may know beyond its own values, for one environment."""

    env: Environment
    #: release ids enabled in the environment.
    enabled: frozenset[str]
    #: the ONE domain (Knative config-domain, KServe, smoke); for `domain: auto` the
    #: placeholder until the install step knows the gateway's address.
    domain: str
    gateway: Gateway
    #: namespace/name of the Istio Gateway Seldon publishes through (istio mode).
    seldon_gateway: str
    #: namespace/service of Emissary's Service (Seldon's ambassador mode).
    ambassador_service: str
    #: the values/ folder the environment lives in (for paths in messages).
    values_dir: Path
    #: the bundled Dex's Service inside the cluster: FQDN and HTTP port.
    dex_service: str = ""
    dex_port: int = DEX_PORT
    #: the ClusterServingRuntimes the enabled releases register (with their values).
    runtimes: tuple[ServingRuntime, ...] = ()
    #: namespace -> the Pod Security levels its enabled releases' pods pass.
    namespaces: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: environment.yaml `imageRegistry` ("" = each image's own registry).
    image_registry: str = ""
    #: environment.yaml `imagePullSecrets`: Secret names every pod pulls with.
    pull_secrets: tuple[str, ...] = ()

    @property
    def scheme(self) -> str:
        """How clients reach the models through the gateway (KServe urlScheme, smoke)."""
        return "https" if self.env.tls.enabled else "http"

    @property
    def dex_host(self) -> str:
        return f"{DEX_HOST_LABEL}.{self.domain}"

    @property
    def jupyter_host(self) -> str:
        return f"{JUPYTER_HOST_LABEL}.{self.domain}"

    @property
    def jupyter_callback(self) -> str:
        """JupyterHub's OAuth callback URL: Dex's redirect URI and the hub's own setting."""
        return f"{self.scheme}://{self.jupyter_host}{JUPYTER_CALLBACK_PATH}"

    @property
    def dex_internal_url(self) -> str:
        """The bundled Dex's issuer path on its in-cluster Service: what servers (istiod,
        the hub) call, with no dependency on the gateway's certificate or external DNS."""
        return f"http://{self.dex_service}:{self.dex_port}{DEX_ISSUER_PATH}"

    @property
    def web_hosts(self) -> list[str]:
        """Hosts of the platform's own web apps on the gateway (the bundled Dex, JupyterHub):
        they log users in themselves, and HTTP-01 certificates must name them."""
        hosts = [self.dex_host] if self.env.auth.bundled_dex else []
        return hosts + ([self.jupyter_host] if JUPYTERHUB in self.enabled else [])

    @property
    def dex_issuer(self) -> str:
        """The bundled Dex's issuer URL: published through the gateway as dex.<domain>."""
        return f"{self.scheme}://{self.dex_host}{DEX_ISSUER_PATH}"

    @property
    def auth_issuer(self) -> str:
        """The tokens' `iss`: the env's issuer, or the bundled Dex."""
        return self.env.auth.issuer or self.dex_issuer

    @property
    def auth_jwks_uri(self) -> str:
        """Where istiod fetches the signing keys: for Dex, its in-cluster Service."""
        dex = f"{self.dex_internal_url}/keys"
        return self.env.auth.jwks_uri or dex

    @property
    def auth_audiences(self) -> list[str]:
        auth = self.env.auth
        return list(auth.audiences) or ([auth.dex.client_id] if auth.bundled_dex else [])

    @property
    def seldon(self) -> str:
        return self.env.seldon

    def file(self, release: str) -> str:
        """The hand-written values file of `release`, as users see the path."""
        return yamlfile.shown(self.values_dir / self.env.name / f"{release}.yaml")

    @property
    def env_file(self) -> str:
        """values/<env>/environment.yaml, as users see the path."""
        return yamlfile.shown(self.values_dir / self.env.name / FILE)


def emissary_service(
    release: str, namespace: str, values: dict[str, Any], where: str = "values"
) -> str:
    """namespace/name of the emissary-ingress chart's Service: `fullnameOverride`, else
    `<release>-emissary-ingress` (upstream _helpers.tpl, release name without the chart's)."""
    name = setting(values, "fullnameOverride", str, where) or f"{release}-emissary-ingress"
    return f"{namespace}/{name}"


def dex_service(
    release: str, namespace: str, values: dict[str, Any], where: str = "values"
) -> tuple[str, int]:
    """(FQDN, HTTP port) of the dex chart's Service: `fullnameOverride`, else the release
    name when it contains "dex" (upstream _helpers.tpl fullname), and `service.ports.http.port`
    (upstream default 5556)."""
    fallback = release if "dex" in release else f"{release}-dex"
    name = setting(values, "fullnameOverride", str, where) or fallback
    port = setting(values, "service.ports.http.port", int, where)
    return f"{name}.{namespace}.{CLUSTER_DOMAIN}", port or DEX_PORT
