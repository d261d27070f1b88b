"""Where upstream schemas live: the upstream schema directory setting.

Validation needs the real upstream CRDs and chart value schemas at the pinned versions.
They are data, read from one directory: `--schema-dir`, else `$MLSTACK_SCHEMA_DIR`, else
the git-ignored cache `.cache/upstream` that `make schemas` fills from the upstream
release URLs. A missing directory is an error, never a silent skip.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import yaml

from mlstack import REPO_ROOT, versions
from mlstack.errors import UserError
from mlstack.lib import upstream, yamlfile

#: libyaml's parser when PyYAML has it: CRD files are megabytes (Argo CD's alone takes
#: seconds with the pure-Python one). Both are safe loaders.
LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
DEFAULT_DIR = REPO_ROOT / ".cache" / "upstream"
CRD_CACHE = REPO_ROOT / ".cache" / "crd-json"
ENV_VAR = "MLSTACK_SCHEMA_DIR"


def schema_dir(explicit: str | None = None) -> Path:
    raw = explicit or os.environ.get(ENV_VAR) or str(DEFAULT_DIR)
    path = Path(raw)
    if not path.is_absolute():
        path = (Path.cwd() / path).resolve()
    if not (path / "crds").is_dir():
        raise UserError(
            f"upstream schema directory {path} has no crds/: run `make schemas` (downloads "
            f"from $MLSTACK_UPSTREAM_URL) or set {ENV_VAR} to a copy of the upstream schemas"
        )
    return path


def _strict(node: Any) -> Any:
    """OpenAPI v3 (CRD dialect) -> JSON schema that rejects unknown fields.

    The API server prunes unknown fields silently; failing on them here catches the
    misspelled key that would otherwise vanish on apply.
    """
    if isinstance(node, list):
        return [_strict(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict(v) for k, v in node.items()}
    if out.pop("x-kubernetes-int-or-string", False):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    preserve = out.get("x-kubernetes-preserve-unknown-fields", False)
    if "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def _with_object_meta(schema: dict[str, Any]) -> dict[str, Any]:
    """Some CRDs (Istio's) list only spec/status; the API server always accepts the
    object's apiVersion, kind and metadata, so the strict schema must too."""
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return schema
    meta: dict[str, Any] = {"apiVersion": {"type": "string"}, "kind": {"type": "string"}}
    meta["metadata"] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {**schema, "properties": {**meta, **properties}}


def crd_schemas(crds: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> strict schema, for every served version of the given CRDs."""
    index = {}
    for crd in crds:
        spec = crd["spec"]
        for version in spec.get("versions", []):
            schema = (version.get("schema") or {}).get("openAPIV3Schema")
            if schema and version.get("served", True):
                key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                index[key] = _strict(_with_object_meta(schema))
    return index


def crd_documents(folder: Path) -> list[dict[str, Any]]:
    """Every CRD in one folder under crds/ (parsed once, cached as JSON)."""
    return _crd_docs(folder, f"no CRDs at {folder}: run `make schemas` or set {ENV_VAR}")


def _crd_docs(folder: Path, missing: str) -> list[dict[str, Any]]:
    """Every CustomResourceDefinition in the YAML files of one folder under crds/.

    Building Python objects from megabytes of CRD YAML takes seconds even with libyaml,
    so the parsed result is kept as JSON under .cache/crd-json/, keyed by a hash of the
    files' bytes: a changed or different schema directory can never hit a stale entry.
    """
    if not folder.is_dir():
        raise UserError(missing)
    files = sorted(folder.glob("*.yaml"))
    digest = hashlib.sha256()
    texts = []
    for path in files:
        data = path.read_bytes()
        digest.update(path.name.encode() + b"\0" + data + b"\0")
        texts.append(data)
    cached = CRD_CACHE / f"{digest.hexdigest()}.json"
    if cached.exists():
        loaded: list[dict[str, Any]] = json.loads(cached.read_text())
        return loaded
    docs: list[dict[str, Any]] = []
    for data in texts:
        docs.extend(
            d
            for d in yaml.load_all(data, Loader=LOADER)
            if isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition"
        )
    try:
        CRD_CACHE.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(docs, default=str))
        tmp.replace(cached)
    except OSError:
        pass  # a read-only checkout still validates, only slower
    return docs


@functools.cache
def upstream_crds(directory: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """CRD schemas of every pinned project that ships CRDs."""
    docs: list[dict[str, Any]] = []
    for name, project in sorted(versions.load().projects.items()):
        if not project.crds:
            continue
        folder = directory / "crds" / project.crds
        docs += _crd_docs(
            folder,
            f"no CRDs for {name} {project.version} at {folder}: run `make schemas` or "
            f"point {ENV_VAR} at schemas for the pinned versions",
        )
    return crd_schemas(docs)


@functools.cache
def extra_crds(directory: Path, folders: tuple[str, ...]) -> dict[tuple[str, str], dict[str, Any]]:
    """CRD schemas from named folders under crds/ that belong to no pinned project.

    The GitOps output (Argo CD Applications, Flux HelmReleases) targets tools the platform
    does not install, so their CRDs are named by the code that writes those objects.
    """
    docs: list[dict[str, Any]] = []
    for name in folders:
        folder = directory / "crds" / name
        docs += _crd_docs(
            folder, f"no CRDs at {folder}: run `make schemas` or point {ENV_VAR} at them"
        )
    return crd_schemas(docs)


@functools.cache
def upstream_values(
    directory: Path, chart_key: str
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(default values, values schema or None) of a pinned upstream chart.

    Read once per process (upstream files are hundreds of KB; libyaml parses them): the
    schema directory is data for the pinned versions, not something a run edits.
    """
    chart = versions.load().charts[chart_key]
    folder = directory / "chart-values" / (chart.values or "")
    if not chart.values or not (folder / "values.yaml").exists():
        raise UserError(f"no upstream values for chart {chart_key} at {folder}: run `make schemas`")
    path = folder / "values.yaml"
    # Some upstream values files are templates of their release tooling (knative-operator's
    # `tag: {{ tag }}`); the placeholders become empty strings, the keys stay.
    try:
        defaults = yaml.load(upstream.untemplate(yamlfile.read_text(path)), Loader=LOADER)
    except yaml.YAMLError:
        raise UserError(f"{path}: not valid YAML: run `make schemas` again") from None
    if not isinstance(defaults, dict):
        defaults = {}
    schema_path = folder / "values.schema.json"
    if not schema_path.exists():
        return defaults, None
    return defaults, yamlfile.read_json(schema_path)
