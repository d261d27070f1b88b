"""Cross-component invariants of the pinned versions, checked by `generate` before writing.

Derivation (mlstack.resolve: facts, derived values, hand-written values that contradict
them refused) makes the usual breakages impossible; these checks cover what derivation
cannot, each failure one line naming BOTH sides and what to change:

- every compatibility edge in versions.yaml holds for the pinned versions;
- the Knative Serving version of an environment (chart default or per-env override) is
  one the Knative Operator bundles;
- projects pulled in through an edge (net-istio, installed by the operator) support the
  environment's Kubernetes minors too (enabled components' own ranges: mlstack.resolve);
- Kubernetes Ingress on Istio: istiod's mesh config names the gateway's Service and
  `istio:` label and the class the IngressClass release renders, and the gateway runs in
  istiod's namespace (where istiod looks its Service up and creates the Gateways).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mlstack import versions
from mlstack.components.model_auth import AUTHORIZATION_POLICY
from mlstack.errors import UserError
from mlstack.lib import yamlfile
from mlstack.lib.facts import INGRESS_CLASS, KNATIVE_INGRESS_GATEWAY
from mlstack.resolve import Resolved

VERSIONS = "generator/mlstack/data/versions.yaml"
#: The glue release whose values carry the Knative Serving version.
KNATIVE_SERVING = "knative-serving"
#: The releases of Kubernetes Ingress on Istio: the controller and the class.
ISTIOD, INGRESS_CLASS_RELEASE = "istiod", "istio-ingress-class"


def check_compatibility(data: versions.Versions) -> None:
    """Every edge of the compatibility matrix holds for the pinned versions."""
    for edge in data.compatibility:
        subject, required = data.projects[edge.subject], data.projects[edge.requires]
        if not edge.accepts(required.version):
            raise UserError(
                f"{VERSIONS}: {edge.subject} {subject.version} supports {edge.requires} "
                f"{edge.describe()}, but projects.{edge.requires}.version is "
                f"{required.version}: change one of the two pins (see the edge's evidence)"
            )


def check_edge_kubernetes(resolved: Resolved, data: versions.Versions) -> None:
    """Projects reached through an edge from an enabled component support env's minors."""
    enabled = {r.component.project for r in resolved.releases}
    for edge in data.compatibility:
        if edge.subject not in enabled:
            continue
        project = data.projects[edge.requires]
        for minor in (resolved.minors[0], resolved.minors[-1]):
            if not project.kubernetes.covers(minor):
                raise UserError(
                    f"environment {resolved.name} supports Kubernetes {minor}, but "
                    f"{edge.requires} {project.version} (required by {edge.subject}) supports "
                    f"{project.kubernetes.min}-{project.kubernetes.max}: change the "
                    f"environment or projects.{edge.requires} in versions.yaml"
                )


def check_serving_version(resolved: Resolved, data: versions.Versions) -> None:
    """knative-serving's `version` in the env is one the operator bundles."""
    release = resolved.release(KNATIVE_SERVING)
    if release is None:
        return
    version = str(release.values["version"])
    hand = resolved.values_dir / resolved.name / f"{release.id}.yaml"
    where = yamlfile.shown(hand) if hand in release.files else "its chart defaults"
    for edge in data.compatibility:
        if edge.requires == release.component.project and not edge.accepts(version):
            operator = data.projects[edge.subject]
            raise UserError(
                f"environment {resolved.name}: {release.id} version {version} (from {where}) "
                f"is outside what {edge.subject} {operator.version} installs "
                f"({edge.describe()}, {VERSIONS}): pick a version in that range or change "
                "the operator pin"
            )


def check_ingress(resolved: Resolved) -> None:
    """An Ingress of class istio binds to OUR gateway: istiod's mesh config agrees with
    the gateway facts and the IngressClass, each mismatch named on both sides."""
    istiod = resolved.release(ISTIOD)
    if istiod is None:
        return
    gateway = resolved.facts.gateway
    mesh = (istiod.values.get("istiod") or {}).get("meshConfig") or {}
    where = f"environment {resolved.name}: {ISTIOD} meshConfig"
    wanted = {
        "ingressService": (gateway.service, f"the Service of {gateway.release}"),
        "ingressSelector": (gateway.istio_label, f"the istio label of {gateway.release}"),
        "ingressClass": (INGRESS_CLASS, f"the IngressClass of {INGRESS_CLASS_RELEASE}"),
    }
    for key, (value, origin) in wanted.items():
        if mesh.get(key) != value:
            raise UserError(
                f"{where}.{key} is {mesh.get(key)!r}, but {origin} is {value!r}: Ingresses of "
                f"class {INGRESS_CLASS} would not reach the gateway; remove the override"
            )
    if gateway.namespace != istiod.namespace:
        raise UserError(
            f"environment {resolved.name}: {gateway.release} runs in {gateway.namespace}, but "
            f"{ISTIOD} in {istiod.namespace}: istiod reads meshConfig.ingressService and "
            "creates Ingress Gateways in its own namespace; install both in one namespace"
        )


