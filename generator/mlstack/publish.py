"""`publish`: push every packaged chart to an OCI registry and sign it with cosign.

A signature binds to the manifest digest the registry stores, which only `helm push`
knows (it prints `Digest: sha256:…`); so each chart is pushed, its digest read from
helm's output, then `cosign sign` runs against `<registry>/<chart>@<digest>` — keyless
(Sigstore OIDC, as in the release workflow with `id-token: write`) or with `--key` (a file,
`env://VAR` or a KMS URI). The pushed references and digests are written to a small
YAML file that GitOps OCI mode reads to pin charts by digest. `--dry-run` prints the same
steps with each archive's sha256 (the chart layer's digest) and pushes nothing.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from mlstack.errors import UserError
from mlstack.lib import helm, yamlfile

_DIGEST = re.compile(r"^Digest:\s*(sha256:[0-9a-f]{64})\s*$", re.MULTILINE)
_ARCHIVE = re.compile(r"^(?P<chart>[a-z0-9-]+)-(?P<version>\d+\.\d+\.\d+)\.tgz$")
PENDING = "<digest printed by helm push>"
_NO_COSIGN = (
    "cosign is not on PATH: install it (https://docs.sigstore.dev/cosign/system_config/"
    "installation/) or publish unsigned with SIGN=0"
)


@dataclass(frozen=True)
class Step:
    chart: str
    version: str
    archive: Path
    #: sha256 of the archive: the digest of the chart layer inside the OCI artifact.
    layer: str
    push: list[str]
    #: the cosign command; its last argument gets the manifest digest once pushed.
    sign: list[str] | None


def digest_from(helm_output: str) -> str:
    """The manifest digest `helm push` reports; a UserError when it printed none."""
    match = _DIGEST.search(helm_output)
    if not match:
        raise UserError("helm push printed no `Digest: sha256:…` line: cannot sign the chart")
    return match.group(1)


def plan(dist: Path, registry_url: str, key: str | None, sign: bool = True) -> list[Step]:
    """One push (and sign) step per archive in `dist/`, in name order."""
    if not registry_url.startswith("oci://"):
        raise UserError(
            f"REGISTRY={registry_url or '(empty)'} must be an OCI registry reference such as "
            "oci://ghcr.io/<org>/charts"
        )
    archives = sorted(dist.glob("*.tgz"))
    if not archives:
        raise UserError(f"no chart archives in {dist}: run `make package` first")
    base = registry_url.rstrip("/")
    steps = []
    for archive in archives:
        match = _ARCHIVE.match(archive.name)
        if not match:
            raise UserError(f"{archive}: not a <chart>-<version>.tgz archive: rerun make package")
        chart, version = match["chart"], match["version"]
        layer = "sha256:" + hashlib.sha256(archive.read_bytes()).hexdigest()
        cosign = ["cosign", "sign", "--yes"] + (["--key", key] if key else [])
        ref = f"{base.removeprefix('oci://')}/{chart}@{PENDING}"
        steps.append(
            Step(
                chart,
                version,
                archive,
                layer,
                ["helm", "push", str(archive), base],
                [*cosign, ref] if sign else None,
            )
        )
    return steps


def _run(command: list[str], what: str) -> str:
    binary = helm.binary() if command[0] == "helm" else shutil.which(command[0])
    if binary is None:
        raise UserError(_NO_COSIGN)
    proc = subprocess.run([binary, *command[1:]], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        last = (proc.stderr.strip() or proc.stdout.strip() or "no output").splitlines()[-1]
        raise UserError(f"{what} failed: {last}")
    return proc.stdout + proc.stderr


def publish(
    dist: Path,
    registry_url: str,
    dry_run: bool,
    key: str | None = None,
    sign: bool = True,
    record: Path | None = None,
) -> dict[str, dict[str, str]]:
    """Push (and sign) every archive; returns {chart: {version, digest}} and writes it to
    `record` (the file GitOps OCI mode reads). Dry run: prints the plan, writes nothing."""
    steps = plan(dist, registry_url, key, sign)
    if sign and not dry_run and shutil.which("cosign") is None:  # refuse before any push
        raise UserError(_NO_COSIGN)
    published: dict[str, dict[str, str]] = {}
    for step in steps:
        prefix = "would run: " if dry_run else ""
        print(f"{prefix}{' '.join(step.push)}   # chart layer {step.layer}")
        digest = (
            PENDING if dry_run else digest_from(_run(step.push, f"helm push {step.archive.name}"))
        )
        if step.sign:
            command = [*step.sign[:-1], step.sign[-1].replace(PENDING, digest)]
            print(f"{prefix}{' '.join(command)}")
            if not dry_run:
                _run(command, f"cosign sign {step.chart}")
        if not dry_run:
            print(f"published {step.chart} {step.version} {digest}")
            published[step.chart] = {"version": step.version, "digest": digest}
    if record is not None and not dry_run:
        record.parent.mkdir(parents=True, exist_ok=True)
        body = {"registry": registry_url.rstrip("/"), "charts": dict(sorted(published.items()))}
        record.write_text(
            "# Written by `make publish`: what was pushed, by digest (GitOps OCI mode reads it).\n"
            + yaml.safe_dump(body, sort_keys=False)
        )
    return published


def recorded_digests(record: Path, registry_url: str, charts_dir: Path) -> dict[str, str]:
    """{chart: digest} from a publish record for `registry_url`; {} when there is none.

    A recorded version that differs from the chart's current one is an error: pinning
    the old digest would install an older chart than the layout describes."""
    if not record.exists():
        return {}
    data = yamlfile.read(record) or {}
    if not isinstance(data, dict) or not isinstance(data.get("charts"), dict):
        raise UserError(f"{record}: not a `make publish` record: delete it and publish again")
    if str(data.get("registry", "")).rstrip("/") != registry_url.rstrip("/"):
        return {}
    digests = {}
    for chart, entry in sorted(data["charts"].items()):
        meta = charts_dir / chart / "Chart.yaml"
        built = (yamlfile.read(meta) if meta.exists() else None) or {}
        if not isinstance(entry, dict) or str(entry.get("version")) != str(built.get("version")):
            shown = entry.get("version") if isinstance(entry, dict) else entry
            raise UserError(
                f"{record}: {chart} {shown} was published, but the chart is "
                f"{built.get('version')}: run `make publish` again"
            )
        digests[chart] = str(entry["digest"])
    return digests
