"""Static analysis of Python source for check-then-act and read-modify-write races.

Entry points: `analyze_source` for one text, `analyze_paths` for files and directories.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from pathlib import Path

import libcst as cst

from ..config import Settings
from ..errors import InputError
from ..findings import AnalysisReport, FileError, Finding
from ._files import decode_source, iter_source_files, read_source
from ._module import ModuleIndex
from ._shared_state import check_shared_state

__all__ = ["AnalysisReport", "analyze_paths", "analyze_source"]

_SUPPRESS = re.compile(r"#\s*race-mcp:\s*ignore(?:\[(?P<ids>[A-Za-z0-9_, ]+)\])?")


def _parse(source: str, label: str) -> cst.Module:
    """Parse with libcst, after CPython's own parser has vouched for the nesting depth.

    CPython's parser refuses absurd nesting (over 200 brackets, 100 indents) with a SyntaxError,
    while libcst's native parser can overflow its stack on such input and kill the process.
    CPython's messages and positions are also the better ones to show.
    """
    try:
        ast.parse(source, filename=label)
        cpython_error: SyntaxError | None = None
    except SyntaxError as exc:
        cpython_error = exc
        if "too many" in (exc.msg or ""):
            raise InputError(f"{label}:{exc.lineno}: {exc.msg}") from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise InputError(f"{label}: cannot be parsed: {type(exc).__name__}") from None
    try:
        return cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        if cpython_error is not None:
            where = f"{cpython_error.lineno}:{cpython_error.offset or 1}"
            raise InputError(f"{label}:{where}: syntax error: {cpython_error.msg}") from None
        first = str(exc.message).strip().splitlines()[0] if exc.message else "invalid syntax"
        raise InputError(f"{label}:{exc.raw_line}:{exc.raw_column + 1}: syntax error: {first}") from None


def _suppressed(finding: Finding, lines: Sequence[str], function_lines: dict[str, int]) -> bool:
    """`# race-mcp: ignore[RC101]` on any line of the sequence, or on the function's `def` line."""
    candidates = {finding.line, finding.end_line, *(step.line for step in finding.evidence)}
    if finding.function and finding.function in function_lines:
        candidates.add(function_lines[finding.function])
    for number in candidates:
        if not 1 <= number <= len(lines):
            continue
        match = _SUPPRESS.search(lines[number - 1])
        if match is None:
            continue
        ids = match.group("ids")
        if ids is None or finding.rule_id in {part.strip().upper() for part in ids.split(",")}:
            return True
    return False


def analyze_source(source: str | bytes, filename: str, *, settings: Settings | None = None) -> list[Finding]:
    """Analyse one file's text; raises `InputError` for binary, oversized or unparsable input."""
    settings = settings or Settings()
    if isinstance(source, bytes):
        source = decode_source(source, filename, max_bytes=settings.max_file_bytes)
    elif len(source.encode("utf-8", "surrogatepass")) > settings.max_file_bytes:
        raise InputError(f"{filename}: source is over the {settings.max_file_bytes:,}-byte limit")
    module = _parse(source, filename)
    try:
        index = ModuleIndex.build(module, source)
        findings = check_shared_state(index, filename)
    except RecursionError:
        raise InputError(f"{filename}: source is too deeply nested to analyse") from None
    lines = source.splitlines()
    return [
        finding
        for finding in findings
        if settings.rule_enabled(finding.rule_id) and not _suppressed(finding, lines, index.function_lines)
    ]


def analyze_paths(
    paths: Sequence[str | Path],
    *,
    settings: Settings | None = None,
    max_findings: int | None = None,
) -> AnalysisReport:
    """Analyse files and directories (walked for `*.py`); per-file problems become `errors`."""
    settings = settings or Settings()
    findings: list[Finding] = []
    errors: list[FileError] = []
    analyzed = 0
    for given in paths:
        root = Path(given)
        if root.is_dir():
            files = [(f, str(f)) for f in iter_source_files(root, exclude=settings.exclude)]
        else:
            files = [(root, str(given))]
        for file, label in files:
            try:
                source = read_source(file, label, max_bytes=settings.max_file_bytes)
                findings.extend(analyze_source(source, label, settings=settings))
                analyzed += 1
            except InputError as exc:
                errors.append(FileError(path=label, message=str(exc)))
    return AnalysisReport.build(findings, errors, files_analyzed=analyzed, max_findings=max_findings)
