"""Install-time slots and Go-template escaping.

cdk8s renders static YAML, but a chart has to take a few values at install time (an
address range, a domain). A construct puts `slot("path.to.key")` where such a value
belongs; `to_template` turns it into `{{ toJson .Values.path.to.key }}` (JSON is valid
YAML, so lists, maps and types survive any indentation). Every other `{{` or `}}` in the
synthesized YAML is escaped so that Helm prints it literally: Knative's domain template
and KServe runtime args carry Go templates meant for the cluster, not for Helm.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

_SENTINEL = "@@mlstack-slot:{}@@"
# A whole YAML value in block style: after "key: " or "- ", quoted or not, to end of line.
_SLOT_RE = re.compile(
    r"""(?<=: |- )(["']?)@@mlstack-slot:([A-Za-z0-9_.]+)(?:\|(json|key))?@@\1$""", re.MULTILINE
)
#: How each slot kind becomes a Helm expression (see slot, json_string_slot, keyed_slot).
_EXPRESSIONS = {
    None: "{{{{ toJson .Values.{} }}}}",
    "json": "{{{{ toJson .Values.{} | toJson }}}}",
    "key": '{{{{ dict .Values.{} "" | toJson }}}}',
}
_BRACES_RE = re.compile(r"\{\{|\}\}")
_KEY_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")


def slot(path: str) -> str:
    """A placeholder for the value at `.Values.<path>`; must be a whole YAML value."""
    if not _KEY_RE.match(path):
        raise ValueError(f"slot path {path!r} must be dotted identifiers (camelCase keys)")
    return _SENTINEL.format(path)


def json_string_slot(path: str) -> str:
    """The value at `.Values.<path>` as a string holding its JSON.

    ConfigMap data is strings only, yet some keys hold structured YAML (net-istio's
    `external-gateways`): the values model keeps the structure typed, the slot encodes it.
    """
    return slot(path).removesuffix("@@") + "|json@@"


def keyed_slot(path: str) -> str:
    """A one-entry map `{<value at .Values.<path>>: ""}`: for config keyed by a setting,
    such as Knative's config-domain, where the domain is the key."""
    return slot(path).removesuffix("@@") + "|key@@"


def escape_braces(text: str) -> str:
    """Make every `{{` and `}}` print literally under Helm."""
    return _BRACES_RE.sub(lambda m: '{{ "{{" }}' if m.group() == "{{" else '{{ "}}" }}', text)


def slot_paths(text: str) -> list[str]:
    """Slot paths used in synthesized YAML, in order of appearance."""
    return [m.group(2) for m in _SLOT_RE.finditer(text)]


def to_template(text: str) -> str:
    """Escape literal braces, then turn slot placeholders into Helm expressions."""
    escaped = escape_braces(text)
    rendered = _SLOT_RE.sub(lambda m: _EXPRESSIONS[m.group(3)].format(m.group(2)), escaped)
    if "@@mlstack-slot:" in rendered:
        raise ValueError("a slot must be a whole YAML value, not part of a string")
    return rendered


def wrap_condition(text: str, condition: str | None) -> str:
    """Render the whole file only when `.Values.<condition>` is true (`!path`: false)."""
    if condition is None:
        return text
    test = f"not .Values.{condition[1:]}" if condition.startswith("!") else f".Values.{condition}"
    return f"{{{{- if {test} }}}}\n{text.rstrip()}\n{{{{- end }}}}\n"


def missing_paths(paths: Iterable[str], values: dict[str, Any]) -> list[str]:
    """The paths that do not resolve in `values` (the chart's default values)."""
    missing = []
    for path in paths:
        node: Any = values
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                missing.append(path)
                break
            node = node[part]
    return missing
