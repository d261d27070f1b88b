"""Cross-component invariants, checked by `generate` before anything is written.

Derivation (mlstack.ingress, env_values) makes the usual breakages hard; these checks make
them impossible to commit. Each failure is one line naming BOTH sides (this release's
value and the fact it contradicts) and what to change:

- the Knative gateway selectors select the istio-gateway release's pods, and net-istio's
  config-istio services are that release's Service and the local-gateway Service;
- the Knative Serving version (chart default or per-env override) is one the Knative
  Operator bundles;
- every compatibility edge in versions.yaml holds for the pinned versions;
- projects pulled in through an edge (net-istio, installed by the operator) support the
  environment's Kubernetes minors too (components' own ranges: generate.check_environments).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlstack import REPO_ROOT, environments, ingress, registry, versions
from mlstack.environments import Environment
from mlstack.errors import UserError
from mlstack.lib import model, validate
from mlstack.lib.component import Component

VALUES_DIR = REPO_ROOT / "values"
VERSIONS = "generator/mlstack/data/versions.yaml"
#: The glue release whose values carry the Knative side of the gateway contract.
KNATIVE_SERVING = "knative-serving"


def release_values(component: Component, env: Environment, values_dir: Path) -> dict[str, Any]:
    """What the release gets in `env`: defaults, then derived values, then the env's file."""
    from mlstack.render import load_values  # render imports the registry as well

    merged = model.defaults(component.values)
    if component.env_values is not None:
        merged = validate.deep_merge(merged, component.env_values(env))
    path = values_dir / env.name / f"{component.id}.yaml"
    if path.exists():
        merged = validate.deep_merge(merged, load_values(path))
    return merged


def _where(component: Component, env: Environment, values_dir: Path) -> str:
    path = values_dir / env.name / f"{component.id}.yaml"
    return f"values/{env.name}/{component.id}.yaml" if path.exists() else "its chart defaults"


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


def check_edge_kubernetes(env: Environment, data: versions.Versions) -> None:
    """Projects reached through an edge from an enabled component support env's minors."""
    known = registry.by_id()
    enabled = {known[c].project for c in env.components if c in known}
    for edge in data.compatibility:
        if edge.subject not in enabled:
            continue
        project = data.projects[edge.requires]
        for minor in (env.supported.min, env.supported.max):
            if not project.kubernetes.covers(minor):
                raise UserError(
                    f"environment {env.name} supports Kubernetes {minor}, but {edge.requires} "
                    f"{project.version} (required by {edge.subject}) supports "
                    f"{project.kubernetes.min}-{project.kubernetes.max}: change the "
                    f"environment or projects.{edge.requires} in versions.yaml"
                )


def check_serving_version(env: Environment, values_dir: Path, data: versions.Versions) -> None:
    """knative-serving's `version` in env is one the operator bundles."""
    component = registry.by_id().get(KNATIVE_SERVING)
    if component is None or component.id not in env.components:
        return
    version = str(release_values(component, env, values_dir)["version"])
    for edge in data.compatibility:
        if edge.requires == component.project and not edge.accepts(version):
            operator = data.projects[edge.subject]
            raise UserError(
                f"environment {env.name}: {component.id} version {version} (from "
                f"{_where(component, env, values_dir)}) is outside what {edge.subject} "
                f"{operator.version} installs ({edge.describe()}, {VERSIONS}): pick a version "
                "in that range or change the operator pin"
            )


def check_gateway(env: Environment, values_dir: Path) -> None:
    """Knative's gateway selectors and config-istio services name the istio-gateway release."""
    component = registry.by_id().get(KNATIVE_SERVING)
    if component is None or component.id not in env.components:
        return
    gateway = ingress.gateway_component()
    facts = ingress.derive(gateway, ingress.gateway_values(gateway, env, values_dir))
    values = release_values(component, env, values_dir)
    where = f"{component.id} ({_where(component, env, values_dir)})"
    side = f"release {facts.release} in {facts.namespace}"
    for key in ("ingressGateway", "localGateway"):
        selector = values[key]["selector"]
        if selector != facts.pod_labels:
            raise UserError(
                f"environment {env.name}: {where} {key}.selector {selector} does not select "
                f"the Istio gateway pods of {side} (labels {facts.pod_labels}): drop the "
                "override so generate derives it, or change the gateway's name/labels"
            )
    expected = {
        "external": (facts.knative_gateway, facts.service_fqdn),
        "local": (facts.local_gateway, facts.local_gateway_service_fqdn),
    }
    for key, (gateway_ref, service) in expected.items():
        services = {f"{g['namespace']}/{g['name']}": g["service"] for g in values["gateways"][key]}
        if services.get(gateway_ref) != service:
            raise UserError(
                f"environment {env.name}: {where} gateways.{key} maps {gateway_ref} to "
                f"{services.get(gateway_ref, 'nothing')}, but the Service of {side} is "
                f"{service}: drop the override so generate derives it"
            )


def check(values_dir: Path = VALUES_DIR) -> None:
    """All invariants, for every environment."""
    data = versions.load()
    check_compatibility(data)
    for env in environments.ENVIRONMENTS.values():
        check_edge_kubernetes(env, data)
        check_serving_version(env, values_dir, data)
        check_gateway(env, values_dir)