def check(envs: list[Resolved]) -> None:
    """All invariants, for every resolved environment."""
    data = versions.load()
    check_compatibility(data)
    for resolved in envs:
        check_edge_kubernetes(resolved, data)
        check_serving_version(resolved, data)
        check_ingress(resolved)


# --- the secure edge, over the rendered objects -------------------------------------------

#: Service types that take traffic from outside the cluster.
PUBLIC = ("LoadBalancer", "NodePort")
#: Pod-owning kinds whose template labels a Service selects.
_WORKLOADS = ("Deployment", "DaemonSet", "StatefulSet", "ReplicaSet")
#: Istio Gateway server protocols that carry clear text.
_CLEAR = ("HTTP", "HTTP2")
#: A Knative ingress gateway without a `servers` list gets net-istio's default: port 80,
#: every host, no redirect (net-istio config/203-gateway.yaml).
_NET_ISTIO_DEFAULT = [{"port": {"number": 80, "protocol": "HTTP"}, "hosts": ["*"]}]

Object = dict[str, Any]
#: What to do with a public Service that is not the gateway's.
_INSTEAD = "make it ClusterIP and publish it through the Istio gateway"


def _meta(obj: Object, namespace: str = "") -> tuple[str, str]:
    """(namespace, name); `namespace` where the object leaves it to the release's."""
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or namespace), str(meta.get("name") or "?")


def _selects(selector: dict[str, Any] | None, labels: dict[str, Any]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in (selector or {}).items())


