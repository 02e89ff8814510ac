"""The `analyze_file` tool: arguments checked here, the work done in a worker process (`analyze_job`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult
from pydantic import Field

from ..analyzer import analyze_paths, analyze_source
from ..config import Settings
from ..errors import InputError
from ..findings import AnalysisReport
from ..roots import AllowedRoots
from ._answers import Page, ToolAnswer, answer_in_worker, report_answer
from ._common import (
    DEFAULT_MAX_FINDINGS,
    MAX_DIRECTORY_FILES,
    MAX_FINDINGS_FIELD,
    OFFSET_FIELD,
    REPORT_SHAPE,
    read_only,
    usage_error,
    worker_settings,
)
from ._paths import PathText, located
from ._workspace import ClientRoots, Workspace

ANALYZE_FILE_DESCRIPTION = """\
Find race conditions in web API code (Python, JavaScript/TypeScript, Rust): state a handler reads \
or checks and later writes, with an await or a thread switch in between, so concurrent requests \
all pass the check.

Call it when you review, write or change a handler that touches balances, stock, coupons, quotas, \
counters, seats or anything that must not be spent twice, and before calling such code safe. Pass \
`path` (a source file or a directory in the workspace) or the code as `source` (its `filename`'s \
suffix picks the language).

Returns a page of findings, most severe first, each with rule id, route, evidence lines and fix \
(race://rules/{rule_id} explains each); `offset` pages through the rest. Read-only."""


READ_ONLY = read_only("Analyze code for race conditions")


# ----------------------------------------------------------------------------------------------
# analyze_file

HINTS = {
    "syntax-error": "analyze_file needs source that parses in the language its suffix names",
    "too-deeply-nested": "analyze_file cannot follow nesting that deep; pass the handlers on their own",
    "not-found": "pass a source file or a directory inside the workspace as `path`, or the code as `source`",
}


@dataclass(frozen=True)
class AnalyzeCall:
    """Everything `analyze_job` needs, as plain data for the worker process."""

    path: str | None
    source: str | None
    filename: str
    roots: AllowedRoots
    settings: Settings
    page: Page


def register_analyze_file(server: MCPServer[Any], workspace: Workspace) -> None:
    @server.tool(
        name="analyze_file",
        title=READ_ONLY.title,
        description=ANALYZE_FILE_DESCRIPTION,
        annotations=READ_ONLY,
    )
    async def analyze_file(
        ctx: Context[Any, Any],
        client_roots: ClientRoots,
        path: Annotated[
            PathText | None,
            Field(
                description="Source file (.py, .js/.ts and variants, .rs) or directory inside the workspace "
                "(relative or absolute), "
                "e.g. 'app/routes/coupons.py' or 'app/'. Give either path or source.",
            ),
        ] = None,
        source: Annotated[
            str | None,
            Field(description="Source text to analyse instead of a file (language from `filename`)."),
        ] = None,
        filename: Annotated[
            str,
            Field(
                description="Name shown for inline `source`, e.g. 'app/routes.py' or 'api/handler.ts'; "
                "its suffix picks the language; never read.",
                min_length=1,
                max_length=260,
            ),
        ] = "snippet.py",
        max_findings: MAX_FINDINGS_FIELD = DEFAULT_MAX_FINDINGS,
        offset: OFFSET_FIELD = 0,
    ) -> Annotated[CallToolResult, REPORT_SHAPE]:
        if (path is None) == (source is None):
            raise usage_error("give exactly one of `path` (a file or directory) or `source` (code text)")
        call = AnalyzeCall(
            path=path,
            source=source,
            filename=filename,
            roots=workspace.with_client_roots(client_roots),
            settings=workspace.settings,
            page=Page(max_findings=max_findings, offset=offset),
        )
        return await answer_in_worker(ctx, analyze_job, call, HINTS)


def analyze_job(call: AnalyzeCall) -> ToolAnswer:
    """In a worker process: the whole report, then the page the caller asked for."""
    settings = worker_settings(call.settings)
    if call.source is not None:
        findings = analyze_source(call.source, call.filename, settings=settings)
        report = AnalysisReport.build(findings, [], files_analyzed=1)
    else:
        report = _analyze_path(call.path or "", call.roots, settings)
    return report_answer(report, call.page, tool="analyze_file")


def _analyze_path(path: str, roots: AllowedRoots, settings: Settings) -> AnalysisReport:
    target = located(path, "path", roots)
    if target.is_dir():
        return _analyze_directory(target, roots, settings)
    report = analyze_paths([target], settings=settings, roots=roots)  # roots bound the project index
    if report.summary.files_analyzed == 0 and report.errors:
        raise InputError(report.errors[0].message, code=report.errors[0].code)
    return report


def _analyze_directory(directory: Path, roots: AllowedRoots, settings: Settings) -> AnalysisReport:
    """The shared walk, kept inside the allowed roots (links out are counted, never read), with a file cap."""
    try:
        return analyze_paths([directory], settings=settings, roots=roots, max_files=MAX_DIRECTORY_FILES)
    except InputError as exc:
        if exc.code != "too-many-files":
            raise
        raise InputError(
            f"{directory} holds more than {MAX_DIRECTORY_FILES} source files; analyse a subdirectory, "
            f"or run `race-mcp analyze {directory}` in a terminal for a whole tree",
            code="too-many-files",
        ) from None
