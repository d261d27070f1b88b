"""checkov on every environment's rendered output, offline: part of `make lint`.

What is checked is what the project writes itself: the glue charts (their objects are
ours), rendered per environment with the opt-in plain model server switched on (its
hardening is what checkov's pod checks judge; off by default it would escape them). The
wrapper charts' objects are the upstream projects'; checkov's findings on them are not
ours to fix and are not counted. A check that cannot apply to an object is skipped in the
chart itself, on the object, with `checkov.io/skip<N>: <CHECK>=<reason>` annotations, so
the reason travels with the chart (lib/podsecurity.CHECKOV_SKIPS).

Offline: `--skip-download` (no policy or guideline download) and
CKV_SKIP_PACKAGE_UPDATE_CHECK=true (no version check against PyPI).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from mlstack import REPO_ROOT, render
from mlstack.errors import UserError
from mlstack.resolve import Resolved

CHECKOV = REPO_ROOT / ".tools" / "checkov" / "bin" / "checkov"
#: A plain server in the catalogue for the check (a sample image; users bring their own).
PLAIN_SERVER = {
    "plainServers": [{"name": "model-server", "image": "registry.example/model-server:1.0"}]
}
MODELS = "models"
#: Kinds of our charts that live outside any namespace.
CLUSTER_SCOPED = frozenset({"Namespace", "ClusterServingRuntime", "CustomResourceDefinition"})


def _rendered(resolved: Resolved, overlay: Path) -> dict[str, str]:
    """Our own (glue) releases of `resolved`, rendered; models with the plain server on."""
    out = {}
    for release in resolved.releases:
        if release.component.dependencies:
            continue
        if release.id == MODELS:
            release = replace(release, files=(*release.files, overlay))
        out[release.id] = _placed(render.template(release, resolved), release.namespace)
    return out


def _placed(manifest: str, namespace: str) -> str:
    """The manifest as the cluster stores it: namespaced objects in the release namespace
    (helm template leaves it to `helm install --namespace`; checkov would see `default`)."""
    docs = render.documents(manifest)
    for doc in docs:
        meta = doc.setdefault("metadata", {})
        if "namespace" not in meta and doc.get("kind") not in CLUSTER_SCOPED:
            meta["namespace"] = namespace
    return yaml.safe_dump_all(docs, sort_keys=False)


def run_checkov(folder: Path, checkov: Path = CHECKOV) -> dict[str, Any]:
    """checkov's JSON report of the Kubernetes manifests in `folder`, offline."""
    if not checkov.exists():
        raise UserError(f"{checkov} is missing: run `make checkov` (installs it into its own venv)")
    env = {**os.environ, "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "BC_SKIP_MAPPING": "TRUE"}
    proc = subprocess.run(
        [
            str(checkov),
            "--directory",
            str(folder),
            "--framework",
            "kubernetes",
            "--skip-download",
            "--quiet",
            "--compact",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if not proc.stdout.strip().startswith(("{", "[")):
        raise UserError(f"checkov failed (exit {proc.returncode}): {proc.stderr.strip()[-300:]}")
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError as err:
        last = (proc.stderr.strip().splitlines() or ["no stderr"])[-1]
        raise UserError(
            f"checkov printed no JSON report ({err.msg}; exit {proc.returncode}): {last}"
        ) from None
    # One report per framework; with a single framework checkov prints an object.
    found: dict[str, Any] = report[0] if isinstance(report, list) else report
    return found


def failures(report: dict[str, Any]) -> list[str]:
    """'file: CHECK resource: name' per failed check."""
    failed = report.get("results", {}).get("failed_checks", [])
    return [
        f"{c['file_path'].lstrip('/')}: {c['check_id']} {c['resource']}: {c['check_name']}"
        for c in failed
    ]


def check_env(resolved: Resolved, checkov: Path = CHECKOV) -> tuple[int, list[str]]:
    """(passed checks, failures) of checkov on `resolved`'s own rendered objects."""
    with tempfile.TemporaryDirectory(prefix="mlstack-checkov-") as tmp:
        folder = Path(tmp)
        overlay = folder / "plain-server.values.yaml"
        overlay.write_text(yaml.safe_dump(PLAIN_SERVER))
        out = folder / resolved.name
        out.mkdir()
        for release_id, manifest in _rendered(resolved, overlay).items():
            (out / f"{release_id}.yaml").write_text(manifest)
        report = run_checkov(out, checkov)
    passed, failed = int(report.get("summary", {}).get("passed", 0)), failures(report)
    if not passed and not failed:
        raise UserError(f"checkov checked nothing in {resolved.name}'s rendered output")
    return passed, failed


def main(envs: list[Resolved]) -> int:
    worst = 0
    for resolved in envs:
        passed, failed = check_env(resolved)
        for line in failed:
            print(f"checkov {resolved.name}: {line}", file=sys.stderr)
        print(f"checkov {resolved.name}: {passed} passed, {len(failed)} failed")
        worst = max(worst, 1 if failed else 0)
    return worst
