"""Reading source files safely: size limits, binary and encoding checks, directory walks."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from .._textfile import decode_text, read_text
from ..config import DEFAULT_EXCLUDES

__all__ = ["decode_source", "iter_source_files", "read_source"]

SOURCE_SUFFIXES = (".py", ".pyi")


def decode_source(data: bytes, label: str, *, max_bytes: int) -> str:
    """Bytes to Python source text, or `InputError` for oversized, binary or non-UTF-8 input."""
    return decode_text(data, label, max_bytes=max_bytes, expected="Python source")


def read_source(path: Path, label: str, *, max_bytes: int) -> str:
    """Read one file as source text; every failure is an `InputError` with a one-line reason."""
    return read_text(path, label, max_bytes=max_bytes, expected="Python source")


def _excluded(rel: str, name: str, patterns: Sequence[str]) -> bool:
    return name in DEFAULT_EXCLUDES or any(
        fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(name, pattern) for pattern in patterns
    )


def iter_source_files(root: Path, *, exclude: Sequence[str] = ()) -> Iterator[Path]:
    """Python files below `root` in a stable order, skipping virtualenvs, VCS and excluded globs."""
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        prefix = "" if here == root else here.relative_to(root).as_posix() + "/"
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not _excluded(prefix + d, d, exclude) and not (here / d / "pyvenv.cfg").exists()
        )
        for name in sorted(filenames):
            rel = prefix + name
            if name.endswith(SOURCE_SUFFIXES) and not _excluded(rel, name, exclude):
                yield here / name
