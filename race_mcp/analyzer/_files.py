"""Reading source files safely: size limits, binary and encoding checks (the walk is `race_mcp._walk`)."""

from __future__ import annotations

from pathlib import Path

from .._textfile import decode_text, read_text

__all__ = ["decode_source", "read_source"]


def decode_source(data: bytes, label: str, *, max_bytes: int) -> str:
    """Bytes to Python source text, or `InputError` for oversized, binary or non-UTF-8 input."""
    return decode_text(data, label, max_bytes=max_bytes, expected="Python source")


def read_source(path: Path, label: str, *, max_bytes: int) -> str:
    """Read one file as source text; every failure is an `InputError` with a one-line reason."""
    return read_text(path, label, max_bytes=max_bytes, expected="Python source")
