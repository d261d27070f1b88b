"""The shared ingress facts: derived from the istio-gateway component, never typed twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import gateway_variant
from mlstack import environments, ingress, registry
from mlstack.components import istio_gateway
from mlstack.errors import UserError


def test_default_gateway_facts() -> None:
    facts = ingress.ingress()
    assert facts == ingress.Ingress(
        namespace="istio-system",
        service="istio-gateway",
        pod_labels={"app": "istio-gateway", "istio": "gateway"},
        service_fqdn="istio-gateway.istio-system.svc.cluster.local",
        knative_gateway="knative-serving/knative-ingress-gateway",
        local_gateway="knative-serving/knative-local-gateway",
        local_gateway_service_fqdn="knative-local-gateway.istio-system.svc.cluster.local",
        release="istio-gateway",
    )


def test_renaming_the_release_moves_service_and_labels(monkeypatch: pytest.MonkeyPatch) -> None:
    renamed = gateway_variant("istio-ingressgateway")
    monkeypatch.setattr(registry, "COMPONENTS", (renamed,))
    facts = ingress.ingress()
    assert facts.service == "istio-ingressgateway"
    assert facts.pod_labels == {"app": "istio-ingressgateway", "istio": "ingressgateway"}
    assert facts.service_fqdn == "istio-ingressgateway.istio-system.svc.cluster.local"
    assert facts.release == "istio-ingressgateway"


def test_name_and_label_overrides_follow_upstream_rules() -> None:
    component = gateway_variant("istio-gateway", name="edge", labels={"istio": "public"})
    facts = ingress.derive(component, ingress.gateway_values(component))
    assert facts.service == "edge"
    assert facts.pod_labels == {"app": "edge", "istio": "public"}
    assert facts.service_fqdn == "edge.istio-system.svc.cluster.local"


def test_env_values_file_is_layered(tmp_path: Path) -> None:
    env = environments.get("k3d")
    (tmp_path / "k3d").mkdir()
    (tmp_path / "k3d" / "istio-gateway.yaml").write_text("gateway:\n  name: lab-gw\n")
    facts = ingress.ingress(env, tmp_path)
    assert facts.service == "lab-gw" and facts.pod_labels["istio"] == "lab-gw"


def test_exactly_one_gateway_component_is_required() -> None:
    with pytest.raises(UserError, match="exactly one component must wrap the istio-gateway"):
        ingress.gateway_component(())
    two = (istio_gateway.COMPONENT, gateway_variant("second-gateway"))
    with pytest.raises(UserError, match="found istio-gateway, second-gateway"):
        ingress.gateway_component(two)


def test_one_domain_per_environment() -> None:
    assert ingress.domain(environments.get("k3d")) == "example.com"
    assert ingress.domain(environments.get("minikube")) == "example.com"
    assert ingress.domain(environments.get("eks")) == environments.EKS_DOMAIN


def test_install_domain_uses_magic_dns_only_on_laptops() -> None:
    k3d, eks = environments.get("k3d"), environments.get("eks")
    assert ingress.install_domain(k3d, "172.18.255.200") == "172.18.255.200.sslip.io"
    assert ingress.install_domain(k3d, None) == "example.com"
    assert ingress.install_domain(eks, "10.0.0.1") == environments.EKS_DOMAIN
    assert environments.magic_dns_domain("fd00::1") == "fd00--1.sslip.io"
    with pytest.raises(UserError, match="'gateway' is not an IP address"):
        environments.magic_dns_domain("gateway")
