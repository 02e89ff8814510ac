"""Static analysis of source for check-then-act and read-modify-write races.

Entry points: `analyze_source` for one text, `analyze_paths` for files and directories. Each file
goes to the front-end of its language (`core/languages.py`, by suffix): Python here, JavaScript and
TypeScript in `javascript/`, loaded only when such a file is analysed.
"""

from __future__ import annotations

import ast
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._walk import SourceWalk, describe_skipped, skipped_total
from ..config import Settings
from ..errors import InputError
from ..findings import AnalysisReport, FileError, Finding
from ..roots import AllowedRoots
from ._files import decode_source, read_source
from ._limits import (
    MAX_NESTING,
    AnalysisTimeout,
    Shape,
    deadline,
    measure,
    parse_python,
    run_on_large_stack,
    tune_collection_for_batch,
)
from .core.languages import PYTHON, PartialAnalysis, language_for, supported_suffixes

__all__ = ["AnalysisReport", "ProgressCallback", "analyze_paths", "analyze_source", "indexed_projects"]


def _cpython_tree(source: str, label: str) -> ast.Module:
    """CPython's tree, or its verdict on the syntax as an `InputError`.

    CPython's messages and positions are the better ones to show; the same tree is measured and
    then lowered to the program model, so each file is parsed once.
    """
    try:
        return parse_python(source, label)
    except SyntaxError as exc:
        if "too many" in (exc.msg or ""):
            raise InputError(f"{label}:{exc.lineno}: {exc.msg}", code="too-deeply-nested") from None
        where = f"{exc.lineno}:{exc.offset or 1}"
        raise InputError(f"{label}:{where}: syntax error: {exc.msg}", code="syntax-error") from None
    except (RecursionError, MemoryError):
        # CPython's parser reports its own stack limit as a MemoryError ("too complex to parse").
        raise InputError(f"{label}: source is too deeply nested to parse", code="too-deeply-nested") from None
    except ValueError as exc:  # e.g. source with NUL characters
        raise InputError(f"{label}: cannot be parsed: {exc}", code="syntax-error") from None


def _checked_shape(tree: ast.Module, label: str, settings: Settings) -> Shape:
    """Refuse, before the tree is lowered, what would overflow a stack or cost unbounded memory."""
    return _checked(measure(tree), label, settings)


def _checked(shape: Shape, label: str, settings: Settings) -> Shape:
    if shape.depth > MAX_NESTING:
        raise InputError(
            f"{label}: expressions or blocks nested {shape.depth:,} levels deep (the limit is "
            f"{MAX_NESTING:,}): too deeply nested to analyse",
            code="too-deeply-nested",
        )
    if shape.nodes > settings.max_file_nodes:
        raise InputError(
            f"{label}: {shape.nodes:,} syntax-tree nodes, over the {settings.max_file_nodes:,}-node limit "
            "(max_file_nodes)",
            code="too-many-nodes",
        )
    return shape


def analyze_source(
    source: str | bytes,
    filename: str,
    *,
    settings: Settings | None = None,
    project_file: str | Path | None = None,
) -> list[Finding]:
    """Analyse one file's text; raises `InputError` for binary, oversized, unparsable, too deeply
    nested or too large input, and (`analysis-timeout`) when it takes over `max_file_seconds`.

    `project_file` is where the text lives on disk when `filename` is only its label (a path
    relative to a root): inside `indexed_projects` the analysis then uses that file's project
    facts, as `analyze_paths` does. Without it, `filename` itself is looked up.

    Safe to call from any thread, however small its stack: the work runs on a thread of its own
    (see `_limits`).
    """
    settings = settings or Settings()
    if isinstance(source, bytes):
        source = decode_source(source, filename, max_bytes=settings.max_file_bytes)
    elif len(source.encode("utf-8", "surrogatepass")) > settings.max_file_bytes:
        raise InputError(
            f"{filename}: source is over the {settings.max_file_bytes:,}-byte limit", code="too-large"
        )
    language_for(filename)  # an unsupported suffix is refused (a binary file first as binary)
    text = source
    where = str(project_file) if project_file is not None else filename
    return run_on_large_stack(lambda: _analyze_within_budget(text, filename, settings, where))


def _analyze_within_budget(source: str, filename: str, settings: Settings, where: str) -> list[Finding]:
    with deadline(settings.max_file_seconds):
        try:
            return _analyze(source, filename, settings, where)
        except AnalysisTimeout:
            raise InputError(
                f"{filename}: analysis stopped after {settings.max_file_seconds:g} s (max_file_seconds); "
                "the file is too costly to analyse",
                code="analysis-timeout",
            ) from None
        except RecursionError:
            raise InputError(
                f"{filename}: source is too deeply nested to analyse", code="too-deeply-nested"
            ) from None


