"""The MetalLB address pool: an IPAddressPool and the L2Advertisement that announces it.

Environments with `loadBalancer: metallb` (switched with MetalLB). Installed right after
`metallb`, whose CRDs and validating webhook must be serving before these objects can be
created. The address ranges depend
on the cluster's Docker network, so they are an install-time slot: per-env values give a
typical range and `make cluster-*` writes the detected one into a local overlay.
"""

from __future__ import annotations

from typing import Annotated, Any

from constructs import Construct
from pydantic import AfterValidator, Field, model_validator

from mlstack.errors import UserError
from mlstack.lib import netcheck
from mlstack.lib.component import spec_object
from mlstack.lib.facts import Facts
from mlstack.lib.fields import DnsLabel
from mlstack.lib.model import Values
from mlstack.lib.slots import slot


def check_address_range(text: str) -> str:
    """A CIDR (`10.0.0.0/24`) or inclusive range (`10.0.0.10-10.0.0.20`) of ordinary
    unicast addresses a pool may hand out (lib/netcheck says what is refused and why)."""
    return netcheck.check_pool_range(text)


AddressRange = Annotated[
    str,
    Field(pattern=r"^[0-9a-fA-F:.]+(/[0-9]{1,3}|\s*-\s*[0-9a-fA-F:.]+)$"),
    AfterValidator(check_address_range),
]


class Pool(Values):
    name: DnsLabel = Field("default-pool", description="IPAddressPool name.")
    addresses: list[AddressRange] = Field(
        default_factory=list,
        max_length=netcheck.MAX_RANGES,
        json_schema_extra={"minItems": 1},
        description=(
            "Address ranges to hand out (CIDR or FIRST-LAST); required at install; at most "
            f"{netcheck.MAX_RANGES}."
        ),
    )
    auto_assign: bool = Field(True, description="Assign from this pool without being asked.")
    avoid_buggy_i_ps: bool = Field(
        False, alias="avoidBuggyIPs", description="Skip .0 and .255 addresses."
    )

    @model_validator(mode="after")
    def _disjoint(self) -> Pool:
        problems = netcheck.overlap_problems(self.addresses)
        if problems:
            raise ValueError(f"addresses: {problems[0]}")
        return self


class L2(Values):
    enabled: bool = Field(True, description="Announce the pool in layer-2 (ARP/NDP) mode.")
    interfaces: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9._@-]+$", max_length=15)]] = Field(
        default_factory=list,
        description="Host interfaces to announce from; empty means all.",
    )


class MetallbPoolValues(Values):
    pool: Pool = Field(default_factory=Pool, description="The address pool.")
    l2: L2 = Field(default_factory=L2, description="Layer-2 advertisement of the pool.")


class MetallbPool(Construct):
    """IPAddressPool + L2Advertisement, every field a slot of MetallbPoolValues."""

    def __init__(self, scope: Construct, id: str = "metallb-pool") -> None:
        super().__init__(scope, id)
        api, name = "metallb.io/v1beta1", slot("pool.name")
        pool = {
            "addresses": slot("pool.addresses"),
            "autoAssign": slot("pool.autoAssign"),
            "avoidBuggyIPs": slot("pool.avoidBuggyIPs"),
        }
        spec_object(self, "pool", api, "IPAddressPool", name, pool)
        l2 = {"ipAddressPools": [name], "interfaces": slot("l2.interfaces")}
        spec_object(self, "l2", api, "L2Advertisement", name, l2, when="l2.enabled")


def check_cluster_networks(facts: Facts, values: dict[str, Any]) -> None:
    """The pool must not shadow the cluster's own pod or Service network (where known)."""
    ranges = [str(r) for r in values.get("pool", {}).get("addresses", [])]
    problems = netcheck.overlap_problems(ranges, netcheck.cluster_networks(facts.env.cluster))
    if problems:
        raise UserError(f"{facts.file('metallb-pool')}: pool.addresses: {problems[0]}")
