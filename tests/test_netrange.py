"""MetalLB range detection: a range near the top of the subnet, never gateway/network/broadcast."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
import yaml

from mlstack.components.metallb_pool import check_address_range
from mlstack.errors import UserError
from mlstack.lifecycle import netrange


def _bounds(text: str) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]:
    first, last = (ipaddress.IPv4Address(p) for p in text.split("-"))
    return first, last


@pytest.mark.parametrize(
    ("subnet", "gateway", "expected"),
    [
        ("172.18.0.0/16", "172.18.0.1", "172.18.255.200-172.18.255.250"),
        ("172.20.16.0/20", "172.20.16.1", "172.20.31.200-172.20.31.250"),
        ("192.168.49.0/24", "192.168.49.1", "192.168.49.200-192.168.49.250"),
        ("10.10.0.16/28", "10.10.0.17", "10.10.0.27-10.10.0.30"),
    ],
)
def test_range_near_the_top(subnet: str, gateway: str, expected: str) -> None:
    got = netrange.pool_range(subnet, gateway)
    assert got == expected
    net = ipaddress.ip_network(subnet)
    first, last = _bounds(got)
    assert first in net and last in net and first <= last
    excluded = {net.network_address, net.broadcast_address, ipaddress.ip_address(gateway)}
    span = {ipaddress.IPv4Address(a) for a in range(int(first), int(last) + 1)}
    assert not span & excluded
    assert check_address_range(got) == got  # the pool chart accepts it


def test_gateway_at_the_top_is_skipped() -> None:
    got = netrange.pool_range("10.0.0.0/28", "10.0.0.14")
    first, last = _bounds(got)
    assert ipaddress.IPv4Address("10.0.0.14") not in {first, last}
    assert int(last) < int(ipaddress.IPv4Address("10.0.0.14"))


def test_tiny_and_ipv6_subnets_are_clear_errors() -> None:
    with pytest.raises(UserError, match="too small"):
        netrange.pool_range("10.0.0.0/31")
    with pytest.raises(UserError, match="not IPv4"):
        netrange.pool_range("fd00::/64")


def _network(*configs: dict[str, str]) -> dict[str, object]:
    """The shape `docker network inspect` prints."""
    return {
        "Name": "k3d-mlstack",
        "Driver": "bridge",
        "IPAM": {"Driver": "default", "Config": list(configs)},
    }


def test_docker_inspect_dual_stack_picks_ipv4() -> None:
    networks = [
        _network(
            {"Subnet": "fd12:3456:789a::/64", "Gateway": "fd12:3456:789a::1"},
            {"Subnet": "172.19.0.0/16", "Gateway": "172.19.0.1"},
        )
    ]
    assert netrange.range_from_docker_networks(networks, "k3d-mlstack") == (
        "172.19.255.200-172.19.255.250"
    )


def test_several_networks_first_ipv4_wins() -> None:
    networks = [
        _network({"Subnet": "fd00:1::/64"}),
        _network({"Subnet": "172.21.0.0/16", "Gateway": "172.21.0.1"}),
        _network({"Subnet": "172.22.0.0/16", "Gateway": "172.22.0.1"}),
    ]
    assert netrange.range_from_docker_networks(networks, "n").startswith("172.21.255.")


def test_ipv6_only_network_is_one_clear_line() -> None:
    networks = [_network({"Subnet": "fd00:1::/64", "Gateway": "fd00:1::1"})]
    with pytest.raises(UserError) as err:
        netrange.range_from_docker_networks(networks, "k3d-mlstack")
    message = str(err.value)
    assert "\n" not in message
    assert "k3d-mlstack has no IPv4 subnet (fd00:1::/64)" in message
    with pytest.raises(UserError, match="no subnets"):
        netrange.range_from_docker_networks([{"IPAM": {"Config": None}}], "empty")


def test_minikube_ip() -> None:
    assert netrange.range_from_node_ip("192.168.58.2\n") == "192.168.58.200-192.168.58.250"
    with pytest.raises(UserError, match="not an IP address"):
        netrange.range_from_node_ip("E0101 profile not found")


def test_overlay_is_valid_values_for_the_pool(tmp_path: Path) -> None:
    path = netrange.write_overlay(
        tmp_path, "k3d", "172.18.255.200-172.18.255.250", "docker network k3d-mlstack"
    )
    assert path == tmp_path / "k3d" / "local" / "metallb-pool.yaml"
    assert yaml.safe_load(path.read_text()) == {
        "pool": {"addresses": ["172.18.255.200-172.18.255.250"]}
    }
    assert [p.name for p in path.parent.iterdir()] == ["metallb-pool.yaml"]
