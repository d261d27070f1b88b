"""Container resources as a values section, shared by glue charts.

A slot takes the whole section (`resources: {{ toJson .Values.x.resources }}`), so the
schema must make a typo in a quantity fail at install time, not at the API server.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from pydantic import Field, create_model

from mlstack.lib.model import Values

CPU = r"^[0-9]+(\.[0-9]+)?m?$"
MEMORY = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$"


def _quantities(name: str, cpu: str, memory: str) -> type[Values]:
    return create_model(
        name,
        __base__=Values,
        cpu=(str, Field(cpu, pattern=CPU, description="CPU (cores or millicores).")),
        memory=(str, Field(memory, pattern=MEMORY, description="Memory (e.g. 512Mi, 2Gi).")),
    )


def resources(name: str, requests: tuple[str, str], limits: tuple[str, str]) -> type[Values]:
    """A `requests`/`limits` section whose defaults are (cpu, memory) pairs."""
    req = _quantities(f"{name}Requests", *requests)
    lim = _quantities(f"{name}Limits", *limits)
    return create_model(
        name,
        __base__=Values,
        requests=(req, Field(default_factory=req, description="Requested per container.")),
        limits=(lim, Field(default_factory=lim, description="Limit per container.")),
    )


_SUFFIX: dict[str, int | Decimal] = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}
_SUFFIX |= {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": 1}
_SUFFIX |= {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}
_PARTS = re.compile(r"^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+|[KMGTPE]i|[numkMGTPE])?$")


def parse_quantity(value: object) -> Decimal:
    """'500m' -> 0.5, '1Gi' -> 1073741824; ValueError for anything else."""
    match = _PARTS.match(str(value)) if isinstance(value, str | int) else None
    if not match or isinstance(value, bool):
        raise ValueError(f"{value!r} is not a Kubernetes quantity such as 500m, 2 or 1Gi")
    number, suffix = Decimal(match.group(1)), match.group(2) or ""
    if suffix[:1] in ("e", "E"):
        return number * Decimal(10) ** int(suffix[1:])
    return number * Decimal(_SUFFIX[suffix])


def order_problems(section: Any) -> list[str]:
    """'requests.cpu 2 is above limits.cpu 1' for each request above its limit in a
    `{requests: {...}, limits: {...}}` section (the API server refuses such a Pod)."""
    if not isinstance(section, dict):
        return []
    requests, limits = section.get("requests") or {}, section.get("limits") or {}
    found = []
    for name, request in requests.items():
        if name in limits and parse_quantity(request) > parse_quantity(limits[name]):
            found.append(
                f"requests.{name} {request} is above limits.{name} {limits[name]}: "
                "the API server refuses such a Pod"
            )
    return found
