"""The knative-serving glue chart: structure, slots, and what real `helm template` prints."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import dead_values_keys, synth
from mlstack import environments, registry, render, resolve
from mlstack.components import knative_serving

PLAIN = "templates/knativeserving-serving.yaml"
TLS = "templates/knativeserving-serving-tls.yaml"
POLICY = "templates/networkpolicy-activator-policy.yaml"


@pytest.fixture(scope="module")
def templates() -> dict[str, str]:
    return synth(registry.by_id()["knative-serving"])


def _render(tmp_path: Path, env: str, extra: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The KnativeServing CR of a real helm template of the committed chart with env's values
    (+ extra on top)."""
    resolved = resolve.resolve(env)
    release = resolved.release("knative-serving")
    assert release is not None
    if extra is not None:
        overlay = tmp_path / "extra.yaml"
        overlay.write_text(yaml.safe_dump(extra))
        release = dataclasses.replace(release, files=(*release.files, overlay))
    text = render.template(release, resolved)
    return [d for d in yaml.safe_load_all(text) if d and d["kind"] == "KnativeServing"]


def test_two_variants_of_one_cr_exactly_one_renders(templates: dict[str, str]) -> None:
    assert set(templates) == {PLAIN, TLS, POLICY}
    assert templates[PLAIN].splitlines()[1] == "{{- if not .Values.tls.enabled }}"
    assert templates[TLS].splitlines()[1] == "{{- if .Values.tls.enabled }}"
    assert "servers:" not in templates[PLAIN]
    assert "credentialName: {{ toJson .Values.tls.credentialName }}" in templates[TLS]


def test_derived_facts_are_slots(templates: dict[str, str]) -> None:
    text = templates[PLAIN]
    assert "version: {{ toJson .Values.version }}" in text
    assert "selector: {{ toJson .Values.ingressGateway.selector }}" in text
    assert "selector: {{ toJson .Values.localGateway.selector }}" in text
    assert 'domain: {{ dict .Values.domain "" | toJson }}' in text
    assert "external-gateways: {{ toJson .Values.gateways.external | toJson }}" in text
    assert "local-gateways" not in text  # net-istio's default: see test_local_gateway_...


def test_no_dead_values_keys(templates: dict[str, str]) -> None:
    assert dead_values_keys(templates, knative_serving.KnativeServingValues) == []


def test_chart_defaults_are_derived_from_the_gateway_and_versions() -> None:
    values = knative_serving.KnativeServingValues(**resolve.chart_defaults()["knative-serving"])
    gateway = resolve.resolve("eks").facts.gateway
    assert values.ingress_gateway.selector == gateway.pod_labels
    assert values.local_gateway.selector == gateway.pod_labels
    assert values.gateways.external[0].service == gateway.service_fqdn
    assert values.version == "1.23.0"


def test_derived_values_carry_the_one_domain_and_tls() -> None:
    for resolved in resolve.all_envs():
        derived = knative_serving.derive(resolved.facts)
        assert derived["domain"] == resolved.facts.domain
        assert derived["tls"]["enabled"] is resolved.env.tls.enabled
    assert resolve.resolve("eks").facts.domain == environments.load("eks").domain


def test_rendered_config_network_has_the_literal_domain_template(tmp_path: Path) -> None:
    for env in ("k3d", "eks"):
        (cr,) = _render(tmp_path, env)
        template = cr["spec"]["config"]["network"]["domain-template"]
        assert template == "{{.Name}}-{{.Namespace}}.{{.Domain}}"


def test_rendered_config_domain_and_istio(tmp_path: Path) -> None:
    (cr,) = _render(tmp_path, "eks")
    config = cr["spec"]["config"]
    assert config["domain"] == {"models.example.org": ""}
    external = yaml.safe_load(config["istio"]["external-gateways"])
    assert external == [
        {
            "name": "knative-ingress-gateway",
            "namespace": "knative-serving",
            "service": "istio-gateway.istio-system.svc.cluster.local",
        }
    ]


def _operator_service_namespace(cr: dict[str, Any]) -> str:
    """Where the Knative operator 1.23 creates Service knative-local-gateway (upstream
    pkg/reconciler/knativeserving/ingress/ingress_service.go): istio-system, unless
    config `istio`/`config-istio` has a `local-gateways` entry named knative-local-gateway
    (its namespace) or the legacy key local-gateway.<cr ns>.knative-local-gateway (the
    second label of its value)."""
    found = "istio-system"
    for key in ("istio", "config-istio"):
        data = cr["spec"]["config"].get(key) or {}
        entries = yaml.safe_load(data.get("local-gateways") or "[]") or []
        named = [e["namespace"] for e in entries if e["name"] == "knative-local-gateway"]
        own = cr["metadata"].get("namespace", "knative-serving")
        legacy = data.get(f"local-gateway.{own}.knative-local-gateway")
        if named and named[0]:
            found = named[0]
        elif legacy and len(legacy.split(".")) >= 2:
            found = legacy.split(".")[1]
    return found


