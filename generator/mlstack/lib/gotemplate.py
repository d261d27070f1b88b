"""A subset of Go's text/template: parse as Go does, execute what a host-name template uses.

Some values we pass on are Go templates a controller parses and runs when it starts
(Knative's `domain-template`); a broken one passes Helm and the API server and only stops
the controller. This module finds those faults at generate time, offline. It follows the
text/template grammar (Go 1.24 `text/template/parse`): `{{`/`}}` actions with `{{- `/` -}}`
trim markers and `{{/* */}}` comments, pipelines of commands joined by `|`, parenthesised
pipelines, string/raw/number/boolean literals, fields of the dot (`.Name`, `.A.B`), `$`,
`if`/`else`/`else if`/`with`/`range`/`end`, and the built-in functions. A function Go does
not define (`lower`) is a parse error, as in Go.

Executed: fields, map keys, `index`, `len`, `not`, `and`, `or`, `eq`, `ne`, `lt`, `le`,
`gt`, `ge`, `print`, `println`, `printf` (%s %v %d %q %%). Not executed (`Unsupported`, so
a caller can say the value is unchecked rather than wrong): variables (`$x :=`), `define`,
`template`, `block`, `break`, `continue`, and `call`, `html`, `js`, `slice`, `urlquery`.
"""

from __future__ import annotations

import ast
import operator
import re
from dataclasses import dataclass, field
from typing import Any

BUILTINS = frozenset(
    {"and", "call", "html", "index", "slice", "js", "len", "not", "or", "print", "printf"}
    | {"println", "urlquery", "eq", "ge", "gt", "le", "lt", "ne"}
)
UNSUPPORTED_FUNCS = frozenset({"call", "html", "js", "slice", "urlquery"})
UNSUPPORTED_KEYWORDS = frozenset({"define", "template", "block", "break", "continue"})
_TOKEN = re.compile(
    r"""(?P<space>\s+)
    |(?P<string>"(?:[^"\\\n]|\\.)*")
    |(?P<raw>`[^`]*`)
    |(?P<char>'(?:[^'\\\n]|\\.)+')
    |(?P<number>[+-]?(?:0[xX][0-9a-fA-F_]+|[0-9][0-9_]*(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?))
    |(?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+)
    |(?P<dot>\.)
    |(?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    |(?P<declare>:?=)
    |(?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<symbol>[|(),])""",
    re.VERBOSE,
)


class TemplateError(ValueError):
    """The template does not parse (Go's `Parse` fails: the controller refuses it)."""


class ExecError(ValueError):
    """The template parses but fails on the data (Go's `Execute` fails)."""


class Unsupported(ValueError):
    """Valid Go, outside the subset executed here: the value is not checked."""


class _NoValue:
    """A missing map key: Go prints `<no value>`."""

    def __str__(self) -> str:
        return "<no value>"


NO_VALUE = _NoValue()


@dataclass(frozen=True)
class Struct:
    """A Go struct value: `type_name` is how Go names it in errors."""

    type_name: str
    fields: dict[str, Any]


@dataclass
class _Node:
    kind: str  # text, action, if, with, range
    text: str = ""
    pipe: list[list[Any]] = field(default_factory=list)
    body: list[_Node] = field(default_factory=list)
    orelse: list[_Node] = field(default_factory=list)
    chained: bool = False  # an `else if`/`else with`: closed by its parent's end


def _actions(text: str) -> list[tuple[str, str]]:
    """('text', s) and ('action', inner) pieces, trim markers applied, comments dropped."""
    out: list[tuple[str, str]] = []
    pos, trim_next = 0, False
    while True:
        start = text.find("{{", pos)
        chunk = text[pos : len(text) if start < 0 else start]
        if trim_next:
            chunk = chunk.lstrip(" \t\r\n")
        if start < 0:
            out.append(("text", chunk))
            return out
        inner_start = start + 2
        if re.match(r"-[ \t\r\n]", text[inner_start : inner_start + 2]):
            chunk = chunk.rstrip(" \t\r\n")
            inner_start += 2
        out.append(("text", chunk))
        end = _close(text, inner_start)
        inner = text[inner_start:end]
        trim_next = bool(re.search(r"[ \t\r\n]-$", inner))
        if trim_next:
            inner = inner[:-2]
        stripped = inner.strip()
        if stripped.startswith("/*"):
            if not stripped.endswith("*/") or not inner.startswith("/*"):
                raise TemplateError("comment ends before closing delimiter")
        else:
            out.append(("action", inner))
        pos = end + 2


