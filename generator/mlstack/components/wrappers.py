"""The plain wrapper charts, one row each: upstream chart (versions.yaml) + our defaults.

A wrapper pins an upstream chart as a dependency and sets opinionated defaults under its
alias (see mlstack.lib.wrapper). Wrappers with logic of their own (derived values beyond
a flag, generate-time checks) keep a module: kserve.py, seldon_core_operator.py.
Each row's `why` says what the release is for and why it sits where it does in the order.
"""

from __future__ import annotations

from typing import Any

from mlstack.environments import Environment
from mlstack.lib.facts import Facts
from mlstack.lib.wrapper import wrapper

#: Namespaces the two Emissary releases share facts about (the CRD chart labels its
#: conversion webhook for the gateway's namespace; the gateway waits for that webhook).
EMISSARY_CRDS_NAMESPACE = "emissary-system"
EMISSARY_NAMESPACE = "emissary"


def _metallb_env(env: Environment) -> bool:
    return env.load_balancer == "metallb"


def _ambassador(env: Environment) -> bool:
    return env.seldon == "ambassador"


def _emissary_crds(facts: Facts) -> dict[str, Any]:
    # Seldon Core 1.x writes getambassador.io/v2 Mappings: served only as legacy versions.
    return {"emissaryCrds": {"enableLegacyVersions": facts.seldon == "ambassador"}}


def _emissary(facts: Facts) -> dict[str, Any]:
    # The conversion webhook exists only when legacy versions are served.
    return {"emissaryIngress": {"waitForApiext": {"enabled": facts.seldon == "ambassador"}}}


METALLB = wrapper(
    "metallb",
    chart="metallb",
    namespace="metallb-system",
    description="MetalLB load-balancer controller and speaker (layer-2 mode) for local clusters.",
    why=(
        "Gives Services of type LoadBalancer an address on clusters without a cloud "
        "(loadBalancer: metallb). First release: the Istio gateway's Service needs an "
        "address. The pool is the separate metallb-pool release (a custom resource)."
    ),
    # Layer-2 mode only: the BGP backends (FRR container, frr-k8s subchart) are not needed
    # on a laptop and frr-k8s alone adds a DaemonSet and webhooks.
    defaults={
        "frrk8s": {"enabled": False},
        "speaker": {"frr": {"enabled": False}},
        "controller": {"logLevel": "info"},
        "crds": {"enabled": True},
    },
    default_on=_metallb_env,
    toggle="metallb",
    keywords=("metallb", "load-balancer"),
    module=__name__,
)

ISTIO_BASE = wrapper(
    "istio-base",
    chart="istio-base",
    namespace="istio-system",
    description="Istio CRDs and cluster-wide resources (upstream istio/base).",
    why=(
        "The Istio CRDs istiod and the gateway read (Gateway, VirtualService, ...): the "
        "first Istio release, since Helm cannot create a resource in its CRD's release."
    ),
    # One revision, named "default", so the gateway and istiod need no revision label.
    defaults={"defaultRevision": "default"},
    keywords=("istio", "crds"),
    module=__name__,
)

ISTIOD = wrapper(
    "istiod",
    chart="istiod",
    namespace="istio-system",
    description="Istio control plane with sidecar auto-injection off (upstream istio/istiod).",
    why=(
        "The Istio control plane, before istio-gateway whose proxy its webhook injects. "
        "Knative runs net-istio without a mesh: only pods that ask for a proxy get one."
    ),
    defaults={
        # Injection only where a namespace or pod opts in; never by default.
        "sidecarInjectorWebhook": {"enableNamespacesByDefault": False},
        "global": {"proxy": {"autoInject": "disabled"}},
    },
    needs=("istio-base",),
    keywords=("istio", "control-plane"),
    module=__name__,
)

ISTIO_GATEWAY = wrapper(
    "istio-gateway",
    chart="istio-gateway",
    namespace="istio-system",
    description="Istio ingress gateway (LoadBalancer Service) for model traffic.",
    why=(
        "The single entry point for model traffic, after istiod. Its release name and "
        "values decide the Service name and pod labels (upstream rules, lib/facts.py) "
        "that Knative, KServe and Seldon are derived from."
    ),
    defaults={
        # Scraped by Prometheus: the merged Envoy + agent stats on the status port.
        "podAnnotations": {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": "15020",
            "prometheus.io/path": "/stats/prometheus",
        },
        "service": {"type": "LoadBalancer"},
    },
    needs=("istiod",),
    keywords=("istio", "ingress", "gateway"),
    module=__name__,
)

