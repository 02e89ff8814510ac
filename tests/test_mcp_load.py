"""Work must not outlive its caller nor stall others (issue 9 #5/#6, issue 14 #5).

The limits (deadline, queue bound, memory cap, stdio cancel) are in test_mcp_limits.py, each on a
server of its own: two files so xdist runs the two halves side by side.

Against the installed `race-mcp serve --http` on 127.0.0.1 (and stdio), with real SDK clients and
raw HTTP where a client must vanish without cancelling. Worker processes are found in /proc
(descendants of the server burning CPU), not through any hook in the server.

The heavy calls are legitimate work the analyzer must do in full, not hostile input: the analyzer
now refuses or quickly cuts down inputs like issue 9's 400 KB list literal (node caps, per-file
budgets, bulky literals skipped), which used to stand in for "slow". `heavy/` is 100 FastAPI router
modules of 40 racy handlers each (in-memory, SQL, Redis; 4,000 findings), about 25 s of one core
(measured: 25.6 s of worker CPU, 35 s wall on the shared 2-core machine); each file alone takes a
quarter of a second, far inside `max_file_seconds`. `shops.json` is a 17 MB OpenAPI spec of 18,000
operations, inside `max_spec_bytes` and the node budget, that checks fine with the default worker
memory (peak ~640 MB of address space) and needs far more than a 300 MB cap (a worker's own
address space is ~200 MB once it has analysed a file: the interpreter, the tool modules, the
analysis thread's 32 MB stack and its malloc arena).
"""

from __future__ import annotations

import http.server
import json
import os
import re
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client
from mcp.types import CallToolResult, TextContent

from tests._mcp_helpers import (
    RACY_SOURCE,
    SHOP_HANDLERS_PER_GROUP,
    Workspace,
    make_workspace,
    write_big_openapi,
    write_racy_shop,
)
from tests.test_mcp_http import INITIALIZE, MCP_HEADERS, http_server

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

HEAVY_MODULES, HEAVY_GROUPS = 100, 10  # 100 modules x 10 groups x 4 handlers; see the docstring
HEAVY_ARGUMENTS = {"path": "heavy"}
BIG_SPEC, BIG_SPEC_SHOPS = "shops.json", 1500  # 12 operations per shop


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    workspace = make_workspace(tmp_path_factory.mktemp("load"))
    write_racy_shop(workspace.root / "heavy", HEAVY_MODULES, HEAVY_GROUPS)
    write_big_openapi(workspace.root / BIG_SPEC, BIG_SPEC_SHOPS)
    return workspace


def text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


def error_code(tool: str, text: str) -> str | None:
    """The `[code]` a tool error starts with, after the SDK's "Error executing tool NAME: " prefix."""
    match = re.match(rf"(?:Error executing tool {tool}: )?\[([a-z0-9]+(?:-[a-z0-9]+)*)\] ", text)
    return match.group(1) if match else None


# ------------------------------------------------------------------------------ processes in /proc


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()  # fields from 3 on: state, ppid, ...


