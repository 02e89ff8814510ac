"""Reading one spec document (a file or fetched text) into plain data that remembers its lines.

YAML goes through the guarded event reader in `_yaml`; JSON through the C `json` parser, with line
numbers recovered later, and only if a finding needs one, by a token scan (`_json_key_lines`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._textfile import decode_text
from ..errors import InputError
from ._budget import Budget
from ._yaml import LineDict, float_or_text, int_or_text, load_yaml

__all__ = [
    "Pointer",
    "SpecFile",
    "decode_spec",
    "escape_token",
    "format_pointer",
    "parse_spec_text",
]

Pointer = tuple[str, ...]

# Keys deeper than this get the line of their nearest recorded ancestor; operations sit at depth 3
# (/paths/{path}/{method}) in a one-file spec and shallower in split ones.
_JSON_LINE_DEPTH = 6
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\],:]')


def escape_token(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def format_pointer(pointer: Pointer) -> str:
    """RFC 6901 text for a pointer; the empty tuple is the whole document ("")."""
    return "".join("/" + escape_token(token) for token in pointer)


@dataclass(eq=False)
class SpecFile:
    """One loaded document: where it came from, its data, and a way to find the line of a pointer."""

    uri: str  # resolved path, or the URL it was fetched from
    label: str  # what findings and errors show: the path as given or relative to the spec
    root: Any
    text: str
    is_json: bool
    _json_lines: dict[Pointer, int] | None = field(default=None, repr=False)

    @property
    def base_dir(self) -> Path:
        return Path(self.uri).parent

    def line_of(self, pointer: Pointer) -> int:
        """1-based line of the deepest key of `pointer` that has one; 1 when none does."""
        if self.is_json:
            return self._json_line(pointer)
        node, line = self.root, 1
        for token in pointer:
            if isinstance(node, LineDict) and token in node:
                line = node.key_lines.get(token, line)
                node = node[token]
            elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                node = node[int(token)]
            else:
                break
        return line

    def _json_line(self, pointer: Pointer) -> int:
        if self._json_lines is None:
            self._json_lines = _json_key_lines(self.text)
        for depth in range(min(len(pointer), _JSON_LINE_DEPTH), 0, -1):
            line = self._json_lines.get(pointer[:depth])
            if line is not None:
                return line
        return 1


def _json_key_lines(text: str) -> dict[Pointer, int]:
    """Lines of the object keys down to `_JSON_LINE_DEPTH`, from one pass over the tokens."""
    lines: dict[Pointer, int] = {}
    stack: list[list[Any]] = []  # per open container: [kind "{" or "[", current key or index]
    expect_key = False
    line, last = 1, 0
    for match in _JSON_TOKEN.finditer(text):
        char = match.group()[0]
        if char == '"':
            if expect_key:
                line += text.count("\n", last, match.start())
                last = match.start()
                stack[-1][1] = json.loads(match.group())
                if len(stack) <= _JSON_LINE_DEPTH:
                    lines.setdefault(tuple(str(frame[1]) for frame in stack), line)
                expect_key = False
        elif char == "{":
            stack.append(["{", ""])
            expect_key = True
        elif char == "[":
            stack.append(["[", 0])
            expect_key = False
        elif char in "}]":
            stack.pop()
            expect_key = False
        elif char == "," and stack:
            if stack[-1][0] == "{":
                expect_key = True
            else:
                stack[-1][1] += 1
    return lines


def decode_spec(data: bytes, label: str, *, max_bytes: int) -> str:
    """Bytes to text, or `InputError` for oversized, binary or non-UTF-8 input."""
    return decode_text(data, label, max_bytes=max_bytes, expected="an OpenAPI document")


def parse_spec_text(
    text: str, label: str, *, prefer_json: bool, budget: Budget | None = None
) -> tuple[Any, bool]:
    """Parse JSON or YAML; returns the data and whether it was JSON. The values built are taken
    from `budget`, which also bounds the time YAML may take."""
    looks_like_json = text.lstrip()[:1] in ("{", "[")
    if prefer_json or looks_like_json:
        try:
            root = json.loads(text, parse_int=int_or_text, parse_float=float_or_text, parse_constant=str)
        except json.JSONDecodeError as exc:
            if prefer_json:
                raise InputError(
                    f"{label}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}", code="invalid-json"
                ) from None
        except RecursionError:
            raise InputError(f"{label}: JSON nested too deeply", code="json-too-deep") from None
        else:
            if budget is not None:
                budget.take_nodes(_count_values(root, budget.nodes_left), label)
            return root, True
    return load_yaml(text, label, budget=budget), False


def _count_values(root: Any, limit: int) -> int:
    """How many values `root` holds, counting stops just past `limit`."""
    count, pending = 0, [root]
    while pending and count <= limit:
        value = pending.pop()
        count += 1
        if isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return count
