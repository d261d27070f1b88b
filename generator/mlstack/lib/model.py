"""Strict values models and the artefacts derived from them.

One pydantic model per chart is the single source of `values.yaml` (defaults, commented
with each field's description), `values.schema.json` (draft-07, closed objects) and the
README parameter table. Writing any of these by hand would let them disagree.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from mlstack.lib import yamlfile

DRAFT_07 = "http://json-schema.org/draft-07/schema#"


class Values(BaseModel):
    """Base of every chart values model: camelCase keys, unknown keys rejected, and no
    coercion (`'yes'` or `1` is not a bool, `1.35` not a string), as the generated
    values.schema.json says to Helm."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        validate_default=True,
        strict=True,
    )


def defaults(model: type[Values]) -> dict[str, Any]:
    """The chart's default values as plain JSON-able data, keyed by alias."""
    return model().model_dump(by_alias=True, mode="json")


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    """Replace `$ref`s by their definitions so the schema is self-contained draft-07."""
    if isinstance(node, dict):
        if "$ref" in node:
            target = defs[node["$ref"].rsplit("/", 1)[-1]]
            merged = {**_inline_refs(copy.deepcopy(target), defs)}
            merged.update({k: _inline_refs(v, defs) for k, v in node.items() if k != "$ref"})
            return merged
        return {k: _inline_refs(v, defs) for k, v in node.items() if k not in ("title", "$defs")}
    if isinstance(node, list):
        return [_inline_refs(v, defs) for v in node]
    return node


def json_schema(model: type[Values], comment: str) -> dict[str, Any]:
    """Draft-07 schema of the model.

    Helm adds a `global` key to every chart's values before validating, so the top level
    allows it explicitly; everything else stays closed (`additionalProperties: false`).
    """
    raw = model.model_json_schema(by_alias=True, mode="validation")
    schema = _inline_refs(raw, raw.get("$defs", {}))
    schema["properties"]["global"] = {
        "type": "object",
        "description": "Helm global values, shared with subcharts.",
    }
    return {"$schema": DRAFT_07, "$comment": comment, **schema}


def _helm_type(value: Any) -> str:
    """The type helm-docs shows for a default value (it infers types the same way)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return "string"


def _walk_fields(
    model: type[BaseModel], prefix: str = "", data: dict[str, Any] | None = None
) -> list[tuple[str, str, str, str]]:
    """(dotted key, type, JSON default or "" for sections, description), depth first.

    Nested sections take their defaults from the parent's (a field default may differ
    from the nested model's own, and a nested model need not have defaults at all).
    """
    rows: list[tuple[str, str, str, str]] = []
    instance_defaults = data if data is not None else model().model_dump(by_alias=True, mode="json")
    for name, field in model.model_fields.items():
        key = field.alias or name
        annotation = field.annotation
        value = instance_defaults[key]
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows.append((prefix + key, "object", "", field.description or ""))
            rows.extend(_walk_fields(annotation, f"{prefix}{key}.", value))
        else:
            rows.append(
                (prefix + key, _helm_type(value), json.dumps(value), field.description or "")
            )
    return rows


def parameter_table(model: type[Values], data: dict[str, Any] | None = None) -> str:
    """The README's parameters in helm-docs' shape: key, type, default, description
    (`data`: the chart's defaults when they differ from the model's, e.g. derived ones)."""
    lines = ["| Key | Type | Default | Description |", "|-----|------|---------|-------------|"]
    for path, kind, default, description in _walk_fields(model, data=data):
        shown = f"`{default}`" if default else ""
        lines.append(f"| {path} | {kind} | {shown} | {description.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def values_yaml(model: type[Values], header: str, data: dict[str, Any] | None = None) -> str:
    """`values.yaml` with each key preceded by its description as a comment (`data`: the
    chart's defaults when they differ from the model's)."""
    out = [header.rstrip("\n"), ""]
    _emit(model, data if data is not None else defaults(model), 0, out)
    return "\n".join(out).rstrip("\n") + "\n"


def _emit(model: type[BaseModel], data: dict[str, Any], indent: int, out: list[str]) -> None:
    pad = " " * indent
    for name, field in model.model_fields.items():
        key = field.alias or name
        for line in (field.description or "").splitlines():
            out.append(f"{pad}# {line}".rstrip())
        value = data[key]
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out.append(f"{pad}{key}:")
            _emit(annotation, value, indent + 2, out)
        elif isinstance(value, dict | list) and value:
            out.append(f"{pad}{key}:")
            block = yamlfile.dumps(value, default_flow_style=False, sort_keys=False, width=1000)
            out.extend(f"{pad}  {line}" for line in block.rstrip("\n").splitlines())
        else:
            out.append(f"{pad}{key}: {json.dumps(value)}")
        if indent == 0:
            out.append("")
