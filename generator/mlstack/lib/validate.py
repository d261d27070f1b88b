"""Validation of values and of rendered manifests against real schemas.

Values: the chart's generated values.schema.json (what Helm checks) and then the pydantic
model (semantic checks such as address ranges); upstream pass-through blocks against the
upstream chart's own schema. Manifests: built-in kinds against the Kubernetes OpenAPI
schemas of each supported minor (kubernetes-validate, strict), custom resources against
the upstream CRD schemas (unknown fields rejected).
"""

from __future__ import annotations

import copy
import functools
import re
from typing import Any

import jsonschema
from pydantic import ValidationError

from mlstack.lib.model import Values


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's coalescing for maps: override wins, maps merge, lists replace, null deletes."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _path(parts: Any, data: Any = None) -> str:
    """Dotted path; a list entry with a `name` is shown by it (`inferenceServices[churn]`),
    so a message about entry 37 of a catalogue says which model it is."""
    out = ""
    node = data
    for part in parts:
        item = node[part] if isinstance(node, list) and isinstance(part, int) else None
        if isinstance(item, dict) and isinstance(item.get("name"), str) and item["name"]:
            out += f"[{item['name']}]"
        else:
            out += f".{part}" if out else str(part)
        node = node.get(part) if isinstance(node, dict) else item
    return out or "(top level)"


_KEY_FIRST = re.compile(r"^([a-z][A-Za-z0-9]*): ")


def _located(parts: Any, data: Any, message: str) -> str:
    """'path: message'; a message that starts with a key of the object ('minReplicas: ...',
    from a model validator) is located at that key."""
    where = _path(parts, data)
    key = _KEY_FIRST.match(message)
    if key and parts:
        return f"{where}.{key.group(1)}: {message[key.end() :]}"
    return f"{where}: {message}"


def schema_errors(data: Any, schema: dict[str, Any]) -> list[str]:
    """'key.path: message' for each violation, best match first, stable order."""
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    errors = sorted(
        cls(schema).iter_errors(data), key=lambda e: (list(map(str, e.path)), e.message)
    )
    return [_describe(e, data) for e in errors]


def _describe(error: jsonschema.ValidationError, data: Any = None) -> str:
    """One line; an unknown key is named by its own path so the user can find it."""
    schema = error.schema
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(schema.get("properties", {})) if isinstance(schema, dict) else set()
        extra = sorted(k for k in error.instance if k not in allowed)
        if extra:
            where = _path([*error.absolute_path, extra[0]], data)
            return f"{where}: unknown key: use one of {', '.join(sorted(allowed)) or 'none'}"
    if error.validator == "pattern" and len(str(error.validator_value)) > 60:
        # A long grammar (an image reference) says nothing to users; the key's own
        # description says what is expected.
        described = schema.get("description", "") if isinstance(schema, dict) else ""
        what = f" ({described.rstrip('.')})" if described else ""
        return f"{_path(error.absolute_path, data)}: {error.instance!r} is malformed{what}"
    if error.validator in ("maxItems", "minItems") and isinstance(error.instance, list):
        # jsonschema repeats the whole list: 20,000 addresses say less than their count.
        bound = "at most" if error.validator == "maxItems" else "at least"
        return (
            f"{_path(error.absolute_path, data)}: {len(error.instance)} entries; the key takes "
            f"{bound} {error.validator_value}"
        )
    return f"{_path(error.absolute_path, data)}: {_short(error.message)}"


def _short(message: str) -> str:
    return message if len(message) <= 160 else message[:157] + "..."


def model_errors(data: dict[str, Any], model: type[Values]) -> list[str]:
    try:
        model.model_validate(data)
    except ValidationError as err:
        # An optional section (`X | None`) reports each union member: keep the member
        # that explains (not "should be None") and drop its tag from the location.
        return [
            _located(
                [p for p in e["loc"] if not (isinstance(p, str) and "[" in p)],
                data,
                e["msg"].removeprefix("Value error, "),
            )
            for e in err.errors()
            if e["type"] != "none_required"
        ]
    return []


def builtin_errors(obj: dict[str, Any], minor: str) -> list[str] | None:
    """Strict errors for a built-in kind at `minor`; None when the kind is not built in.

    The schemas are kubernetes-validate's (strict: unknown fields refused), but its own
    `validate` re-reads the 4 MB definitions file for every object (30 ms each: a minute
    for a 1 000-model catalogue with its test Pods); here each (minor, kind) schema is
    loaded and compiled once per process.
    """
    validator = _builtin_validator(minor, str(obj.get("apiVersion", "")), str(obj.get("kind")))
    if validator is None:
        return None
    error = jsonschema.exceptions.best_match(validator.iter_errors(obj))
    if error is None:
        return []
    return [f"{_path(error.path)}: {_short(error.message)} (Kubernetes {minor})"]


@functools.cache
def _builtin_validator(minor: str, api_version: str, kind: str) -> Any:
    """kubernetes-validate's strict schema of `kind` for the newest minor <= `minor`
    (None when it has none: a custom resource), compiled with its definitions."""
    # Imported here: only rendering needs them, and they cost ~0.1 s at every start-up.
    from kubernetes_validate import utils
    from packaging.version import Version
    from referencing import Registry, Resource

    wanted = Version(minor)
    version = [v for v in utils.all_versions() if Version(utils.major_minor(v)) <= wanted][-1]
    folder = f"kubernetes-json-schema/v{version}-local-strict"
    # rbac.authorization.k8s.io/v1 -> rbac-v1 (the library's file naming)
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = utils.schema_contents(f"{folder}/{kind.lower()}-{api}.json", minor)
    except FileNotFoundError:
        return None
    registry: Registry = Resource.from_contents(schema) @ Registry()
    registry = _definitions(folder, minor) @ registry
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


@functools.cache
def _definitions(folder: str, minor: str) -> Any:
    from kubernetes_validate import utils
    from referencing import Resource

    return Resource.from_contents(utils.schema_contents(f"{folder}/_definitions.json", minor))
