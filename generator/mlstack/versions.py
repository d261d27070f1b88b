"""Typed access to `data/versions.yaml`: pinned versions and the compatibility matrix.

Versions are data, not code, so that a bump is one reviewed line and every chart that
depends on it (appVersion, kubeVersion, dependency pins) changes in the same commit.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from mlstack.errors import UserError, brief
from mlstack.lib import images, yamlfile

VERSIONS_FILE = Path(__file__).parent / "data" / "versions.yaml"
#: How messages name the file (users edit it by this path).
SHOWN = "generator/mlstack/data/versions.yaml"

#: Semantic versioning 2.0.0 core (ASCII digits, no leading zeros) + optional pre-release.
#: `re.ASCII` matters: `\d` and `int()` accept full-width digits such as U+FF11.
#: At most 20 digits: Helm reads each part as an unsigned 64-bit number, and Python's int()
#: refuses strings over 4,300 digits with a traceback.
_NUM = r"(0|[1-9][0-9]{0,19})"
SEMVER = re.compile(rf"{_NUM}\.{_NUM}\.{_NUM}(-[0-9A-Za-z.-]+)?", re.ASCII)
MAX_PART = 2**64 - 1
_MINOR = re.compile(rf"{_NUM}\.{_NUM}", re.ASCII)
_PARTIAL = re.compile(rf"{_NUM}(\.{_NUM}){{0,2}}", re.ASCII)


def parse_minor(text: str) -> tuple[int, int]:
    """'1.33' (or '1.33.2') -> (1, 33); ValueError for anything else (ASCII digits only)."""
    parts = parse_version(text)
    if len(parts) < 2:
        raise ValueError(f"{text!r} is not a Kubernetes minor such as 1.34")
    return parts[0], parts[1]


def parse_version(text: str) -> tuple[int, ...]:
    """'v1.30.3' -> (1, 30, 3); a leading v (chart versions) and a pre-release are ignored.

    Also takes the partial versions compatibility bounds use ('1.30'). ValueError for
    anything that is not ASCII digits without leading zeros.
    """
    bare = str(text).removeprefix("v")
    core, _, pre = bare.partition("-")
    if not _PARTIAL.fullmatch(core) or (pre and not SEMVER.fullmatch(bare)):
        raise ValueError(f"{brief(text)} is not a version such as 1.30.3")
    parts = tuple(int(part) for part in core.split("."))
    if max(parts) > MAX_PART:
        raise ValueError(f"{text!r}: a version part above {MAX_PART} is not a version Helm reads")
    return parts


def _semver(text: str) -> str:
    if not SEMVER.fullmatch(text):
        raise ValueError(
            f"{text!r} is not a pinned version MAJOR.MINOR.PATCH (ASCII digits, no leading "
            "zeros; 'latest' is not a pin)"
        )
    return text


def _v_semver(text: str) -> str:
    _semver(text.removeprefix("v"))
    return text


def _partial(text: str) -> str:
    parse_version(text)
    return text


def _minor(text: str) -> str:
    if not _MINOR.fullmatch(text):
        raise ValueError(f"{text!r} is not a Kubernetes minor such as 1.34")
    return text


Version = Annotated[str, AfterValidator(_semver)]
VVersion = Annotated[str, AfterValidator(_v_semver)]
Minor = Annotated[str, AfterValidator(_minor)]
Bound = Annotated[str, AfterValidator(_partial)]
Text = Annotated[str, Field(min_length=1, pattern=r"\S")]

T = TypeVar("T")


class Pins(dict[str, T]):
    """A section of versions.yaml; a missing key is the user's to add, not a KeyError."""

    section = ""

    def __missing__(self, key: str) -> T:
        raise UserError(
            f"{SHOWN}: no {self.section}.{key}: add it (every component's project, upstream "
            "chart and image is pinned there)"
        )


def _pins(section: str, value: dict[str, Any]) -> Any:
    table: Pins[Any] = Pins(value)
    table.section = section
    return table


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True, strict=True)


class KubeRange(_Data):
    """Inclusive range of Kubernetes minors, e.g. 1.29 to 1.34."""

    min: Minor
    max: Minor

    @model_validator(mode="after")
    def _ordered(self) -> KubeRange:
        if parse_minor(self.min) > parse_minor(self.max):
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self

    def covers(self, minor: str) -> bool:
        return parse_minor(self.min) <= parse_minor(minor) <= parse_minor(self.max)

    def constraint(self) -> str:
        """The Chart.yaml `kubeVersion` constraint (pre-release suffix so EKS/k3s match)."""
        major, top = parse_minor(self.max)
        return f">={self.min}.0-0 <{major}.{top + 1}.0-0"


