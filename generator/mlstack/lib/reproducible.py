"""Byte-reproducible chart archives and repository index.

`helm package` stamps every tar entry and the gzip header with the current time and
`helm repo index` writes `created`/`generated` as now, so two runs over the same charts
give different bytes (and different digests, which signatures and GitOps pins depend
on). Each archive is rewritten with entries in a fixed order (Chart.yaml first, the rest
sorted), fixed mtime/owner/mode, and a gzip header without time or name; the index gets
the same fixed time. The time is SOURCE_DATE_EPOCH when set (the reproducible-builds
convention), else the last commit of the charts, else the Unix epoch.
"""

from __future__ import annotations

import datetime
import gzip
import io
import os
import re
import subprocess
import tarfile
from pathlib import Path

_INDEX_TIMES = re.compile(r"^(\s*(?:created|generated):\s*).*$", re.MULTILINE)


def source_date(charts_dir: Path) -> int:
    """Seconds since the epoch every packaged file and index entry is stamped with."""
    explicit = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if explicit.isdigit():
        return int(explicit)
    try:
        proc = subprocess.run(
            ["git", "log", "-1", "--format=%ct", "--", "."],
            cwd=charts_dir,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return 0
    stamp = proc.stdout.strip()
    return int(stamp) if proc.returncode == 0 and stamp.isdigit() else 0


def _order(name: str) -> tuple[int, str]:
    """Chart.yaml first (Helm's own packer writes it first), then by path."""
    return (0 if name.count("/") == 1 and name.endswith("/Chart.yaml") else 1, name)


def normalize_archive(path: Path, epoch: int) -> None:
    """Rewrite a chart archive in place with fixed order, times, owners and modes."""
    with tarfile.open(path, "r:gz") as source:
        members = [(m, source.extractfile(m).read() if m.isfile() else b"")  # type: ignore[union-attr]
                   for m in source.getmembers()]  # fmt: skip
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as target:
        for member, data in sorted(members, key=lambda item: _order(item[0].name)):
            info = tarfile.TarInfo(member.name)
            info.type = member.type
            info.size = len(data)
            info.mtime = epoch
            info.mode = 0o755 if member.isdir() else 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            target.addfile(info, io.BytesIO(data) if member.isfile() else None)
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    path.write_bytes(packed.getvalue())


def stamp_index(path: Path, epoch: int) -> None:
    """Set every `created` and the `generated` time of a Helm index.yaml to `epoch`."""
    when = datetime.datetime.fromtimestamp(epoch, tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = _INDEX_TIMES.sub(lambda m: f'{m.group(1)}"{when}"', path.read_text())
    path.write_text(text)
