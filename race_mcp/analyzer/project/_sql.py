"""Unique keys declared in SQL text: `.sql` migration files and SQL strings in Python migrations.

Recognised: `CREATE UNIQUE INDEX ... ON t (cols)` (a partial index, with `WHERE`, guarantees nothing
for every row and is left out), `CREATE TABLE t (...)` with column `UNIQUE` / `PRIMARY KEY` and table
`UNIQUE (...)` / `PRIMARY KEY (...)` constraints, and `ALTER TABLE t ADD [CONSTRAINT x] UNIQUE (...)`
or `ADD [COLUMN] c type UNIQUE`. An index over an expression (`lower(email)`) counts for the
columns inside it: equal columns give equal expressions, so the columns are unique too.
Tables and columns are lowercased, quotes and schemas dropped.
"""

from __future__ import annotations

import re

from ._facts import merge_keys

__all__ = ["sql_unique_keys"]

_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)
_NAME = r'(?:"[^"]+"|`[^`]+`|\[[^\]]+\]|[\w$]+)(?:\s*\.\s*(?:"[^"]+"|`[^`]+`|\[[^\]]+\]|[\w$]+))*'
_UNIQUE_INDEX = re.compile(
    rf"^\s*create\s+unique\s+index\s+(?:concurrently\s+)?(?:if\s+not\s+exists\s+)?(?:{_NAME}\s+)?"
    rf"on\s+(?:only\s+)?(?P<table>{_NAME})\s*(?:using\s+\w+\s*)?\((?P<cols>.*)\)(?P<rest>[^()]*)$",
    re.I | re.S,
)
_CREATE_TABLE = re.compile(
    rf"^\s*create\s+(?:(?:global\s+|local\s+)?(?:temporary|temp)\s+|unlogged\s+)?table\s+"
    rf"(?:if\s+not\s+exists\s+)?(?P<table>{_NAME})\s*\((?P<body>.*)\)[^()]*$",
    re.I | re.S,
)
_ALTER_TABLE = re.compile(
    rf"^\s*alter\s+table\s+(?:if\s+exists\s+)?(?:only\s+)?(?P<table>{_NAME})\s+(?P<actions>.*)$", re.I | re.S
)
_CONSTRAINT = re.compile(
    r"^\s*(?:constraint\s+\S+\s+)?(?:unique(?:\s+key|\s+index)?|primary\s+key)\s*(?:\w+\s*)?\((?P<cols>.*)\)",
    re.I | re.S,
)
_COLUMN_UNIQUE = re.compile(r"\b(?:unique|primary\s+key)\b", re.I)
_ADD = re.compile(r"^\s*add\s+(?:column\s+)?(?:if\s+not\s+exists\s+)?(?P<def>.*)$", re.I | re.S)
_NOT_COLUMNS = frozenset(
    {"asc", "desc", "nulls", "first", "last", "collate", "lower", "upper", "coalesce", "trim", "md5"}
)


def sql_unique_keys(text: str) -> dict[str, list[list[str]]]:
    """Table -> its unique column sets, from every statement of `text` that declares one."""
    found: dict[str, list[list[str]]] = {}
    for statement in _statements(_COMMENTS.sub(" ", text)):
        for table, columns in _declared(statement):
            merge_keys(found, table, columns)
    return found


def _declared(statement: str) -> list[tuple[str, list[str]]]:
    match = _UNIQUE_INDEX.match(statement)
    if match:
        if re.search(r"\bwhere\b", match.group("rest"), re.I):
            return []  # a partial index: only some rows are unique
        return [(_table(match.group("table")), _columns(match.group("cols")))]
    match = _CREATE_TABLE.match(statement)
    if match:
        table = _table(match.group("table"))
        return [(table, columns) for columns in map(_definition_key, _split(match.group("body"))) if columns]
    match = _ALTER_TABLE.match(statement)
    if match:
        table = _table(match.group("table"))
        keys = []
        for action in _split(match.group("actions")):
            added = _ADD.match(action)
            if added and (columns := _definition_key(added.group("def"))):
                keys.append((table, columns))
        return keys
    return []


def _definition_key(definition: str) -> list[str]:
    """The unique columns one element of a table body declares (a constraint or a column), or []."""
    constraint = _CONSTRAINT.match(definition)
    if constraint:
        return _columns(constraint.group("cols"))
    words = definition.split(None, 1)
    if (
        len(words) == 2
        and _COLUMN_UNIQUE.search(words[1])
        and not words[0].lower().startswith(("constraint", "check", "foreign", "exclude", "index", "key"))
    ):
        return [_unquote(words[0])]
    return []


def _columns(text: str) -> list[str]:
    columns = []
    for item in _split(text):
        names = [
            _unquote(word)
            for word in re.findall(r'"[^"]+"|`[^`]+`|[A-Za-z_][\w$]*', item)
            if word.lower() not in _NOT_COLUMNS
        ]
        if names:
            columns.append(names[0])
    return columns


def _table(name: str) -> str:
    return _unquote(re.split(r"\s*\.\s*", name.strip())[-1])


def _unquote(name: str) -> str:
    return name.strip().strip('"`[]').lower()


def _split(text: str) -> list[str]:
    """Top-level comma-separated parts (commas inside parentheses or quotes stay)."""
    parts: list[str] = []
    current: list[str] = []
    depth, quote = 0, ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"`":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [part for part in (piece.strip() for piece in parts) if part]


def _statements(text: str) -> list[str]:
    statements: list[str] = []
    current: list[str] = []
    quote = ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == ";":
            statements.append("".join(current))
            current = []
            continue
        current.append(char)
    statements.append("".join(current))
    return [statement for statement in statements if statement.strip()]
