"""Which project an analysed path belongs to, which of its files the index reads, and their module names."""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from pathlib import Path

from ..._walk import SourceWalk
from ...roots import AllowedRoots

__all__ = [
    "LANGUAGE_SUFFIXES",
    "MAX_INDEX_FILES",
    "PROJECT_MARKERS",
    "find_project_root",
    "module_names",
    "project_files",
]

PROJECT_MARKERS = ("pyproject.toml", "setup.cfg", "setup.py", ".git", "package.json", "Cargo.toml")
INDEX_SUFFIXES = (".py", ".sql")
# What the index reads per language of a run: a Python run never walks a project's JavaScript.
LANGUAGE_SUFFIXES: dict[str, tuple[str, ...]] = {
    "python": INDEX_SUFFIXES,
    "javascript": (".js", ".mjs", ".cjs", ".jsx", ".ts", ".tsx", ".mts", ".cts", ".prisma"),
    "rust": (".rs",),
}
MAX_INDEX_FILES = 20_000
# The analysis skips migrations by default (`default_exclude`), but they declare unique indexes
# and constraints: the index reads them for facts (tests stay out: they call everything).
_FACT_SOURCES = frozenset({"migrations", "alembic", "versions"})


def find_project_root(
    path: Path, boundary: AllowedRoots | None = None, *, memo: dict[Path, Path] | None = None
) -> Path:
    """The nearest directory at or above `path` holding a project marker, never above the boundary.

    Without a marker inside the boundary, the analysed directory itself (or a file's directory)
    is the project: facts then come from what the user named, nothing more. `memo` keeps the
    answer per folder for a caller asking about many files under one boundary (a run naming
    each of 1,357 files looked for the markers 1,357 times, a second before any analysis).
    """
    start = path.resolve()
    if not start.is_dir():
        start = start.parent
    if memo is None:
        return _project_root(start, boundary)
    if start not in memo:
        memo[start] = _project_root(start, boundary)
    return memo[start]


def _project_root(start: Path, boundary: AllowedRoots | None) -> Path:
    limits = boundary.paths if boundary is not None else [start]
    for folder in (start, *start.parents):
        if not any(folder == root or folder.is_relative_to(root) for root in limits):
            break
        # `lexists`: a marker that is a link counts without its target being looked at (the
        # target may be outside the allowed roots, where nothing is read, not even whether it exists).
        if any(os.path.lexists(folder / marker) for marker in PROJECT_MARKERS):
            return folder
    return _package_home(start, limits)


def _package_home(start: Path, limits: Sequence[Path]) -> Path:
    """Without a marker: the outermost package holding the folder (inside the boundary), so files
    named in sibling subpackages (`app/tasks/run.py`, `app/db/queries.py`) are one project and
    `from app.db import get_run` resolves; a folder that is no package stays its own project."""
    home = start
    while (home / "__init__.py").is_file() and (home.parent / "__init__.py").is_file():
        parent = home.parent
        if parent == home or not any(parent == root or parent.is_relative_to(root) for root in limits):
            break
        home = parent
    return home


def project_files(
    root: Path,
    *,
    boundary: AllowedRoots | None = None,
    exclude: Sequence[str] = (),
    default_exclude: Sequence[str] = (),
    max_files: int = MAX_INDEX_FILES,
    suffixes: tuple[str, ...] = INDEX_SUFFIXES,
) -> list[Path]:
    """The project's Python and SQL files, walked by `SourceWalk` so skipping rules are the analysis'.

    `default_exclude` patterns naming migration directories are dropped: those files are facts.
    Past `max_files` (a monorepo, a home directory with `.git`) the walk stops: facts of the rest
    are missing, which costs findings' precision, never a failure or unbounded memory (about 30 KB
    of facts per file).
    """
    kept = [pattern for pattern in default_exclude if pattern not in _FACT_SOURCES]
    walk = SourceWalk(root, roots=boundary, exclude=exclude, default_exclude=kept, suffixes=suffixes)
    return list(itertools.islice(walk, max_files))


def module_names(root: Path, files: Sequence[Path]) -> dict[Path, tuple[str, ...]]:
    """Each Python file's importable names: by its package chain (directories holding `__init__.py`,
    which handles src-layout and apps nested in plain folders) and, when different, by its path from
    the project root (`src/` dropped), for namespace packages. `__init__` names its package."""
    # Strings, not `Path`s: hashing and comparing paths costs more than the rest of a warm build.
    packages = {os.path.dirname(str(file)) for file in files if file.name == "__init__.py"}
    top = os.path.dirname(str(root))
    names: dict[Path, tuple[str, ...]] = {}
    for file in files:
        text = str(file)
        if not text.endswith(".py"):
            continue
        stem = os.path.basename(text)[:-3]
        parts = [] if stem == "__init__" else [stem]
        folder = os.path.dirname(text)
        while folder in packages and folder != top:
            folder, name = os.path.split(folder)
            parts.append(name)
        parts.reverse()
        chosen = [".".join(parts)] if parts else []
        by_path = _path_name(root, file)
        if by_path and by_path not in chosen:
            chosen.append(by_path)
        names[file] = tuple(name for name in chosen if _importable(name))
    return names


def _path_name(root: Path, file: Path) -> str:
    prefix, text = str(root).rstrip(os.sep) + os.sep, str(file)
    if not text.startswith(prefix):
        return ""
    parts = text[len(prefix) :].split(os.sep)
    stem = parts.pop()[:-3]  # `.py`
    if parts and parts[0] == "src":
        parts = parts[1:]
    if stem != "__init__":
        parts.append(stem)
    return ".".join(parts)


def _importable(name: str) -> bool:
    return bool(name) and all(part.isidentifier() for part in name.split("."))
