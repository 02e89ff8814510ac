"""The `analyze_file` tool."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.types import (
    CallToolResult,
    TextContent,
)
from pydantic import Field

from ..analyzer import analyze_paths, analyze_source
from ..config import Settings
from ..errors import InputError, PolicyError, RaceMcpError
from ..findings import AnalysisReport
from ..roots import AllowedRoots
from ._common import (
    DEFAULT_MAX_FINDINGS,
    MAX_DIRECTORY_FILES,
    MAX_FINDINGS_LIMIT,
    read_only,
    summarize_report,
    tool_error,
    usage_error,
)
from ._workspace import ClientRoots, Workspace, locate

ANALYZE_FILE_DESCRIPTION = """\
Find race conditions in Python web API code: state that a handler reads (or checks) and later \
writes, with an await or a thread switch in between, so concurrent requests can all pass the check.

Call it when you review, write or modify a handler that touches balances, stock, coupons, quotas, \
counters, seats, votes, rate limits or any value that must not be spent twice, and before telling \
the user such code is safe. Pass `path` (a .py file, or a directory to scan, inside the workspace) \
or the code itself as `source`.

Returns findings, most severe first, each with the rule id, the route, the evidence lines (read, \
check, await, write) and the fix; read race://rules/{rule_id} for the full explanation. \
Read-only: it parses code and never runs or changes it."""


READ_ONLY = read_only("Analyze code for race conditions")


# ----------------------------------------------------------------------------------------------
# analyze_file


def register_analyze_file(server: MCPServer[Any], workspace: Workspace) -> None:
    @server.tool(
        name="analyze_file",
        title=READ_ONLY.title,
        description=ANALYZE_FILE_DESCRIPTION,
        annotations=READ_ONLY,
    )
    def analyze_file(
        client_roots: ClientRoots,
        path: Annotated[
            str | None,
            Field(
                description="Python file or directory to analyse, relative to the workspace root or "
                "absolute, inside the allowed roots; e.g. 'app/routes/coupons.py' or 'app/'. "
                "Give either path or source.",
                max_length=4096,
            ),
        ] = None,
        source: Annotated[
            str | None,
            Field(
                description="Python source text to analyse instead of a file, e.g. a handler you are writing."
            ),
        ] = None,
        filename: Annotated[
            str,
            Field(
                description="Name reported for inline `source` in findings, e.g. 'app/routes.py'; "
                "never read from disk.",
                min_length=1,
                max_length=260,
            ),
        ] = "snippet.py",
        max_findings: Annotated[
            int,
            Field(
                description="Most findings to return, most severe first; the summary still counts all.",
                ge=1,
                le=MAX_FINDINGS_LIMIT,
            ),
        ] = DEFAULT_MAX_FINDINGS,
    ) -> Annotated[CallToolResult, AnalysisReport]:
        if (path is None) == (source is None):
            raise usage_error("give exactly one of `path` (a file or directory) or `source` (code text)")
        roots = workspace.with_client_roots(client_roots)
        try:
            if source is not None:
                report = _analyze_inline(source, filename, workspace.settings, max_findings)
            else:
                report = _analyze_path(path or "", roots, workspace.settings, max_findings)
        except RaceMcpError as exc:
            raise tool_error(exc, _what_to_do(exc)) from None
        return CallToolResult(
            content=[TextContent(type="text", text=summarize_report(report, max_findings))],
            structured_content=report.model_dump(mode="json"),
        )


def _analyze_inline(source: str, filename: str, settings: Settings, max_findings: int) -> AnalysisReport:
    findings = analyze_source(source, filename, settings=settings)
    return AnalysisReport.build(findings, [], files_analyzed=1, max_findings=max_findings)


def _analyze_path(path: str, roots: AllowedRoots, settings: Settings, max_findings: int) -> AnalysisReport:
    target = locate(path, roots)
    if target.is_dir():
        return _analyze_directory(target, roots, settings, max_findings)
    report = analyze_paths([target], settings=settings, max_findings=max_findings)
    if report.summary.files_analyzed == 0 and report.errors:
        raise InputError(report.errors[0].message, code=report.errors[0].code)
    return report


def _analyze_directory(
    directory: Path, roots: AllowedRoots, settings: Settings, max_findings: int
) -> AnalysisReport:
    """The shared walk, kept inside the allowed roots (links out are counted, never read), with a file cap."""
    try:
        return analyze_paths(
            [directory],
            settings=settings,
            max_findings=max_findings,
            roots=roots,
            max_files=MAX_DIRECTORY_FILES,
        )
    except InputError as exc:
        if exc.code != "too-many-files":
            raise
        raise InputError(
            f"{directory} holds more than {MAX_DIRECTORY_FILES} Python files; analyse a subdirectory, "
            f"or run `race-mcp analyze {directory}` in a terminal for a whole tree",
            code="too-many-files",
        ) from None


def _what_to_do(exc: RaceMcpError) -> str:
    """The error text for the model; policy messages already name the way out."""
    if isinstance(exc, PolicyError):
        return f"{exc}, or add the folder to the client's workspace roots"
    return (
        f"{exc}. analyze_file needs UTF-8 Python source that parses: pass a .py file or a directory "
        "inside the workspace as `path`, or the code itself as `source`"
    )
