"""Container resources as a values section, shared by glue charts.

A slot takes the whole section (`resources: {{ toJson .Values.x.resources }}`), so the
schema must make a typo in a quantity fail at install time, not at the API server. What a
pattern cannot say is checked by the model: a request above its limit (the API server
refuses the Pod) and, for quantities in pass-through blocks, negative amounts.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import Field, create_model, model_validator

from mlstack.lib.model import Values

CPU = r"^[0-9]+(\.[0-9]+)?m?$"
MEMORY = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$"
#: A Kubernetes quantity that is not negative (the API's grammar without the sign).
QUANTITY = (
    r"^\+?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
Quantity = Annotated[str, Field(pattern=QUANTITY)]

_SUFFIX = {
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_PARTS = re.compile(
    r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))([eE][+-]?[0-9.]+|[KMGTPE]i|[numkMGTPE])?$"
)


def parse_quantity(value: object) -> Decimal:
    """'500m' -> 0.5, '1Gi' -> 1073741824; ValueError for anything else (ASCII only)."""
    text = str(value).strip() if isinstance(value, str | int | float) else ""
    match = _PARTS.match(text) if text.isascii() else None
    if not match or isinstance(value, bool):
        raise ValueError(f"{value!r} is not a Kubernetes quantity such as 500m, 2 or 1Gi")
    number, suffix = match.group(1), match.group(2) or ""
    try:
        if suffix[:1] in ("e", "E"):
            return Decimal(number) * Decimal(10) ** Decimal(suffix[1:])
        return Decimal(number) * _SUFFIX[suffix]
    except (InvalidOperation, KeyError):
        raise ValueError(f"{value!r} is not a Kubernetes quantity") from None


def order_problems(section: Any) -> list[str]:
    """'requests.cpu 2 is above limits.cpu 1' for each request above its limit, and each
    negative or malformed amount, in a `{requests: {...}, limits: {...}}` section."""
    if not isinstance(section, dict):
        return []
    found = []
    parsed: dict[str, dict[str, Decimal]] = {}
    for side in ("requests", "limits"):
        amounts = section.get(side)
        if not isinstance(amounts, dict):
            continue
        for name, raw in amounts.items():
            if raw is None:
                continue
            try:
                amount = parse_quantity(raw)
            except ValueError as err:
                found.append(f"{side}.{name}: {err}")
                continue
            if amount < 0:
                found.append(f"{side}.{name}: {raw} is negative")
            parsed.setdefault(side, {})[name] = amount
    for name, request in parsed.get("requests", {}).items():
        limit = parsed.get("limits", {}).get(name)
        if limit is not None and request > limit:
            found.append(
                f"requests.{name} {section['requests'][name]} is above limits.{name} "
                f"{section['limits'][name]}: the API server refuses such a Pod"
            )
    return found


class Ordered(Values):
    """A `requests`/`limits` section whose requests do not exceed its limits."""

    @model_validator(mode="after")
    def _requests_within_limits(self) -> Ordered:
        problems = order_problems(self.model_dump(by_alias=True, mode="json"))
        if problems:
            raise ValueError(problems[0])
        return self


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
        __base__=Ordered,
        requests=(req, Field(default_factory=req, description="Requested per container.")),
        limits=(lim, Field(default_factory=lim, description="Limit per container.")),
    )
