"""Validation of values and of rendered manifests against real schemas.

Values: the chart's generated values.schema.json (what Helm checks) and then the pydantic
model (semantic checks such as address ranges); upstream pass-through blocks against the
upstream chart's own schema. Manifests: built-in kinds against the Kubernetes OpenAPI
schemas of each supported minor (kubernetes-validate, strict), custom resources against
the upstream CRD schemas (unknown fields rejected).
"""

from __future__ import annotations

import copy
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


def _path(parts: Any) -> str:
    return ".".join(str(p) for p in parts) or "(top level)"


def schema_errors(data: Any, schema: dict[str, Any]) -> list[str]:
    """'key.path: message' for each violation, best match first, stable order."""
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    errors = sorted(
        cls(schema).iter_errors(data), key=lambda e: (list(map(str, e.path)), e.message)
    )
    return [_describe(e) for e in errors]


def _describe(error: jsonschema.ValidationError) -> str:
    """One line; an unknown key is named by its own path so the user can find it."""
    schema = error.schema
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(schema.get("properties", {})) if isinstance(schema, dict) else set()
        extra = sorted(k for k in error.instance if k not in allowed)
        if extra:
            where = _path([*error.absolute_path, extra[0]])
            return f"{where}: unknown key: use one of {', '.join(sorted(allowed)) or 'none'}"
    if error.validator == "pattern" and len(str(error.validator_value)) > 60:
        # A long grammar (an image reference) says nothing to users; the key's own
        # description says what is expected.
        described = schema.get("description", "") if isinstance(schema, dict) else ""
        what = f" ({described.rstrip('.')})" if described else ""
        return f"{_path(error.absolute_path)}: {error.instance!r} is malformed{what}"
    return f"{_path(error.absolute_path)}: {_short(error.message)}"


def _short(message: str) -> str:
    return message if len(message) <= 160 else message[:157] + "..."


def model_errors(data: dict[str, Any], model: type[Values]) -> list[str]:
    try:
        model.model_validate(data)
    except ValidationError as err:
        return [
            f"{_path(e['loc'])}: {e['msg'].removeprefix('Value error, ')}" for e in err.errors()
        ]
    return []


def builtin_errors(obj: dict[str, Any], minor: str) -> list[str] | None:
    """Strict errors for a built-in kind at `minor`; None when the kind is not built in."""
    # Imported here: only rendering needs it, and it costs ~0.1 s at every start-up.
    import kubernetes_validate

    try:
        kubernetes_validate.validate(obj, minor, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return None
    except kubernetes_validate.ValidationError as err:
        return [f"{_path(err.path)}: {_short(err.message)} (Kubernetes {minor})"]
    return []