def _analyze(source: str, filename: str, settings: Settings, where: str | None = None) -> list[Finding]:
    from .project import context_for

    language = language_for(filename)
    if language.name != PYTHON:
        from .project import language_facts_for

        # Routes, mounts and injected services declared in other files (inside a run's index).
        return language.front_end()(source, filename, settings, language_facts_for(where or filename))
    from .python import pipeline

    # The whole-project index, inside analyze_paths or indexed_projects.
    facts, resolver = context_for(where or filename)
    # A call from another file may have lowered (and measured) this very text already: no parse then.
    shape = facts.known_shape(source, filename) if facts is not None else None
    tree = None
    if shape is None:
        tree = _cpython_tree(source, filename)
        _checked_shape(tree, filename, settings)
    else:
        _checked(shape, filename, settings)
    return pipeline.analyze_python(source, filename, settings, facts, tree=tree, resolver=resolver)


ProgressCallback = Callable[[int, int], None]
# Below this many files a process pool costs more than it saves.
_PARALLEL_THRESHOLD = 24


def _analyze_file(job: tuple[str, str, Settings]) -> tuple[list[Finding], FileError | None]:
    """One file, in a worker process or in this one: findings, or the reason it was skipped."""
    path, label, settings = job
    try:
        source = read_source(Path(path), label, max_bytes=settings.max_file_bytes)
        return analyze_source(source, label, settings=settings), None
    except PartialAnalysis as exc:  # syntax errors: the usable parts' findings, and the error
        return exc.findings, FileError(path=label, message=str(exc), code=exc.code)
    except InputError as exc:
        return [], FileError(path=label, message=str(exc), code=exc.code)


