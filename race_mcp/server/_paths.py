"""Paths from tool arguments: anything the OS would choke on is `[bad-path]`, never a bare error.

NUL bytes, lone surrogates, names over NAME_MAX, paths over PATH_MAX and `~nosuchuser` each made the
OS (or pathlib) raise something that surfaced as a bare "Error executing tool".
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import PlainValidator, WithJsonSchema

from .._sanitize import sanitize_line
from ..errors import InputError
from ..roots import AllowedRoots
from ._workspace import locate

NAME_MAX = 255
PATH_MAX = 4096


def _text(value: Any) -> str:
    """Any JSON string, lone surrogates and NULs included: `checked_path` says what is wrong with
    it as a `[bad-path]` error (pydantic's own string check would answer a bare validation error)."""
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value


# A path argument: a plain string in the schema, checked by `checked_path` in the tool.
PathText = Annotated[str, PlainValidator(_text), WithJsonSchema({"type": "string"})]


def checked_path(value: str, argument: str) -> str:
    """`value` if the OS can take it as a path; raises `InputError(code="bad-path")` saying why not."""
    shown = sanitize_line(value, 80)
    problem = _path_problem(value)
    if problem:
        raise InputError(f"`{argument}` {shown}: {problem}", code="bad-path")
    return value


def _path_problem(value: str) -> str | None:
    if not value:
        return "is empty"
    if "\x00" in value:
        return "contains a NUL character"
    try:
        encoded = os.fsencode(value)
    except UnicodeError:
        return "is not valid Unicode (it holds a lone surrogate)"
    if len(encoded) >= PATH_MAX:
        return f"is {len(encoded):,} bytes long; paths are shorter than {PATH_MAX:,}"
    if any(len(part) > NAME_MAX for part in encoded.split(b"/")):
        return f"has a name longer than {NAME_MAX} bytes"
    if value.startswith("~"):
        try:
            Path(value).expanduser()
        except RuntimeError:
            return f"no home directory for {value.split('/')[0]!r}"
    return None


def located(value: str, argument: str, roots: AllowedRoots) -> Path:
    """`locate` for a tool argument: OS-level failures become `[bad-path]` errors too."""
    checked_path(value, argument)
    try:
        return locate(value, roots)
    except (OSError, ValueError, RuntimeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InputError(
            f"`{argument}` {sanitize_line(value, 80)}: cannot be used as a path ({reason})", code="bad-path"
        ) from None