def _net_istio_local_service(cr: dict[str, Any]) -> str:
    """The local gateway Service net-istio routes cluster-local names to (upstream
    pkg/reconciler/ingress/config/istio.go): the `local-gateways` entry's service, else
    its default knative-local-gateway.istio-system.svc.cluster.local."""
    entries = yaml.safe_load(cr["spec"]["config"]["istio"].get("local-gateways") or "[]")
    return (
        entries[0]["service"] if entries else "knative-local-gateway.istio-system.svc.cluster.local"
    )


@pytest.mark.parametrize("env", ["k3d", "eks"])
def test_local_gateway_service_lands_where_the_gateway_pods_run(tmp_path: Path, env: str) -> None:
    """knative-local-gateway must be created in the gateway pods' namespace (a Service
    selects pods of its own namespace only), and net-istio (config-istio) and KServe
    (localGatewayService) must name that Service: `<ksvc>.models.svc.cluster.local` is an
    ExternalName to it, which `helm test models` and KServe chaining call."""
    (cr,) = _render(tmp_path, env)
    resolved = resolve.resolve(env)
    gateway = resolved.facts.gateway
    namespace = _operator_service_namespace(cr)
    assert namespace == gateway.namespace
    selector = cr["spec"]["ingress"]["istio"]["knative-local-gateway"]["selector"]
    assert selector == gateway.pod_labels
    fqdn = f"knative-local-gateway.{namespace}.svc.cluster.local"
    assert _net_istio_local_service(cr) == fqdn
    kserve = resolved.release("kserve")
    assert kserve is not None
    local = kserve.values["kserveResources"]["kserve"]["controller"]["gateway"]["localGateway"]
    assert local == {"gateway": "knative-serving/knative-local-gateway", "gatewayService": fqdn}


def test_a_gateway_outside_istio_system_is_refused(tmp_path: Path) -> None:
    from helpers import values_copy
    from mlstack.errors import UserError

    values = values_copy(tmp_path / "values")
    path = values / "k3d" / "istio-gateway.yaml"
    data = yaml.safe_load(path.read_text()) or {}
    data.setdefault("gateway", {})["namespace"] = "edge"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(
        UserError, match=r"istio-gateway\.yaml: .*knative-local-gateway.*istio-system"
    ):
        resolve.resolve("k3d", values)


def test_tls_on_eks_adds_https_server_with_credential(tmp_path: Path) -> None:
    (cr,) = _render(tmp_path, "eks")
    servers = cr["spec"]["ingress"]["istio"]["knative-ingress-gateway"]["servers"]
    https = [s for s in servers if s["port"]["protocol"] == "HTTPS"]
    assert https == [
        {
            "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
            "hosts": ["*"],
            "tls": {"mode": "SIMPLE", "credentialName": "knative-ingress-tls"},
        }
    ]
    (plain,) = _render(tmp_path, "k3d", {"tls": {"enabled": False}})
    assert "servers" not in plain["spec"]["ingress"]["istio"]["knative-ingress-gateway"]


def test_activator_and_workload_resources_per_env(tmp_path: Path) -> None:
    def workloads(env: str) -> dict[str, dict[str, Any]]:
        (cr,) = _render(tmp_path, env)
        return {w["name"]: w for w in cr["spec"]["workloads"]}

    eks, k3d = workloads("eks"), workloads("k3d")
    assert eks["activator"]["replicas"] == 2 and k3d["activator"]["replicas"] == 1
    assert k3d["activator"]["resources"][0]["requests"] == {"cpu": "50m", "memory": "40Mi"}
    assert eks["activator"]["resources"][0]["requests"] == {"cpu": "300m", "memory": "60Mi"}
    assert set(k3d) == {deployment for deployment, _ in knative_serving.WORKLOADS.values()}
    assert k3d["net-istio-controller"]["resources"][0]["container"] == "controller"


def test_overriding_the_domain_reaches_config_domain(tmp_path: Path) -> None:
    domain = environments.magic_dns_domain("172.18.255.200")
    (cr,) = _render(tmp_path, "k3d", {"domain": domain})
    assert cr["spec"]["config"]["domain"] == {"172.18.255.200.sslip.io": ""}
