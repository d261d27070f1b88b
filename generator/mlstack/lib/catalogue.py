"""Objects that come from a list in values: one object per catalogue entry.

DESIGN §1 keeps Helm to declared slots and whole-file conditions, so that Python decides
structure. A team's model catalogue breaks one assumption behind it: the *number* of
objects comes from `values/<env>/models.yaml`, which Helm reads at install time, and the
charts are the same for every environment. So a catalogue list needs exactly one more
template construct, a `range`; the rule we keep is that the template is still written
by the chart writer from a Python structure, never by hand:

- `Each(key, structure)` is a construct: "for each enabled entry of `.Values.<key>`, one
  object shaped like `structure`". Its leaves are literals, `Key("name")` (the entry's
  value, a slot into the entry) or `Keys("a", "b")` inside a mapping (those entry keys,
  copied only when the entry sets them: KServe treats a missing key and a default
  differently, and null is refused by its CRD).
- `template(each)` compiles it to one `range` over the list whose body is
  `toJson (dict ...)`: the object is built as data and encoded as JSON (valid YAML), so
  no indentation or quoting is left to text templating.
- Every `Key`/`Keys` key must be a key of the entry's values model: the chart writer
  checks it like any other slot, and `values.schema.json` validates every entry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from constructs import Construct

from mlstack.lib.model import Values

#: The entry variable inside the range.
ENTRY = "$e"
#: A `Key` without a default: the entry must set it (the schema says so).
REQUIRED: Any = "@@required"
#: Mapping key under which a structure lists `Keys` (optional keys copied as set).
OPTIONAL = "@@optional"


@dataclass(frozen=True)
class Key:
    """The entry's value at `key` (dotted: nested, e.g. "request.path"); `default` (data or
    another node; None is nil) when the entry leaves it out."""

    key: str
    default: Any = REQUIRED


@dataclass(frozen=True)
class Root:
    """A value outside the entry: `Root("Release.Namespace")`, `Root("Values.tests.image")`."""

    path: str


@dataclass(frozen=True)
class Choose:
    """`options[<entry's value at key, or default>]`: e.g. a path per protocol version."""

    key: str
    default: str
    options: dict[str, Any]


@dataclass(frozen=True)
class ToJson:
    """The JSON text of a value (a request body passed to a shell as one string)."""

    value: Any


@dataclass(frozen=True)
class Keys:
    """Entry keys copied into a mapping only when the entry sets them."""

    keys: tuple[str, ...]


@dataclass(frozen=True)
class Format:
    """A string built with printf: `Format("/v2/models/%s/infer", (Key("name"),))`."""

    pattern: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Merged:
    """Our mapping `ours` (a literal: sprig's merge fills it in place) with the entry's
    mapping at `key` added: e.g. our checkov annotations beside the user's own. Ours wins
    a clash."""

    ours: dict[str, Any]
    key: str


def optional(*keys: str) -> dict[str, Keys]:
    """`{**optional("a", "b")}` inside a structure mapping."""
    return {OPTIONAL: Keys(keys)}


class Each(Construct):
    """One object per enabled entry of `.Values.<key>` (entries default to enabled)."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        key: str,
        entry: type[Values],
        structure: dict[str, Any],
    ) -> None:
        super().__init__(scope, id)
        self.key = key
        self.entry = entry
        self.structure = structure

    @property
    def kind(self) -> str:
        return str(self.structure["kind"])

    @property
    def api_version(self) -> str:
        return str(self.structure["apiVersion"])

    @property
    def hook(self) -> bool:
        """A Helm hook (a `helm test` Pod), not part of what the release installs."""
        annotations = self.structure.get("metadata", {}).get("annotations", {})
        return isinstance(annotations, dict) and "helm.sh/hook" in annotations

    def unknown_keys(self) -> list[str]:
        """Entry keys the structure reads that the entry's values model does not define."""
        known = {f.alias or n for n, f in self.entry.model_fields.items()}
        return sorted(set(keys_used(self.structure)) - known)


