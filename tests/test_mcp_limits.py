"""Limits on the tool work of `race-mcp serve` (issue 9 #5/#6, issue 14 #5): a stdio client's ping
answered and its cancel obeyed during a slow call, the per-call deadline, the queue bound and the
worker memory cap, each against a server of its own.

Split from test_mcp_load.py (whose helpers and workloads these tests use) so the two files, each
minutes of servers and heavy calls, run on two xdist workers side by side instead of one after the
other on one (scripts/test hands out whole files).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from tests._mcp_helpers import (
    RACE_MCP,
    RACY_SOURCE,
    Workspace,
    make_workspace,
    write_big_openapi,
    write_racy_shop,
)
from tests.test_mcp_http import http_server, server_env
from tests.test_mcp_load import (
    BIG_SPEC,
    BIG_SPEC_SHOPS,
    HEAVY_ARGUMENTS,
    HEAVY_GROUPS,
    HEAVY_MODULES,
    busy_worker,
    error_code,
    post_call,
    server_pid,
    wait_gone,
)

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    workspace = make_workspace(tmp_path_factory.mktemp("limits"))
    write_racy_shop(workspace.root / "heavy", HEAVY_MODULES, HEAVY_GROUPS)
    write_big_openapi(workspace.root / BIG_SPEC, BIG_SPEC_SHOPS)
    return workspace


async def test_stdio_pings_during_a_slow_call_and_cancel_stops_it(workspace: Workspace) -> None:
    params = StdioServerParameters(command=str(RACE_MCP), args=["serve"], cwd=str(workspace.root))
    async with Client(params, mode="legacy", read_timeout_seconds=120) as client:
        await client.call_tool("analyze_file", {"path": "racy.py"})
        async with anyio.create_task_group() as group:
            group.start_soon(client.call_tool, "analyze_file", HEAVY_ARGUMENTS)
            worker = await anyio.to_thread.run_sync(busy_worker, os.getpid())
            started = time.monotonic()
            await client.send_ping()
            assert time.monotonic() - started < 2.0
            group.cancel_scope.cancel()  # the SDK sends notifications/cancelled
        await anyio.to_thread.run_sync(wait_gone, worker, 3.0)
        assert not (await client.call_tool("analyze_file", {"source": RACY_SOURCE})).is_error


# ------------------------------------------------------------------ deadline, queue bound, memory


def test_deadline_memory_cap_and_queue_bound(workspace: Workspace, tmp_path: Path) -> None:
    """One worker, no queue, a 3 s deadline: the second caller is told `server-busy` at once; the
    heavy call (about 25 s of work) ends as `time-limit` long before it could have finished, its
    worker is killed and the next call gets a fresh one."""
    env = server_env(RACE_MCP_WORKERS="1", RACE_MCP_QUEUE="0", RACE_MCP_TOOL_TIMEOUT="3")
    with http_server(workspace, tmp_path / "limits.log", env=env) as url:
        post_call(url, "analyze_file", {"path": "racy.py"})
        # Found before the slow call: on a loaded machine the /proc scan takes seconds, and a watch
        # that starts after the 3 s deadline killed the worker finds only its idle replacement.
        pid_of_server = server_pid(url)
        outcome: list[dict[str, Any]] = []
        sent = time.monotonic()
        slow = threading.Thread(
            target=lambda: outcome.append(post_call(url, "analyze_file", HEAVY_ARGUMENTS))
        )
        slow.start()
        worker = busy_worker(pid_of_server)
        started = time.monotonic()
        busy = post_call(url, "analyze_file", {"path": "racy.py"})["result"]
        assert time.monotonic() - started < 2.0
        assert busy["isError"] and error_code("analyze_file", busy["content"][0]["text"]) == "server-busy"
        slow.join()
        answered_after = time.monotonic() - sent
        timed_out = outcome[0]["result"]
        assert timed_out["isError"], "the heavy call finished within 3 s: make `heavy/` bigger"
        assert error_code("analyze_file", timed_out["content"][0]["text"]) == "time-limit"
        assert answered_after < 15.0, f"the 3 s deadline answered after {answered_after:.1f} s"
        wait_gone(worker, 3.0)
        assert post_call(url, "analyze_file", {"path": "racy.py"})["result"]["isError"] is False


def test_memory_cap_is_a_clear_error(workspace: Workspace, tmp_path: Path) -> None:
    """A 300 MB address-space cap (a worker uses ~200 MB of it before any input) against a spec that
    needs ~640 MB: `[memory-limit]`, the worker retired, the server answering. The same spec checks
    fine under the default cap (test_mcp_load.py), so the error is the cap's, not a refusal of the
    input."""
    env = server_env(RACE_MCP_WORKER_MEMORY_MB="300")
    with http_server(workspace, tmp_path / "memory.log", env=env) as url:
        assert post_call(url, "analyze_file", {"path": "racy.py"})["result"]["isError"] is False
        result = post_call(url, "check_openapi", {"spec": BIG_SPEC})["result"]
        text = result["content"][0]["text"]
        assert result["isError"] and error_code("check_openapi", text) == "memory-limit", text
        assert post_call(url, "analyze_file", {"path": "racy.py"})["result"]["isError"] is False
