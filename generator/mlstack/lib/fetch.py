"""`schemas fetch`: fill the upstream schema cache from the upstream release URLs.

`data/upstream-sources.tsv` names, for every file validation reads, the upstream
repository, tag and path at the pinned version. Files are fetched into a temporary
directory and moved into place only when all arrived, so a broken download never leaves a
half-filled cache that later looks complete.
"""

from __future__ import annotations

import csv
import shutil
import tempfile
import urllib.request
from pathlib import Path

from mlstack.errors import UserError
from mlstack.lib import helm

SOURCES = Path(__file__).resolve().parents[1] / "data" / "upstream-sources.tsv"
RAW = "https://raw.githubusercontent.com/{repo}/{tag}/{path}"
#: Emissary publishes its CRDs only as a chart; the file is that chart rendered.
EMISSARY_CRDS = ("oci://ghcr.io/emissary-ingress/emissary-crds-chart", "enableLegacyVersions=true")


def sources() -> list[dict[str, str]]:
    with SOURCES.open() as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def fetch(dest: Path, timeout: float = 30.0) -> int:
    staging = Path(
        tempfile.mkdtemp(prefix=".upstream.", dir=dest.parent if dest.parent.exists() else None)
    )
    try:
        for row in sources():
            target = staging / row["file"]
            target.parent.mkdir(parents=True, exist_ok=True)
            if "helm template" in row["path"]:
                version = row["tag"].lstrip("v")
                proc = helm.run(
                    [
                        "template",
                        "crds",
                        EMISSARY_CRDS[0],
                        "--version",
                        version,
                        "--set",
                        EMISSARY_CRDS[1],
                    ]
                )
                if proc.returncode != 0:
                    raise UserError(f"could not render {row['file']}: {proc.stderr.strip()}")
                target.write_text(proc.stdout)
                continue
            url = RAW.format(**row)
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    target.write_bytes(response.read())
            except OSError as err:
                raise UserError(f"could not download {url}: {err}; are you online?") from None
        if dest.exists():
            shutil.rmtree(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return len(sources())
