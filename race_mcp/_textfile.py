"""Reading a user's text file defensively: the one place file size, type and encoding are checked.

Every failure is an `InputError` whose one line names the file; the analyzer and the OpenAPI
loader both read through here, each naming what it expected to find.
"""

from __future__ import annotations

from pathlib import Path

from .errors import InputError

__all__ = ["decode_text", "read_text"]


def decode_text(data: bytes, label: str, *, max_bytes: int, expected: str) -> str:
    """Bytes to text, or `InputError` for oversized, binary or non-UTF-8 input.

    `expected` says what the text should have been, e.g. "Python source".
    """
    if len(data) > max_bytes:
        raise InputError(
            f"{label}: file is {len(data):,} bytes, over the {max_bytes:,}-byte limit", code="too-large"
        )
    if b"\x00" in data[:8192]:
        raise InputError(f"{label}: binary file (contains NUL bytes), not {expected}", code="binary-file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{label}: not UTF-8 text (invalid byte at offset {exc.start})", code="not-utf8"
        ) from None


def read_text(path: Path, label: str, *, max_bytes: int, expected: str) -> str:
    """Read one file as text; the size is checked before a byte is read."""
    if not path.exists():
        raise InputError(f"{label}: no such file", code="not-found")
    if path.is_dir():
        raise InputError(f"{label}: is a directory, not a regular file", code="is-directory")
    if not path.is_file():
        raise InputError(f"{label}: not a regular file", code="not-regular-file")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise InputError(
                f"{label}: file is {size:,} bytes, over the {max_bytes:,}-byte limit", code="too-large"
            )
        data = path.read_bytes()
    except PermissionError:
        raise InputError(f"{label}: permission denied", code="permission-denied") from None
    except OSError as exc:
        raise InputError(f"{label}: cannot read: {exc.strerror or exc}", code="read-failed") from None
    return decode_text(data, label, max_bytes=max_bytes, expected=expected)