def _literal(value: Any) -> str:
    # JSON string literals are Go string literals (\", \\, \n, \uXXXX); `{{`/`}}` inside a
    # quoted literal are not actions, so nothing needs escaping.
    return json.dumps(value)


def expression(node: Any) -> str:
    """A Go template expression that evaluates to `node` for the entry `$e`."""
    if isinstance(node, Key):
        if node.default is REQUIRED:
            return f"{ENTRY}.{node.key}"
        parts = " ".join(_literal(p) for p in node.key.split("."))
        return f"(dig {parts} {expression(node.default)} {ENTRY})"
    if isinstance(node, Root):
        return f"$.{node.path}"
    if isinstance(node, Include):
        return f"(fromYaml (include {_literal(node.name)} $))"
    if isinstance(node, Choose):
        options = " ".join(f"{_literal(k)} {expression(v)}" for k, v in node.options.items())
        picked = expression(Key(node.key, node.default))
        return f"(get (dict {options}) {picked})"
    if isinstance(node, ToJson):
        return f"(toJson {expression(node.value)})"
    if isinstance(node, Merged):
        return f"(merge {expression(node.ours)} {expression(Key(node.key, {}))})"
    if isinstance(node, Format):
        args = " ".join(expression(a) for a in node.args)
        return f"(printf {_literal(node.pattern)} {args})"
    if isinstance(node, dict):
        pairs = " ".join(f"{_literal(k)} {expression(v)}" for k, v in node.items() if k != OPTIONAL)
        built = f"(dict {pairs})"
        extra = node.get(OPTIONAL)
        if extra is None:
            return built
        keys = " ".join(_literal(k) for k in extra.keys)
        return f"(merge {built} (pick {ENTRY} {keys}))"
    if isinstance(node, list | tuple):
        return f"(list {' '.join(expression(v) for v in node)})"
    if node is None:
        return "nil"
    if isinstance(node, bool):
        return "true" if node else "false"
    if isinstance(node, int | float | str):
        return _literal(node)
    raise TypeError(f"catalogue structure leaf {node!r} is not data, Key, Keys or Format")


def keys_used(node: Any) -> list[str]:
    """Every entry key the structure reads (checked against the entry's values model)."""
    if isinstance(node, Key):
        return [node.key.split(".")[0], *keys_used(node.default)]
    if isinstance(node, Root):
        return []
    if isinstance(node, Choose):
        return [node.key, *keys_used(node.options)]
    if isinstance(node, ToJson):
        return keys_used(node.value)
    if isinstance(node, Merged):
        return [node.key]
    if isinstance(node, Format):
        return keys_used(node.args)
    if isinstance(node, Keys):
        return list(node.keys)
    if isinstance(node, dict):
        return [k for v in node.values() for k in keys_used(v)]
    if isinstance(node, list | tuple):
        return [k for v in node for k in keys_used(v)]
    return []


@dataclass(frozen=True)
class Include:
    """The map a named template of the chart renders (the chart's labels), from the root
    context: `(fromYaml (include "<name>" $))`."""

    name: str


def template(each: Each, labels_template: str) -> str:
    """The whole template file of `each`: a range over the list, one JSON object each,
    labelled by the chart's `labels_template` (the labels every object of the chart has)."""
    structure = dict(each.structure)
    metadata = dict(structure.get("metadata", {}))
    if "labels" in metadata:
        raise ValueError("catalogue objects take the chart's labels; set pod labels instead")
    metadata["labels"] = Include(labels_template)
    structure["metadata"] = metadata
    return (
        f"{{{{- range {ENTRY} := .Values.{each.key} }}}}\n"
        f'{{{{- if dig "enabled" true {ENTRY} }}}}\n'
        "---\n"
        f"{{{{ toJson {expression(structure)} }}}}\n"
        "{{- end }}\n"
        "{{- end }}\n"
    )
