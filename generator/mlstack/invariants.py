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

from mlstack import versions
from mlstack.errors import UserError
from mlstack.lib import yamlfile
from mlstack.lib.facts import INGRESS_CLASS
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
