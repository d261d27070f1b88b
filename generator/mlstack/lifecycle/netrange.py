"""MetalLB address range detection: a free range near the top of the cluster's network.

k3d and minikube (docker driver) put their nodes on a Docker bridge network; Docker hands
out container addresses from the bottom of its subnet, so the top is free for MetalLB.
The range must be on that network (layer-2 announcements only reach it) and must never
include the network, broadcast or gateway address. Pure functions; `cluster.py` feeds them
`docker network inspect` output or `minikube ip`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mlstack.errors import UserError

#: Size of the pool on networks of /24 or larger: room for every LoadBalancer Service of
#: the platform and the user's own, far above what Docker hands out on a laptop.
POOL_SIZE = 51
#: Addresses left free just below the broadcast address on /24-or-larger networks.
TOP_MARGIN = 5
#: Release and key that receive the detected range.
POOL_RELEASE = "metallb-pool"


def pool_range(subnet: str, gateway: str | None = None) -> str:
    """'172.18.0.0/16' -> '172.18.255.200-172.18.255.250' (inclusive FIRST-LAST)."""
    net = ipaddress.ip_network(subnet, strict=False)
    if not isinstance(net, ipaddress.IPv4Network):
        raise UserError(f"subnet {subnet} is not IPv4: MetalLB layer-2 needs an IPv4 network")
    if net.num_addresses < 4:
        raise UserError(f"subnet {subnet} is too small for a MetalLB pool: use /30 or larger")
    big = net.num_addresses >= 256
    count = POOL_SIZE if big else max(1, net.num_addresses // 4)
    last = int(net.broadcast_address) - (TOP_MARGIN if big else 1)
    gw = int(ipaddress.ip_address(gateway)) if gateway else None
    picked: list[int] = []
    for addr in range(last, int(net.network_address), -1):
        if addr == gw:
            if picked:
                break  # keep the range contiguous: stop at the gateway
            continue
        picked.append(addr)
        if len(picked) == count:
            break
    first, top = ipaddress.ip_address(min(picked)), ipaddress.ip_address(max(picked))
    return f"{first}-{top}"


def range_from_docker_networks(networks: Iterable[dict[str, Any]], name: str) -> str:
    """The range for the first IPv4 subnet of `docker network inspect` output."""
    seen: list[str] = []
    for network in networks:
        for config in (network.get("IPAM") or {}).get("Config") or []:
            subnet = config.get("Subnet")
            if not subnet:
                continue
            seen.append(subnet)
            if ipaddress.ip_network(subnet, strict=False).version == 4:
                return pool_range(subnet, config.get("Gateway") or None)
    found = ", ".join(seen) or "no subnets"
    raise UserError(
        f"docker network {name} has no IPv4 subnet ({found}): MetalLB layer-2 needs IPv4; "
        f"recreate the cluster on an IPv4 network or write pool.addresses yourself in "
        f"values/<env>/local/{POOL_RELEASE}.yaml"
    )


def range_from_node_ip(ip: str, prefix: int = 24) -> str:
    """From `minikube ip`: its docker driver network is a /24 with the gateway at .1."""
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        raise UserError(f"`minikube ip` printed {ip.strip()!r}, not an IP address") from None
    if address.version != 4:
        raise UserError(f"minikube node address {address} is not IPv4: MetalLB layer-2 needs IPv4")
    net = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    return pool_range(str(net), str(net.network_address + 1))


def overlay_text(address_range: str, source: str) -> str:
    return (
        f"# Written by mlstack cluster detection from {source}; git-ignored, machine-specific.\n"
        f"# Re-run the cluster target to refresh it; delete it to use the committed default.\n"
        f"pool:\n  addresses:\n    - {address_range}\n"
    )


def write_overlay(values_dir: Path, env: str, address_range: str, source: str) -> Path:
    """values/<env>/local/metallb-pool.yaml, written atomically."""
    folder = values_dir / env / "local"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{POOL_RELEASE}.yaml"
    tmp = folder / f".{POOL_RELEASE}.yaml.tmp"
    tmp.write_text(overlay_text(address_range, source))
    tmp.replace(target)
    return target
