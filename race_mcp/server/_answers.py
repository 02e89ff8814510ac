"""What a tool call answers: a page of findings that fits an assistant's context, and errors with the
one hint that applies.

A report can hold hundreds of findings (a 750-line spec: 43, most of them low severity). A page is
`max_findings` findings from `offset`, most severe first, and stops early at a byte budget, so a
default answer stays under ~20 KB of text and structured content together. The structured content
carries each finding in full; the text is a summary (counts, one line per top finding, how to get the
next page), never a second copy.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent

from .._sanitize import QUOTE_LIMIT, sanitize_line
from .._walk import describe_skipped, skipped_total
from ..errors import RaceMcpError
from ..findings import AnalysisReport, FileError, Finding
from ._common import tool_error
from ._work import shared_pool, unless_client_leaves

# Bytes of JSON for the findings of one page; a page is cut further if text and structured content
# together pass RESULT_BUDGET.
FINDINGS_BUDGET = 12_000
RESULT_BUDGET = 19_500
ERRORS_SHOWN = 20
TEXT_FINDINGS = 10  # findings listed by name in the text; the others are counted by rule
TEXT_LINE = 240


@dataclass(frozen=True)
class Page:
    max_findings: int
    offset: int = 0


@dataclass(frozen=True)
class ToolAnswer:
    """A tool's answer as plain data, so it can cross from a worker process."""

    text: str
    structured: dict[str, Any]

    def size(self) -> int:
        """Bytes of text and structured content, as a client receives them (JSON)."""
        return len(self.text.encode()) + json_size(self.structured)

    def result(self) -> CallToolResult:
        return CallToolResult(
            content=[TextContent(type="text", text=self.text)], structured_content=self.structured
        )


def json_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False).encode())


# ----------------------------------------------------------------------------------------------
# Pages of findings


def page_of(findings: Sequence[Finding], page: Page, budget: int = FINDINGS_BUDGET) -> list[Finding]:
    """Up to `max_findings` from `offset`, stopping before the JSON passes `budget` (at least one)."""
    chosen: list[Finding] = []
    used = 0
    for finding in findings[page.offset : page.offset + page.max_findings]:
        size = json_size(finding.model_dump(mode="json"))
        if chosen and used + size > budget:
            break
        chosen.append(finding)
        used += size
    return chosen


def report_answer(
    report: AnalysisReport,
    page: Page,
    *,
    tool: str,
    heading: str = "",
    extra: Callable[[list[Finding]], Mapping[str, Any]] | None = None,
) -> ToolAnswer:
    """A page of a whole (uncapped, sorted) report as the tool's answer; `extra(shown)` adds
    tool-specific keys for the findings on the page. Over `RESULT_BUDGET`, the page gets shorter."""
    shown = page_of(report.findings, page)
    answer = _answer(report, page, shown, tool, heading, extra)
    while len(shown) > 1 and answer.size() > RESULT_BUDGET:
        shown = shown[:-1]
        answer = _answer(report, page, shown, tool, heading, extra)
    return answer


def _answer(
    report: AnalysisReport,
    page: Page,
    shown: list[Finding],
    tool: str,
    heading: str,
    extra: Callable[[list[Finding]], Mapping[str, Any]] | None,
) -> ToolAnswer:
    total = report.summary.findings
    end = page.offset + len(shown)
    next_offset = end if end < total else None
    summary = report.summary.model_copy(update={"shown": len(shown), "truncated": len(shown) < total})
    structured: dict[str, Any] = {
        **(extra(shown) if extra is not None else {}),
        "findings": [finding.model_dump(mode="json") for finding in shown],
        "errors": [error.model_dump(mode="json") for error in report.errors[:ERRORS_SHOWN]],
        "summary": summary.model_dump(mode="json"),
        "page": {
            "offset": page.offset,
            "returned": len(shown),
            "total": total,
            "next_offset": next_offset,
            "errors_total": len(report.errors),
        },
    }
    text = summary_text(report, shown, page.offset, next_offset, tool=tool, heading=heading)
    return ToolAnswer(text=text, structured=structured)


