"""Container resources as a values section, shared by glue charts.

A slot takes the whole section (`resources: {{ toJson .Values.x.resources }}`), so the
schema must make a typo in a quantity fail at install time, not at the API server.
"""

from __future__ import annotations

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
