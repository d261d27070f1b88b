"""Readiness gates: what must be true before the next release may start, decided from data.

Helm's `--wait` covers Pods and Deployments but not the things that break the next
release: a CRD that is not yet Established (its custom resources are rejected), an
admission webhook whose Service has no ready endpoint (every matching request fails), or
an operator's custom resource (KnativeServing) that is not Ready yet. The gates are
derived from a release's manifest, so a new component needs no code here, and each
verdict is a pure function over objects shaped as the Kubernetes API returns them; the
live installer fetches those objects and calls the same functions.

A custom resource is gated on a condition only where its owning controller is KNOWN to set
that condition: data/components.yaml `conditions:` names it with the upstream evidence
(registry.conditions). A CRD whose schema has status.conditions is no such evidence:
Istio 1.30 declares them on every kind and writes no Ready (status analysis is off by
default), so a wait on them times out and rolls the release back. Everything else is left
to Helm's kstatus wait.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

Obj = dict[str, Any]
GateKind = Literal["established", "available", "rolled-out", "endpoints", "ready"]

#: API groups served by Kubernetes itself; anything else is a custom resource.
BUILTIN_GROUPS = frozenset(
    {
        "", "apps", "batch", "autoscaling", "policy", "rbac.authorization.k8s.io",
        "admissionregistration.k8s.io", "apiextensions.k8s.io", "apiregistration.k8s.io",
        "networking.k8s.io", "discovery.k8s.io", "storage.k8s.io", "scheduling.k8s.io",
        "coordination.k8s.io", "node.k8s.io", "certificates.k8s.io", "events.k8s.io",
        "flowcontrol.apiserver.k8s.io", "resource.k8s.io",
    }
)  # fmt: skip
WEBHOOK_KINDS = frozenset({"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"})


@dataclass(frozen=True)
class Ref:
    """One object: enough to fetch it through the API."""

    api_version: str
    kind: str
    name: str
    namespace: str | None = None

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"


@dataclass(frozen=True)
class Gate:
    what: GateKind
    ref: Ref
    #: "ready" gates: the condition type awaited (its controller is known to set it).
    condition: str = "Ready"

    def describe(self) -> str:
        return {
            "established": f"{self.ref} Established",
            "available": f"{self.ref} available",
            "rolled-out": f"{self.ref} rolled out",
            "endpoints": f"webhook {self.ref} has a ready endpoint",
            "ready": f"{self.ref} {self.condition}",
        }[self.what]


@dataclass(frozen=True)
class Verdict:
    done: bool
    detail: str


def group_of(api_version: str) -> str:
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


def is_custom(obj: Obj) -> bool:
    return group_of(str(obj.get("apiVersion", ""))) not in BUILTIN_GROUPS


def ref_of(obj: Obj, namespace: str | None) -> Ref:
    meta = obj.get("metadata") or {}
    return Ref(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace") or namespace)


def declares_conditions(crd: Obj, version: str) -> bool:
    """Whether a CRD's schema for `version` has status.conditions: a precondition of a
    condition gate (tests check every evidence entry against it), never a reason for one."""
    for entry in (crd.get("spec") or {}).get("versions") or []:
        if entry.get("name") == version:
            schema = (entry.get("schema") or {}).get("openAPIV3Schema") or {}
            status = (schema.get("properties") or {}).get("status") or {}
            return "conditions" in (status.get("properties") or {})
    return False


def known_conditions(table: dict[tuple[str, str], str]) -> Callable[[str, str], str | None]:
    """`condition_of` for `gates` from (api group, Kind) -> condition (registry.conditions)."""

    def condition_of(api_version: str, kind: str) -> str | None:
        return table.get((group_of(api_version), kind))

    return condition_of


def cluster_scoped(crd: Obj | None) -> bool:
    """A CRD whose objects live outside namespaces (ClusterIssuer, ClusterServingRuntime)."""
    return bool((crd or {}).get("spec", {}).get("scope") == "Cluster")


def gates(
    objects: Iterable[Obj],
    namespace: str,
    condition_of: Callable[[str, str], str | None],
    is_cluster_scoped: Callable[[str, str], bool] = lambda api_version, kind: False,
) -> list[Gate]:
    """The gates of a release, from its manifest (objects in the order Helm listed them).

    `namespace` is the release namespace (Helm leaves it out of namespaced objects);
    `condition_of(apiVersion, kind)` names the condition a custom resource's controller is
    known to set (None: no gate; see `known_conditions`); `is_cluster_scoped(apiVersion,
    kind)` whether it has no namespace (the release's must not be added then, or the gate
    looks in the wrong place).
    Order: CRDs, workloads, webhook endpoints, custom resources.

    A webhook's Service is awaited only in the release that ships that Service: istio-base
    registers istiod's validating webhook (failurePolicy Ignore) before the istiod release
    creates its Service, so a wait for it in istio-base could never complete. A Service of
    an earlier release was awaited by that release; of a later one, by that later one.
    """
    objects = list(objects)
    shipped = {
        ((obj.get("metadata") or {}).get("namespace") or namespace, obj["metadata"]["name"])
        for obj in objects
        if obj.get("kind") == "Service" and obj.get("apiVersion") == "v1"
    }
    order: dict[GateKind, list[Gate]] = {
        k: [] for k in ("established", "available", "rolled-out", "endpoints", "ready")
    }
    for obj in objects:
        kind = obj.get("kind")
        if kind == "CustomResourceDefinition":
            order["established"].append(Gate("established", ref_of(obj, None)))
        elif kind == "Deployment":
            order["available"].append(Gate("available", ref_of(obj, namespace)))
        elif kind in ("DaemonSet", "StatefulSet"):
            order["rolled-out"].append(Gate("rolled-out", ref_of(obj, namespace)))
        elif kind in WEBHOOK_KINDS:
            for hook in obj.get("webhooks") or []:
                svc = (hook.get("clientConfig") or {}).get("service")
                where = (svc or {}).get("namespace") or namespace
                if svc and (where, svc["name"]) in shipped:
                    ref = Ref("v1", "Service", svc["name"], where)
                    order["endpoints"].append(Gate("endpoints", ref))
        elif is_custom(obj) and (cond := condition_of(obj["apiVersion"], obj["kind"])):
            scoped = is_cluster_scoped(obj["apiVersion"], obj["kind"])
            ref = ref_of(obj, None if scoped else namespace)
            order["ready"].append(Gate("ready", ref, cond))
    return list(dict.fromkeys(g for group in order.values() for g in group))


def condition(obj: Obj, kind: str) -> Obj | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None


def _observed(obj: Obj) -> bool:
    """The controller has seen the latest spec (else its status describes an older one)."""
    generation = (obj.get("metadata") or {}).get("generation")
    observed = (obj.get("status") or {}).get("observedGeneration")
    return generation is None or observed is None or observed >= generation


def crd_established(crd: Obj) -> Verdict:
    cond = condition(crd, "Established")
    if cond and cond.get("status") == "True":
        return Verdict(True, "Established")
    names = condition(crd, "NamesAccepted")
    if names and names.get("status") == "False":
        return Verdict(False, f"names not accepted: {names.get('message', '')}")
    return Verdict(False, "not Established yet")


def deployment_available(dep: Obj) -> Verdict:
    want = (dep.get("spec") or {}).get("replicas", 1)
    status = dep.get("status") or {}
    updated, available = status.get("updatedReplicas", 0), status.get("availableReplicas", 0)
    detail = f"{available}/{want} available, {updated}/{want} updated"
    if not _observed(dep):
        return Verdict(False, f"{detail}; rollout not observed yet")
    cond = condition(dep, "Available")
    ok = updated >= want and available >= want and (cond or {}).get("status") == "True"
    progressing = condition(dep, "Progressing")
    if progressing and progressing.get("reason") == "ProgressDeadlineExceeded":
        return Verdict(False, f"{detail}; {progressing.get('message', 'deadline exceeded')}")
    return Verdict(ok, detail)


def rolled_out(obj: Obj) -> Verdict:
    """DaemonSet or StatefulSet: every wanted pod updated and ready."""
    status = obj.get("status") or {}
    if obj.get("kind") == "DaemonSet":
        want = status.get("desiredNumberScheduled", 0)
        ready, updated = status.get("numberReady", 0), status.get("updatedNumberScheduled", 0)
    else:
        want = (obj.get("spec") or {}).get("replicas", 1)
        ready, updated = status.get("readyReplicas", 0), status.get("updatedReplicas", 0)
    detail = f"{ready}/{want} ready, {updated}/{want} updated"
    return Verdict(_observed(obj) and want > 0 and ready >= want and updated >= want, detail)


def endpoints_ready(slices: Iterable[Obj]) -> Verdict:
    """EndpointSlices of a Service: at least one address whose `ready` is not false.

    The API documents a missing `ready` as ready; Endpoints (v1) is deprecated since 1.33.
    """
    total = ready = 0
    for item in slices:
        for endpoint in item.get("endpoints") or []:
            total += 1
            if (endpoint.get("conditions") or {}).get("ready", True) and endpoint.get("addresses"):
                ready += 1
    return Verdict(ready > 0, f"{ready}/{total} endpoints ready")


def resource_ready(obj: Obj, kind: str = "Ready") -> Verdict:
    """A custom resource whose controller sets condition `kind` (Knative, KServe...)."""
    cond = condition(obj, kind)
    if not _observed(obj):
        return Verdict(False, "controller has not observed the latest spec yet")
    if cond is None:
        return Verdict(False, f"no {kind} condition yet")
    if cond.get("status") == "True":
        return Verdict(True, kind)
    reason = ": ".join(x for x in (cond.get("reason"), cond.get("message")) if x)
    return Verdict(False, f"{kind}={cond.get('status')}" + (f" ({reason})" if reason else ""))


def evaluate(gate: Gate, obj: Obj | None, slices: Iterable[Obj] = ()) -> Verdict:
    """The verdict of one gate given the live object (None: not found) and, for webhook
    Services, the Service's EndpointSlices."""
    if obj is None:
        return Verdict(False, "not found yet")
    if gate.what == "established":
        return crd_established(obj)
    if gate.what == "available":
        return deployment_available(obj)
    if gate.what == "rolled-out":
        return rolled_out(obj)
    if gate.what == "endpoints":
        return endpoints_ready(slices)
    return resource_ready(obj, gate.condition)