def descendants(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            parents[int(entry.name)] = int(fields[1])
    found, frontier = [], [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def cpu_ticks(pid: int) -> int:
    fields = _stat(pid)
    return int(fields[11]) + int(fields[12]) if fields else -1


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def workers(root: int) -> list[int]:
    """Worker processes under `root`: the children of a multiprocessing forkserver."""

    def forked_by_forkserver(pid: int) -> bool:
        fields = _stat(pid)
        try:
            return fields is not None and b"forkserver" in Path(f"/proc/{fields[1]}/cmdline").read_bytes()
        except OSError:
            return False

    return [pid for pid in descendants(root) if forked_by_forkserver(pid)]


def busy_worker(server_pid: int, timeout: float = 60.0) -> int:
    """The worker under the server that is burning CPU: the one running the slow call."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = {pid: cpu_ticks(pid) for pid in workers(server_pid)}
        time.sleep(0.5)
        grew = [(cpu_ticks(pid) - ticks, pid) for pid, ticks in before.items() if alive(pid)]
        # 3 ticks in 0.5 s: 6% of a core. An idle worker gains none; a working one on a machine
        # loaded tenfold (other processes on both cores) can get less than a fifth of a core.
        burning = [pid for gained, pid in sorted(grew, reverse=True) if gained >= 3]
        if burning:
            return burning[0]
    raise AssertionError("no worker process started working on the slow call")


def wait_gone(pid: int, timeout: float) -> float:
    started = time.monotonic()
    while alive(pid):
        if time.monotonic() - started > timeout:
            raise AssertionError(f"worker {pid} still running {timeout} s after its caller went away")
        time.sleep(0.05)
    return time.monotonic() - started


def server_pid(port_url: str) -> int:
    """The `race-mcp serve` process listening on the URL's port (from /proc/net/tcp)."""
    port = int(port_url.split(":")[2].split("/")[0])
    inodes = {
        line.split()[9]
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
        if int(line.split()[1].split(":")[1], 16) == port and line.split()[3] == "0A"
    }
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            links = {os.readlink(fd) for fd in (entry / "fd").iterdir()}
        except OSError:
            continue
        if any(f"socket:[{inode}]" in links for inode in inodes):
            return int(entry.name)
    raise AssertionError(f"no process listens on {port}")


# ------------------------------------------------------------------------------ raw HTTP sessions


def raw_session(url: str) -> tuple[httpx.Client, dict[str, str]]:
    """An initialized handshake-era session, for a client that can vanish without cancelling."""
    client = httpx.Client(timeout=60)
    answer = client.post(url, json=INITIALIZE, headers=MCP_HEADERS)
    assert answer.status_code == 200, answer.text
    headers = MCP_HEADERS | {
        "mcp-session-id": answer.headers["mcp-session-id"],
        "mcp-protocol-version": "2025-11-25",
    }
    client.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
    return client, headers


def call_then_vanish(url: str, name: str, arguments: dict[str, Any], after: float) -> float:
    """Send tools/call, drop the connection `after` seconds later (no cancel); return that moment."""
    client, headers = raw_session(url)
    call = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }
    with client.stream("POST", url, json=call, headers=headers) as response:
        assert response.status_code == 200
        time.sleep(after)
        gone_at = time.monotonic()
    client.close()
    return gone_at


@pytest.fixture(scope="module")
def server(workspace: Workspace) -> Iterator[str]:
    with http_server(workspace, workspace.root.parent / "load.log") as url:
        yield url


# ------------------------------------------------------------------------- (a) nobody waits behind


def test_the_heavy_workload_is_ordinary_work(server: str) -> None:
    """One module of `heavy/` analyses in well under a second of CPU with every handler found: the
    directory is slow only because it holds 100 of them, not because anything is refused or cut."""
    result = post_call(server, "analyze_file", {"path": "heavy/shop_042_routes.py"})["result"]
    assert result["isError"] is False, result["content"][0]["text"]
    findings = result["structuredContent"]["summary"]["findings"]
    assert findings == HEAVY_GROUPS * SHOP_HANDLERS_PER_GROUP, result["content"][0]["text"]
    assert not result["structuredContent"]["errors"]


async def test_a_slow_call_does_not_stall_other_clients(server: str) -> None:
    async with (
        Client(server, mode="legacy", read_timeout_seconds=120) as slow,
        Client(server, mode="legacy", read_timeout_seconds=30) as quick,
    ):
        await quick.call_tool("analyze_file", {"path": "racy.py"})  # both workers exist
        finished = anyio.Event()

        async def slow_call() -> None:
            await slow.call_tool("analyze_file", HEAVY_ARGUMENTS)
            finished.set()

        async with anyio.create_task_group() as group:
            group.start_soon(slow_call)
            await anyio.to_thread.run_sync(busy_worker, server_pid(server))
            for _ in range(3):
                started = time.monotonic()
                await quick.send_ping()
                result = await quick.call_tool("analyze_file", {"path": "racy.py"})
                waited = time.monotonic() - started
                assert not result.is_error, text_of(result)
                # The bug this guards against kept them waiting 18 s; under the suite's own load
                # (other workers' servers and bursts on the same two cores) they take up to ~2.5 s.
                assert waited < 5.0, f"ping + analyze_file took {waited:.1f} s behind the slow call"
            assert not finished.is_set(), "the heavy call finished: make `heavy/` bigger for this test"
            group.cancel_scope.cancel()


# --------------------------------------------------------------- (b) a caller that goes away stops


def test_a_client_that_disconnects_stops_its_analysis(server: str) -> None:
    pid_of_server = server_pid(server)
    worker: list[int] = []
    watcher = threading.Thread(target=lambda: worker.append(busy_worker(pid_of_server)))
    watcher.start()
    call_then_vanish(server, "analyze_file", HEAVY_ARGUMENTS, after=3.0)
    watcher.join()
    wait_gone(worker[0], timeout=3.0)
    assert alive(pid_of_server)
    assert post_call(server, "analyze_file", {"path": "racy.py"})["result"]["isError"] is False


async def test_a_cancelled_call_stops_its_analysis(server: str) -> None:
    """The SDK's own cancellation (the 2026-07-28 wire closes the request's stream)."""
    async with Client(server, mode="auto", read_timeout_seconds=120) as client:
        with anyio.move_on_after(30):
            async with anyio.create_task_group() as group:
                group.start_soon(client.call_tool, "analyze_file", HEAVY_ARGUMENTS)
                worker = await anyio.to_thread.run_sync(busy_worker, server_pid(server))
                group.cancel_scope.cancel()
        await anyio.to_thread.run_sync(wait_gone, worker, 3.0)
        assert not (await client.call_tool("analyze_file", {"path": "racy.py"})).is_error


def post_call(url: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    client, headers = raw_session(url)
    call = {
        "jsonrpc": "2.0",
        "id": 3,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }
    try:
        answer = client.post(url, json=call, headers=headers)
    finally:
        client.close()
    data = next(
        line[5:] for line in answer.text.splitlines() if line.startswith("data:") and '"id":3' in line
    )
    parsed: dict[str, Any] = json.loads(data)
    return parsed


def test_the_big_spec_checks_fine_under_the_default_cap(server: str) -> None:
    """The other half of test_mcp_limits.py's memory test: the spec a 300 MB worker cannot check
    checks fine under the default cap, so that error is the cap's, not a refusal of the input."""
    checked = post_call(server, "check_openapi", {"spec": BIG_SPEC})["result"]
    assert checked["isError"] is False, checked["content"][0]["text"]
    assert checked["structuredContent"]["spec"]["operations"] == 12 * BIG_SPEC_SHOPS


# ------------------------------------------------------------------------------- (c) under load


async def test_200_clients_times_5_calls(server: str) -> None:
    latencies: list[float] = []
    failures: list[str] = []

    async def one_client(number: int) -> None:
        try:
            async with Client(server, mode="legacy", read_timeout_seconds=120) as client:
                for call in range(5):
                    source = RACY_SOURCE.replace("redeem", f"redeem_{number}_{call}")
                    started = time.monotonic()
                    result = await client.call_tool("analyze_file", {"source": source})
                    latencies.append(time.monotonic() - started)
                    if (
                        result.is_error
                        or not result.structured_content
                        or not result.structured_content["findings"]
                    ):
                        failures.append(text_of(result)[:200])
        except Exception as exc:  # a connection error counts as a failure, not a crash of the test
            failures.append(f"{type(exc).__name__}: {exc}"[:200])

    started = time.monotonic()
    async with anyio.create_task_group() as group:
        for number in range(200):
            group.start_soon(one_client, number)
    elapsed = time.monotonic() - started
    latencies.sort()
    p50, p95 = statistics.median(latencies), latencies[int(len(latencies) * 0.95)]
    print(
        f"\n200 clients x 5 analyze_file: {len(latencies)} calls in {elapsed:.1f} s, "
        f"p50 {p50:.2f} s, p95 {p95:.2f} s"
    )
    assert failures == []
    assert len(latencies) == 1000


# ----------------------------------------------------- burst: a client that leaves stops the traffic


class CountingTarget(http.server.ThreadingHTTPServer):
    """Answers every request after 0.2 s and remembers when each arrived."""

    daemon_threads = True

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        super().__init__(("127.0.0.1", 0), _SlowHandler)


class _SlowHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.server.arrivals.append(time.monotonic())  # type: ignore[attr-defined]
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(0.2)
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_client_that_disconnects_stops_its_burst(server: str) -> None:
    target = CountingTarget()
    threading.Thread(target=target.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{target.server_address[1]}/redeem"
    spec = {"url": url, "method": "POST", "json_body": {"code": "X"}, "requests": 10, "bursts": 50}
    spec |= {"mode": "naive", "expected_max_successes": 1, "hold_ms": 0}
    try:
        gone_at = call_then_vanish(server, "run_burst", {"spec": spec}, after=3.0)
        time.sleep(5.0)
    finally:
        target.shutdown()
    before = [t for t in target.arrivals if t <= gone_at]
    after = [t for t in target.arrivals if t > gone_at + 0.5]
    assert len(before) >= 10, "the burst had not started: the test proves nothing"
    assert after == [], f"{len(after)} requests reached the target after the client disconnected"