CERT_MANAGER = wrapper(
    "cert-manager",
    chart="cert-manager",
    key="cert-manager",
    namespace="cert-manager",
    description="cert-manager with its CRDs (kept on uninstall) for gateway and webhook TLS.",
    why=(
        "Issues the TLS certificates of the gateway and webhooks; before the Knative "
        "operator and KServe, whose webhook certificates it provides. Its CRDs carry "
        "Helm's keep policy: uninstalling never deletes every Certificate."
    ),
    defaults={
        "crds": {"enabled": True, "keep": True},
        # Scrape annotations instead of a ServiceMonitor: no Prometheus operator is assumed.
        "prometheus": {"enabled": True, "servicemonitor": {"enabled": False}},
    },
    keywords=("cert-manager", "tls"),
    module=__name__,
)

KNATIVE_OPERATOR = wrapper(
    "knative-operator",
    chart="knative-operator",
    key="knative-operator",
    namespace="knative-operator",
    description="Knative Operator (KnativeServing CRD, operator and its webhook).",
    why=(
        "Installs Knative Serving and net-istio from the KnativeServing CR; after the "
        "Istio releases and before knative-serving, since it brings the CRD and a webhook."
    ),
    defaults={},
    keywords=("knative", "operator"),
    module=__name__,
)

KSERVE_CRD = wrapper(
    "kserve-crd",
    chart="kserve-crd",
    namespace="kserve",
    description="KServe custom resource definitions (v0.20).",
    why=(
        "First of the KServe chain kserve-crd -> kserve -> model-runtimes: custom "
        "resources and KServe's own webhook need the CRDs installed first."
    ),
    defaults={},
    keywords=("kserve", "crds"),
    module=__name__,
)

EMISSARY_CRDS = wrapper(
    "emissary-crds",
    chart="emissary-crds",
    namespace=EMISSARY_CRDS_NAMESPACE,
    description="Emissary-ingress CRDs; legacy getambassador.io/v2 served for Seldon.",
    why=(
        "Opt-in (components.emissary, or seldon: ambassador). Before emissary: Helm "
        "cannot create resources whose CRDs arrive in the same release. Legacy v2 (the "
        "apiext conversion webhook) is derived from the Seldon mode."
    ),
    defaults={
        "enableLegacyVersions": False,
        # v1 is older still; nothing we run writes it.
        "enableV1": False,
        "emissary": {"namespace": EMISSARY_NAMESPACE},
    },
    default_on=_ambassador,
    toggle="emissary",
    derive=_emissary_crds,
    keywords=("emissary", "ambassador", "crds"),
    module=__name__,
)

EMISSARY = wrapper(
    "emissary",
    chart="emissary-ingress",
    namespace=EMISSARY_NAMESPACE,
    description="Emissary-ingress (OSS Ambassador) API gateway, without Edge Stack.",
    why=(
        "The OSS Emissary gateway (its own image; no Edge Stack, no licence key) Seldon's "
        "ambassador mode publishes through; after emissary-crds. Emissary listens on "
        "nothing until a Listener exists, so the default Listeners are on."
    ),
    defaults={
        # Service name; Seldon's ambassador-mode smoke test finds it through the facts.
        "fullnameOverride": "emissary-ingress",
        # One replica fits a laptop; raise it in values/<env>/emissary.yaml for production.
        "replicaCount": 1,
        "createDefaultListeners": True,
        "waitForApiext": {
            "enabled": False,
            "deploymentName": "emissary-apiext",
            "deploymentNamespace": EMISSARY_CRDS_NAMESPACE,
        },
    },
    needs=("emissary-crds",),
    default_on=_ambassador,
    toggle="emissary",
    derive=_emissary,
    keywords=("emissary", "ambassador", "api-gateway"),
    module=__name__,
)
