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
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mlstack.errors import UserError, brief
from mlstack.lib import yamlfile

RELEASES_FILE = Path(__file__).resolve().parents[1] / "data" / "chart-versions.yaml"
#: ASCII digits only (`\\d` would take full-width digits) and no leading zeros (`00.2.0`):
#: Helm compares chart versions as SemVer 2, where both are invalid.
#: At most 20 digits a part, each at most 2**64-1: Helm parses them as unsigned 64-bit
#: numbers (99999999999999999999999.0.0 passed here and failed only at render).
_PART = r"(0|[1-9][0-9]{0,19})"
_SEMVER = re.compile(rf"{_PART}\.{_PART}\.{_PART}", re.ASCII)


def semver(text: str) -> tuple[int, int, int]:
    match = _SEMVER.fullmatch(text) if isinstance(text, str) else None
    if not match or max(int(part) for part in match.groups()) > 2**64 - 1:
        raise ValueError(
            f"{brief(text)} is not MAJOR.MINOR.PATCH (ASCII digits, no leading zeros; 'latest' is "
            "not a version)"
        )
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


Change = Annotated[str, Field(min_length=1, pattern=r"^[^\n]*\S[^\n]*$")]


class Release(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    version: str
    changes: list[Change] = Field(min_length=1)

    @field_validator("version")
    @classmethod
    def _semver(cls, value: str) -> str:
        semver(value)
        return value


class ChartReleases(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    releases: list[Release] = Field(min_length=1)

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
def load(path: Path | None = None) -> dict[str, ChartReleases]:
    """Every chart's releases, each list schema-checked before its order is compared."""
    path = path or RELEASES_FILE
    where = yamlfile.shown(path)
    raw = yamlfile.read_mapping(path, "a mapping of chart id to its list of releases")
    result = {}
    for chart_id, releases in raw.items():
        if not isinstance(releases, list) or not releases:
            raise UserError(
                f"{where}: {chart_id}: must be a non-empty list of releases "
                "(- version: X.Y.Z / changes: [...]), newest first"
            )
        try:
            entry = ChartReleases(releases=releases)
        except ValidationError as err:
            first = err.errors()[0]
            loc = ".".join(str(p) for p in first["loc"][1:])
            msg = first["msg"].removeprefix("Value error, ")
            raise UserError(f"{where}: {chart_id}.{loc}: {msg}") from None
        versions = [semver(r.version) for r in entry.releases]
        if versions != sorted(versions, reverse=True) or len(set(versions)) != len(versions):
            raise UserError(f"{where}: {chart_id}: list releases newest first, each version once")
        result[str(chart_id)] = entry
    return result


def for_chart(chart_id: str, path: Path | None = None) -> ChartReleases:
    path = path or RELEASES_FILE
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
    try:
        older = semver(new_version) < semver(old_version)
    except ValueError as err:  # a hand-edited Chart.yaml: one line, not a traceback
        raise UserError(
            f"chart {chart_id}: Chart.yaml version: {err}: restore charts/{chart_id}/Chart.yaml "
            "(git checkout) and let make generate write it"
        ) from None
    if older:
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


def bump(chart_id: str, part: str, message: str, path: Path | None = None) -> str:
    """Add a release to the data file (keeps the rest of the file's text as it is)."""
    path = path or RELEASES_FILE
    current = semver(for_chart(chart_id, path).current)
    index = ("major", "minor", "patch").index(part)
    parts = [*current[:index], current[index] + 1] + [0] * (2 - index)
    new = ".".join(str(p) for p in parts)
    text = yamlfile.read_text(path)
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
