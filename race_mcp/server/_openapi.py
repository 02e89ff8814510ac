"""The `check_openapi` tool."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.types import (
    CallToolResult,
    TextContent,
)
from pydantic import Field

from ..errors import PolicyError, RaceMcpError
from ..openapi import OpenApiReport, check_openapi
from ._common import DEFAULT_MAX_FINDINGS, MAX_FINDINGS_LIMIT, read_only, summarize_report, tool_error
from ._workspace import ClientRoots, Workspace, locate

# ----------------------------------------------------------------------------------------------
# check_openapi

CHECK_OPENAPI_DESCRIPTION = """\
Check an OpenAPI document (2.0, 3.0, 3.1; YAML or JSON, several files) for missing concurrency \
preconditions: PUT/PATCH/DELETE without If-Match/ETag or a version field, creating or charging POSTs \
without an Idempotency-Key, and missing 409/412/428/429 (with Retry-After) responses.

Call it when you design or review an API contract, or after analyze_file found a race, to see \
whether the contract lets clients protect themselves. Pass `source` (the code directory or file) \
to put code findings beside spec findings per endpoint: an endpoint with both ranks first. \
Read-only: $refs are resolved inside the workspace; remote $refs are never fetched."""


def register_check_openapi(server: MCPServer[Any], workspace: Workspace) -> None:
    @server.tool(
        name="check_openapi",
        title="Check an OpenAPI spec for missing concurrency preconditions",
        description=CHECK_OPENAPI_DESCRIPTION,
        annotations=read_only("Check an OpenAPI spec for missing concurrency preconditions"),
    )
    def check_openapi_tool(
        client_roots: ClientRoots,
        spec: Annotated[
            str,
            Field(
                description="The OpenAPI document, inside the workspace, e.g. 'api/openapi.yaml'.",
                min_length=1,
                max_length=4096,
            ),
        ],
        source: Annotated[
            str | None,
            Field(
                description="Optional code directory or file to analyse and link to the spec's "
                "operations by route, e.g. 'app/'.",
                max_length=4096,
            ),
        ] = None,
        max_findings: Annotated[
            int,
            Field(
                description="Most findings to return, most severe first; the summary still counts all.",
                ge=1,
                le=MAX_FINDINGS_LIMIT,
            ),
        ] = DEFAULT_MAX_FINDINGS,
    ) -> Annotated[CallToolResult, OpenApiReport]:
        roots = workspace.with_client_roots(client_roots)
        try:
            spec_path = locate(spec, roots)
            source_path = locate(source, roots) if source is not None else None
            report = check_openapi(
                spec_path,
                settings=workspace.settings,
                source=source_path,
                ref_roots=roots.paths,
                max_findings=max_findings,
                source_roots=roots,
            )
        except RaceMcpError as exc:
            raise tool_error(exc, _what_to_do_spec(exc)) from None
        return CallToolResult(
            content=[TextContent(type="text", text=summarize_report(report, max_findings))],
            structured_content=report.model_dump(mode="json"),
        )


def _what_to_do_spec(exc: RaceMcpError) -> str:
    if isinstance(exc, PolicyError):
        return f"{exc}, or add the folder to the client's workspace roots"
    return f"{exc}. check_openapi needs an OpenAPI 2.0/3.x document (YAML or JSON) inside the workspace"