class Project(_Data):
    version: Version
    app_version: VVersion = Field(alias="appVersion")
    #: The project's releases carry their own version line, apart from the app they ship
    #: (Zero to JupyterHub 4.4.0 ships JupyterHub 5.5.0, Dex's chart 0.24.0 ships Dex
    #: 2.44.0): appVersion may then differ; `version` is what charts and files pin.
    own_app_version: bool = Field(False, alias="ownAppVersion")
    licence: Text
    kubernetes: KubeRange
    crds: Text | None = None
    evidence: Text


class UpstreamChart(_Data):
    project: Text
    name: Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)]
    version: VVersion
    repository: Annotated[str, Field(pattern=r"^(https|oci)://[^\s/]+(/\S*)?$")]
    values: Text | None = None


class Image(_Data):
    """A container image our own charts reference (glue objects), pinned like a chart."""

    project: Text
    repository: Annotated[str, AfterValidator(images.check_repository)]
    tag: Annotated[str, AfterValidator(images.check_pinned_tag)]
    evidence: Text

    @property
    def ref(self) -> str:
        return f"{self.repository}:{self.tag}"


class Tool(_Data):
    """A tool the platform does not install but writes objects for (GitOps controllers):
    pinned so its CRDs are fetched and generated objects validated at that version."""

    version: VVersion
    crds: Text
    evidence: Text


class Simulated(_Data):
    """The Go modules `cluster: simulated` builds (lifecycle/simulated.py): the control plane
    from platform/simulated/go.mod (which must require these same versions; a test keeps
    them in step) and KWOK, installed by module path at this version."""

    kubernetes: VVersion
    etcd: VVersion
    kwok: VVersion
    evidence: Text


class Edge(_Data):
    """A compatibility fact between two projects, with where it was checked."""

    subject: Text
    requires: Text
    kind: Literal["range", "exact"] = "range"
    min: Bound | None = None
    max: Bound | None = None
    #: "unverified": enforced, but upstream evidence is missing (the evidence says what).
    status: Literal["verified", "unverified"] = "verified"
    evidence: Text

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
    simulated: Simulated | None = None

    @field_validator("projects", "charts", "images", "tools")
    @classmethod
    def _missing_is_a_user_error(cls, value: dict[str, Any], info: Any) -> Any:
        return _pins(info.field_name, value)


def _cross_check(data: Versions, where: str = SHOWN) -> None:
    """Facts between entries; only run once every entry has its schema-checked shape."""
    for name, project in data.projects.items():
        if project.own_app_version:
            continue
        if parse_version(project.app_version) != parse_version(project.version):
            raise UserError(
                f"{where}: projects.{name}.appVersion {project.app_version} is not version "
                f"{project.version}: change both together"
            )
    for name, chart in data.charts.items():
        if chart.project not in data.projects:
            raise UserError(f"{where}: charts.{name}.project: unknown project {chart.project!r}")
        pinned = data.projects[chart.project].version
        if parse_version(chart.version) != parse_version(pinned):
            raise UserError(
                f"{where}: charts.{name}.version {chart.version} leaves projects."
                f"{chart.project}.version {pinned}: a chart pin follows its project's pin, "
                "change both together"
            )
    for index, edge in enumerate(data.compatibility):
        for side in ("subject", "requires"):
            if getattr(edge, side) not in data.projects:
                raise UserError(
                    f"{where}: compatibility.{index}.{side}: unknown project "
                    f"{getattr(edge, side)!r}: add it under projects:"
                )
        if edge.min is None and edge.max is None:
            raise UserError(f"{where}: compatibility.{index}: give min and/or max")
        if edge.kind == "exact" and (edge.min is None or edge.max is not None):
            raise UserError(f"{where}: compatibility.{index}: kind exact takes min only")
    for name, image in data.images.items():
        if image.project not in data.projects:
            raise UserError(f"{where}: images.{name}.project: unknown project {image.project!r}")


@functools.cache
def load(path: Path | None = None) -> Versions:
    """The pins, validated: shape first (schema), then the facts between entries."""
    path = path or VERSIONS_FILE
    data = yamlfile.model(path, Versions)
    _cross_check(data, yamlfile.shown(path))
    return data
