"""Reading the TOML files people edit, and pydantic validation errors rewritten for them.

Each problem reads ``key: what is wrong (got value)`` with the key as a dotted TOML path, and an
unknown key lists the keys its table accepts.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from types import NoneType, UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails


def read_toml(path: Path, error: type[Exception]) -> dict[str, Any]:
    """The parsed file; unreadable or invalid TOML raises ``error`` naming the file."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: not valid TOML: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot be read: {exc}") from exc


def validation_message(exc: ValidationError, root: type[BaseModel]) -> str:
    """All problems of ``exc`` (raised validating ``root``) as one readable line."""
    return "; ".join(_describe(error, root) for error in exc.errors())


def _describe(error: ErrorDetails, root: type[BaseModel]) -> str:
    loc = error["loc"]
    key = dotted(loc)
    if error["type"] == "extra_forbidden":
        allowed = ", ".join(table_keys(root, loc[:-1]))
        return f"unknown key {key!r}; allowed here: {allowed}"
    if error["type"] == "model_type":
        return f"{key} must be a table with keys: {', '.join(table_keys(root, loc))}"
    if error["type"] == "missing":
        return f"key {key!r} is required"
    return f"{key}: {error['msg']} (got {error['input']!r})"


def dotted(loc: tuple[int | str, ...]) -> str:
    """``('input', 'size', 0)`` → ``input.size[0]``."""
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else part)
    return key or "(top level)"


def table_keys(root: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The keys the table at ``loc`` accepts, walking the schema through tables, maps and lists."""
    annotation: Any = root
    for part in loc:
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(part))
            if field is None:
                return []
            annotation = field.annotation
        elif get_origin(annotation) in (dict, list):
            annotation = get_args(annotation)[-1]
        else:
            return []
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    """``Annotated[X, ...]`` and ``X | None`` → ``X``."""
    while True:
        origin = get_origin(annotation)
        args = get_args(annotation)
        if origin is Annotated:
            annotation = args[0]
        elif origin in (Union, UnionType) and len(args) == 2 and NoneType in args:
            annotation = next(a for a in args if a is not NoneType)
        else:
            return annotation
