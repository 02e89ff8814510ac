"""`propose_patch` and `analyze_file` on JavaScript/TypeScript over stdio, driven by the SDK's real
client against the installed command: a file in the workspace and inline source by filename."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from tests._mcp_helpers import RACE_MCP

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).parent / "fixtures"
BANK = (FIXTURES / "live" / "express" / "bank.js").read_text(encoding="utf-8")
STOCK_TS = (FIXTURES / "analyzer" / "js" / "RC8xx_driver.ts").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("js") / "workspace"
    (root / "src").mkdir(parents=True)
    (root / "src" / "bank.js").write_text(BANK, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
async def client(workspace: Path) -> AsyncIterator[Client]:
    params = StdioServerParameters(command=str(RACE_MCP), args=[], cwd=str(workspace))
    async with Client(params, mode="legacy", read_timeout_seconds=60) as connected:
        yield connected


async def test_propose_patch_on_a_javascript_file_returns_the_rc201_patch(client: Client) -> None:
    result = await client.call_tool("propose_patch", {"path": "src/bank.js"})
    assert not result.is_error
    report = result.structured_content
    assert report is not None
    [patch] = report["patches"]
    assert (patch["rule_id"], patch["path"], patch["line"]) == ("RC201", "src/bank.js", 18)
    assert patch["diff"].startswith("diff --git a/src/bank.js b/src/bank.js\n")
    assert "+  if (result.rowCount === 0) return res.status(409)" in report["diff"]
    assert "AND balance >= $1" in report["diff"]


async def test_propose_patch_on_inline_typescript_by_filename(client: Client) -> None:
    arguments = {"source": STOCK_TS, "filename": "src/wallet.ts", "rule": "RC801"}
    result = await client.call_tool("propose_patch", arguments)
    assert not result.is_error
    report = result.structured_content
    assert report is not None
    assert [p["rule_id"] for p in report["patches"]] == ["RC801"]
    assert "$inc: { balance: -amount }" in report["diff"]


async def test_analyze_file_and_guidance_speak_javascript(client: Client) -> None:
    source = (FIXTURES / "analyzer" / "js" / "RC1xx_koa.js").read_text(encoding="utf-8")
    analysis = await client.call_tool("analyze_file", {"source": source, "filename": "app.js"})
    assert not analysis.is_error and analysis.structured_content is not None
    assert {f["rule_id"] for f in analysis.structured_content["findings"]} == {"RC101"}
    result = await client.call_tool("propose_patch", {"source": source, "filename": "app.js"})
    report = result.structured_content
    assert report is not None and report["patches"] == []
    for unpatched in report["unpatched"]:
        assert "    const left = coupons.get(code) ?? 0;" in unpatched["guidance"]
        assert "asyncio" not in unpatched["guidance"]
