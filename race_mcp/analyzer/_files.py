"""Reading source files safely: size limits, binary and encoding checks (the walk is `race_mcp._walk`)."""

from __future__ import annotations

from pathlib import Path

from .._textfile import decode_text, read_text

__all__ = ["decode_source", "read_source"]

_RUST = (".rs",)
_JAVASCRIPT = (".js", ".mjs", ".cjs", ".jsx", ".ts", ".tsx", ".mts", ".cts")


def _expected(label: str) -> str:
    """What the file should have held, for the error's one line (a binary `.js` is no Python)."""
    suffix = Path(label).suffix.lower()
    if suffix in _RUST:
        return "Rust source"
    if suffix in _JAVASCRIPT:
        return "JavaScript/TypeScript source"
    return "Python source"


def decode_source(data: bytes, label: str, *, max_bytes: int) -> str:
    """Bytes to source text, or `InputError` for oversized, binary or non-UTF-8 input."""
    return decode_text(data, label, max_bytes=max_bytes, expected=_expected(label))


def read_source(path: Path, label: str, *, max_bytes: int) -> str:
    """Read one file as source text; every failure is an `InputError` with a one-line reason."""
    return read_text(path, label, max_bytes=max_bytes, expected=_expected(label))
