"""The installed `race-mcp` command as an MCP server over stdio, driven by the SDK's real client.

Each protocol era gets its own server process: "legacy" is the initialize handshake most hosts
speak today, "auto" negotiates the 2026-07-28 stateless protocol the SDK prefers.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, MCPError, StdioServerParameters
from mcp.types import CallToolResult, ListRootsResult, Root, TextContent

from tests._mcp_helpers import RACE_MCP, RACY_ROUTE, RACY_SOURCE, Workspace, make_workspace

pytestmark = pytest.mark.anyio
DEMO = Path(__file__).parent.parent / "race_mcp" / "demo"


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    yield make_workspace(tmp_path_factory.mktemp("stdio"))


@pytest.fixture(scope="module", params=["legacy", "auto"])
async def client(request: pytest.FixtureRequest, workspace: Workspace) -> AsyncIterator[Client]:
    # Both entry points: a bare `race-mcp` (how MCP hosts launch it) and `race-mcp serve`.
    args = [] if request.param == "legacy" else ["serve"]
    params = StdioServerParameters(command=str(RACE_MCP), args=args, cwd=str(workspace.root))
    async with Client(params, mode=request.param, read_timeout_seconds=30) as connected:
        yield connected


def text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


async def analyze(client: Client, **arguments: Any) -> CallToolResult:
    return await client.call_tool("analyze_file", arguments)


# ----------------------------------------------------------------------------------------- tools


async def test_lists_analyze_file_with_schemas_and_annotations(client: Client) -> None:
    tools = (await client.list_tools()).tools
    # check_openapi: test_openapi_adapters.py; run_burst: test_burst_mcp.py; propose_patch: test_patch_mcp.py
    assert [tool.name for tool in tools] == ["analyze_file", "check_openapi", "propose_patch", "run_burst"]
    tool = tools[0]

    inputs = tool.input_schema["properties"]
    assert set(inputs) == {"path", "source", "filename", "max_findings", "offset"}  # roots stay hidden
    assert all(field.get("description") for field in inputs.values())
    assert (inputs["max_findings"]["minimum"], inputs["max_findings"]["maximum"]) == (1, 200)
    assert tool.input_schema.get("required", []) == []

    assert tool.output_schema is not None
    assert set(tool.output_schema["properties"]) == {"findings", "errors", "summary", "page"}

    assert tool.annotations is not None
    assert tool.annotations.read_only_hint is True
    assert tool.annotations.destructive_hint is False
    assert tool.annotations.idempotent_hint is True
    assert tool.annotations.open_world_hint is False
    assert tool.description is not None and "coupons" in tool.description  # says when to call it


async def test_racy_file_yields_rc101_for_the_route(client: Client, workspace: Workspace) -> None:
    result = await analyze(client, path="racy.py")

    assert not result.is_error, text_of(result)
    report = result.structured_content
    assert report is not None
    assert [(f["rule_id"], f["route"]) for f in report["findings"]] == [("RC101", RACY_ROUTE)]
    assert report["findings"][0]["path"] == str(workspace.root / "racy.py")
    assert report["summary"]["files_analyzed"] == 1
    assert report["summary"]["truncated"] is False
    assert "RC101" in text_of(result) and "race://rules/RC101" in text_of(result)


async def test_inline_source_is_reported_under_its_filename(client: Client) -> None:
    result = await analyze(client, source=RACY_SOURCE, filename="app/routes.py")

    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    findings = result.structured_content["findings"]
    assert [(f["rule_id"], f["path"]) for f in findings] == [("RC101", "app/routes.py")]


async def test_clean_file_says_nothing_was_found(client: Client) -> None:
    result = await analyze(client, path="safe.py")

    assert not result.is_error
    assert result.structured_content is not None
    assert result.structured_content["findings"] == []
    assert "No findings in 1 file analyzed" in text_of(result)


async def test_directory_results_are_paged_and_say_how_to_get_the_rest(client: Client) -> None:
    result = await analyze(client, path="shop", max_findings=1)

    assert not result.is_error, text_of(result)
    report = result.structured_content
    assert report is not None
    assert len(report["findings"]) == 1
    assert report["summary"] | {"by_severity": None, "by_rule": None, "by_rule_severity": None} == {
        "files_analyzed": 2,
        "files_with_errors": 0,
        "findings": 2,
        "by_severity": None,
        "by_rule": None,
        "by_rule_severity": None,
        "truncated": True,
        "shown": 1,
        "files_skipped": {},
        "files_skipped_partial": False,
        "warnings": [],
    }
    assert report["page"] == {"offset": 0, "returned": 1, "total": 2, "next_offset": 1, "errors_total": 0}
    assert "Findings 1-1 of 2" in text_of(result)
    assert "offset=1" in text_of(result)


async def test_directory_walk_skips_symlinks_that_leave_the_roots(client: Client) -> None:
    result = await analyze(client, path="mixed")

    assert not result.is_error, text_of(result)
    report = result.structured_content
    assert report is not None
    assert [Path(f["path"]).name for f in report["findings"]] == ["racy.py"]
    # Counted as skipped with its reason, never opened (more in test_walk.py).
    assert report["errors"] == []
    assert report["summary"]["files_skipped"] == {"outside-roots": 1}
    assert "1 linked outside the allowed roots" in text_of(result)


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_client_roots_widen_the_allowed_roots(workspace: Workspace, mode: str) -> None:
    async def list_roots(context: Any) -> ListRootsResult:
        return ListRootsResult(roots=[Root(uri=workspace.outside.as_uri())])

    params = StdioServerParameters(command=str(RACE_MCP), cwd=str(workspace.root))
    async with Client(params, mode=mode, list_roots_callback=list_roots, read_timeout_seconds=30) as client:
        result = await analyze(client, path=str(workspace.outside / "secret.py"))

    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    assert [f["rule_id"] for f in result.structured_content["findings"]] == ["RC101"]


# ------------------------------------------------------------------------------ bad input, still up


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"path": "/etc/hostname"}, "outside the allowed roots"),
        ({"path": "../outside/secret.py"}, "outside the allowed roots"),
        ({"path": "escape.py"}, "outside the allowed roots"),  # a symlink out of the workspace
        ({"path": "missing.py"}, "no such file or directory"),
        ({"path": "binary.py"}, "binary file"),
        ({"path": "broken.py"}, "syntax error"),
        ({"source": "def broken(:\n"}, "syntax error"),
        ({"path": "racy.py", "source": RACY_SOURCE}, "exactly one of"),
        ({}, "exactly one of"),
        ({"path": "racy.py", "max_findings": 0}, "greater than or equal to 1"),
    ],
)
async def test_bad_input_is_a_tool_error_and_the_server_keeps_serving(
    client: Client, arguments: dict[str, Any], expected: str
) -> None:
    result = await analyze(client, **arguments)

    assert result.is_error
    assert expected in text_of(result)
    assert "Traceback" not in text_of(result)
    follow_up = await analyze(client, path="racy.py")
    assert not follow_up.is_error


async def test_errors_say_what_to_do(client: Client) -> None:
    outside = text_of(await analyze(client, path="/etc/hostname"))
    assert "--root DIR" in outside
    missing = text_of(await analyze(client, path="missing.py"))
    assert "relative paths are looked up in" in missing


# ----------------------------------------------------------------------------- resources, prompts


async def test_rule_catalog_and_rule_resources(client: Client) -> None:
    templates = (await client.list_resource_templates()).resource_templates
    assert [template.uri_template for template in templates] == ["race://rules/{rule_id}"]

    catalog = (await client.read_resource("race://rules")).contents[0]
    assert catalog.mime_type == "text/markdown"
    assert "| RC101 |" in getattr(catalog, "text", "")

    rule = (await client.read_resource("race://rules/RC101")).contents[0]
    assert getattr(rule, "text", "").startswith("# RC101 ")
    assert "## Why is this bad?" in getattr(rule, "text", "")


async def test_unknown_rule_is_not_found_with_the_known_ids(client: Client) -> None:
    with pytest.raises(MCPError, match=r"unknown rule .RC999.; known rules: .*RC101"):
        await client.read_resource("race://rules/RC999")
    assert (await client.read_resource("race://rules/rc102")).contents  # and still serving


async def test_audit_prompt_is_listed_and_renders(client: Client) -> None:
    prompts = {prompt.name: prompt for prompt in (await client.list_prompts()).prompts}
    audit = prompts["audit_file"]
    assert audit.description
    assert [(a.name, a.required) for a in audit.arguments or []] == [("path", True), ("focus", False)]

    plain = await client.get_prompt("audit_file", {"path": "shop/coupons.py"})
    text = getattr(plain.messages[0].content, "text", "")
    assert plain.messages[0].role == "user"
    assert "`shop/coupons.py`" in text and "analyze_file" in text and "race://rules/" in text
    assert "Focus:" not in text and "{{" not in text

    focused = await client.get_prompt("audit_file", {"path": "racy.py", "focus": "coupon redemption"})
    assert "Focus: coupon redemption." in getattr(focused.messages[0].content, "text", "")


async def test_prompt_argument_errors_are_clear(client: Client) -> None:
    with pytest.raises(MCPError, match="path"):
        await client.get_prompt("audit_file", {})
    with pytest.raises(MCPError, match=r"no argument 'colour'.*it takes: focus, path"):
        await client.get_prompt("audit_file", {"path": "racy.py", "colour": "red"})


# ------------------------------------------------------------------ answers that fit a context


@pytest.fixture(scope="module")
async def demo_client(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Client]:
    """The bundled demo: the 750-line spec that answered 119 KB, and the shop with 13 findings."""
    demo = tmp_path_factory.mktemp("demo")
    for name in ("openapi.yaml", "shop.py"):
        shutil.copy(DEMO / name, demo / name)
    params = StdioServerParameters(command=str(RACE_MCP), args=["serve"], cwd=str(demo))
    async with Client(params, mode="legacy", read_timeout_seconds=60) as connected:
        yield connected


def answer_size(result: CallToolResult) -> int:
    return len(text_of(result).encode()) + len(
        json.dumps(result.structured_content, ensure_ascii=False).encode()
    )


async def test_tools_list_fits_the_budget(demo_client: Client) -> None:
    listed = await demo_client.list_tools()
    size = len(listed.model_dump_json(by_alias=True, exclude_none=True))
    assert size < 12_000, f"tools/list is {size:,} characters"


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("check_openapi", {"spec": "openapi.yaml"}),
        ("check_openapi", {"spec": "openapi.yaml", "source": "."}),
        ("analyze_file", {"path": "."}),
        ("propose_patch", {"path": "shop.py"}),
    ],
)
async def test_each_answer_fits_the_budget(demo_client: Client, tool: str, arguments: dict[str, Any]) -> None:
    result = await demo_client.call_tool(tool, arguments)

    assert not result.is_error, text_of(result)
    assert answer_size(result) < 20_000, f"{tool} answered {answer_size(result):,} bytes"
    assert '"rule_id"' not in text_of(result)  # the structured content is not repeated in the text
    if tool != "propose_patch":
        findings = (result.structured_content or {})["findings"]
        severities = [f["severity"] for f in findings]
        assert severities == sorted(severities, key=["high", "medium", "low"].index)
        assert all(f"{f['rule_id']} " in text_of(result) for f in findings[:3])


@pytest.mark.parametrize("max_findings", [7, 50])
async def test_pages_are_disjoint_and_cover_every_finding(demo_client: Client, max_findings: int) -> None:
    seen: list[tuple[Any, ...]] = []
    offset: int | None = 0
    total = None
    while offset is not None:
        arguments = {"spec": "openapi.yaml", "source": ".", "max_findings": max_findings, "offset": offset}
        result = await demo_client.call_tool("check_openapi", arguments)
        report = result.structured_content
        assert report is not None and not result.is_error
        assert answer_size(result) < 20_000
        total = report["summary"]["findings"]
        page = report["page"]
        assert page["offset"] == offset and page["returned"] == len(report["findings"]) <= max_findings
        for finding in report["findings"]:
            seen.append(
                (
                    finding["rule_id"],
                    finding["path"],
                    finding["line"],
                    finding["pointer"],
                    finding["function"],
                )
            )
        for endpoint in report["endpoints"]:  # the page's endpoints name their findings, not copy them
            for named in [*endpoint["spec_findings"], *endpoint["code_findings"]]:
                assert set(named) == {"rule_id", "severity", "path", "line"}
        if page["next_offset"] is not None:
            assert f"offset={page['next_offset']}" in text_of(result)
        offset = page["next_offset"]
    assert len(seen) == len(set(seen)) == total
    past = await demo_client.call_tool("check_openapi", {"spec": "openapi.yaml", "offset": 10_000})
    assert not past.is_error and past.structured_content is not None
    assert past.structured_content["findings"] == [] and "past the last finding" in text_of(past)
