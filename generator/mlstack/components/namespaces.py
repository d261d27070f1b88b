"""Every namespace the platform uses, labelled for Pod Security, and the models NetworkPolicy.

Every environment; the first release, so that each later one finds its namespace already
labelled whichever way it is installed (make, plain helm, Argo CD, Flux: their
create-namespace options create namespaces without labels and leave an existing one
alone). The Namespace objects carry Helm's keep policy: uninstalling this release never
deletes a namespace full of workloads.

Which namespaces exist is decided by the enabled releases (each row's `namespace:` in
data/components.yaml); the level each enforces is the loosest `podSecurity:` of its
releases (lib/podsecurity.py), audit and warn stay `restricted`. Both are derived per
environment (values/<env>/generated/namespaces.yaml), and a values file may loosen or
tighten a level (`namespaces.<key>.podSecurity`).

`models` gets a default-deny ingress NetworkPolicy that admits only the pods that call
models: the Istio gateway's namespace, Knative Serving's activator (-> queue-proxy) and
autoscaler (scraping queue-proxy), not the rest of knative-serving, KServe's controller,
Emissary when Seldon publishes through it, and pods of `models` itself. The activator
itself admits only the gateway's pods (components/knative_serving.py), so no other
namespace reaches the models through it. Egress stays open: models download their weights
from buckets.
"""

from __future__ import annotations

from typing import Any

from cdk8s import ApiObject, JsonPatch
from constructs import Construct
from pydantic import Field, create_model

from mlstack.errors import UserError
from mlstack.lib import podsecurity
from mlstack.lib.component import ID_ATTR, only_if
from mlstack.lib.facts import (
    KNATIVE_ACTIVATOR,
    KNATIVE_APP_LABEL,
    KNATIVE_AUTOSCALER,
    KNATIVE_NAMESPACE,
    Facts,
)
from mlstack.lib.model import Values
from mlstack.lib.podsecurity import Level
from mlstack.lib.slots import slot

#: Every namespace a release of data/components.yaml may use (a Namespace object each,
#: rendered where enabled). A row with a new namespace fails `check` until it is added.
NAMESPACES = (
    "metallb-system",
    "istio-system",
    "cert-manager",
    "knative-operator",
    "knative-serving",
    "kserve",
    "emissary-system",
    "emissary",
    "seldon-system",
    "dex",
    "jupyterhub",
    "models",
)
#: This release's own namespace (Helm keeps its release record there); never rendered.
OWN = "default"
MODELS = "models"
#: Releases whose pods call the models: their namespaces are admitted by the policy.
CALLERS = (KNATIVE_NAMESPACE, "kserve", "emissary")
POLICY = "models-default-deny"


def key(namespace: str) -> str:
    """'metallb-system' -> 'metallbSystem' (values keys are camelCase)."""
    first, *rest = namespace.split("-")
    return first + "".join(part.capitalize() for part in rest)


def _namespace_model(namespace: str) -> type[Values]:
    return create_model(
        f"{key(namespace)[0].upper()}{key(namespace)[1:]}Namespace",
        __base__=Values,
        enabled=(bool, Field(False, description=f"Create {namespace} (a release uses it).")),
        pod_security=(
            Level,
            Field("restricted", description="Pod Security level the namespace enforces."),
        ),
    )


_MODELS = {ns: _namespace_model(ns) for ns in NAMESPACES}
AllNamespaces: type[Values] = create_model(  # type: ignore[call-overload]
    "AllNamespaces",
    __base__=Values,
    **{
        key(ns): (_MODELS[ns], Field(default_factory=_MODELS[ns], description=ns))
        for ns in NAMESPACES
    },
)


class ModelsPolicy(Values):
    enabled: bool = Field(False, description="Default-deny ingress in models (where enabled).")
    peers: list[dict[str, Any]] = Field(
        default_factory=list,
        description=(
            "NetworkPolicy peers that may call models: the namespaces of the gateway, "
            "Knative, KServe (and Emissary), and models itself (derived)."
        ),
    )


class NamespacesValues(Values):
    namespaces: AllNamespaces = Field(
        default_factory=AllNamespaces, description="The platform's namespaces."
    )
    models_policy: ModelsPolicy = Field(
        default_factory=ModelsPolicy, description="The models namespace's NetworkPolicy."
    )


def _object(scope: Construct, id: str, kind: str, metadata: dict[str, Any], when: str) -> ApiObject:
    """An object of `kind` rendered only when `.Values.<when>` (id = its file name)."""
    api = "networking.k8s.io/v1" if kind == "NetworkPolicy" else "v1"
    obj = ApiObject(scope, id, api_version=api, kind=kind, metadata=metadata)
    setattr(obj, ID_ATTR, id)
    only_if(obj, when)
    return obj


class Namespaces(Construct):
    def __init__(self, scope: Construct, id: str = "namespaces") -> None:
        super().__init__(scope, id)
        for ns in NAMESPACES:
            path = f"namespaces.{key(ns)}"
            metadata = {
                "name": ns,
                "labels": podsecurity.labels(slot(f"{path}.podSecurity")),
                "annotations": {"helm.sh/resource-policy": "keep"},
            }
            _object(self, ns, "Namespace", metadata, f"{path}.enabled")
        metadata = {"name": POLICY, "namespace": MODELS}
        policy = _object(self, POLICY, "NetworkPolicy", metadata, "modelsPolicy.enabled")
        rule = {"from": slot("modelsPolicy.peers")}
        spec = {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [rule]}
        policy.add_json_patch(JsonPatch.add("/spec", spec))


def _peer(namespace: str) -> dict[str, Any]:
    peer: dict[str, Any] = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
    }
    if namespace == KNATIVE_NAMESPACE:
        # Only Knative's data-plane pods call revisions (lib/facts.py KNATIVE_ACTIVATOR).
        apps = [KNATIVE_ACTIVATOR, KNATIVE_AUTOSCALER]
        expression = {"key": KNATIVE_APP_LABEL, "operator": "In", "values": apps}
        peer["podSelector"] = {"matchExpressions": [expression]}
    return peer


def derive(facts: Facts) -> dict[str, Any]:
    """Namespaces of the enabled releases, each at the loosest level of its releases."""
    namespaces = {
        key(ns): {
            "enabled": ns in facts.namespaces,
            "podSecurity": podsecurity.loosest(list(facts.namespaces.get(ns, ()))),  # type: ignore[arg-type]
        }
        for ns in NAMESPACES
    }
    callers = [facts.gateway.namespace, *(ns for ns in CALLERS if ns in facts.namespaces)]
    peers = [_peer(ns) for ns in dict.fromkeys(callers)] + [{"podSelector": {}}]
    policy = {"enabled": MODELS in facts.namespaces, "peers": peers}
    return {"namespaces": namespaces, "modelsPolicy": policy}


def check(facts: Facts, values: dict[str, Any]) -> None:
    """A release in a namespace this chart does not know would run unlabelled."""
    for ns in sorted(set(facts.namespaces) - {OWN}):
        if ns not in NAMESPACES:
            raise UserError(
                f"data/components.yaml: namespace {ns!r} is not one the namespaces release "
                "labels: add it to NAMESPACES in generator/mlstack/components/namespaces.py"
            )
