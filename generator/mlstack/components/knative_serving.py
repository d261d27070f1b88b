"""Knative Serving with net-istio, as one KnativeServing custom resource.

Every environment. Its own release after `knative-operator`, whose CRD and webhook must be
serving before the CR can be created, and after `istio-gateway`, whose pods net-istio's
Gateways select. Every cross-component fact here is derived, never typed: the gateway
selectors and config-istio service FQDNs from the resolved facts (the istio-gateway
release, mlstack.lib.facts), the domain and TLS from the environment.yaml, `spec.version`
from versions.yaml. Generate writes them per env (values/<env>/generated/knative-serving.yaml);
resolution refuses a hand-written value that contradicts them, naming both files.

TLS terminates at the Istio gateway: when the environment's `tls.enabled`, the operator
gives knative-ingress-gateway an HTTPS server whose certificate is the secret
`credentialName` in the gateway's namespace. The CR exists in two variants, one per case,
so that the plain-HTTP variant keeps net-istio's own server list untouched.

The activator routes a request to any revision named by its Knative-Serving-Namespace and
-Revision headers, so a pod that can reach it skips the gateway and its JWT check. A
NetworkPolicy admits only the gateway's pods to it (derived namespace and labels); Knative
needs nothing else there (lib/facts.py KNATIVE_ACTIVATOR), and kubelet probes are never
blocked by NetworkPolicy.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from constructs import Construct
from pydantic import AfterValidator, Field

from mlstack import versions
from mlstack.errors import UserError
from mlstack.lib import facts as names
from mlstack.lib import gotemplate, mirror
from mlstack.lib.component import spec_object
from mlstack.lib.facts import Facts
from mlstack.lib.fields import DNS_NAME, DnsLabel, DnsName, DnsSubdomain, Labels
from mlstack.lib.model import Values
from mlstack.lib.resources import Ordered, Quantity
from mlstack.lib.slots import json_string_slot, keyed_slot, slot

PROJECT = "knative-serving"
#: Knative's default domain template; it must reach the cluster unevaluated by Helm.
DOMAIN_TEMPLATE = "{{.Name}}-{{.Namespace}}.{{.Domain}}"
#: The activator's NetworkPolicy (lib/facts.py KNATIVE_ACTIVATOR: who may call it).
ACTIVATOR_POLICY = "activator-from-gateway"
#: Upstream maxReplicas of the activator HPA in Serving 1.23 (2-serving-core.yaml).
ACTIVATOR_HPA_MAX = 20


#: values key -> (Deployment, container) that KnativeServing `spec.workloads` overrides.
WORKLOADS: dict[str, tuple[str, str]] = {
    "activator": ("activator", "activator"),
    "autoscaler": ("autoscaler", "autoscaler"),
    "controller": ("controller", "controller"),
    "webhook": ("webhook", "webhook"),
    "netIstioController": ("net-istio-controller", "controller"),
    "netIstioWebhook": ("net-istio-webhook", "webhook"),
}


_KNATIVE = "gcr.io/knative-releases/knative.dev"
#: KnativeServing `spec.registry.override` key (deployment/container, or the container
#: name where it is unique) -> the image the operator deploys, at the Serving release (net-istio
#: is released with Serving under the same version).
OVERRIDES: dict[str, str] = {
    "activator": f"{_KNATIVE}/serving/cmd/activator:v{{version}}",
    "autoscaler": f"{_KNATIVE}/serving/cmd/autoscaler:v{{version}}",
    "autoscaler-hpa": f"{_KNATIVE}/serving/cmd/autoscaler-hpa:v{{version}}",
    "controller/controller": f"{_KNATIVE}/serving/cmd/controller:v{{version}}",
    "webhook/webhook": f"{_KNATIVE}/serving/cmd/webhook:v{{version}}",
    "queue-proxy": f"{_KNATIVE}/serving/cmd/queue:v{{version}}",
    "net-istio-controller/controller": f"{_KNATIVE}/net-istio/cmd/controller:v{{version}}",
    "net-istio-webhook/webhook": f"{_KNATIVE}/net-istio/cmd/webhook:v{{version}}",
}
#: The images, for `make images` (data/components.yaml `images:` names this tuple).
IMAGES = tuple(OVERRIDES.values())


#: What Knative runs a domain template on when it reads config-network:
#: DomainTemplateValues with the sample of checkDomainTemplate (knative.dev/networking
#: pkg/config/config.go, branch release-1.23, the networking Serving 1.23 builds with).
DOMAIN_TEMPLATE_SAMPLE = gotemplate.Struct(
    "config.DomainTemplateValues",
    {"Name": "foo", "Namespace": "bar", "Domain": "baz.com", "Annotations": {}, "Labels": {}},
)


def check_domain_template(text: str) -> str:
    """Refuse a domain-template Knative would refuse, here instead of in the cluster.

    Knative parses it as a Go text/template and executes it on a sample (checkDomainTemplate,
    above): a parse or execution error (a missing `}}`, an undefined function, a field
    DomainTemplateValues lacks: only .Name .Namespace .Domain .Annotations .Labels) makes
    config-network invalid: Knative refuses it when it reads the ConfigMap. Every Route's
    host is the template's result, which must be a fully qualified domain name
    (DomainNameFromTemplate in knative/serving pkg/reconciler/route/domains/domains.go,
    release-1.23, checks IsFullyQualifiedDomainName), so the sample's result must be a
    DNS-1123 subdomain of two or more labels. A template using what lib/gotemplate does not
    execute (variables, define/template) is refused too, naming the construct.
    """
    try:
        host = gotemplate.execute(text, DOMAIN_TEMPLATE_SAMPLE)
    except gotemplate.Unsupported as err:
        raise ValueError(f"{err}: write it with fields, index, printf and if/else") from None
    except ValueError as err:  # TemplateError, ExecError
        raise ValueError(f"Knative refuses this Go template ({err}): fix it") from None
    if len(host) > 253 or not re.fullmatch(DNS_NAME, host):
        raise ValueError(
            f"gives {host!r} for a Service foo in namespace bar with domain baz.com, which is "
            "no fully qualified domain name: use fields joined by '.' and '-', e.g. "
            f"{DOMAIN_TEMPLATE}"
        )
    return text


def _serving_version() -> str:
    return versions.load().projects[PROJECT].version


def _gateways(ref: str, service: str) -> list[dict[str, str]]:
    namespace, name = ref.split("/")
    return [{"name": name, "namespace": namespace, "service": service}]


class Amounts(Values):
    cpu: Quantity = Field(description="CPU (Kubernetes quantity).")
    memory: Quantity = Field(description="Memory (Kubernetes quantity).")


class ContainerResources(Ordered):
    requests: Amounts = Field(description="Resource requests.")
    limits: Amounts = Field(description="Resource limits.")


def _resources(cpu: tuple[str, str], memory: tuple[str, str]) -> Any:
    """Field default: upstream Serving 1.23 / net-istio 1.23 requests and limits."""
    return Field(
        default_factory=lambda: ContainerResources(
            requests=Amounts(cpu=cpu[0], memory=memory[0]),
            limits=Amounts(cpu=cpu[1], memory=memory[1]),
        ),
        description="Requests and limits of this workload's main container.",
    )


class Workloads(Values):
    activator: ContainerResources = _resources(("300m", "1000m"), ("60Mi", "600Mi"))
    autoscaler: ContainerResources = _resources(("100m", "1000m"), ("100Mi", "1000Mi"))
    controller: ContainerResources = _resources(("100m", "1000m"), ("100Mi", "1000Mi"))
    webhook: ContainerResources = _resources(("100m", "500m"), ("100Mi", "500Mi"))
    net_istio_controller: ContainerResources = _resources(("30m", "300m"), ("40Mi", "400Mi"))
    net_istio_webhook: ContainerResources = _resources(("20m", "200m"), ("20Mi", "200Mi"))


class Activator(Values):
    min_replicas: int = Field(
        1,
        ge=1,
        le=100,
        description=(
            "Minimum replicas of the activator's HorizontalPodAutoscaler. The operator "
            f"raises its maxReplicas ({ACTIVATOR_HPA_MAX} upstream) by the same amount, "
            f"so max = {ACTIVATOR_HPA_MAX} + minReplicas - 1; the CR has no other max knob."
        ),
    )


class GatewaySelector(Values):
    selector: Labels = Field(
        default_factory=dict,
        json_schema_extra={"minProperties": 1},
        description="Pod labels of the Istio gateway (derived from the istio-gateway release).",
    )


class GatewayEntry(Values):
    name: DnsLabel = Field(description="Knative's Istio Gateway name.")
    namespace: DnsLabel = Field(description="Namespace of that Gateway.")
    service: DnsName = Field(description="FQDN of the gateway's Service.")


class Gateways(Values):
    """config-istio gateways. `local-gateways` is left to net-istio's default on purpose
    (knative-local-gateway in istio-system, where the operator creates that Service; one
    entry would send the operator and net-istio to different namespaces: lib/facts.py)."""

    external: list[GatewayEntry] = Field(
        default_factory=list,
        json_schema_extra={"minItems": 1},
        description="config-istio external-gateways (derived from the istio-gateway release).",
    )


class Tls(Values):
    enabled: bool = Field(False, description="Serve HTTPS on knative-ingress-gateway.")
    credential_name: DnsSubdomain = Field(
        "knative-ingress-tls",
        description="TLS secret (in the gateway's namespace) holding the certificate.",
    )
    https_redirect: bool = Field(True, description="Redirect plain HTTP to HTTPS.")


class Registry(Values):
    override: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Image per workload (KnativeServing spec.registry.override), derived from "
            "environment.yaml imageRegistry; empty: the operator's own images."
        ),
    )
    config_deployment: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "config-deployment entries for the registry: queue-sidecar-image, which the "
            "revision pods read from there (derived with the registry)."
        ),
    )


class ActivatorPolicy(Values):
    enabled: bool = Field(
        True,
        description=(
            "NetworkPolicy admitting only the Istio gateway's pods to the activator, which "
            "routes by the Knative-Serving-Namespace/-Revision headers to any revision: "
            "without it any pod in the cluster reaches the models past the gateway's JWT "
            "check. Enforced where the cluster's network plugin enforces NetworkPolicy."
        ),
    )
    peers: list[dict[str, Any]] = Field(
        default_factory=list,
        json_schema_extra={"minItems": 1},
        description="The gateway's pods: its namespace and pod labels (derived).",
    )


class KnativeServingValues(Values):
    version: str = Field(
        default_factory=_serving_version,
        pattern=r"^[0-9]+\.[0-9]+(\.[0-9]+)?$",
        description="Knative Serving version the operator installs (versions.yaml).",
    )
    domain: DnsName = Field(
        "example.com",
        description="The environment's domain (config-domain); set per env by generate.",
    )
    domain_template: Annotated[str, AfterValidator(check_domain_template)] = Field(
        DOMAIN_TEMPLATE,
        min_length=1,
        description="config-network domain-template: a Go template Knative evaluates.",
    )
    ingress_gateway: GatewaySelector = Field(
        default_factory=GatewaySelector,
        description="knative-ingress-gateway: which gateway pods serve external traffic.",
    )
    local_gateway: GatewaySelector = Field(
        default_factory=GatewaySelector,
        description="knative-local-gateway: which gateway pods serve cluster-local traffic.",
    )
    gateways: Gateways = Field(
        default_factory=Gateways, description="net-istio's config-istio gateway services."
    )
    tls: Tls = Field(default_factory=Tls, description="TLS at the ingress gateway.")
    activator: Activator = Field(default_factory=Activator, description="Activator scaling.")
    workloads: Workloads = Field(
        default_factory=Workloads, description="Per-workload container resources."
    )
    registry: Registry = Field(
        default_factory=Registry, description="Air-gapped clusters: where images come from."
    )
    activator_policy: ActivatorPolicy = Field(
        default_factory=ActivatorPolicy, description="Who may call the activator."
    )
    secure_pod_defaults: Literal["disabled", "root-allowed", "enabled"] = Field(
        "enabled",
        description=(
            "config-features secure-pod-defaults: `enabled` gives every Knative Service "
            "container the restricted Pod Security settings the models namespace enforces "
            "(non-root, no privilege escalation, no capabilities, seccomp RuntimeDefault) "
            "unless it sets them; `root-allowed` leaves out non-root (loosen the models "
            "namespace in values/<env>/namespaces.yaml too)."
        ),
    )


def _workloads() -> list[dict[str, Any]]:
    out = []
    for key, (deployment, container) in WORKLOADS.items():
        entry: dict[str, Any] = {"name": deployment}
        if key == "activator":
            entry["replicas"] = slot("activator.minReplicas")
        entry["resources"] = [
            {
                "container": container,
                "requests": slot(f"workloads.{key}.requests"),
                "limits": slot(f"workloads.{key}.limits"),
            }
        ]
        out.append(entry)
    return out


def _tls_servers() -> list[dict[str, Any]]:
    """knative-ingress-gateway's servers with TLS: net-istio's HTTP server plus HTTPS."""
    return [
        {
            "port": {"number": 80, "name": "http", "protocol": "HTTP"},
            "hosts": ["*"],
            "tls": {"httpsRedirect": slot("tls.httpsRedirect")},
        },
        {
            "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
            "hosts": ["*"],
            "tls": {"mode": "SIMPLE", "credentialName": slot("tls.credentialName")},
        },
    ]


def _spec(tls: bool) -> dict[str, Any]:
    external: dict[str, Any] = {"selector": slot("ingressGateway.selector")}
    if tls:
        external["servers"] = _tls_servers()
    return {
        "version": slot("version"),
        "ingress": {
            "istio": {
                "enabled": True,
                names.KNATIVE_INGRESS_GATEWAY: external,
                names.KNATIVE_LOCAL_GATEWAY: {"selector": slot("localGateway.selector")},
            }
        },
        "config": {
            "domain": keyed_slot("domain"),
            "network": {"domain-template": slot("domainTemplate")},
            "deployment": slot("registry.configDeployment"),
            "features": {"secure-pod-defaults": slot("securePodDefaults")},
            "istio": {
                "external-gateways": json_string_slot("gateways.external"),
            },
        },
        "workloads": _workloads(),
        "registry": {"override": slot("registry.override")},
    }


class KnativeServing(Construct):
    """The KnativeServing CR, in a plain and a TLS variant (exactly one renders), and the
    activator's NetworkPolicy."""

    def __init__(self, scope: Construct, id: str = "knative-serving") -> None:
        super().__init__(scope, id)
        for variant, tls in (("serving", False), ("serving-tls", True)):
            api = "operator.knative.dev/v1beta1"
            when = "tls.enabled" if tls else "!tls.enabled"
            spec_object(
                self, variant, api, "KnativeServing", "knative-serving", _spec(tls), when=when
            )
        ports = [{"port": p, "protocol": "TCP"} for p in names.KNATIVE_ACTIVATOR_PORTS]
        policy = {
            "podSelector": {"matchLabels": {names.KNATIVE_APP_LABEL: names.KNATIVE_ACTIVATOR}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": slot("activatorPolicy.peers"), "ports": ports}],
        }
        spec_object(
            self, "activator-policy", "networking.k8s.io/v1", "NetworkPolicy",
            ACTIVATOR_POLICY, policy, when="activatorPolicy.enabled",
        )  # fmt: skip


def derive(facts: Facts) -> dict[str, Any]:
    """The derived facts: the domain, TLS and the gateway it routes through."""
    gateway = facts.gateway
    out = _registry(facts.image_registry) if facts.image_registry else {}
    return out | {
        "domain": facts.domain,
        "ingressGateway": {"selector": dict(gateway.pod_labels)},
        "localGateway": {"selector": dict(gateway.pod_labels)},
        "gateways": {"external": _gateways(gateway.knative_gateway, gateway.service_fqdn)},
        "activatorPolicy": {"peers": [_gateway_pods(facts)]},
        "tls": {
            "enabled": facts.env.tls.enabled,
            "credentialName": facts.env.tls.secret_name,
        },
    }


def _gateway_pods(facts: Facts) -> dict[str, Any]:
    """A NetworkPolicy peer: the Istio gateway's pods (their namespace and labels)."""
    namespace = {"kubernetes.io/metadata.name": facts.gateway.namespace}
    return {
        "namespaceSelector": {"matchLabels": namespace},
        "podSelector": {"matchLabels": dict(facts.gateway.pod_labels)},
    }


def check(facts: Facts, values: dict[str, Any]) -> None:
    """knative-local-gateway must land where the gateway pods run (lib/facts.py)."""
    problem = facts.gateway.local_service_problem
    if problem:
        raise UserError(f"{facts.file(facts.gateway.release)}: {problem}")


def _registry(registry: str) -> dict[str, Any]:
    """Every Serving and net-istio image from `registry` (the queue-proxy image is also
    read from config-deployment, so it is set there too)."""
    version = _serving_version()
    override = {k: mirror.moved(v.format(version=version), registry) for k, v in OVERRIDES.items()}
    deployment = {"queue-sidecar-image": override["queue-proxy"]}
    return {"registry": {"override": override, "configDeployment": deployment}}
