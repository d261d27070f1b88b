"""Reading a hand-edited input file: every failure is one line naming file, line and key.

Values files, the data files (versions.yaml, chart-versions.yaml), the committed
Chart.yaml / values.schema.json that generate and render read back, and the GitOps
ownership manifest all come through here. A file that is not what a text data file
should be is refused before the parser sees it, because each of these once produced a
traceback, a hang or a silent wrong answer:

- not a regular file (a directory, a FIFO, a symlink to /dev/zero): refused by `fstat`
  on a non-blocking descriptor, so a FIFO never blocks and /dev/zero is never read;
- larger than `MAX_BYTES` (also caught while reading: /proc files report size 0);
- not UTF-8 (a UTF-16 file saved by an editor, stray Latin-1 bytes): the line is named;
- a key given twice in one mapping (YAML's "last one wins" would silently drop one);
- nesting deeper than `MAX_DEPTH` (the composer recurses; stop before Python's limit),
  alias cycles and alias "bombs" that expand to more than `MAX_NODES` nodes.
"""

from __future__ import annotations

import codecs
import errno
import json
import os
import stat
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from mlstack import REPO_ROOT
from mlstack.errors import UserError

#: No input file of this project comes near this (the largest, versions.yaml, is ~20 KB).
MAX_BYTES = 4 * 1024 * 1024
#: Values trees are a few levels deep; Kubernetes objects rarely exceed 20.
MAX_DEPTH = 64
#: Nodes after expanding aliases (guards `&a [*b, *b, ...]` chains).
MAX_NODES = 200_000

_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