def _close(text: str, pos: int) -> int:
    """Index of the `}}` that closes the action starting at `pos` (quotes skipped)."""
    if text.startswith("/*", pos):
        end = text.find("*/", pos + 2)
        if end < 0:
            raise TemplateError("unclosed comment")
        pos = end + 2
    while pos < len(text):
        if text.startswith("}}", pos):
            return pos
        quote = text[pos]
        if quote in "\"'`":
            match = re.compile({'"': r'"(?:[^"\\\n]|\\.)*"', "'": r"'(?:[^'\\\n]|\\.)+'"}
                               .get(quote, r"`[^`]*`")).match(text, pos)  # fmt: skip
            if match is None:
                raise TemplateError(f"unterminated quoted string at offset {pos}")
            pos = match.end()
            continue
        pos += 1
    raise TemplateError("unclosed action")


def _tokens(inner: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(inner):
        match = _TOKEN.match(inner, pos)
        if match is None:
            raise TemplateError(f"unexpected {inner[pos]!r} in command")
        kind = match.lastgroup or ""
        if kind != "space":
            out.append((kind, match.group()))
        pos = match.end()
    return out


def _pipeline(tokens: list[tuple[str, str]], what: str) -> list[list[Any]]:
    """A pipeline: commands (lists of operands) joined by `|`."""
    if any(kind == "declare" for kind, _ in tokens) or any(
        kind == "var" and value.split(".")[0] != "$" for kind, value in tokens
    ):
        raise Unsupported("template variables are not evaluated here")
    commands, stack = [[]], []  # type: ignore[var-annotated]
    for kind, value in tokens:
        if kind == "symbol" and value == "(":
            stack.append(commands)
            commands = [[]]
        elif kind == "symbol" and value == ")":
            if not stack:
                raise TemplateError("unexpected right paren")
            inner = _check_commands(commands, what)
            commands = stack.pop()
            commands[-1].append(("pipe", inner))
        elif kind == "symbol" and value == "|":
            commands.append([])
        elif kind == "symbol":
            raise TemplateError(f"unexpected {value!r} in {what}")
        else:
            if kind == "ident" and value not in ("true", "false", "nil"):
                if value not in BUILTINS:
                    raise TemplateError(f'function "{value}" not defined')
                if value in UNSUPPORTED_FUNCS:
                    raise Unsupported(f"the {value} function is not evaluated here")
            commands[-1].append((kind, value))
    if stack:
        raise TemplateError("unclosed left paren")
    return _check_commands(commands, what)


def _check_commands(commands: list[list[Any]], what: str) -> list[list[Any]]:
    for command in commands:
        if not command:
            raise TemplateError(f"missing value for {what}")
    return commands


def parse(text: str) -> list[_Node]:
    """The template's nodes; TemplateError where Go's parser fails, Unsupported where the
    template is valid Go this module does not execute."""
    root: list[_Node] = []
    stack: list[tuple[_Node, list[_Node]]] = []  # (open block, list being filled)
    current = root
    for kind, piece in _actions(text):
        if kind == "text":
            if piece:
                current.append(_Node("text", text=piece))
            continue
        tokens = _tokens(piece)
        head = tokens[0][1] if tokens and tokens[0][0] == "ident" else ""
        if head in UNSUPPORTED_KEYWORDS:
            raise Unsupported(f"{{{{{head}}}}} is not evaluated here")
        if head in ("if", "with", "range"):
            node = _Node(head, pipe=_pipeline(tokens[1:], head))
            current.append(node)
            stack.append((node, node.body))
            current = node.body
        elif head == "else":
            if not stack or current is stack[-1][0].orelse:
                raise TemplateError("unexpected {{else}}")
            block = stack[-1][0]
            stack[-1] = (block, block.orelse)
            current = block.orelse
            if len(tokens) > 1:  # `else if` / `else with`: a nested block closed by one end
                chained = tokens[1][1]
                if chained != block.kind:
                    raise TemplateError(f"unexpected {chained!r} after else in {block.kind}")
                nested = _Node(chained, pipe=_pipeline(tokens[2:], chained), chained=True)
                current.append(nested)
                stack.append((nested, nested.body))
                current = nested.body
        elif head == "end":
            if len(tokens) > 1:
                raise TemplateError("unexpected tokens after end")
            while stack and stack[-1][0].chained:
                stack.pop()
            if not stack:
                raise TemplateError("unexpected {{end}}")
            stack.pop()
            current = stack[-1][1] if stack else root
        else:
            if not tokens:
                raise TemplateError("missing value for command")
            current.append(_Node("action", pipe=_pipeline(tokens, "command")))
    if stack:
        raise TemplateError(f"unexpected EOF: {{{{{stack[-1][0].kind}}}}} has no {{{{end}}}}")
    return root


# -- execution ---------------------------------------------------------------------------


def _type(value: Any) -> str:
    if isinstance(value, Struct):
        return value.type_name
    if isinstance(value, dict):
        return "map[string]string"
    return {bool: "bool", int: "int", float: "float64", str: "string"}.get(type(value), "<nil>")


def _truth(value: Any) -> bool:
    if value is NO_VALUE or value is None:
        return False
    if isinstance(value, Struct):
        return True
    return bool(value)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{v}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, Struct):
        return "{" + " ".join(_text(v) for v in value.fields.values()) + "}"
    return str(value)


