"""The MCP server's `analyze_file` on one file of a JavaScript/TypeScript or Rust project: the
worker's analysis gets the project's cross-file facts inside the allowed roots (the server's
working directory), so a NestJS service's race carries its controller's route and an Axum handler
routed in `main.rs` carries its route, over stdio with the SDK's real client."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from tests._mcp_helpers import RACE_MCP

pytestmark = pytest.mark.anyio
PROJECTS = Path(__file__).parent / "fixtures" / "projects"


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("projects")
    for name in ("nest_wallet", "axum_wallet"):
        shutil.copytree(PROJECTS / name, root / name)
    return root


@pytest.fixture(scope="module")
async def client(workspace: Path) -> AsyncIterator[Client]:
    env = {**os.environ, "RACE_MCP_CACHE_DIR": str(workspace.parent / "mcp-cache")}
    params = StdioServerParameters(command=str(RACE_MCP), args=["serve"], cwd=str(workspace), env=env)
    async with Client(params, mode="legacy", read_timeout_seconds=60) as connected:
        yield connected


async def _findings(client: Client, path: str) -> list[dict[str, Any]]:
    result = await client.call_tool("analyze_file", {"path": path})
    assert not result.is_error
    assert result.structured_content is not None
    findings: list[dict[str, Any]] = result.structured_content["findings"]
    return findings


async def test_a_nest_service_analysed_alone_carries_its_controllers_route(client: Client) -> None:
    findings = await _findings(client, "nest_wallet/src/wallet/wallet.service.ts")
    assert {(f["rule_id"], f["function"], f["route"], f["confidence"]) for f in findings} == {
        ("RC301", "WalletService.withdraw", "POST /wallet/:id/withdraw", "high")
    }


async def test_prisma_uniqueness_clears_the_signup_check(client: Client) -> None:
    findings = await _findings(client, "nest_wallet/src/users/users.service.ts")
    assert {(f["rule_id"], f["function"]) for f in findings} == {("RC303", "UsersService.subscribe")}


async def test_an_axum_handler_analysed_alone_carries_its_route(client: Client) -> None:
    findings = await _findings(client, "axum_wallet/src/handlers.rs")
    assert {(f["rule_id"], f["function"], f["route"]) for f in findings} == {
        ("RC102", "withdraw", "POST /wallet/withdraw")
    }
