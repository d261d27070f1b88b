"""Typed access to `data/versions.yaml`: pinned versions and the compatibility matrix.

Versions are data, not code, so that a bump is one reviewed line and every chart that
depends on it (appVersion, kubeVersion, dependency pins) changes in the same commit.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mlstack.errors import UserError
from mlstack.lib import yamlfile

VERSIONS_FILE = Path(__file__).parent / "data" / "versions.yaml"


def parse_minor(text: str) -> tuple[int, int]:
    """'1.33' -> (1, 33)."""
    major, minor = text.split(".")[:2]
    return int(major), int(minor)


def parse_version(text: str) -> tuple[int, ...]:
    """'v1.30.3' -> (1, 30, 3); a leading v (chart versions) is ignored."""
    return tuple(int(part) for part in text.removeprefix("v").split("-")[0].split("."))


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class KubeRange(_Data):
    """Inclusive range of Kubernetes minors, e.g. 1.29 to 1.34."""

    min: str
    max: str

    @field_validator("min", "max")
    @classmethod
    def _minor(cls, value: str) -> str:
        parse_minor(value)
        return value

    def covers(self, minor: str) -> bool:
        return parse_minor(self.min) <= parse_minor(minor) <= parse_minor(self.max)

    def constraint(self) -> str:
        """The Chart.yaml `kubeVersion` constraint (pre-release suffix so EKS/k3s match)."""
        major, top = parse_minor(self.max)
        return f">={self.min}.0-0 <{major}.{top + 1}.0-0"


class Project(_Data):
    version: str
    app_version: str = Field(alias="appVersion")
    licence: str
    kubernetes: KubeRange
    crds: str | None = None
    evidence: str


class UpstreamChart(_Data):
    project: str
    name: str
    version: str
    repository: str
    values: str | None = None


class Image(_Data):
    """A container image our own charts reference (glue objects), pinned like a chart."""

    project: str
    repository: str
    tag: str
    evidence: str

    @property
    def ref(self) -> str:
        return f"{self.repository}:{self.tag}"


class Tool(_Data):
    """A tool the platform does not install but writes objects for (GitOps controllers):
    pinned so its CRDs are fetched and generated objects validated at that version."""

    version: str
    crds: str
    evidence: str


class Edge(_Data):
    """A compatibility fact between two projects, with where it was checked."""

    subject: str
    requires: str
    kind: Literal["range", "exact"] = "range"
    min: str | None = None
    max: str | None = None
    #: "unverified": enforced, but upstream evidence is missing (the evidence says what).
    status: Literal["verified", "unverified"] = "verified"
    evidence: str

    def accepts(self, version: str) -> bool:
        """`version` lies in [min, max]; a bound "1.30" covers every 1.30.x."""
        if self.kind == "exact":
            return parse_version(version) == parse_version(self.min or "")
        have = parse_version(version)
        low = parse_version(self.min) if self.min else None
        high = parse_version(self.max) if self.max else None
        if low is not None and have[: len(low)] < low:
            return False
        return high is None or have[: len(high)] <= high

    def describe(self) -> str:
        if self.kind == "exact":
            return f"exactly {self.min}"
        return f"{self.min or 'any'}-{self.max or 'any'}"


class Versions(_Data):
    projects: dict[str, Project]
    charts: dict[str, UpstreamChart]
    compatibility: list[Edge] = []
    images: dict[str, Image] = {}
    tools: dict[str, Tool] = {}


@functools.cache
def load(path: Path = VERSIONS_FILE) -> Versions:
    data = yamlfile.model(path, Versions)
    for name, chart in data.charts.items():
        if chart.project not in data.projects:
            raise UserError(f"{path}: charts.{name}.project: unknown project {chart.project!r}")
    for index, edge in enumerate(data.compatibility):
        for side in ("subject", "requires"):
            if getattr(edge, side) not in data.projects:
                raise UserError(
                    f"{path}: compatibility.{index}.{side}: unknown project "
                    f"{getattr(edge, side)!r}: add it under projects:"
                )
        if edge.min is None and edge.max is None:
            raise UserError(f"{path}: compatibility.{index}: give min and/or max")
    for name, image in data.images.items():
        if image.project not in data.projects:
            raise UserError(f"{path}: images.{name}.project: unknown project {image.project!r}")
    return data