def _field(value: Any, name: str) -> Any:
    if isinstance(value, Struct):
        if name not in value.fields:
            raise ExecError(f"can't evaluate field {name} in type {value.type_name}")
        return value.fields[name]
    if isinstance(value, dict):
        return value.get(name, NO_VALUE)
    raise ExecError(f"can't evaluate field {name} in type {_type(value)}")


def _literal(kind: str, text: str) -> Any:
    if kind == "raw":
        return text[1:-1]
    if kind in ("string", "char"):  # Go's escapes are Python's (\n, \x41, \u00e9, \101)
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            raise TemplateError(f"bad quoted literal {text}") from None
        if kind == "string":
            return value
        if len(value) != 1:
            raise TemplateError(f"malformed character constant: {text}")
        return ord(value)
    number = text.replace("_", "")
    try:
        return int(number, 0)
    except ValueError:
        return float(number)


_COMPARISONS = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}


def _compare(op: str, a: Any, b: Any) -> bool:
    """Go compares basic values of one kind; maps, structs and missing keys are errors."""
    if type(a) is not type(b) or isinstance(a, dict | Struct | _NoValue):
        raise ExecError(f"incompatible types for comparison: {_type(a)} and {_type(b)}")
    return bool(_COMPARISONS[op](a, b))


def _sprint(args: list[Any]) -> str:
    out = ""
    for i, arg in enumerate(args):
        if i and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out += " "
        out += _text(arg)
    return out


def _printf(fmt: str, args: list[Any]) -> str:
    out, rest = "", list(args)
    pieces = re.split(r"(%.)", fmt)
    for piece in pieces:
        if not re.fullmatch(r"%.", piece):
            out += piece
            continue
        verb = piece[1]
        if verb == "%":
            out += "%"
            continue
        if verb not in "svdq":
            raise Unsupported(f"printf verb %{verb} is not evaluated here")
        if not rest:
            out += f"%!{verb}(MISSING)"
            continue
        arg = rest.pop(0)
        if verb == "d" and (isinstance(arg, bool) or not isinstance(arg, int)):
            out += f"%!d({_type(arg)}={_text(arg)})"
        elif verb == "q":
            out += '"' + _text(arg).replace("\\", "\\\\").replace('"', '\\"') + '"'
        else:
            out += _text(arg)
    if rest:
        out += "%!(EXTRA " + ", ".join(f"{_type(a)}={_text(a)}" for a in rest) + ")"
    return out