def _pods(rendered: dict[str, tuple[str, list[Object]]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(namespace, pod labels) of every pod template and bare Pod rendered."""
    for default, objects in rendered.values():
        for obj in objects:
            namespace = _meta(obj, default)[0]
            if obj.get("kind") == "Pod":
                yield namespace, (obj.get("metadata") or {}).get("labels") or {}
            elif obj.get("kind") in _WORKLOADS:
                template = (obj.get("spec") or {}).get("template") or {}
                yield namespace, (template.get("metadata") or {}).get("labels") or {}


def _gateways(
    rendered: dict[str, tuple[str, list[Object]]], ingress_labels: dict[str, str]
) -> list[Object]:
    """Every Istio gateway configuration the render asks for, as (selector, servers, name):
    Gateways, the KnativeServing CR's ingress gateway (the operator writes it), and the
    Gateway istiod derives from each Ingress of class istio: port 80 for its hosts, never
    a redirect (pilot/pkg/config/kube/ingress/gateways.go)."""
    found = []
    for default, obj in ((d, o) for d, objects in rendered.values() for o in objects):
        namespace, name = _meta(obj, default)
        api, kind = str(obj.get("apiVersion", "")), obj.get("kind")
        spec = obj.get("spec") or {}
        if api.startswith("networking.istio.io/") and kind == "Gateway":
            selector, servers = spec.get("selector"), spec.get("servers") or []
            found.append(_gateway(selector, servers, f"Gateway {namespace}/{name}"))
        elif api.startswith("operator.knative.dev/") and kind == "KnativeServing":
            istio = (spec.get("ingress") or {}).get("istio") or {}
            external = istio.get(KNATIVE_INGRESS_GATEWAY) or {}
            servers = external.get("servers") or _NET_ISTIO_DEFAULT
            what = f"KnativeServing {name} {KNATIVE_INGRESS_GATEWAY}"
            found.append(_gateway(external.get("selector"), servers, what))
        elif kind == "Ingress" and _ingress_class(obj) == INGRESS_CLASS:
            hosts = [r.get("host", "*") for r in spec.get("rules") or []] or ["*"]
            servers = [{"port": {"number": 80, "protocol": "HTTP"}, "hosts": hosts}]
            what = f"Ingress {namespace}/{name} (class {INGRESS_CLASS})"
            found.append(_gateway(ingress_labels, servers, what))
    return found


def _gateway(selector: Any, servers: list[Any], name: str) -> Object:
    return {"selector": selector, "servers": servers, "name": name}


def _ingress_class(obj: Object) -> Any:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return (obj.get("spec") or {}).get("ingressClassName") or annotations.get(
        "kubernetes.io/ingress.class"
    )


def _jwt_checked(rendered: dict[str, tuple[str, list[Object]]]) -> list[tuple[str, Any]]:
    """(namespace, pod labels) the token check covers: DENY AuthorizationPolicies whose
    rule refuses requests without a request principal (components/model_auth.py)."""
    found = []
    for default, obj in ((d, o) for d, objects in rendered.values() for o in objects):
        api = str(obj.get("apiVersion", ""))
        if not (api.startswith("security.istio.io/") and obj.get("kind") == "AuthorizationPolicy"):
            continue
        spec = obj.get("spec") or {}
        refuses_anonymous = any(
            "*" in ((f.get("source") or {}).get("notRequestPrincipals") or [])
            for rule in spec.get("rules") or []
            for f in rule.get("from") or []
        )
        if spec.get("action") == "DENY" and refuses_anonymous:
            labels = (spec.get("selector") or {}).get("matchLabels") or {}
            found.append((_meta(obj, default)[0], labels))
    return found


def _served(port: dict[str, Any], server: dict[str, Any]) -> bool:
    number = (server.get("port") or {}).get("number")
    return number is not None and number in (port.get("port"), port.get("targetPort"))


def edge_problems(resolved: Resolved, rendered: dict[str, list[Object]]) -> dict[str, list[str]]:
    """Per release, its public Services that skip the token check (auth on) or serve
    plain HTTP other than a redirect (TLS on); one line each, naming the Service, the
    object that serves it, and the environment setting that asks for the guarantee."""
    env = resolved.env
    if not (env.auth.enabled or env.tls.enabled):
        return {}
    by_release = {}
    for release, objects in rendered.items():
        found_release = resolved.release(release)
        by_release[release] = (found_release.namespace if found_release else "", objects)
    pods = list(_pods(by_release))
    gateways = _gateways(by_release, {"istio": resolved.facts.gateway.istio_label})
    checked = _jwt_checked(by_release)
    found: dict[str, list[str]] = {}
    for release, (_, objects) in by_release.items():
        for svc in objects:
            spec = svc.get("spec") or {}
            if svc.get("kind") == "Service" and spec.get("type") in PUBLIC:
                problems = _service_problems(resolved, release, svc, pods, gateways, checked)
                found.setdefault(release, []).extend(problems)
    return {r: p for r, p in found.items() if p}


def _service_problems(
    resolved: Resolved,
    release: str,
    svc: Object,
    pods: list[tuple[str, dict[str, Any]]],
    gateways: list[Object],
    checked: list[tuple[str, Any]],
) -> list[str]:
    env, spec = resolved.env, svc["spec"]
    found_release = resolved.release(release)
    namespace, name = _meta(svc, found_release.namespace if found_release else "")
    selector = spec.get("selector") or {}
    # The pods it reaches; where their workload is not rendered (an upstream chart not
    # downloaded), a pod it selects carries at least its selector's labels.
    targets = [labels for ns, labels in pods if ns == namespace and _selects(selector, labels)]
    targets = targets or [selector]
    what = f"{release}: Service {namespace}/{name} ({spec['type']})"
    where = env.shown(resolved.values_dir)
    problems = []
    # A policy without a selector covers every workload of its namespace (Istio).
    if env.auth.enabled and not all(
        any(ns == namespace and (not sel or _selects(sel, labels)) for ns, sel in checked)
        for labels in targets
    ):
        problems.append(
            f"{what} reaches pods no JWT check (AuthorizationPolicy {AUTHORIZATION_POLICY}) "
            f"selects: models behind it answer without a token, though {where} sets "
            f"auth.enabled: true; {_INSTEAD}"
        )
    if not env.tls.enabled:
        return problems
    on = [g for g in gateways if any(_selects(g["selector"], labels) for labels in targets)]
    if not on:
        problems.append(
            f"{what} is public but not the Istio gateway's: nothing redirects its plain HTTP, "
            f"though {where} sets tls.mode: {env.tls.mode}; {_INSTEAD}"
        )
        return problems
    for port in spec.get("ports") or []:
        clear = [
            g["name"]
            for g in on
            for server in g["servers"]
            if _served(port, server)
            and str((server.get("port") or {}).get("protocol", "HTTP")).upper() in _CLEAR
            and not (server.get("tls") or {}).get("httpsRedirect")
        ]
        if clear:
            problems.append(
                f"{what} port {port.get('port')} serves plain HTTP without a redirect "
                f"({clear[0]}), though {where} sets tls.mode: {env.tls.mode}: redirect it "
                "(tls.httpsRedirect) or publish through a Gateway that does"
            )
    return problems
