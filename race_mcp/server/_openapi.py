"""The `check_openapi` tool: arguments checked here, the work done in a worker process (`openapi_job`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult
from pydantic import Field

from .._sanitize import PROSE_LIMIT, sanitize_line
from ..config import Settings
from ..findings import Finding
from ..openapi import OpenApiReport, check_openapi
from ..roots import AllowedRoots
from ._answers import Page, ToolAnswer, answer_in_worker, report_answer
from ._common import (
    DEFAULT_MAX_FINDINGS,
    MAX_FINDINGS_FIELD,
    OFFSET_FIELD,
    output_shape,
    read_only,
    worker_settings,
)
from ._paths import PathText, located
from ._workspace import ClientRoots, Workspace

# ----------------------------------------------------------------------------------------------
# check_openapi

CHECK_OPENAPI_DESCRIPTION = """\
Check an OpenAPI document (2.0/3.x, YAML or JSON) for missing concurrency preconditions: \
PUT/PATCH/DELETE without If-Match/ETag or a version field, creating or charging POSTs without an \
Idempotency-Key, missing 409/412/428/429 responses.

Call it when you design or review an API contract, or after analyze_file found a race. `source` \
(code directory or file: Python, JavaScript/TypeScript or Rust) links code findings to each \
endpoint. Returns a page of findings, most severe first; `offset` pages through the rest. \
Read-only; remote $refs are never fetched."""

HINTS = {
    "not-openapi": "check_openapi needs an OpenAPI 2.0/3.x document (YAML or JSON)",
    "unsupported-version": "check_openapi reads OpenAPI 2.0, 3.0 and 3.1",
    "invalid-yaml": "fix the YAML syntax at the position given",
    "invalid-json": "fix the JSON syntax at the position given",
    "not-found": "pass a spec inside the workspace, relative to its root or absolute",
}
OPENAPI_SHAPE = output_shape(OpenApiReport, page=dict[str, Any])
SPEC_FILES_SHOWN = 20


@dataclass(frozen=True)
class OpenApiCall:
    """Everything `openapi_job` needs, as plain data for the worker process."""

    spec: str
    source: str | None
    roots: AllowedRoots
    settings: Settings
    page: Page


def register_check_openapi(server: MCPServer[Any], workspace: Workspace) -> None:
    @server.tool(
        name="check_openapi",
        title="Check an OpenAPI spec for missing concurrency preconditions",
        description=CHECK_OPENAPI_DESCRIPTION,
        annotations=read_only("Check an OpenAPI spec for missing concurrency preconditions"),
    )
    async def check_openapi_tool(
        ctx: Context[Any, Any],
        client_roots: ClientRoots,
        spec: Annotated[
            PathText,
            Field(description="The OpenAPI document in the workspace, e.g. 'api/openapi.yaml'."),
        ],
        source: Annotated[
            PathText | None,
            Field(
                description="Optional code directory or file whose findings are linked to the "
                "spec's operations by route (Python, JavaScript/TypeScript or Rust handlers), e.g. 'app/'.",
            ),
        ] = None,
        max_findings: MAX_FINDINGS_FIELD = DEFAULT_MAX_FINDINGS,
        offset: OFFSET_FIELD = 0,
    ) -> Annotated[CallToolResult, OPENAPI_SHAPE]:
        call = OpenApiCall(
            spec=spec,
            source=source,
            roots=workspace.with_client_roots(client_roots),
            settings=workspace.settings,
            page=Page(max_findings=max_findings, offset=offset),
        )
        return await answer_in_worker(ctx, openapi_job, call, HINTS)


def openapi_job(call: OpenApiCall) -> ToolAnswer:
    """In a worker process: the whole report, then the page (and its endpoints) the caller asked for."""
    spec_path = located(call.spec, "spec", call.roots)
    source_path = located(call.source, "source", call.roots) if call.source is not None else None
    report = check_openapi(
        spec_path,
        settings=worker_settings(call.settings),
        source=source_path,
        ref_roots=call.roots.paths,
        source_roots=call.roots,
    )
    return report_answer(
        report,
        call.page,
        tool="check_openapi",
        heading=_heading(report),
        extra=lambda shown: {"spec": _spec_info(report), "endpoints": _endpoints_of(report, shown)},
    )


def _heading(report: OpenApiReport) -> str:
    if report.spec is None:
        return ""
    title = f" {report.spec.title!r}" if report.spec.title else ""
    return sanitize_line(
        f"OpenAPI {report.spec.version}{title} ({report.spec.path}): "
        f"{report.spec.operations} operations checked.",
        PROSE_LIMIT,
    )


def _spec_info(report: OpenApiReport) -> dict[str, Any] | None:
    if report.spec is None:
        return None
    info = report.spec.model_dump(mode="json")
    info["files"] = info["files"][:SPEC_FILES_SHOWN]
    return info


def _key(finding: Finding) -> tuple[Any, ...]:
    return (finding.rule_id, finding.path, finding.line, finding.column, finding.pointer, finding.function)


def _endpoints_of(report: OpenApiReport, shown: Sequence[Finding]) -> list[dict[str, Any]]:
    """The ranked endpoints that hold a finding of this page, each finding named by rule and place
    (the finding itself is in `findings`, once)."""
    on_page = {_key(finding) for finding in shown}
    endpoints = []
    for endpoint in report.endpoints:
        everything = [*endpoint.spec_findings, *endpoint.code_findings]
        if not any(_key(finding) in on_page for finding in everything):
            continue
        endpoints.append(
            {
                "operation": endpoint.operation,
                "path": endpoint.path,
                "line": endpoint.line,
                "pointer": endpoint.pointer,
                "handler": endpoint.handler,
                "spec_findings": [_reference(finding) for finding in endpoint.spec_findings],
                "code_findings": [_reference(finding) for finding in endpoint.code_findings],
            }
        )
    return endpoints


def _reference(finding: Finding) -> dict[str, Any]:
    return {
        "rule_id": finding.rule_id,
        "severity": finding.severity,
        "path": finding.path,
        "line": finding.line,
    }
