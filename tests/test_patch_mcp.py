"""`propose_patch` over stdio, driven by the SDK's real client against the installed command."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from mcp import Client, StdioServerParameters
from mcp.types import TextContent

from tests._mcp_helpers import RACE_MCP, RACY_SOURCE, Workspace, make_workspace

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return make_workspace(tmp_path_factory.mktemp("patch"))


@pytest.fixture(scope="module")
async def client(workspace: Workspace) -> AsyncIterator[Client]:
    params = StdioServerParameters(command=str(RACE_MCP), args=[], cwd=str(workspace.root))
    async with Client(params, mode="legacy", read_timeout_seconds=60) as connected:
        yield connected


async def test_tool_is_read_only_with_a_patch_report_schema(client: Client) -> None:
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    tool = tools["propose_patch"]
    assert tool.annotations is not None
    assert tool.annotations.read_only_hint is True and tool.annotations.destructive_hint is False
    assert set(tool.input_schema["properties"]) == {"path", "source", "filename", "rule"}
    assert {"patches", "unpatched", "diff", "errors"} <= set(tool.output_schema["properties"])  # type: ignore[index]


async def test_patch_for_a_file_in_the_workspace(client: Client, workspace: Workspace) -> None:
    result = await client.call_tool("propose_patch", {"path": "shop/coupons.py"})
    assert not result.is_error
    report = result.structured_content
    assert report is not None
    [patch] = report["patches"]
    assert (patch["rule_id"], patch["path"], patch["line"]) == ("RC101", "shop/coupons.py", 7)
    assert patch["diff"].startswith("diff --git a/shop/coupons.py b/shop/coupons.py\n")
    text = "".join(block.text for block in result.content if isinstance(block, TextContent))
    assert "async with coupons_lock:" in text
    assert (workspace.root / "shop" / "coupons.py").read_text() == RACY_SOURCE  # nothing written


async def test_patch_for_inline_source_and_one_rule(client: Client) -> None:
    result = await client.call_tool(
        "propose_patch", {"source": RACY_SOURCE, "filename": "app/routes.py", "rule": "RC701"}
    )
    assert not result.is_error
    assert result.structured_content is not None
    assert result.structured_content["patches"] == [] and result.structured_content["diff"] == ""


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"path": "../outside/secret.py"}, "outside the allowed roots"),
        ({"path": "escape.py"}, "outside the allowed roots"),
        ({"path": "broken.py"}, "syntax error"),
        ({"path": "shop"}, "is a directory"),
        ({"source": RACY_SOURCE, "rule": "RC999"}, "unknown rule"),
        ({}, "exactly one of"),
    ],
)
async def test_bad_input_is_a_tool_error_and_the_server_keeps_serving(
    client: Client, arguments: dict[str, str], message: str
) -> None:
    result = await client.call_tool("propose_patch", arguments)
    assert result.is_error
    text = "".join(block.text for block in result.content if isinstance(block, TextContent))
    assert message in text
    assert not (await client.call_tool("propose_patch", {"path": "safe.py"})).is_error