def webhooks_served_by(
    configs: Iterable[Obj], services: set[tuple[str, str]], namespaces: set[str]
) -> list[Ref]:
    """Webhook configurations to delete before uninstalling a release.

    A configuration goes when any webhook calls one of the release's Services
    (namespace, name), or a Service in a namespace only this release uses; the latter
    catches webhooks that controllers register at runtime (Knative, KServe), which are in
    no manifest. Left behind, they make every matching API request fail once the Service
    is gone, including the deletes that finalizers are waiting for.
    """
    found = []
    for cfg in configs:
        for hook in cfg.get("webhooks") or []:
            svc = (hook.get("clientConfig") or {}).get("service") or {}
            key = (svc.get("namespace", ""), svc.get("name", ""))
            if key in services or key[0] in namespaces:
                found.append(ref_of(cfg, None))
                break
    return found


def helm_owned(objects: Iterable[Obj], releases: set[tuple[str, str]]) -> list[Ref]:
    """Objects Helm created for one of `releases` (name, namespace), by the annotations it
    puts on everything it installs; kept CRDs still carry them after `helm uninstall`."""
    found = []
    for obj in objects:
        notes = (obj.get("metadata") or {}).get("annotations") or {}
        owner = (
            notes.get("meta.helm.sh/release-name"),
            notes.get("meta.helm.sh/release-namespace"),
        )
        if owner in releases:
            found.append(ref_of(obj, None))
    return found
