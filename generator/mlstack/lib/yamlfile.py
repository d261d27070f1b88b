"""Reading a hand-edited YAML file: a syntax error is the user's to fix, not a traceback.

Values files and the data files (versions.yaml, chart-versions.yaml) are edited by hand;
all of them go through `read` so a typo gets one line naming the file and the line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from mlstack import REPO_ROOT
from mlstack.errors import UserError

Model = TypeVar("Model", bound=BaseModel)
#: libyaml's safe loader when PyYAML has it: every command reads versions.yaml, and the
#: pure-Python parser spends ~0.1 s on it.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def shown(path: Path) -> str:
    """The path as users see it: relative to the repository when inside it."""
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def read(path: Path) -> Any:
    """The file's data; UserError for a missing file or invalid YAML."""
    try:
        return yaml.load(path.read_text(), Loader=_LOADER)
    except FileNotFoundError:
        raise UserError(f"{shown(path)}: file not found") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise UserError(f"{shown(path)}:{where} is not valid YAML: fix the syntax") from None


def model(path: Path, schema: type[Model]) -> Model:
    """The file read into a pydantic model; the first problem as one line naming the key."""
    try:
        return schema.model_validate(read(path))
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise UserError(f"{shown(path)}: {key}: {first['msg']}") from None


#: libyaml's C emitter when PyYAML has it (same output, several times faster): generate
#: dumps and re-reads dozens of chart files on every run.
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def dumps(data: Any, **options: Any) -> str:
    """yaml.safe_dump, through libyaml when available."""
    return str(yaml.dump(data, Dumper=_DUMPER, **options))


def loads(text: str) -> Any:
    """yaml.safe_load of trusted, machine-written text, through libyaml when available."""
    return yaml.load(text, Loader=_LOADER)
