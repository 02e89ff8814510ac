"""The `propose_patch` tool: arguments checked here, the work done in a worker process (`patch_job`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult
from pydantic import Field

from .._sanitize import PROSE_LIMIT, sanitize_line, sanitize_text
from ..analyzer._files import read_source
from ..config import Settings
from ..errors import InputError
from ..remediate import PatchReport, propose_patches
from ..roots import AllowedRoots
from ._answers import ToolAnswer, answer_in_worker, json_size
from ._common import output_shape, read_only, usage_error, worker_settings
from ._paths import PathText, located
from ._workspace import ClientRoots, Workspace

# ----------------------------------------------------------------------------------------------
# propose_patch

PROPOSE_PATCH_DESCRIPTION = """\
Propose verified fixes for the races in one Python, JavaScript/TypeScript or Rust file: a unified \
diff for each finding with a sound mechanical fix (formatting kept), re-analysed so the race is \
gone; guidance in words for the others.

Call it after analyze_file or run_burst found a race. Give `path` (a workspace file) or `source` \
with a `filename` (its suffix picks the language); `rule` limits it to one rule. Nothing is \
written: show the diff, or apply it with `race-mcp patch FILE --apply`. `diff` is the combined \
patch for `git apply`; an unsafe patch says its limits in `note`."""

HINTS = {
    "syntax-error": "propose_patch needs source that parses in the language its suffix names",
    "is-directory": "analyze_file takes directories; pass one of its files here",
    "unknown-rule": "read race://rules for the rule ids",
    "not-found": "pass a .py, .js/.ts or .rs file inside the workspace as `path`, or the code as `source`",
    "unsupported-language": "propose_patch takes Python, JavaScript/TypeScript and Rust files",
}
PATCH_SHAPE = output_shape(PatchReport, omitted=list[str])
# Text and structured content together; the diff is the product, so it is cut last.
ANSWER_BUDGET = 20_000


@dataclass(frozen=True)
class PatchCall:
    """Everything `patch_job` needs, as plain data for the worker process."""

    path: str | None
    source: str | None
    filename: str
    rule: str | None
    roots: AllowedRoots
    settings: Settings


def register_propose_patch(server: MCPServer[Any], workspace: Workspace) -> None:
    @server.tool(
        name="propose_patch",
        title="Propose verified patches for the races in a source file",
        description=PROPOSE_PATCH_DESCRIPTION,
        annotations=read_only("Propose verified patches for the races in a source file"),
    )
    async def propose_patch(
        ctx: Context[Any, Any],
        client_roots: ClientRoots,
        path: Annotated[
            PathText | None,
            Field(
                description="Python, JavaScript/TypeScript or Rust file in the workspace, e.g. "
                "'app/routes/coupons.py'. "
                "Give either path or source.",
            ),
        ] = None,
        source: Annotated[
            str | None,
            Field(description="Source text to patch instead of a file (language from `filename`)."),
        ] = None,
        filename: Annotated[
            str,
            Field(
                description="Name for inline `source` in the diff headers, e.g. 'app/routes.py'; "
                "its suffix picks the language.",
                min_length=1,
                max_length=260,
            ),
        ] = "snippet.py",
        rule: Annotated[
            str | None,
            Field(description="Only patch this rule's findings, e.g. 'RC101'.", max_length=16),
        ] = None,
    ) -> Annotated[CallToolResult, PATCH_SHAPE]:
        if (path is None) == (source is None):
            raise usage_error("give exactly one of `path` (a source file) or `source` (code text)")
        call = PatchCall(
            path=path,
            source=source,
            filename=filename,
            rule=rule,
            roots=workspace.with_client_roots(client_roots),
            settings=workspace.settings,
        )
        return await answer_in_worker(ctx, patch_job, call, HINTS)


def patch_job(call: PatchCall) -> ToolAnswer:
    """In a worker process: the patches, as an answer that fits the budget."""
    settings = worker_settings(call.settings)
    source, filename, target = call.source, call.filename, None
    if source is None:
        source, filename, target = _read_for_patch(call.path or "", call.roots, settings)
    # A file on disk is patched with its project's facts (within the roots), as `analyze` sees it.
    report = propose_patches(
        source, filename, settings=settings, rule=call.rule, project_file=target, roots=call.roots
    )
    return patch_answer(report)


def _read_for_patch(path: str, roots: AllowedRoots, settings: Settings) -> tuple[str, str, Path]:
    """The file's text, its name relative to the root it is in (the diff's a/ b/ path) and where
    it is."""
    target = located(path, "path", roots)
    if target.is_dir():
        raise InputError(f"{path}: is a directory; propose_patch takes one file", code="is-directory")
    root = next((r for r in roots.paths if target.is_relative_to(r)), None)
    label = target.relative_to(root).as_posix() if root is not None else path
    return read_source(target, label, max_bytes=settings.max_file_bytes), label, target


def patch_answer(report: PatchReport) -> ToolAnswer:
    """The report, with the readable combined diff in the text; over the budget, the per-patch diffs
    go first (the combined `diff` holds every change), then the text's copy, then the diff itself."""
    structured = report.model_dump(mode="json")
    structured["omitted"] = []
    readable = sanitize_text(report.diff) if report.diff else ""

    def size() -> int:
        return json_size(structured) + len(_patch_text(report, readable, structured).encode())

    if size() > ANSWER_BUDGET:
        for patch in structured["patches"]:
            patch["diff"] = ""
        structured["omitted"].append("patches[].diff: the combined `diff` holds every change")
    if size() > ANSWER_BUDGET:
        readable = ""
    if size() > ANSWER_BUDGET:
        structured["diff"] = ""
        structured["omitted"].append(
            f"diff: {len(report.diff):,} characters; call again with `rule` to patch one rule at a "
            "time, or run `race-mcp patch FILE --format diff` in a terminal"
        )
    return ToolAnswer(text=_patch_text(report, readable, structured), structured=structured)


def _patch_text(report: PatchReport, readable: str, structured: dict[str, Any]) -> str:
    """One line per patch and per finding left for a human, then the diff (or where it is)."""
    if not report.patches and not report.unpatched and not report.errors:
        return f"{_line(report.path)}: nothing to patch\n"
    out = [
        f"{len(report.patches)} patched, {len(report.unpatched)} left for a human in {_line(report.path)}:"
    ]
    for patch in report.patches:
        note = f" ({patch.safety}: {patch.note})" if patch.safety == "unsafe" or patch.note else ""
        out.append(_line(f"- line {patch.line} {patch.rule_id}: {patch.description}{note}"))
    for left in report.unpatched:
        out.append(_line(f"- line {left.line} {left.rule_id} no patch: {left.guidance}"))
    out.extend(_line(f"error [{error.code}]: {error.message}") for error in report.errors)
    if readable:
        out.append("The combined diff (exact text for `git apply` in the structured `diff`):")
        out.append(readable)
    elif structured["diff"]:
        out.append(f"The combined diff ({len(report.diff):,} characters) is in the structured `diff`.")
    out.extend(f"Left out to stay small: {what}" for what in structured["omitted"])
    if report.patches:
        out.append("Show the diff to the user, or apply it with `race-mcp patch FILE --apply`.")
    return "\n".join(out) + "\n"


def _line(text: str) -> str:
    return sanitize_line(text, PROSE_LIMIT)
