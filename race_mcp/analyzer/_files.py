"""Reading source files safely: size limits, binary and encoding checks, directory walks."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..config import DEFAULT_EXCLUDES
from ..errors import InputError

__all__ = ["decode_source", "iter_source_files", "read_source"]

SOURCE_SUFFIXES = (".py", ".pyi")


def decode_source(data: bytes, label: str, *, max_bytes: int) -> str:
    """Bytes to text, or `InputError` for oversized, binary or non-UTF-8 input."""
    if len(data) > max_bytes:
        raise InputError(f"{label}: file is {len(data):,} bytes, over the {max_bytes:,}-byte limit")
    if b"\x00" in data[:8192]:
        raise InputError(f"{label}: binary file (contains NUL bytes), not Python source")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{label}: not UTF-8 text (invalid byte at offset {exc.start})") from None


def read_source(path: Path, label: str, *, max_bytes: int) -> str:
    """Read one file as source text; every failure is an `InputError` with a one-line reason."""
    if not path.exists():
        raise InputError(f"{label}: no such file")
    if path.is_dir():
        raise InputError(f"{label}: is a directory, not a file")
    if not path.is_file():
        raise InputError(f"{label}: not a regular file")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise InputError(f"{label}: file is {size:,} bytes, over the {max_bytes:,}-byte limit")
        data = path.read_bytes()
    except PermissionError:
        raise InputError(f"{label}: permission denied") from None
    except OSError as exc:
        raise InputError(f"{label}: cannot read: {exc.strerror or exc}") from None
    return decode_source(data, label, max_bytes=max_bytes)


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
