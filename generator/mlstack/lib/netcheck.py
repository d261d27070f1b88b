"""Address ranges a MetalLB pool may hand out, beyond what the syntax says.

`0.0.0.0/0` and `127.0.0.0/8` are valid CIDRs, and MetalLB would accept them: it would
then announce loopback or the whole internet on the node's network. A pool must be a
small block of ordinary unicast addresses on the cluster's network, so these are refused:
loopback, multicast, link-local, unspecified, broadcast, the reserved 240.0.0.0/4 block,
anything wider than `MAX_ADDRESSES`, ranges that overlap each other, and ranges that
overlap the cluster's own pod or Service networks where those are known (the defaults of
k3s and minikube; a pool there would shadow in-cluster addresses).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: A /16: far more LoadBalancer addresses than one cluster's layer-2 segment needs.
MAX_ADDRESSES = 65536
#: Ranges one pool may list: MetalLB pools hold a few; thousands are a generated mistake.
MAX_RANGES = 256
_FORBIDDEN: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/32", "the unspecified address"),
    ("0.0.0.0/8", "'this network' (0.0.0.0/8)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("224.0.0.0/4", "multicast"),
    ("255.255.255.255/32", "the broadcast address"),
    ("240.0.0.0/4", "reserved addresses"),
    ("::/128", "the unspecified address"),
    ("::1/128", "loopback"),
    ("fe80::/10", "link-local"),
    ("ff00::/8", "multicast"),
)
FORBIDDEN = tuple((ipaddress.ip_network(n), what) for n, what in _FORBIDDEN)
#: Pod and Service networks of the local cluster tools, by the environment's `cluster`
#: kind, as their docs give them: k3s `--cluster-cidr`/`--service-cidr` defaults (k3d runs
#: k3s), minikube's kubeadm defaults; simulated: platform/simulated.yaml `network` (a test
#: keeps them in step).
CLUSTER_NETWORKS: dict[str, tuple[str, ...]] = {
    "k3d": ("10.42.0.0/16", "10.43.0.0/16"),
    "minikube": ("10.244.0.0/16", "10.96.0.0/12"),
    "simulated": ("10.244.0.0/16", "10.96.0.0/16"),
}


def bounds(text: str) -> tuple[Address, Address]:
    """First and last address of a CIDR or an inclusive FIRST-LAST range (ValueError)."""
    if "-" in text:
        first, last = (ipaddress.ip_address(part.strip()) for part in text.split("-", 1))
        if first.version != last.version or int(first) > int(last):
            raise ValueError(f"{text!r}: FIRST must not be above LAST, both of one family")
        return first, last
    net = ipaddress.ip_network(text.strip(), strict=True)
    return net.network_address, net.broadcast_address


def _overlaps(a: tuple[Address, Address], b: tuple[Address, Address]) -> bool:
    return a[0].version == b[0].version and int(a[0]) <= int(b[1]) and int(b[0]) <= int(a[1])


def pool_problem(text: str) -> str | None:
    """Why `text` is no address range for a pool, or None (syntax checked first)."""
    try:
        span = bounds(text)
    except ValueError:
        return (
            f"{text!r} is not an address range: use a CIDR such as 172.18.255.0/28 "
            "or FIRST-LAST such as 172.18.255.200-172.18.255.250"
        )
    size = int(span[1]) - int(span[0]) + 1
    if size >= 2 ** (32 if span[0].version == 4 else 128):
        return f"{text!r} is every address (the whole internet): use a small range"
    for net, what in FORBIDDEN:
        if _overlaps(span, (net.network_address, net.broadcast_address)):
            return f"{text!r} includes {what} ({net}): use ordinary unicast addresses"
    if size > MAX_ADDRESSES:
        return (
            f"{text!r} holds {size} addresses, more than {MAX_ADDRESSES} (a /16): use a "
            "small range of the cluster's network"
        )
    return None


def check_pool_range(text: str) -> str:
    """Pydantic validator form of `pool_problem`."""
    problem = pool_problem(text)
    if problem:
        raise ValueError(problem)
    return text


def overlap_problems(ranges: Iterable[str], others: Iterable[tuple[str, str]] = ()) -> list[str]:
    """Ranges that overlap each other, or one of `others` ((range, what it is) pairs).

    One sweep over the ranges sorted by start (n log n): each is compared with the one
    reaching furthest before it, so a pool of thousands of /32s is checked in milliseconds
    (comparing every pair took minutes at 20,000)."""
    spans = [(text, bounds(text)) for text in ranges]
    order = sorted(range(len(spans)), key=lambda i: (spans[i][1][0].version, int(spans[i][1][0])))
    pairs: list[tuple[int, int]] = []
    reach: int | None = None  # index of the span reaching furthest so far (same family)
    for i in order:
        first, last = spans[i][1]
        if reach is not None and _overlaps(spans[reach][1], (first, last)):
            pairs.append((min(reach, i), max(reach, i)))
        if (
            reach is None
            or spans[reach][1][0].version != first.version
            or int(last) > int(spans[reach][1][1])
        ):
            reach = i
    found = [
        f"{spans[a][0]!r} overlaps {spans[b][0]!r}: list each address once"
        for a, b in sorted(pairs)
    ]
    for other, what in others:
        other_span = bounds(other)
        found += [
            f"{text!r} overlaps {what} {other}: pick addresses outside it"
            for text, span in spans
            if _overlaps(span, other_span)
        ]
    return found


def cluster_networks(cluster: str) -> list[tuple[str, str]]:
    """(CIDR, what) of a cluster kind's in-cluster networks, where known."""
    return [
        (cidr, "the cluster's pod network" if i == 0 else "the cluster's Service network")
        for i, cidr in enumerate(CLUSTER_NETWORKS.get(cluster, ()))
    ]
