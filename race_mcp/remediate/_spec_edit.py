"""Additive edits to a YAML or JSON document that keep everything the edit does not touch.

An edit is an `Overlay`: a tree of mapping keys whose leaves are `New(value)` (insert the key if
it is absent, never overwrite) or `Append(items)` (append to a list, creating it if absent).
`apply_overlay` returns the new text:

- YAML: the document is read with ruamel.yaml's round-trip loader for its positions and styles, and
  the new entries are *inserted as text* at the end of the mapping or list they belong to, indented
  like the document (or inside the braces of a flow collection). Every other byte, comment, quote,
  blank line and key order stays as written, so the diff shows only the additions. (Re-dumping the
  whole tree would re-flow unrelated lines: `{description: a, b}` becomes `{description: a, b: null}`.)
- JSON: the data is changed and dumped again with the indent detected from the file.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import SingleQuotedScalarString

from ..errors import InputError
from ..openapi._load import parse_spec_text

__all__ = ["Append", "New", "Overlay", "apply_overlay", "find_key", "load_document"]


_MAX_NUMBER_CHARS = 1_000  # CPython converts at most 4,300 digits; no spec needs a quarter of that


@dataclass(frozen=True)
class New:
    """Insert this value under the key unless the key already exists."""

    value: Any


@dataclass(frozen=True)
class Append:
    """Append these items to the list under the key (creating it); `identity` skips duplicates."""

    items: tuple[Any, ...]
    identity: tuple[str, ...] = ("name", "in", "$ref")


Overlay: TypeAlias = dict[str, "Overlay | New | Append"]


def load_document(text: str, label: str, *, is_json: bool) -> Any:
    """The document as plain-enough data: ruamel's round-trip tree for YAML, dicts for JSON.

    The text is first read by the checker's guarded loader, which refuses deep nesting and alias
    bombs in bounded time: ruamel's composer is recursive and pure Python (10,000 nested brackets
    cost it 13 s and a RecursionError).
    """
    parse_spec_text(text, label, prefer_json=is_json)
    try:
        if is_json:
            return json.loads(text, parse_int=_json_int(label), parse_float=_json_float(label))
        return _round_trip_yaml().load(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{label}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}", code="invalid-json"
        ) from None
    except YAMLError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid YAML"
        raise InputError(f"{label}: invalid YAML: {first}", code="invalid-yaml") from None
    except ValueError as exc:  # a scalar ruamel cannot construct, such as a date that does not exist
        raise InputError(f"{label}: a YAML value cannot be read: {exc}", code="invalid-yaml") from None


def _json_int(label: str) -> Callable[[str], int]:
    """JSON is patched by dumping it again: a number too long to convert could not be written back."""

    def convert(literal: str) -> int:
        if len(literal) > _MAX_NUMBER_CHARS:
            raise _number_too_long(label, literal)
        return int(literal)

    return convert


def _json_float(label: str) -> Callable[[str], float]:
    def convert(literal: str) -> float:
        value = float(literal)
        if not math.isfinite(value):  # `1e999999` would be written back as Infinity
            raise _number_too_long(label, literal)
        return value

    return convert


def _number_too_long(label: str, literal: str) -> InputError:
    shown = literal if len(literal) <= 20 else f"{literal[:12]}... ({len(literal):,} characters)"
    return InputError(
        f"{label}: the number {shown} cannot be written back unchanged; not patching a JSON spec "
        "that holds it",
        code="number-too-long",
    )


class _LongNumbersAsText(RoundTripConstructor):
    """Integers too long for CPython to convert stay the text they are: YAML edits insert text and
    never write a loaded value back, so nothing is lost (and `1:2:3...` in base 60 costs nothing)."""

    def construct_yaml_int(self, node: Any) -> Any:
        if len(str(node.value)) > _MAX_NUMBER_CHARS:
            return str(node.value)
        return super().construct_yaml_int(node)


_LongNumbersAsText.add_constructor("tag:yaml.org,2002:int", _LongNumbersAsText.construct_yaml_int)


def _round_trip_yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.Constructor = _LongNumbersAsText
    yaml.preserve_quotes = True
    return yaml


def apply_overlay(text: str, document: Any, overlay: Overlay, *, is_json: bool) -> str:
    """`text` with the overlay's additions; `document` is what `load_document` returned for it."""
    if not overlay:
        return text
    if is_json:
        return _apply_json(text, document, overlay)
    editor = _YamlEditor(text, document)
    editor.merge_mapping(document, (0, 0), overlay)
    return editor.result()


