"""The shared facts: derived once per environment from the gateway release, never typed twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import gateway_variant, rename_values, replacing, values_copy, with_gateway
from mlstack import environments, registry, resolve
from mlstack.errors import UserError
from mlstack.lib import facts


def test_default_gateway_facts() -> None:
    gateway = resolve.resolve("k3d").facts.gateway
    assert gateway == facts.Gateway(
        release="istio-gateway",
        namespace="istio-system",
        service="istio-gateway",
        pod_labels={"app": "istio-gateway", "istio": "gateway"},
    )
    assert gateway.service_fqdn == "istio-gateway.istio-system.svc.cluster.local"
    assert gateway.knative_gateway == "knative-serving/knative-ingress-gateway"
    assert gateway.local_gateway == "knative-serving/knative-local-gateway"
    assert (
        gateway.local_gateway_service_fqdn == "knative-local-gateway.istio-system.svc.cluster.local"
    )


def test_renaming_the_release_moves_service_and_labels(tmp_path: Path) -> None:
    components = with_gateway(gateway_variant("istio-ingressgateway"))
    values = values_copy(tmp_path / "values")
    rename_values(values, "istio-gateway", "istio-ingressgateway")
    gateway = resolve.resolve("k3d", values, components=components).facts.gateway
    assert gateway.service == "istio-ingressgateway"
    assert gateway.pod_labels == {"app": "istio-ingressgateway", "istio": "ingressgateway"}
    assert gateway.service_fqdn == "istio-ingressgateway.istio-system.svc.cluster.local"
    assert gateway.release == "istio-ingressgateway"


def test_name_and_label_overrides_follow_upstream_rules() -> None:
    gateway = facts.istio_gateway(
        "istio-gateway", "istio-system", {"name": "edge", "labels": {"istio": "public"}}
    )
    assert gateway.service == "edge"
    assert gateway.pod_labels == {"app": "edge", "istio": "public"}
    assert gateway.service_fqdn == "edge.istio-system.svc.cluster.local"


def test_env_values_file_is_layered(tmp_path: Path) -> None:
    values = values_copy(tmp_path / "values")
    (values / "k3d" / "istio-gateway.yaml").write_text("gateway:\n  name: lab-gw\n")
    gateway = resolve.resolve("k3d", values).facts.gateway
    assert gateway.service == "lab-gw" and gateway.pod_labels["istio"] == "lab-gw"


def test_exactly_one_gateway_component_is_required(tmp_path: Path) -> None:
    values = values_copy(tmp_path / "values")
    without = tuple(c for c in replacing() if c.id != "istio-gateway")
    with pytest.raises(UserError, match="no component wraps the istio-gateway chart"):
        resolve.facts_for(environments.load("k3d"), without, frozenset(), values, lambda c: {})
    two = (*replacing(), gateway_variant("second-gateway"))
    with pytest.raises(UserError, match="found istio-gateway, second-gateway"):
        resolve.facts_for(environments.load("k3d"), two, frozenset(), values, lambda c: {})
    assert registry.by_id()["istio-gateway"].dependencies[0].chart == resolve.GATEWAY_CHART


def test_one_domain_per_environment() -> None:
    assert resolve.resolve("k3d").facts.domain == environments.AUTO_PLACEHOLDER
    assert resolve.resolve("minikube").env.domain == environments.AUTO
    assert resolve.resolve("eks").facts.domain == "models.example.org"


def test_magic_dns_domain() -> None:
    assert environments.magic_dns_domain("172.18.255.200") == "172.18.255.200.sslip.io"
    assert environments.magic_dns_domain("fd00::1") == "fd00--1.sslip.io"
    with pytest.raises(UserError, match="'gateway' is not an IP address"):
        environments.magic_dns_domain("gateway")


@pytest.mark.parametrize(
    ("release", "text", "named"),
    [
        ("istio-gateway", "gateway:\n  labels: [app]\n", "gateway.labels: must be a mapping"),
        (
            "istio-gateway",
            "gateway:\n  labels: {istio: 7}\n",
            "gateway.labels.istio: must be a string",
        ),
    ],
)
def test_a_wrongly_typed_naming_value_is_one_line_naming_file_and_key(
    tmp_path: Path, release: str, text: str, named: str
) -> None:
    """Values the upstream chart's schema leaves untyped, read to derive the names every
    other release uses: a wrong type is refused in one line, never a traceback."""
    values = values_copy(tmp_path / "values")
    (values / "k3d" / f"{release}.yaml").write_text(text)
    with pytest.raises(UserError) as err:
        resolve.resolve("k3d", values)
    message = str(err.value)
    assert "\n" not in message and f"values/k3d/{release}.yaml: " in message, message
    assert named in message, message


def test_dex_port_of_the_wrong_type_is_refused_in_one_line() -> None:
    block = {"service": {"ports": {"http": {"port": "web"}}}}
    with pytest.raises(
        UserError, match=r"^f: dex\.service\.ports\.http\.port: must be a whole number"
    ):
        facts.dex_service("dex", "dex", block, "f: dex")
    assert facts.dex_service("dex", "dex", {}, "f: dex") == ("dex.dex.svc.cluster.local", 5556)
