"""What every tool module of the server shares: limits, annotations, the report summary."""

from __future__ import annotations

import logging

from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

from .._sanitize import sanitize_message
from ..errors import RaceMcpError
from ..findings import AnalysisReport
from ..render import render_text

logger = logging.getLogger("race_mcp.server")

TOKEN_ENV = "RACE_MCP_TOKEN"
DEFAULT_MAX_FINDINGS = 50
MAX_FINDINGS_LIMIT = 200
# A directory walk is bounded so one call stays well inside a client's ~60 s request timeout.
MAX_DIRECTORY_FILES = 1000


def read_only(title: str) -> ToolAnnotations:
    """Annotations of a tool that only reads files and returns a report."""
    return ToolAnnotations(
        title=title, read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
    )


def summarize_report(report: AnalysisReport, max_findings: int) -> str:
    """The model-facing text: the CLI's text report plus where to read more; JSON is in structured content."""
    parts = [render_text(report).rstrip()]
    rule_ids = sorted({finding.rule_id for finding in report.findings})
    if rule_ids:
        links = ", ".join(f"race://rules/{rule_id}" for rule_id in rule_ids)
        parts.append(f"Why each is a race, and the fixed pattern: read the resources {links}.")
    if report.summary.truncated:
        parts.append(truncation_note(report.summary.shown, report.summary.findings, max_findings))
    return "\n\n".join(parts)


def truncation_note(shown: int, total: int, max_findings: int) -> str:
    if max_findings < MAX_FINDINGS_LIMIT:
        more = f"call analyze_file again with max_findings={min(total, MAX_FINDINGS_LIMIT)}"
    else:
        more = (
            "analyse a narrower path (one file or subdirectory) or run `race-mcp analyze PATH` in a terminal"
        )
    return f"Showing {shown} of {total} findings (most severe first); truncated. To see the rest, {more}."


def tool_error(exc: RaceMcpError, text: str) -> ToolError:
    """The `ToolError` for a core error: `[code] ` first, so a client can match on the stable code."""
    # Error messages quote input (a file name, a response): the client may print them to a terminal.
    return ToolError(f"[{exc.code}] {sanitize_message(text)}")


def usage_error(text: str) -> ToolError:
    """The `ToolError` for arguments that do not fit together (the schema cannot say so)."""
    return ToolError(f"[usage] {sanitize_message(text)}")