def summary_text(
    report: AnalysisReport,
    shown: Sequence[Finding],
    offset: int,
    next_offset: int | None,
    *,
    tool: str,
    heading: str,
) -> str:
    summary = report.summary
    files = summary.files_analyzed
    lines = [heading] if heading else []
    if summary.findings == 0:
        lines.append(f"No findings in {files} file{'s' if files != 1 else ''} analyzed.")
    else:
        levels = ", ".join(
            f"{summary.by_severity[level]} {level}" for level in _LEVELS if level in summary.by_severity
        )
        lines.append(
            f"{summary.findings} findings ({levels}) in {files} file{'s' if files != 1 else ''} analyzed."
        )
    if shown:
        lines.append(
            f"Findings {offset + 1}-{offset + len(shown)} of {summary.findings}, most severe first "
            "(evidence and fix of each in the structured result):"
        )
        lines.extend(_finding_line(finding) for finding in shown[:TEXT_FINDINGS])
        rest = [*shown[TEXT_FINDINGS:], *report.findings[offset + len(shown) :], *report.findings[:offset]]
        if rest:
            lines.append(f"Not listed above: {_grouped(rest)}.")
    elif summary.findings:
        lines.append(f"offset={offset} is past the last finding ({summary.findings}).")
    if next_offset is not None:
        lines.append(f"Next page: call {tool} again with the same arguments and offset={next_offset}.")
    if summary.files_skipped:
        total = skipped_total(summary.files_skipped, summary.files_skipped_partial)
        lines.append(f"Skipped {total} file(s): {describe_skipped(summary.files_skipped)}.")
    lines.extend(f"warning: {sanitize_line(warning, TEXT_LINE)}" for warning in summary.warnings[:3])
    lines.extend(_error_lines(report.errors))
    rule_ids = sorted({finding.rule_id for finding in shown})
    if rule_ids:
        links = ", ".join(f"race://rules/{rule_id}" for rule_id in rule_ids)
        lines.append(f"Why each is a race, and the fixed pattern: read {links}.")
    return "\n".join(lines) + "\n"


_LEVELS = ("high", "medium", "low")


def _finding_line(finding: Finding) -> str:
    where = f"{finding.path}:{finding.line}"
    route = finding.route or finding.operation
    head = f"- {finding.severity} {finding.rule_id} {where}" + (f" [{route}]" if route else "")
    line = sanitize_line(f"{head}: {finding.message}", TEXT_LINE)
    quoted = next((step for step in finding.evidence if step.role in ("check", "read")), None)
    if quoted is not None:
        line += f" | line {quoted.line}: {sanitize_line(quoted.code, QUOTE_LIMIT)}"
    return line


def _grouped(findings: Iterable[Finding]) -> str:
    counts = Counter((finding.rule_id, finding.severity) for finding in findings)
    ordered = sorted(counts.items(), key=lambda item: (_LEVELS.index(item[0][1]), -item[1], item[0][0]))
    return ", ".join(f"{rule} {severity} x{count}" for (rule, severity), count in ordered)


def _error_lines(errors: Sequence[FileError]) -> list[str]:
    if not errors:
        return []
    lines = [f"{len(errors)} file(s) could not be analysed, e.g.:"]
    lines.extend(f"- [{error.code}] {sanitize_line(error.message, TEXT_LINE)}" for error in errors[:3])
    return lines


# ----------------------------------------------------------------------------------------------
# Errors: the stable code first, then the one hint that applies

# Hints every file tool shares; a tool adds or overrides its own.
COMMON_HINTS: dict[str, str] = {
    "outside-roots": "or add the folder to the client's workspace roots",
    "bad-path": "pass a path relative to the workspace, or an absolute one inside it",
    "too-large": "analyse a smaller file, or raise max_file_bytes in [tool.race-mcp]",
    "binary-file": "pass a text file",
    "not-utf8": "save the file as UTF-8",
    "server-busy": "every worker is busy; retry in a few seconds",
    "time-limit": "pass a smaller file or subdirectory, or run race-mcp in a terminal for whole trees",
    "memory-limit": "pass a smaller file or subdirectory, or run race-mcp in a terminal",
    "worker-crashed": "the input crashed the parser; pass a smaller or simpler file",
    "too-deeply-nested": "the code nests deeper than race-mcp follows; pass the handlers on their own",
    "parser-limit": "the parser cannot hold this file; pass the handlers on their own",
    "too-many-nodes": "pass a smaller file, or the handlers on their own",
    "analysis-timeout": "pass a smaller file, or the handlers on their own",
    "patch-timeout": "patch fewer findings at once: give `rule`, or a smaller file",
}


def tool_error_for(exc: RaceMcpError, hints: Mapping[str, str]) -> ToolError:
    """`[code] message; hint` with the hint for this code only (none when the message says it all)."""
    message = str(exc).rstrip(". ")
    hint = hints.get(exc.code) or COMMON_HINTS.get(exc.code)
    return tool_error(exc, f"{message}; {hint}" if hint else message)


async def answer_in_worker(
    ctx: Any, job: Callable[..., ToolAnswer], call: object, hints: Mapping[str, str]
) -> CallToolResult:
    """Run `job(call=call)` in the shared pool until it answers or the client leaves; a core error
    becomes the tool error with the hint for its code."""
    try:
        answer = await unless_client_leaves(ctx, partial(shared_pool().run, job, call=call))
    except RaceMcpError as exc:
        raise tool_error_for(exc, hints) from None
    return answer.result()
