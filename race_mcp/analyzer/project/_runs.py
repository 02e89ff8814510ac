"""Project sessions for one analysis run, in this process and in the run's worker processes.

`analyze_paths` calls `start_run(paths, roots, settings)` once: it finds the project enclosing each
named path and builds its index (filling the on-disk cache), registers the sessions in this process
and returns picklable `ProjectSpec`s; a process pool passes them to `activate_in_worker` as its
initializer, and each worker builds the same indexes from the warm cache. The analysis of one file
then asks `context_for(path)` for the facts and the resolver of its project, or (None, None).

The boundary is the allowed roots when the caller has them (the MCP tools); the CLI has none, so
the working directory and the named paths bound the search for the project root.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ...roots import AllowedRoots
from ._discover import PROJECT_MARKERS, find_project_root
from ._index import ProjectIndex
from ._languages import LanguageFacts
from ._session import ModuleFacts, ProjectSession

if TYPE_CHECKING:
    from ...config import Settings
    from ..core.profile import Resolver

__all__ = ["ProjectSpec", "activate_in_worker", "context_for", "end_run", "language_facts_for", "start_run"]

_ACTIVE: dict[str, ProjectSession] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class ProjectSpec:
    root: str
    boundary: tuple[str, ...]
    exclude: tuple[str, ...]
    default_exclude: tuple[str, ...]
    languages: tuple[str, ...] = ("python",)  # whose files the index reads


def start_run(
    paths: Sequence[str | Path],
    roots: AllowedRoots | None,
    settings: Settings,
    *,
    jobs: int = 1,
    languages: Sequence[str] = ("python",),
) -> list[ProjectSpec]:
    """Index the project of every named path (once per project) and make them this process's;
    `languages`: those of the run's files (`core.languages` names)."""
    boundary = roots if roots is not None else _cli_boundary(paths)
    specs: dict[str, ProjectSpec] = {}
    roots_by_folder: dict[Path, Path] = {}
    marked: dict[Path, bool] = {}
    for given in paths:
        path = Path(given)
        try:
            if not path.exists() or not boundary.contains(path):
                continue
            found = find_project_root(path, boundary, memo=roots_by_folder)
            if _loose_file(path, found, marked):
                continue
            root = str(found)
        except OSError:
            continue  # unreadable: the walk reports it; the analysis goes on without its facts
        specs.setdefault(
            root,
            ProjectSpec(
                root,
                tuple(str(p) for p in boundary.paths),
                tuple(settings.exclude),
                tuple(settings.default_exclude),
                tuple(languages),
            ),
        )
    kept = _outermost(specs)
    sessions = {root: _build(spec, jobs) for root, spec in kept.items()}
    with _LOCK:
        _ACTIVE.update(sessions)  # another run in this process keeps its own projects
    return list(kept.values())


def activate_in_worker(specs: Sequence[ProjectSpec]) -> None:
    """A worker process's initializer: the run's indexes, from the cache the parent filled (a
    forked worker already holds them)."""
    with _LOCK:
        if specs and all(spec.root in _ACTIVE for spec in specs):
            return
    sessions = {spec.root: _build(spec, 1) for spec in specs}
    with _LOCK:
        _ACTIVE.clear()
        _ACTIVE.update(sessions)


def end_run(specs: Sequence[ProjectSpec] | None = None) -> None:
    """Let the run's indexes go (every run's when `specs` is None)."""
    with _LOCK:
        if specs is None:
            _ACTIVE.clear()
        for spec in specs or ():
            _ACTIVE.pop(spec.root, None)


def context_for(path: str | Path) -> tuple[ModuleFacts | None, Resolver | None]:
    """The facts and resolver for analysing `path`, from the project of the current run holding it."""
    resolved = Path(path).resolve()
    with _LOCK:
        candidates = [(root, session) for root, session in _ACTIVE.items() if resolved.is_relative_to(root)]
    if not candidates:
        return None, None
    _, session = max(candidates, key=lambda item: len(item[0]))  # the innermost project
    name = str(resolved)
    return session.facts_for(name), session.resolver_for(name)


def language_facts_for(path: str | Path) -> LanguageFacts | None:
    """The cross-file facts for analysing a JavaScript/TypeScript or Rust file of the current run."""
    resolved = Path(path).resolve()
    with _LOCK:
        candidates = [(root, session) for root, session in _ACTIVE.items() if resolved.is_relative_to(root)]
    if not candidates:
        return None
    _, session = max(candidates, key=lambda item: len(item[0]))
    return session.language_facts_for(str(resolved))


def _outermost(specs: dict[str, ProjectSpec]) -> dict[str, ProjectSpec]:
    """The projects not inside another of the run: files named one by one in folders without a
    project marker are each their own folder's project, and the enclosing folder's index (which
    walks them) serves them all. The CLI's throughput benchmark names 1,357 files in 237 folders:
    237 indexes, each file then matched against every root."""
    kept: dict[str, ProjectSpec] = {}
    for root in sorted(specs, key=len):
        if not any(_inside(root, outer) for outer in kept):
            kept[root] = specs[root]
    return kept


def _build(spec: ProjectSpec, jobs: int) -> ProjectSession:
    index = ProjectIndex.for_path(
        Path(spec.root),
        boundary=AllowedRoots(spec.boundary),
        exclude=spec.exclude,
        default_exclude=spec.default_exclude,
        jobs=jobs,
        languages=spec.languages,
    )
    return ProjectSession(index)


def _cli_boundary(paths: Sequence[str | Path]) -> AllowedRoots:
    """The working directory (unless it is a filesystem root) and each named directory."""
    cwd = Path.cwd().resolve()
    candidates = [] if cwd == Path(cwd.anchor) else [cwd]
    for given in paths:
        path = Path(given)
        candidates.append(path if path.is_dir() else path.parent)
    # One root per folder, none inside another (the same boundary): each named path is checked
    # against every root, and a run may name thousands of files.
    folders = sorted({os.path.realpath(folder) for folder in candidates}, key=len)
    outermost: list[str] = []
    for folder in folders:
        if not any(_inside(folder, outer) for outer in outermost):
            outermost.append(folder)
    return AllowedRoots(outermost)


def _inside(path: str, folder: str) -> bool:
    """`path` is `folder` or below it (both absolute, normalised)."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _loose_file(path: Path, root: Path, marked: dict[Path, bool]) -> bool:
    """A file named on its own, outside any project and any package (`/tmp/snippet.py`): its folder
    is not a project, and indexing it would walk whatever else lies there (all of `/tmp`).
    `marked`: whether each root seen so far holds a project marker."""
    if path.is_dir():
        return False
    if root not in marked:
        marked[root] = any(os.path.lexists(root / marker) for marker in PROJECT_MARKERS)
    return not marked[root] and not (path.parent / "__init__.py").is_file()
