"""Make untrusted text safe to show in a terminal or to a model: control characters visible, not active.

Every human-readable renderer (the CLI's text formats, error lines, the MCP tools' text content)
passes text that race-mcp did not write through here: source lines quoted as evidence, file names,
OpenAPI paths, response bodies of a burst target, diffs of untrusted code. Such text can carry
escape sequences that retitle the terminal (OSC 0), erase and rewrite report lines (CSI), write
the clipboard (OSC 52), or bidirectional overrides that display code in another order than it
runs ("Trojan Source"). JSON and SARIF keep the exact text: their consumers escape it themselves.

What is shown escaped (as `\\x1b` or `<U+202E>`), everywhere:
- C0 controls except tab (carriage return included: it rewrites the line it is on), DEL, and the
  C1 controls U+0080-U+009F (U+009B is a one-character CSI on some terminals);
- Unicode format characters (category Cf): the bidi embeddings, overrides, isolates and marks
  (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C), zero-width spaces, word joiners, the byte
  order mark, invisible tag characters (U+E0000 block, used to smuggle hidden text to models). ZWNJ
  and ZWJ (U+200C, U+200D) stay: they shape Arabic, Indic and emoji text and reorder nothing;
- the line and paragraph separators U+2028 and U+2029, which some terminals and editors break on;
- lone surrogates (from undecodable bytes), which cannot be encoded for output at all.
A newline is kept only by `sanitize_text`, between the lines of a block; inside one line
(`sanitize_line`: a quoted source line, a message, a file name) it is shown as `\\n`, so quoted
text cannot forge a report line. Backslashes are not doubled: source code full of `"\\n"` stays
readable, at the cost that a literal `\\x1b` in a quoted line looks like an escaped one (the JSON
output tells them apart).

Long lines are cut with a marker saying how much was left out (`… [+1,234 chars]`), so one huge
minified line or response body cannot flood the terminal or a model's context.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import lru_cache

__all__ = ["PROSE_LIMIT", "QUOTE_LIMIT", "sanitize_line", "sanitize_message", "sanitize_text"]

# A quoted line of someone else's text: a source line, a diff line, a response sample.
QUOTE_LIMIT = 300
# Our own sentences that embed quoted text: finding messages, fixes, guidance, error messages.
PROSE_LIMIT = 2000

# Everything but tab and printable ASCII is looked at one character at a time (most text has none).
_CANDIDATE = re.compile(r"[^\t\x20-\x7e]")
_SHORT = {"\n": "\\n", "\r": "\\r"}
_HIDDEN_CATEGORIES = frozenset({"Cf", "Zl", "Zp", "Cs"})
_JOINERS = frozenset({"\u200c", "\u200d"})


@lru_cache(maxsize=4096)
def _visible(char: str) -> str:
    """The character itself when it is safe to show, else its escaped form."""
    code = ord(char)
    if code < 0x20 or 0x7F <= code <= 0x9F:
        return _SHORT.get(char, f"\\x{code:02x}")
    if char in _JOINERS or unicodedata.category(char) not in _HIDDEN_CATEGORIES:
        return char
    return f"<U+{code:04X}>"


def _pieces(text: str) -> Iterator[tuple[str, str]]:
    """(original, shown) pairs: runs of plain text, and single characters that need a look."""
    position = 0
    for match in _CANDIDATE.finditer(text):
        if match.start() > position:
            run = text[position : match.start()]
            yield run, run
        char = match.group()
        yield char, _visible(char)
        position = match.end()
    if position < len(text):
        run = text[position:]
        yield run, run


def sanitize_line(text: str, limit: int | None = QUOTE_LIMIT) -> str:
    """One line safe to print: controls and invisible format characters escaped, newlines too.

    At most `limit` characters of shown text (an escape is never split), then `… [+N chars]`
    with N the number of original characters left out. `limit=None` never cuts.
    """
    fits = limit is None or len(text) <= limit
    if fits and not _CANDIDATE.search(text):
        return text  # the common case: short printable ASCII
    shown: list[str] = []
    size = 0
    consumed = 0
    for original, visible in _pieces(text):
        if limit is not None and size + len(visible) > limit:
            if original == visible:  # plain text: show what fits of it
                room = limit - size
                shown.append(visible[:room])
                consumed += room
            break
        shown.append(visible)
        size += len(visible)
        consumed += len(original)
    left = len(text) - consumed
    return "".join(shown) + (f"… [+{left:,} chars]" if left else "")


def sanitize_text(text: str, limit: int | None = QUOTE_LIMIT) -> str:
    """A block of lines safe to print: each line as `sanitize_line`, the newlines between them kept."""
    return "\n".join(sanitize_line(line, limit) for line in text.split("\n"))


def sanitize_message(text: str, limit: int | None = PROSE_LIMIT) -> str:
    """An error message as one line: its lines joined with a space, then as `sanitize_line`."""
    joined = " ".join(part.strip() for part in text.splitlines() if part.strip())
    return sanitize_line(joined, limit)
