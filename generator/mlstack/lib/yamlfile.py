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
import json
import os
import stat
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

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
        raise UserError(f"{where}: file not found") from None
    except IsADirectoryError:
        raise UserError(f"{where}: is a directory, not a file: remove or rename it") from None
    except OSError as err:
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


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and over-deep nesting while composing.

    `compose_node` is the one recursive step of PyYAML (the parser is a state machine), so
    counting there stops a 5 000-deep document long before Python's recursion limit. Its
    `index` argument is the key node of a mapping value or the position in a sequence,
    which gives the dotted key path for messages.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._path: list[str] = []
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        step = None
        if isinstance(index, ScalarNode):
            step = str(index.value)
        elif isinstance(index, int) and not isinstance(index, bool):
            step = str(index)
        if step is not None:
            self._path.append(step)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                key = ".".join(self._path[:3]) + "..."
                raise _Refused(mark.line + 1, key, f"nested deeper than {MAX_DEPTH} levels")
            node = super().compose_node(parent, index)
            if isinstance(node, MappingNode):
                _check_duplicates(node, self._path)
            return node
        finally:
            self._depth -= 1
            if step is not None:
                self._path.pop()


class _Refused(Exception):
    def __init__(self, line: int, key: str | None, what: str) -> None:
        super().__init__(what)
        self.line, self.key, self.what = line, key, what


def _check_duplicates(node: MappingNode, path: list[str]) -> None:
    seen: dict[str, int] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key, line = str(key_node.value), key_node.start_mark.line + 1
        if key in seen:
            raise _Refused(
                line,
                ".".join([*path, key]),
                f"key given twice (first on line {seen[key]}): keep one of them",
            )
        seen[key] = line


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
        loader = _Loader(text)
        try:
            data = loader.get_single_data()
        finally:
            loader.dispose()
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
