"""Typed access to `data/project.yaml`: who publishes the charts and where.

Chart.yaml metadata (home, sources, maintainers, icon), the Artifact Hub licence, the
README install command, `make publish`'s default registry and GitOps OCI mode all read
this one file, so a fork changes its organisation in one reviewed place.
"""

from __future__ import annotations

import functools
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from mlstack.lib import yamlfile

PROJECT_FILE = Path(__file__).parent / "data" / "project.yaml"
_URL = r"^https://\S+$"


class Maintainer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1)
    email: str | None = None
    url: str | None = Field(None, pattern=_URL)


class Signing(BaseModel):
    """The keyless signer of released charts (an OIDC issuer and a subject regex)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    issuer: str = Field(pattern=_URL)
    subject: str = Field(min_length=1)


class Project(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    home: str = Field(pattern=_URL)
    sources: tuple[str, ...] = Field(min_length=1)
    maintainers: tuple[Maintainer, ...] = Field(min_length=1)
    icon: str | None = Field(None, pattern=_URL)
    license: str = Field(min_length=1)
    registry: str = Field(pattern=r"^oci://[a-z0-9.-]+(:\d+)?(/[a-z0-9._-]+)*$")
    signing: Signing

    def chart_ref(self, chart_id: str) -> str:
        """The OCI reference `helm install` takes for one chart."""
        return f"{self.registry.rstrip('/')}/{chart_id}"


@functools.cache
def load(path: Path = PROJECT_FILE) -> Project:
    return yamlfile.model(path, Project)