def materialize(value: Overlay | New | Append) -> Any:
    """The plain value an overlay branch stands for when nothing of it exists yet."""
    if isinstance(value, New):
        return value.value
    if isinstance(value, Append):
        return list(value.items)
    return {key: materialize(child) for key, child in value.items()}


def find_key(mapping: Mapping[Any, Any], key: str) -> Any:
    """The key as the document spells it: `200` (an int in YAML) answers to "200"."""
    for candidate in mapping:
        if str(candidate) == key:
            return candidate
    return None


def _is_duplicate(items: list[Any], item: Any, identity: tuple[str, ...]) -> bool:
    if not isinstance(item, dict):
        return item in items
    key = tuple(str(item.get(name, "")).lower() for name in identity)
    return any(
        isinstance(existing, dict) and tuple(str(existing.get(n, "")).lower() for n in identity) == key
        for existing in items
    )


# -- JSON ----------------------------------------------------------------------------------------


def _merge_data(target: dict[Any, Any], overlay: Overlay) -> None:
    for key, value in overlay.items():
        existing_key = find_key(target, key)
        if existing_key is None:
            target[key] = materialize(value)
            continue
        existing = target[existing_key]
        if isinstance(value, dict) and isinstance(existing, dict):
            _merge_data(existing, value)
        elif isinstance(value, Append) and isinstance(existing, list):
            existing.extend(i for i in value.items if not _is_duplicate(existing, i, value.identity))


_JSON_INDENT = re.compile(r"[\[{]\s*?\n([ \t]+)\S")


def _apply_json(text: str, document: Any, overlay: Overlay) -> str:
    _merge_data(document, overlay)
    match = _JSON_INDENT.search(text)
    indent: str | None = match.group(1) if match else None
    separators = (",", ": ") if indent is not None or '": ' in text else (",", ":")
    dumped = json.dumps(document, indent=indent, separators=separators, ensure_ascii="\\u" in text)
    return dumped + ("\n" if text.endswith("\n") else "")


# -- YAML ----------------------------------------------------------------------------------------

_PLAIN = re.compile(r"^[A-Za-z$_][A-Za-z0-9$_ ./()'-]*[A-Za-z0-9$_.)]$|^[A-Za-z$_]$")
_NOT_PLAIN = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _NOT_PLAIN and " #" not in text:
        return text
    if isinstance(value, SingleQuotedScalarString):
        return "'" + text.replace("'", "''") + "'"
    return json.dumps(text, ensure_ascii=False)


def _flow(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_scalar(k)}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(item) for item in value) + "]"
    return _scalar(value)


@dataclass(frozen=True)
class _Style:
    mapping_indent: int = 2
    sequence_offset: int = 2  # dash column relative to the parent key


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


@dataclass(order=True)
class _Insertion:
    line: int
    column: int
    order: int
    text: str = field(compare=False)