def shown(path: Path) -> str:
    """The path as users see it: relative to the repository when inside it."""
    try:
        return str(Path(os.path.abspath(path)).relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def read_bytes(path: Path, max_bytes: int = MAX_BYTES) -> bytes:
    """The bytes of a regular file no larger than `max_bytes`; UserError otherwise."""
    where = shown(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        if os.path.islink(path):
            raise UserError(
                f"{where}: is a link to {os.readlink(path)}, which does not exist: fix or "
                "remove the link"
            ) from None
        raise UserError(f"{where}: file not found") from None
    except IsADirectoryError:
        raise UserError(f"{where}: is a directory, not a file: remove or rename it") from None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise UserError(
                f"{where}: is a link that loops back to itself: replace it with the file"
            ) from None
        raise UserError(f"{where}: cannot read: {err.strerror}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise UserError(f"{where}: is a directory, not a file: remove or rename it")
        if not stat.S_ISREG(info.st_mode):
            raise UserError(
                f"{where}: is not a regular file (a device, FIFO or socket): replace it "
                "with a plain text file"
            )
        if info.st_size > max_bytes:
            raise UserError(f"{where}: {info.st_size} bytes is too large (limit {max_bytes})")
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            total += len(chunk)
            if total > max_bytes:
                raise UserError(f"{where}: larger than {max_bytes} bytes: not an input file")
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as err:
        raise UserError(f"{where}: cannot read: {err.strerror}") from None
    finally:
        os.close(fd)


def read_text(path: Path, max_bytes: int = MAX_BYTES) -> str:
    """The file as UTF-8 text (a UTF-8 byte-order mark is dropped); UserError otherwise."""
    data = read_bytes(path, max_bytes)
    for bom, name in _BOMS:
        if data.startswith(bom):
            raise UserError(f"{shown(path)}: is {name} encoded: save it as UTF-8")
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise UserError(
            f"{shown(path)}: line {line}: byte 0x{data[err.start]:02x} is not UTF-8: save "
            "the file as UTF-8"
        ) from None


#: libyaml's parser and loader when PyYAML has them: every command reads versions.yaml and
#: the values files, and the pure-Python parser spends ~0.1 s on versions.yaml alone.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_MERGE = "<<"


class _Frame:
    """One open mapping or sequence while walking the parser's events."""

    def __init__(self, path: list[str], is_map: bool) -> None:
        self.path, self.is_map = path, is_map
        self.keys: dict[str, int] = {}
        self.want_key = True  # mappings alternate key, value
        self.index = 0  # sequences count their items
        self.key = "?"  # the key whose value comes next

    def child(self) -> list[str]:
        """Path of the value that starts now (and move past it)."""
        if self.is_map:
            step = self.key
        else:
            step = str(self.index)
            self.index += 1
        return [*self.path, step]


def _check_events(text: str) -> None:
    """Duplicate keys (at any depth) and over-deep nesting, from the parser's events.

    The event stream is flat (libyaml's parser keeps its own stack), so a 5 000-deep
    document is refused here before any recursive step (composing, constructing) runs.
    """
    stack: list[_Frame] = []
    for event in yaml.parse(text, Loader=_LOADER):
        top = stack[-1] if stack else None
        line = event.start_mark.line + 1 if event.start_mark else 0
        if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            if top is not None and top.is_map and top.want_key:
                path, top.want_key, top.key = [*top.path, "?"], False, "?"  # a complex key
            else:
                path = top.child() if top is not None else []
                if top is not None and top.is_map:
                    top.want_key = True
            if len(stack) >= MAX_DEPTH:
                key = ".".join(path[:3]) + "..."
                raise _Refused(line, key, f"nested deeper than {MAX_DEPTH} levels")
            stack.append(_Frame(path, isinstance(event, yaml.MappingStartEvent)))
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            stack.pop()
        elif top is None:
            continue
        elif top.is_map and top.want_key:
            key = str(getattr(event, "value", "*"))
            if isinstance(event, yaml.ScalarEvent) and key != _MERGE:
                if key in top.keys:
                    raise _Refused(
                        line,
                        ".".join([*top.path, key]),
                        f"key given twice (first on line {top.keys[key]}): keep one of them",
                    )
                top.keys[key] = line
            top.key, top.want_key = key, False
        elif top.is_map:
            top.want_key = True
        else:
            top.index += 1


class _Refused(Exception):
    def __init__(self, line: int, key: str | None, what: str) -> None:
        super().__init__(what)
        self.line, self.key, self.what = line, key, what


def _size(data: Any, limit: int) -> None:
    """Refuse alias cycles and trees that expand beyond `limit` nodes (iteratively)."""
    memo: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[Any, bool]] = [(data, False)]
    while stack:
        node, done = stack.pop()
        if not isinstance(node, dict | list):
            continue
        ident = id(node)
        children = list(node.values()) if isinstance(node, dict) else node
        if done:
            active.discard(ident)
            memo[ident] = 1 + sum(memo.get(id(c), 1) for c in children)
            if memo[ident] > limit:
                raise _Refused(0, None, f"expands to more than {limit} values (YAML aliases)")
            continue
        if ident in memo:
            continue
        if ident in active:
            raise _Refused(0, None, "an alias refers to itself (a cycle)")
        active.add(ident)
        stack.append((node, True))
        stack.extend((c, False) for c in children if isinstance(c, dict | list))


def _key_at(text: str, line: int) -> str | None:
    """The mapping key on a line, for messages about errors the parser reports."""
    lines = text.splitlines()
    if not 0 < line <= len(lines):
        return None
    head = lines[line - 1].split("#", 1)[0].strip().lstrip("- ")
    return head.split(":", 1)[0].strip().strip("'\"") or None if ":" in head else None


def _message(path: Path, line: int, key: str | None, what: str) -> str:
    where = f" line {line}:" if line else ""
    named = f" key {key!r}:" if key else ""
    return f"{shown(path)}:{where}{named} {what}"


def parse(text: str, path: Path) -> Any:
    """YAML text of `path` -> data, with the checks above; UserError on any problem."""
    try:
        _check_events(text)
        data = yaml.load(text, Loader=_LOADER)
        _size(data, MAX_NODES)
        return data
    except _Refused as err:
        raise UserError(_message(path, err.line, err.key, err.what)) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
        line = mark.line + 1 if mark else 0
        problem = getattr(err, "problem", None) or getattr(err, "reason", None) or "syntax"
        raise UserError(
            _message(path, line, _key_at(text, line), f"is not valid YAML ({problem}): fix it")
        ) from None
    except RecursionError:
        raise UserError(_message(path, 0, None, "nested too deeply")) from None


def read(path: Path) -> Any:
    """The file's YAML data; UserError (one line) for anything but a sound YAML file."""
    return parse(read_text(path), path)


def read_mapping(path: Path, what: str = "a mapping of keys") -> dict[str, Any]:
    """Like `read`, for files whose top level must be a mapping (empty file: {})."""
    data = read(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{shown(path)}: top level must be {what}, not {type(data).__name__}")
    return data


def _pairs(path: Path) -> Any:
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise UserError(_message(path, 0, key, "key given twice in one JSON object"))
            out[key] = value
        return out

    return hook


def read_json(path: Path) -> Any:
    """A JSON file with the same guarantees (duplicate keys, depth, encoding, size)."""
    text = read_text(path)
    try:
        data = json.loads(text, object_pairs_hook=_pairs(path))
        _depth_json(data, path)
        return data
    except json.JSONDecodeError as err:
        raise UserError(
            _message(path, err.lineno, None, f"is not valid JSON ({err.msg}): fix it")
        ) from None
    except RecursionError:
        raise UserError(_message(path, 0, None, "nested too deeply")) from None


def _depth_json(data: Any, path: Path) -> None:
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise UserError(_message(path, 0, None, f"nested deeper than {MAX_DEPTH} levels"))
        children = (
            node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
        )
        stack.extend((c, depth + 1) for c in children)


Model = TypeVar("Model", bound=BaseModel)


def filled(template: str, where: str, **values: str) -> str:
    """`template` with its `{name}` placeholders filled from `values`; a data file naming
    another placeholder, or a stray brace, is one line naming `where` and the names."""
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError):
        names = ", ".join(f"{{{name}}}" for name in values)
        raise UserError(f"{where}: {template!r}: only {names} may be used in braces") from None


def model(path: Path, schema: type[Model]) -> Model:
    """The file read into a pydantic model; the first problem as one line naming the key."""
    try:
        return schema.model_validate(read(path))
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "(top level)"
        message = first["msg"].removeprefix("Value error, ")
        raise UserError(f"{shown(path)}: {key}: {message}") from None


def dumps(data: Any, **options: Any) -> str:
    """yaml.safe_dump, through libyaml when available."""
    return str(yaml.dump(data, Dumper=_DUMPER, **options))


def loads(text: str) -> Any:
    """yaml.safe_load of trusted, machine-written text (helm output), through libyaml."""
    return yaml.load(text, Loader=_LOADER)
