"""Read Python 3.12+ source on an older interpreter: the syntax the analysis can do without.

Real applications move to new syntax early (saleor uses PEP 695 generics, netbox PEP 701
f-strings), and `ast` on 3.11 refuses the whole file. Neither feature carries anything the race
analysis reads, so on a `SyntaxError` the parser retries once with a line-preserving rewrite:

- PEP 695: `type Alias[T] = ...` becomes `Alias = ...`; the type parameters after `def name` and
  `class Name` are dropped (`def first[T](items: list[T])` -> `def first(items: list[T])`).
- PEP 701: a replacement field may reuse the f-string's own quote (`f"{row["id"]}"`); such inner
  strings are re-quoted with the other quote when their text allows, else the whole f-string becomes
  an empty literal (its reads are lost, the rest of the file is analysed).

Every line keeps its number, so findings point at the right lines. Only the retry path runs this.
"""

from __future__ import annotations

import re

__all__ = ["downgrade_newer_syntax"]

_TYPE_ALIAS = re.compile(r"^([ \t]*)type[ \t]+([A-Za-z_]\w*)[ \t]*(?:\[[^\]\n]*\])?[ \t]*=", re.MULTILINE)
_GENERIC_DEFINITION = re.compile(
    r"^[ \t]*(?:async[ \t]+)?(?:def|class)[ \t]+[A-Za-z_]\w*[ \t]*(?=\[)", re.MULTILINE
)
_STRING_START = re.compile(r"(?i)(?<![\w])(rb|br|fr|rf|[rbuf])?('''|\"\"\"|'|\")")
_QUOTES = ("'", '"')


def downgrade_newer_syntax(source: str) -> str | None:
    """`source` with PEP 695 and PEP 701 forms rewritten for Python 3.11, or None if none found."""
    rewritten = _drop_type_parameters(source)
    rewritten = _requote_fstrings(rewritten)
    return rewritten if rewritten != source else None


# -- PEP 695 ---------------------------------------------------------------------------------------
def _drop_type_parameters(source: str) -> str:
    source = _TYPE_ALIAS.sub(lambda m: f"{m.group(1)}{m.group(2)} =", source)
    pieces: list[str] = []
    position = 0
    for match in _GENERIC_DEFINITION.finditer(source):
        if match.start() < position:
            continue
        end = _closing_bracket(source, match.end())
        if end is None:
            continue
        # Parameters over several lines: the line breaks stay, joined by backslashes.
        pieces += [source[position : match.end()], " \\\n" * source.count("\n", match.end(), end + 1)]
        position = end + 1
    pieces.append(source[position:])
    return "".join(pieces)


def _closing_bracket(text: str, start: int) -> int | None:
    """Index of the `]` matching the `[` at `start`."""
    depth = 0
    for index in range(start, len(text)):
        char = text[index]
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth == 0:
                return index if char == "]" else None
    return None


# -- PEP 701 ---------------------------------------------------------------------------------------
def _requote_fstrings(source: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(source):
        char = source[index]
        if char == "#":
            end = source.find("\n", index)
            end = len(source) if end < 0 else end
            out.append(source[index:end])
            index = end
            continue
        match = _string_at(source, index)
        if match is None:
            out.append(char)
            index += 1
            continue
        literal_end = _literal_end(source, match)
        if literal_end is None:
            return source  # unterminated: leave the error to the parser
        literal = source[index:literal_end]
        prefix = (match.group(1) or "").lower()
        out.append(_compatible_fstring(literal, match) if "f" in prefix else literal)
        index = literal_end
    return "".join(out)


def _literal_end(source: str, match: re.Match[str]) -> int | None:
    """End (exclusive) of the string literal whose prefix and opening quote `match` found."""
    prefix, quote = (match.group(1) or "").lower(), match.group(2)
    index = match.end()
    while index < len(source):
        char = source[index]
        if char == "\\" and "r" not in prefix:
            index += 2
            continue
        if "f" in prefix and char == "{":
            if source.startswith("{{", index):
                index += 2
                continue
            field_end = _field_end(source, index + 1)
            if field_end is None:
                return None
            index = field_end
            continue
        if source.startswith(quote, index):
            return index + len(quote)
        if char == "\n" and len(quote) == 1:
            return None
        index += 1
    return None


def _field_end(source: str, index: int) -> int | None:
    """End (exclusive) of a replacement field whose `{` precedes `index`; strings inside skipped."""
    depth = 0
    while index < len(source):
        string = _string_at(source, index)
        if string is not None:
            end = _literal_end(source, string)
            if end is None:
                return None
            index = end
            continue
        char = source[index]
        if char in "([{":
            depth += 1
        elif char in ")]}":
            if depth == 0:
                return index + 1 if char == "}" else None
            depth -= 1
        index += 1
    return None


def _string_at(source: str, index: int) -> re.Match[str] | None:
    """The prefix and opening quote of a string literal starting at `index`, if one does."""
    char = source[index]
    return _STRING_START.match(source, index) if char.isalpha() or char in _QUOTES else None


def _compatible_fstring(literal: str, match: re.Match[str]) -> str:
    """The f-string with inner strings in the other quote, or an empty literal on the same lines."""
    quote = match.group(2)
    opening = match.end() - match.start()
    body = literal[opening : len(literal) - len(quote)]
    other = '"' if quote[0] == "'" else "'"
    requoted = _requote_fields(body, quote[0], other)
    if requoted is not None and (len(quote) == 3 or "\n" not in requoted):
        return literal[:opening] + requoted + quote
    newlines = literal.count("\n")
    return '""' if not newlines else '"""' + "\n" * newlines + '"""'


def _requote_fields(body: str, quote: str, other: str) -> str | None:
    """`body` with each string inside a replacement field that uses `quote` put in `other` quotes;
    None when one cannot be (it holds `other`, a backslash, or is itself an f-string)."""
    out: list[str] = []
    depth = 0  # inside a replacement field when > 0
    index = 0
    while index < len(body):
        char = body[index]
        if depth == 0:
            if body.startswith(("{{", "}}"), index):
                out.append(body[index : index + 2])
                index += 2
                continue
            depth += char == "{"
            out.append(char)
            index += 1
            continue
        if char == "\\" or char == "#":
            return None
        if char in _QUOTES:
            end = body.find(char, index + 1)
            if end < 0:
                return None
            text = body[index + 1 : end]
            if "\\" in text:
                return None  # 3.11 allows no backslash anywhere in a replacement field
            if char == quote:
                if other in text or (index > 0 and body[index - 1] in "fF"):
                    return None
                out.append(other + text + other)
            else:
                out.append(body[index : end + 1])
            index = end + 1
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        out.append(char)
        index += 1
    return "".join(out)