class _YamlEditor:
    """Collects text insertions for an overlay, then applies them bottom-up."""

    def __init__(self, text: str, document: Any) -> None:
        self.lines = text.splitlines(keepends=True)
        self.style = _detect_style(document)
        self.insertions: list[_Insertion] = []

    def result(self) -> str:
        lines = list(self.lines)
        for insertion in sorted(self.insertions, reverse=True):
            if insertion.column < 0:  # whole lines before `line`
                if insertion.line == len(lines) and lines and not lines[-1].endswith("\n"):
                    lines[-1] += "\n"
                lines[insertion.line : insertion.line] = [insertion.text]
            else:
                line = lines[insertion.line]
                lines[insertion.line] = line[: insertion.column] + insertion.text + line[insertion.column :]
        return "".join(lines)

    def _insert(self, line: int, column: int, text: str) -> None:
        self.insertions.append(_Insertion(line, column, len(self.insertions), text))

    # merging ------------------------------------------------------------------------------------

    def merge_mapping(self, node: CommentedMap, start: tuple[int, int], overlay: Overlay) -> None:
        fresh: dict[str, Any] = {}
        for key, value in overlay.items():
            existing_key = find_key(node, key)
            if existing_key is None:
                fresh[key] = materialize(value)
                continue
            existing = node[existing_key]
            position = node.lc.value(existing_key)
            if isinstance(value, dict) and isinstance(existing, CommentedMap):
                self.merge_mapping(existing, position, value)
            elif isinstance(value, Append) and isinstance(existing, CommentedSeq):
                items = [i for i in value.items if not _is_duplicate(existing, i, value.identity)]
                if items:
                    self._append_items(existing, position, items)
        if fresh:
            self._add_entries(node, start, fresh)

    def _add_entries(self, node: CommentedMap, start: tuple[int, int], entries: dict[str, Any]) -> None:
        flow_leaves = _siblings_are_flow(node.values())
        quote = "'" if any(isinstance(key, SingleQuotedScalarString) for key in node) else '"'
        if node.fa.flow_style():
            body = ", ".join(f"{_key(k, quote)}: {_flow(v)}" for k, v in entries.items())
            self._insert_in_flow(start, body, empty=not node)
            return
        column = node.lc.col
        text = "".join(
            self._entry_lines(key, value, column, flow_leaves, quote) for key, value in entries.items()
        )
        last_key = list(node)[-1]
        self._insert(self._block_end(node.lc.key(last_key)[0], column, sequence=False), -1, text)

    def _append_items(self, node: CommentedSeq, start: tuple[int, int], items: list[Any]) -> None:
        if node.fa.flow_style() or not node:
            self._insert_in_flow(start, ", ".join(_flow(item) for item in items), empty=not node)
            return
        dash = node.lc.col
        flow_items = _siblings_are_flow(node)
        text = "".join(self._item_lines(item, dash, flow_items) for item in items)
        self._insert(self._block_end(node.lc.item(len(node) - 1)[0], dash, sequence=True), -1, text)

    # rendering ----------------------------------------------------------------------------------

    def _entry_lines(self, key: str, value: Any, column: int, flow_leaves: bool, quote: str = '"') -> str:
        pad = " " * column
        if not isinstance(value, dict | list) or not value or (flow_leaves and _is_leaf(value)):
            return f"{pad}{_key(key, quote)}: {_flow(value)}\n"
        out = f"{pad}{_key(key, quote)}:\n"
        if isinstance(value, dict):
            inner = column + self.style.mapping_indent
            return out + "".join(self._entry_lines(k, v, inner, flow_leaves) for k, v in value.items())
        dash = column + self.style.sequence_offset
        return out + "".join(self._item_lines(item, dash, flow_leaves) for item in value)

    def _item_lines(self, item: Any, dash: int, flow_items: bool) -> str:
        if not isinstance(item, dict) or not item or flow_items:
            return f"{' ' * dash}- {_flow(item)}\n"
        text = "".join(self._entry_lines(k, v, dash + 2, False) for k, v in item.items())
        return " " * dash + "- " + text[dash + 2 :]

    # positions ----------------------------------------------------------------------------------

    def _block_end(self, last_line: int, column: int, *, sequence: bool) -> int:
        """The line after the last entry of a block collection whose entries start at `column`.

        The entry runs on while lines are blank or indented deeper; for a mapping, an indentless
        list (`- ` at the key's own column) still belongs to its last key. Comments are skipped
        over, and trailing blank and comment lines are left to what follows (they usually
        introduce the next entry, as `# racy: RA101` above `delete:` does).
        """
        end = last_line + 1
        while end < len(self.lines):
            line = self.lines[end]
            stripped = line.strip()
            indent = _indent_of(line)
            same_level = indent == column and (sequence or not stripped.startswith("- "))
            if stripped and not stripped.startswith("#") and (indent < column or same_level):
                break
            end += 1
        while end > last_line + 1 and self._is_blank_or_comment(end - 1):
            end -= 1
        return end

    def _is_blank_or_comment(self, line: int) -> bool:
        stripped = self.lines[line].strip()
        return not stripped or stripped.startswith("#")

    def _insert_in_flow(self, start: tuple[int, int], body: str, *, empty: bool) -> None:
        line, column = _closing_bracket(self.lines, start)
        text = self.lines[line]
        while column > 0 and text[column - 1] == " " and not empty:
            column -= 1
        if column == 0:
            column = _closing_bracket(self.lines, start)[1]
        self._insert(line, column, body if empty else ", " + body)