@dataclass
class _Collected:
    """The files to analyse, and what the walks of named directories left out."""

    jobs: list[tuple[str, str, Settings]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    partial: bool = False
    errors: list[FileError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _collect(
    paths: Sequence[str | Path], settings: Settings, roots: AllowedRoots | None, max_files: int | None
) -> _Collected:
    collected = _Collected()
    for given in paths:
        root = Path(given)
        if roots is not None and not roots.contains(root):
            message = f"{given}: outside the allowed roots; not read"
            collected.errors.append(FileError(path=str(given), message=message, code="outside-roots"))
        elif root.is_dir():
            _collect_directory(root, str(given), settings, roots, max_files, collected)
        else:
            collected.jobs.append((str(root), str(given), settings))
    return collected


def _collect_directory(
    root: Path,
    label: str,
    settings: Settings,
    roots: AllowedRoots | None,
    max_files: int | None,
    collected: _Collected,
) -> None:
    walk = SourceWalk(
        root,
        roots=roots,
        exclude=settings.exclude,
        default_exclude=settings.default_exclude,
        suffixes=supported_suffixes(),
    )
    found = 0
    for file in walk:
        if max_files is not None and len(collected.jobs) >= max_files:
            raise InputError(
                f"{label}: more than {max_files:,} source files to analyse", code="too-many-files"
            )
        collected.jobs.append((str(file), str(file), settings))
        found += 1
    collected.skipped.update(walk.skipped)
    collected.partial = collected.partial or walk.partial
    collected.errors.extend(walk.errors)
    if found == 0 and not walk.errors:
        why = f"; {skipped_total(walk.skipped, walk.partial)} skipped: {describe_skipped(walk.skipped)}"
        languages = "Python, JavaScript/TypeScript or Rust"
        collected.warnings.append(f"{label}: no {languages} files to analyse{why if walk.skipped else ''}")


def analyze_paths(
    paths: Sequence[str | Path],
    *,
    settings: Settings | None = None,
    max_findings: int | None = None,
    progress: ProgressCallback | None = None,
    roots: AllowedRoots | None = None,
    max_files: int | None = None,
) -> AnalysisReport:
    """Analyse files and directories (walked for every supported language's suffixes); per-file
    problems become `errors` (a file with syntax errors keeps the findings of its usable parts).

    Directories are walked by `race_mcp._walk.SourceWalk`: with `roots`, nothing whose resolved
    path leaves them is read (without, nothing outside each named directory); what a walk skips is
    counted per reason in the summary, and a named directory with nothing to analyse is a summary
    warning. More than `max_files` files is an `InputError` (`too-many-files`) before any is read.
    Large trees are spread over worker processes (`settings.jobs`, default one per core);
    `progress(done, total)` is called as files finish.
    """
    settings = settings or Settings()
    collected = _collect(paths, settings, roots, max_files)
    jobs = collected.jobs
    workers = settings.jobs or os.cpu_count() or 1
    findings: list[Finding] = []
    errors: list[FileError] = list(collected.errors)
    parallel = workers > 1 and len(jobs) >= _PARALLEL_THRESHOLD
    # Python files are indexed when one could race; JavaScript/TypeScript and Rust files always
    # (their routes and services are declared in other files than the handlers).
    python_jobs = [job for job in jobs if _is_python(job[0])]
    python_indexed = (parallel and bool(python_jobs)) or _could_race(python_jobs)
    languages = _languages(jobs) - (set() if python_indexed else {PYTHON})
    indexing = workers if parallel else 1
    projects = _index_projects(paths, roots, settings, indexing, languages) if languages else None
    try:
        if parallel:
            with ProcessPoolExecutor(
                max_workers=workers, initializer=_activate_projects, initargs=(projects or [],)
            ) as pool:
                results = pool.map(_analyze_file, jobs, chunksize=max(1, len(jobs) // (workers * 8)))
                outcomes = _track(results, len(jobs), progress)
        else:
            outcomes = _track(map(_analyze_file, jobs), len(jobs), progress)
    finally:
        if projects is not None:
            from .project import end_run

            end_run(projects)
    for file_findings, error in outcomes:
        findings.extend(file_findings)
        if error is not None:
            errors.append(error)
    analyzed = len(jobs) - (len(errors) - len(collected.errors))
    return AnalysisReport.build(
        findings,
        errors,
        files_analyzed=analyzed,
        max_findings=max_findings,
        files_skipped=collected.skipped,
        files_skipped_partial=collected.partial,
        warnings=collected.warnings,
    )


def _languages(jobs: list[tuple[str, str, Settings]]) -> set[str]:
    """The languages of the run's files (an unsupported suffix counts for none)."""
    found: set[str] = set()
    for path, _label, _settings in jobs:
        try:
            found.add(language_for(path).name)
        except InputError:
            continue
    return found


def _is_python(path: str) -> bool:
    try:
        return language_for(path).name == PYTHON
    except InputError:
        return False  # an unsupported suffix: refused when the file's turn comes


def _could_race(jobs: list[tuple[str, str, Settings]]) -> bool:
    """Whether one file of a small run passes the pipeline's text pre-filter: the project index
    answers nothing for the others (one file at a time from an editor or the MCP tools). The
    files are small and few, and read again by their analysis."""
    from .python.pipeline import might_race

    for path, label, settings in jobs:
        try:
            source = read_source(Path(path), label, max_bytes=settings.max_file_bytes)
        except InputError:
            continue
        if might_race(source):
            return True
    return False


@contextmanager
def indexed_projects(
    paths: Sequence[str | Path], *, settings: Settings, roots: AllowedRoots | None = None
) -> Iterator[None]:
    """The whole-project index of the projects `paths` belong to, held for the block: each
    `analyze_source(..., project_file=)` of a file in them sees cross-file facts (uniqueness
    declared in another module, callers holding a transaction), as `analyze_paths` does. Used by
    `propose_patches`, which analyses one file's text many times."""
    languages = _languages([(str(path), str(path), settings) for path in paths]) or {PYTHON}
    projects = _index_projects(paths, roots, settings, 1, languages)
    try:
        yield
    finally:
        if projects is not None:
            from .project import end_run

            end_run(projects)


def _index_projects(
    paths: Sequence[str | Path],
    roots: AllowedRoots | None,
    settings: Settings,
    jobs: int,
    languages: set[str] | None = None,
) -> list[Any] | None:
    """The whole-project index of the projects the named paths belong to (`analyzer/project`),
    so the analysis of each file follows facts and calls across modules."""
    from .project import start_run

    return start_run(paths, roots, settings, jobs=jobs, languages=sorted(languages or {PYTHON}))


def _activate_projects(specs: list[Any]) -> None:
    """A worker process's initializer: the run's project indexes (from the warm on-disk cache)."""
    tune_collection_for_batch()
    if specs:
        from .project import activate_in_worker

        activate_in_worker(specs)


def _track(
    results: Iterable[tuple[list[Finding], FileError | None]], total: int, progress: ProgressCallback | None
) -> list[tuple[list[Finding], FileError | None]]:
    outcomes = []
    for done, outcome in enumerate(results, start=1):
        outcomes.append(outcome)
        if progress is not None:
            progress(done, total)
    return outcomes
