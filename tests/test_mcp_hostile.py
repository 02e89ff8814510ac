"""Hostile paths and inputs through a real MCP client over stdio (issue 14 #8, issue 9 #1).

Every error is a tool error whose own text starts with a stable `[code]` (the SDK puts
`Error executing tool NAME: ` in front), never the bare "Error executing tool NAME" of a crash, and
the server answers afterwards.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult, TextContent

from race_mcp.config import Settings
from race_mcp.roots import AllowedRoots
from race_mcp.server import build_server
from tests._mcp_helpers import RACE_MCP, RACY_SOURCE, Workspace, make_workspace

pytestmark = pytest.mark.anyio

CODED = re.compile(r"^Error executing tool [a-z_]+: \[[a-z0-9]+(?:-[a-z0-9]+)*\] \S")

HOSTILE_PATHS = [
    "",
    "\x00",
    "racy.py\x00",
    "racy.py\x00.txt",
    "\x00/etc/passwd",
    "a" * 256,
    "a" * 255 + ".py",
    "x/" + "b" * 300 + "/y.py",
    "a/" * 2100,
    "/" + "a/" * 2100,
    "a" * 5000,
    "a" * 100_000,
    "~nosuchuser",
    "~nosuchuser/racy.py",
    "~nosuch\x00user",
    "~" + "u" * 300,
    "~/../../etc/passwd",
    "../" * 50 + "etc/passwd",
    "/etc/shadow",
    "/proc/self/environ",
    "/proc/self/mem",
    "/dev/zero",
    "/dev/urandom",
    "/dev/stdin",
    "/",
    ".",
    "..",
    "./../outside/secret.py",
    "escape.py",
    "mixed/escape.py",
    "missing.py",
    "binary.py",
    "broken.py",
    "racy.py/",
    "racy.py/..",
    "racy.py/../racy.py",
    "file:///etc/passwd",
    "http://127.0.0.1/x.py",
    "\\\\server\\share\\x.py",
    "C:\\Windows\\win.ini",
    "racy.py\n",
    "\nracy.py",
    "racy.py\r\n/etc/passwd",
    "\x1b]0;PWNED\x07.py",
    "\u202eyp.ycar",
    "ra\u200bcy.py",
    " racy.py",
    "//etc//passwd",
    "/./././etc/passwd",
    "%2e%2e/%2e%2e/etc/passwd",
    "shop/" + "../" * 30,
]


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    made = make_workspace(tmp_path_factory.mktemp("hostile"))
    (made.root / "openapi.yaml").write_text(
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /orders/{id}:\n    patch:\n"
        "      responses: {'200': {description: ok}}\n"
    )
    return made


@pytest.fixture(scope="module")
async def client(workspace: Workspace) -> AsyncIterator[Client]:
    params = StdioServerParameters(command=str(RACE_MCP), args=["serve"], cwd=str(workspace.root))
    async with Client(params, mode="legacy", read_timeout_seconds=60) as connected:
        yield connected


def text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("analyze_file", "path", {}),
    ("check_openapi", "spec", {}),
    ("check_openapi", "source", {"spec": "openapi.yaml"}),
    ("propose_patch", "path", {}),
]


@pytest.mark.parametrize(("tool", "argument", "others"), CALLS, ids=[f"{c[0]}-{c[1]}" for c in CALLS])
async def test_every_hostile_path_is_a_coded_error_or_a_result(
    client: Client, tool: str, argument: str, others: dict[str, Any]
) -> None:
    bare: list[str] = []
    for value in HOSTILE_PATHS:
        result = await client.call_tool(tool, others | {argument: value})
        text = text_of(result)
        if result.is_error and not CODED.match(text):
            bare.append(f"{value[:40]!r}: {text[:160]!r}")
        assert "Traceback" not in text
    assert bare == []
    alive = await client.call_tool("analyze_file", {"path": "racy.py"})
    assert not alive.is_error, text_of(alive)


async def test_os_level_path_failures_are_bad_path(client: Client) -> None:
    for value in ["racy.py\x00", "a" * 256, "a/" * 2100, "~nosuchuser/racy.py", ""]:
        result = await client.call_tool("analyze_file", {"path": value})
        assert result.is_error
        assert "[bad-path] `path` " in text_of(result), text_of(result)


async def test_errors_carry_only_the_hint_that_applies(client: Client) -> None:
    missing = text_of(await client.call_tool("analyze_file", {"path": "missing.py"}))
    assert "[not-found]" in missing and "parses" not in missing and "UTF-8" not in missing
    binary = text_of(await client.call_tool("analyze_file", {"path": "binary.py"}))
    assert "[binary-file]" in binary and "parses" not in binary
    broken = text_of(await client.call_tool("analyze_file", {"path": "broken.py"}))
    assert "[syntax-error]" in broken and "parses" in broken and "workspace roots" not in broken
    outside = text_of(await client.call_tool("analyze_file", {"path": "../outside/secret.py"}))
    assert "[outside-roots]" in outside and "workspace roots" in outside and "parses" not in outside


@pytest.mark.parametrize(
    "source",
    [
        "import asyncio\nfrom fastapi import FastAPI\napp = FastAPI()\nx = a" + " and a" * 8000,
        "x = " + "(" * 5000 + ")" * 5000,
        "x = " + "[" * 100_000,
        "def f():\n"
        + "".join("    " * depth + "if x:\n" for depth in range(1, 200))
        + "    " * 200
        + "pass\n",
        "x = 1\n" * 200_000,
    ],
    ids=["and-chain", "parens", "open-brackets", "deep-ifs", "many-lines"],
)
async def test_hostile_sources_end_cleanly_and_the_server_stays_up(client: Client, source: str) -> None:
    for tool in ("analyze_file", "propose_patch"):
        result = await client.call_tool(tool, {"source": source})
        if result.is_error:
            assert CODED.match(text_of(result)), text_of(result)[:300]
    assert not (await client.call_tool("analyze_file", {"source": RACY_SOURCE})).is_error


async def test_lone_surrogates_are_bad_path(workspace: Workspace) -> None:
    """JSON may carry `\\ud800`; the stdio client cannot encode it, so this one runs in-process."""
    server = build_server(roots=AllowedRoots([workspace.root]), settings=Settings())
    async with Client(server) as client:
        for value in ["\ud800", "racy\udfff.py"]:  # \udc80-\udcff are undecodable bytes: legal names
            result = await client.call_tool("analyze_file", {"path": value})
            assert result.is_error and "[bad-path] `path` " in text_of(result), text_of(result)
            assert "not valid Unicode" in text_of(result)