def _call(name: str, args: list[Any]) -> Any:
    if name == "index":
        if not args:
            raise ExecError("wrong number of args for index: want at least 1 got 0")
        item = args[0]
        for key in args[1:]:
            if isinstance(item, dict) and isinstance(key, str):
                item = item.get(key, "")
            elif isinstance(item, str) and isinstance(key, int) and 0 <= key < len(item):
                item = ord(item[key])
            else:
                raise ExecError(f"error calling index: cannot index {_type(item)} with {key!r}")
        return item
    if name == "len":
        if len(args) != 1 or not isinstance(args[0], str | dict):
            raise ExecError("error calling len: len of a non-collection")
        return len(args[0])
    if name == "not":
        if len(args) != 1:
            raise ExecError(f"wrong number of args for not: want 1 got {len(args)}")
        return not _truth(args[0])
    if name in ("and", "or"):
        if not args:
            raise ExecError(f"wrong number of args for {name}: want at least 1 got 0")
        for arg in args[:-1]:
            if _truth(arg) == (name == "or"):
                return arg
        return args[-1]
    if name in ("eq", "ne", "lt", "le", "gt", "ge"):
        if len(args) < 2 or (name != "eq" and len(args) != 2):
            raise ExecError(f"wrong number of args for {name}")
        if name == "eq":
            return any(_compare("eq", args[0], b) for b in args[1:])
        return _compare(name, args[0], args[1])
    if name == "print":
        return _sprint(args)
    if name == "println":
        return " ".join(_text(a) for a in args) + "\n"
    if name == "printf":
        if not args or not isinstance(args[0], str):
            raise ExecError("printf needs a format string")
        return _printf(args[0], args[1:])
    raise Unsupported(f"the {name} function is not evaluated here")  # pragma: no cover


def _operand(op: tuple[str, Any], dot: Any, root: Any) -> Any:
    kind, value = op
    if kind == "pipe":
        return _run(value, dot, root)
    if kind == "dot":
        return dot
    if kind in ("field", "var"):
        chain = value.partition(".")[2] if kind == "var" else value[1:]
        node = root if kind == "var" else dot
        for name in chain.split(".") if chain else ():
            node = _field(node, name)
        return node
    if kind == "ident":
        return {"true": True, "false": False}[value]
    return _literal(kind, value)


def _run(pipe: list[list[Any]], dot: Any, root: Any) -> Any:
    result: Any = None
    for i, command in enumerate(pipe):
        head = command[0]
        piped = [result] if i else []
        if head == ("ident", "nil"):
            raise ExecError("nil is not a command")
        if head[0] == "ident" and head[1] in BUILTINS:
            args = [_operand(op, dot, root) for op in command[1:]] + piped
            result = _call(head[1], args)
        elif len(command) > 1 or piped:
            raise ExecError(f"can't give argument to non-function {head[1]}")
        else:
            result = _operand(head, dot, root)
    return result


def _exec(nodes: list[_Node], dot: Any, root: Any) -> str:
    out = ""
    for node in nodes:
        if node.kind == "text":
            out += node.text
        elif node.kind == "action":
            value = _run(node.pipe, dot, root)
            out += _text(value)
        elif node.kind == "if":
            value = _run(node.pipe, dot, root)
            out += _exec(node.body if _truth(value) else node.orelse, dot, root)
        elif node.kind == "with":
            value = _run(node.pipe, dot, root)
            out += _exec(node.body, value, root) if _truth(value) else _exec(node.orelse, dot, root)
        else:  # range
            value = _run(node.pipe, dot, root)
            if not isinstance(value, dict):
                raise Unsupported(f"range over {_type(value)} is not evaluated here")
            if not value:
                out += _exec(node.orelse, dot, root)
            for key in sorted(value):
                out += _exec(node.body, value[key], root)
    return out


def execute(text: str, data: Struct) -> str:
    """`text` parsed and executed on `data`, as Go's Parse then Execute would."""
    return _exec(parse(text), data, data)
