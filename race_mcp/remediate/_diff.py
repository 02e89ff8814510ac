"""Unified diffs that `git apply` and `patch -p1` accept: `a/` `b/` headers, no-newline markers."""

from __future__ import annotations

import difflib
from pathlib import PurePath

__all__ = ["diff_label", "unified_diff"]

_NO_NEWLINE = "\\ No newline at end of file\n"


def diff_label(path: str) -> str:
    """The path as diff headers show it: forward slashes, no leading `./`."""
    posix = PurePath(path).as_posix()
    while posix.startswith("./"):
        posix = posix[2:]
    return posix


def _lines(text: str) -> list[str]:
    """Lines as git and patch see them, ended by "\n" only: str.splitlines also breaks at \x0c,
    \x1c-\x1e, \x85 and U+2028/9, and a diff cut there does not apply."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    return [*lines, parts[-1]] if parts[-1] else lines


def unified_diff(before: str, after: str, path: str, *, context: int = 3) -> str:
    """The diff from `before` to `after` for one file, or "" when they are equal."""
    if before == after:
        return ""
    label = diff_label(path)
    lines = difflib.unified_diff(
        _lines(before),
        _lines(after),
        fromfile=f"a/{label}",
        tofile=f"b/{label}",
        n=context,
    )
    out: list[str] = []
    for line in lines:
        if line.endswith("\n"):
            out.append(line)
        else:
            # The file's last line has no newline: both tools need the marker on its own line.
            out.append(line + "\n" + _NO_NEWLINE)
    return f"diff --git a/{label} b/{label}\n" + "".join(out)
