"""The `propose_patch` tool."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.types import (
    CallToolResult,
    TextContent,
)
from pydantic import Field

from ..analyzer._files import read_source
from ..config import Settings
from ..errors import InputError, PolicyError, RaceMcpError
from ..remediate import PatchReport, propose_patches, render_patch_text
from ..roots import AllowedRoots
from ._common import read_only, tool_error, usage_error
from ._workspace import ClientRoots, Workspace, locate

# ----------------------------------------------------------------------------------------------
# propose_patch

PROPOSE_PATCH_DESCRIPTION = """\
Propose verified fixes for the races in one Python file: for each finding with a sound mechanical \
fix, a unified diff (libcst codemod that keeps formatting and comments), re-analysed so that the \
race is gone and nothing new appears; findings without one get guidance in words.

Call it after analyze_file (or run_burst) found a race. Give `path` (a file inside the workspace) or \
`source` with a `filename`; `rule` limits it to one rule id. Read-only: nothing is written; show the \
diff to the user, or apply it with `race-mcp patch FILE --apply`. `diff` is the combined patch for \
`git apply`; a patch marked unsafe explains its limits in `note` (e.g. a lock protects one process)."""


def register_propose_patch(server: MCPServer[Any], workspace: Workspace) -> None:
    @server.tool(
        name="propose_patch",
        title="Propose verified patches for the races in a Python file",
        description=PROPOSE_PATCH_DESCRIPTION,
        annotations=read_only("Propose verified patches for the races in a Python file"),
    )
    def propose_patch(
        client_roots: ClientRoots,
        path: Annotated[
            str | None,
            Field(
                description="Python file inside the workspace, e.g. 'app/routes/coupons.py'. "
                "Give either path or source.",
                max_length=4096,
            ),
        ] = None,
        source: Annotated[
            str | None,
            Field(description="Python source text to patch instead of a file."),
        ] = None,
        filename: Annotated[
            str,
            Field(
                description="Name used for inline `source` in the diff headers, e.g. 'app/routes.py'; "
                "never read from disk.",
                min_length=1,
                max_length=260,
            ),
        ] = "snippet.py",
        rule: Annotated[
            str | None,
            Field(description="Only patch this rule's findings, e.g. 'RC101'.", max_length=16),
        ] = None,
    ) -> Annotated[CallToolResult, PatchReport]:
        if (path is None) == (source is None):
            raise usage_error("give exactly one of `path` (a Python file) or `source` (code text)")
        roots = workspace.with_client_roots(client_roots)
        try:
            if source is None:
                source, filename = _read_for_patch(path or "", roots, workspace.settings)
            report = propose_patches(source, filename, settings=workspace.settings, rule=rule)
        except RaceMcpError as exc:
            raise tool_error(exc, _what_to_do_patch(exc)) from None
        return CallToolResult(
            content=[TextContent(type="text", text=render_patch_text(report))],
            structured_content=report.model_dump(mode="json"),
        )


def _read_for_patch(path: str, roots: AllowedRoots, settings: Settings) -> tuple[str, str]:
    """The file's text and its name relative to the root it is in (the diff's a/ b/ path)."""
    target = locate(path, roots)
    if target.is_dir():
        raise InputError(f"{path}: is a directory; propose_patch takes one Python file", code="is-directory")
    root = next((r for r in roots.paths if target.is_relative_to(r)), None)
    label = target.relative_to(root).as_posix() if root is not None else path
    return read_source(target, label, max_bytes=settings.max_file_bytes), label


def _what_to_do_patch(exc: RaceMcpError) -> str:
    if isinstance(exc, PolicyError):
        return f"{exc}, or add the folder to the client's workspace roots"
    return f"{exc}. propose_patch needs one UTF-8 Python file that parses (or its text as `source`)"
