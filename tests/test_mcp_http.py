"""`race-mcp serve --http` as a real subprocess on a free loopback port.

Covers the SDK client over streamable HTTP, the DNS-rebinding checks (Host 421, Origin 403), the
refusal to bind a non-loopback address without a token, and bearer-token authentication.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import ListRootsResult, Root

from tests._mcp_helpers import (
    RACE_MCP,
    RACY_ROUTE,
    Workspace,
    free_port,
    make_workspace,
    stop,
    wait_for_port,
)

TOKEN = "s3cret-token-for-tests"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "raw-httpx", "version": "0"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def server_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "RACE_MCP_TOKEN"}
    return env | extra


@contextmanager
def http_server(
    workspace: Workspace, log: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[str]:
    """Run `race-mcp serve --http` on a free port; yield the MCP endpoint URL."""
    port = free_port()
    command = [str(RACE_MCP), "serve", "--http", "--port", str(port), *args]
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            command, cwd=workspace.root, stdout=subprocess.DEVNULL, stderr=stderr, env=env or server_env()
        )
    try:
        wait_for_port(port, process, log)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        stop(process)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return make_workspace(tmp_path_factory.mktemp("http"))


@pytest.fixture(scope="module")
def open_server(workspace: Workspace) -> Iterator[str]:
    with http_server(workspace, workspace.root.parent / "open.log") as url:
        yield url


@pytest.fixture(scope="module")
def token_server(workspace: Workspace) -> Iterator[str]:
    with http_server(workspace, workspace.root.parent / "token.log", "--token", TOKEN) as url:
        yield url


def post_initialize(url: str, **headers: str) -> httpx.Response:
    return httpx.post(url, json=INITIALIZE, headers=MCP_HEADERS | headers, timeout=10)


# ------------------------------------------------------------------------------------ the client


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_sdk_client_analyzes_over_http(open_server: str, workspace: Workspace, mode: str) -> None:
    async def list_roots(context: Any) -> ListRootsResult:
        return ListRootsResult(roots=[Root(uri=workspace.outside.as_uri())])

    async with Client(
        open_server, mode=mode, list_roots_callback=list_roots, read_timeout_seconds=30
    ) as client:
        tools = (await client.list_tools()).tools
        assert [tool.name for tool in tools] == [
            "analyze_file",
            "check_openapi",
            "propose_patch",
            "run_burst",
        ]

        result = await client.call_tool("analyze_file", {"path": "racy.py"})
        assert not result.is_error
        assert result.structured_content is not None
        findings = result.structured_content["findings"]
        assert [(f["rule_id"], f["route"]) for f in findings] == [("RC101", RACY_ROUTE)]

        # Over HTTP any caller could list `file:///` as a root: client roots never widen access.
        refused = await client.call_tool("analyze_file", {"path": str(workspace.outside / "secret.py")})
        assert refused.is_error
        assert "outside the allowed roots" in getattr(refused.content[0], "text", "")
        rule = await client.read_resource("race://rules/RC102")
        assert "RC102" in getattr(rule.contents[0], "text", "")


# ---------------------------------------------------------------------------- DNS rebinding checks


def test_plain_initialize_is_accepted(open_server: str) -> None:
    assert post_initialize(open_server).status_code == 200


def test_forged_host_header_is_refused(open_server: str) -> None:
    port = open_server.split(":")[2].split("/")[0]
    response = post_initialize(open_server, Host=f"evil.example:{port}")
    assert response.status_code == 421


def test_forged_origin_is_refused(open_server: str) -> None:
    response = post_initialize(open_server, Origin="http://evil.example")
    assert response.status_code == 403


def test_loopback_origin_is_accepted(open_server: str) -> None:
    assert post_initialize(open_server, Origin="http://localhost:3000").status_code == 200


# ------------------------------------------------------------------------------ binding and tokens


def run_to_exit(
    args: Sequence[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(RACE_MCP), *args],
        cwd=cwd,
        env=env or server_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "example.com"])
def test_non_loopback_bind_without_token_refuses_to_start(workspace: Workspace, host: str) -> None:
    done = run_to_exit(["serve", "--http", "--host", host, "--port", str(free_port())], workspace.root)

    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(
        "race-mcp: error[token-required]: refusing to serve HTTP on non-loopback host"
    )
    assert "--token" in done.stderr and "RACE_MCP_TOKEN" in done.stderr


def test_busy_port_is_a_one_line_error(workspace: Workspace, open_server: str) -> None:
    port = open_server.split(":")[2].split("/")[0]
    done = run_to_exit(["serve", "--http", "--port", port], workspace.root)

    assert done.returncode == 2
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .startswith(f"race-mcp: error[cannot-listen]: cannot listen on 127.0.0.1:{port}")
    )
    assert "Traceback" not in done.stderr


def test_missing_root_is_a_one_line_error(workspace: Workspace) -> None:
    done = run_to_exit(["serve", "--root", "no-such-dir"], workspace.root)

    assert done.returncode == 2
    assert (
        done.stderr.strip().splitlines()[-1]
        == "race-mcp: error[not-found]: --root no-such-dir: no such directory"
    )


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": f"Basic {TOKEN}"}],
    ids=["none", "wrong", "no-scheme", "basic"],
)
def test_requests_without_the_right_bearer_token_get_401(token_server: str, headers: dict[str, str]) -> None:
    response = post_initialize(token_server, **headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_right_bearer_token_is_accepted(token_server: str) -> None:
    assert post_initialize(token_server, Authorization=f"Bearer {TOKEN}").status_code == 200
    # The auth check sits in front of the Host/Origin checks, not instead of them.
    forged = post_initialize(token_server, Authorization=f"Bearer {TOKEN}", Origin="http://evil.example")
    assert forged.status_code == 403


@pytest.mark.anyio
async def test_sdk_client_with_bearer_token(token_server: str) -> None:
    http_client = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    async with http_client, Client(streamable_http_client(token_server, http_client=http_client)) as client:
        result = await client.call_tool("analyze_file", {"path": "racy.py"})
        assert not result.is_error
        assert result.structured_content is not None
        assert [f["rule_id"] for f in result.structured_content["findings"]] == ["RC101"]


def test_token_from_the_environment(workspace: Workspace, tmp_path: Path) -> None:
    env = server_env(RACE_MCP_TOKEN=TOKEN)
    with http_server(workspace, tmp_path / "env-token.log", env=env) as url:
        assert post_initialize(url).status_code == 401
        assert post_initialize(url, Authorization=f"Bearer {TOKEN}").status_code == 200


# ------------------------------------------------------------- Host and Origin compared exactly


@pytest.mark.parametrize(
    "origin",
    [
        "http://localhost:{port}.evil.com",
        "http://localhost.evil.com",
        "http://localhost:3000.evil.com:3000",
        "http://127.0.0.1.evil.com",
        "http://127.0.0.1:{port}@evil.com",
        "http://localhost@evil.com",
        "http://evil.com@localhost",
        "http://user:pass@localhost:{port}",
        "http://localhost:{port}/path",
        "http://localhost:{port}#@evil.com",
        "null",
        "file://localhost",
        "ftp://localhost",
        "http://localhost:99999",
        "http://localhost:-1",
        "http://[::1].evil.com",
        "http://[::1]evil.com",
        "http://[::ffff:127.0.0.1]",
        "http://::1",
        "http://0x7f000001",
        "http://2130706433",
        "http://localhost.",
        "http://lo%63alhost",
        "http://localhost\\@evil.com",
        "HTTP://LOCALHOST:3000",  # browsers send origins lowercase: any other spelling is not one
        "http://[0:0:0:0:0:0:0:1]:8080",
        "",
    ],
)
def test_lookalike_origins_are_refused(open_server: str, origin: str) -> None:
    port = open_server.split(":")[2].split("/")[0]
    assert post_initialize(open_server, Origin=origin.format(port=port)).status_code == 403


@pytest.mark.parametrize(
    "origin",
    [
        "http://localhost:{port}",
        "http://127.0.0.1:{port}",
        "https://localhost",
        "http://[::1]:{port}",
    ],
)
def test_loopback_origins_in_any_spelling_are_accepted(open_server: str, origin: str) -> None:
    port = open_server.split(":")[2].split("/")[0]
    assert post_initialize(open_server, Origin=origin.format(port=port)).status_code == 200


@pytest.mark.parametrize(
    "host",
    [
        "localhost:{port}.evil.com",
        "127.0.0.1.evil.com:{port}",
        "evil.com@127.0.0.1:{port}",
        "127.0.0.1:{port}/x",
        "127.0.0.1:99999",
        "[::1]evil:{port}",
        "LOCALHOST:{port}",
        "",
    ],
)
def test_lookalike_hosts_are_refused(open_server: str, host: str) -> None:
    port = open_server.split(":")[2].split("/")[0]
    assert post_initialize(open_server, Host=host.format(port=port)).status_code == 421


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "localhost", "[::1]:{port}"])
def test_loopback_hosts_are_accepted(open_server: str, host: str) -> None:
    port = open_server.split(":")[2].split("/")[0]
    assert post_initialize(open_server, Host=host.format(port=port)).status_code == 200
