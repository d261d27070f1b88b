"""Chart versions and changelogs, and the rule that content changes need a new version.

`data/chart-versions.yaml` lists each chart's releases, newest first, with what changed.
The generated Chart.yaml records a digest of the chart's content; when generate produces
different content under the version already committed, it stops and says which chart to
bump, so a published version never silently means two different charts.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from mlstack.errors import UserError
from mlstack.lib import yamlfile

RELEASES_FILE = Path(__file__).resolve().parents[1] / "data" / "chart-versions.yaml"
_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


def semver(text: str) -> tuple[int, int, int]:
    match = _SEMVER.match(text)
    if not match:
        raise ValueError(f"{text!r} is not MAJOR.MINOR.PATCH")
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


class Release(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: str
    changes: list[str]

    @field_validator("version")
    @classmethod
    def _semver(cls, value: str) -> str:
        semver(value)
        return value


class ChartReleases(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    releases: list[Release]

    @property
    def current(self) -> str:
        return self.releases[0].version

    def changelog(self, chart_id: str) -> str:
        lines = [f"# Changelog: {chart_id}", ""]
        for release in self.releases:
            lines.append(f"## {release.version}")
            lines.append("")
            lines.extend(f"- {change}" for change in release.changes)
            lines.append("")
        return "\n".join(lines)


@functools.cache
def load(path: Path = RELEASES_FILE) -> dict[str, ChartReleases]:
    raw = yamlfile.read(path) or {}
    result = {}
    for chart_id, releases in raw.items():
        try:
            entry = ChartReleases(releases=releases)
        except ValidationError as err:
            first = err.errors()[0]
            loc = ".".join(str(p) for p in first["loc"][1:])
            raise UserError(f"{path}: {chart_id}.{loc}: {first['msg']}") from None
        versions = [semver(r.version) for r in entry.releases]
        if versions != sorted(versions, reverse=True) or len(set(versions)) != len(versions):
            raise UserError(f"{path}: {chart_id}: list releases newest first, each version once")
        result[chart_id] = entry
    return result


def for_chart(chart_id: str, path: Path = RELEASES_FILE) -> ChartReleases:
    releases = load(path)
    if chart_id not in releases:
        raise UserError(
            f"{path}: no entry for chart {chart_id!r}: add `{chart_id}:` with a first release"
        )
    return releases[chart_id]


def check_bump(
    chart_id: str, old_version: str, old_digest: str, new_version: str, new_digest: str
) -> None:
    """Refuse changed content under an unchanged version, and versions that go backwards."""
    if semver(new_version) < semver(old_version):
        raise UserError(
            f"chart {chart_id}: version {new_version} is older than the committed "
            f"{old_version}: fix {chart_id} in {RELEASES_FILE.name}"
        )
    if new_version == old_version and new_digest != old_digest:
        raise UserError(
            f"chart {chart_id} changed but its version is still {old_version}: add a newer "
            f"release for {chart_id} in generator/mlstack/data/{RELEASES_FILE.name} "
            f"(or run `make bump CHART={chart_id} MSG='what changed'`)"
        )


def bump(chart_id: str, part: str, message: str, path: Path = RELEASES_FILE) -> str:
    """Add a release to the data file (keeps the rest of the file's text as it is)."""
    current = semver(for_chart(chart_id, path).current)
    index = ("major", "minor", "patch").index(part)
    parts = [*current[:index], current[index] + 1] + [0] * (2 - index)
    new = ".".join(str(p) for p in parts)
    text = path.read_text()
    anchor = re.search(rf"^{re.escape(chart_id)}:\n", text, re.MULTILINE)
    if anchor is None:
        raise UserError(f"{path}: no top-level key {chart_id!r}")
    if not message.strip() or "\n" in message:
        raise UserError("MSG must be one non-empty line saying what changed")
    # JSON strings are valid YAML scalars, so any punctuation in the message is safe.
    entry = f"  - version: {new}\n    changes:\n      - {json.dumps(message.strip())}\n"
    path.write_text(text[: anchor.end()] + entry + text[anchor.end() :])
    load.cache_clear()
    return new