def _key(key: str, quote: str = '"') -> str:
    text = str(key)
    if text.isdigit() or text.upper().endswith("XX"):  # status codes stay strings, quoted like their siblings
        return f"'{text}'" if quote == "'" else json.dumps(text)
    return _scalar(text)


def _is_leaf(value: Any) -> bool:
    """Small enough for one flow line: a mapping or list of scalars and small mappings."""
    return len(_flow(value)) <= 90


def _siblings_are_flow(values: Any) -> bool:
    collections = [v for v in values if isinstance(v, CommentedMap | CommentedSeq)]
    return bool(collections) and all(v.fa.flow_style() for v in collections)


def _closing_bracket(lines: list[str], start: tuple[int, int]) -> tuple[int, int]:
    """Where the flow collection opening at `start` closes, skipping quoted text."""
    depth = 0
    quote: str | None = None
    line, column = start
    while line < len(lines):
        text = lines[line]
        while column < len(text):
            char = text[column]
            if quote is not None:
                if char == "\\" and quote == '"':
                    column += 1
                elif char == quote:
                    quote = None
            elif char in "\"'":
                quote = char
            elif char in "[{":
                depth += 1
            elif char in "]}":
                depth -= 1
                if depth == 0:
                    return line, column
            elif char == "#" and (column == 0 or text[column - 1] in " \t"):
                break  # a comment runs to the end of the line
            column += 1
        line, column = line + 1, 0
    raise InputError(f"unbalanced flow collection at line {start[0] + 1}", code="yaml-unbalanced-flow")


def _detect_style(document: Any) -> _Style:
    mapping_indent = sequence_offset = None
    for parent_column, child in _block_children(document):
        if isinstance(child, CommentedMap) and mapping_indent is None:
            mapping_indent = child.lc.col - parent_column
        elif isinstance(child, CommentedSeq) and sequence_offset is None:
            sequence_offset = child.lc.col - parent_column
        if mapping_indent is not None and sequence_offset is not None:
            break
    return _Style(
        mapping_indent=mapping_indent if mapping_indent and mapping_indent > 0 else 2,
        sequence_offset=sequence_offset if sequence_offset is not None and sequence_offset >= 0 else 2,
    )


def _block_children(node: Any) -> Iterator[tuple[int, CommentedMap | CommentedSeq]]:
    """(parent key column, child) for block collections nested in block mappings, breadth first."""
    pending: list[Any] = [node]
    while pending:
        current = pending.pop(0)
        if not isinstance(current, CommentedMap) or current.fa.flow_style() or not current:
            if isinstance(current, CommentedSeq):
                pending.extend(current)
            continue
        for value in current.values():
            if isinstance(value, CommentedMap | CommentedSeq) and not value.fa.flow_style() and value:
                if value.lc.line > current.lc.line or isinstance(value, CommentedSeq):
                    yield current.lc.col, value
                pending.append(value)
