"""Every time cap holds on every path, the event loop keeps turning, and a cancelled run stops sending.

Issue 14 #4 and #5: `-X CONNECT` against a server answering 200 ran for 41 minutes with the event
loop frozen; a gone client's burst went on sending. The servers here are real sockets on
127.0.0.1: one that never answers, one that trickles a byte at a time, one that answers 200 and
then holds the connection open (what a tunnel looks like), and uvicorn / hypercorn serving a
slow endpoint that records each arrival.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import anyio
import httpx
import pytest

from race_mcp.burst import BurstPolicy, BurstSpec, run_burst
from race_mcp.errors import BurstError
from tests.burst_targets import RawServer, serve

pytestmark = pytest.mark.anyio

TRICKLED = b"HTTP/1.1 200 OK\r\ncontent-length: 40\r\n\r\n" + b"x" * 40
TUNNEL = b"HTTP/1.1 200 Connection established\r\n\r\n"  # no length: the body runs until close


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def spec(url: str, **changes: Any) -> BurstSpec:
    return BurstSpec.model_validate(
        {"url": url, "requests": 4, "expected_max_successes": 1, "hold_ms": 10} | changes
    )


@contextmanager
def misbehaving(kind: str) -> Iterator[RawServer]:
    if kind == "hang":
        server = RawServer("hang")
    elif kind == "trickle":
        server = RawServer("trickle", reply=TRICKLED, interval=0.4)
    else:
        server = RawServer("reply", reply=TUNNEL)
    with server:
        yield server


class LoopWatch:
    """Ticks every 20 ms on the event loop; `longest` is the longest the loop went without a turn."""

    def __init__(self) -> None:
        self.longest = 0.0

    async def run(self) -> None:
        last = time.monotonic()
        while True:
            await anyio.sleep(0.02)
            now = time.monotonic()
            self.longest = max(self.longest, now - last)
            last = now


async def timed_failure(url: str, mode: str, policy: BurstPolicy) -> tuple[BurstError, float, float]:
    """The run's error, how long it took, and the event loop's longest stall meanwhile.

    Also asserts that the loop's thread mostly slept: a wait that spins with `sleep(0)` keeps the
    loop turning (no stall) but burns the CPU, which the stall alone would not show.
    """
    watch = LoopWatch()
    async with anyio.create_task_group() as group:
        group.start_soon(watch.run)
        started, cpu_started = time.monotonic(), time.thread_time()
        with pytest.raises(BurstError) as caught:
            await run_burst(spec(url, mode=mode), policy=policy)
        elapsed, cpu = time.monotonic() - started, time.thread_time() - cpu_started
        group.cancel_scope.cancel()
    assert cpu < 0.4 * elapsed + 0.2, (cpu, elapsed)
    return caught.value, elapsed, watch.longest


# A wait that blocks the loop or spins without awaiting stalls it for the whole timeout (1 s or more);
# a loaded 2-core machine has been seen to deschedule the loop for about half a second.
STALL_LIMIT = 0.9


@pytest.mark.parametrize("mode", ["auto", "h1", "h2", "naive"])
@pytest.mark.parametrize("kind", ["hang", "trickle", "tunnel"])
async def test_the_total_time_cap_holds_on_every_path(kind: str, mode: str) -> None:
    # Every other wait is longer than the run may last: only the total cap can end it.
    policy = BurstPolicy(connect_timeout=60.0, response_timeout=60.0, max_total_seconds=2.0)
    with misbehaving(kind) as server:
        error, elapsed, stall = await timed_failure(server.url(), mode, policy)
    assert error.code in ("cap-time", "not-http2"), error
    assert elapsed < 3.5, elapsed
    assert stall < STALL_LIMIT, stall  # nothing blocked or spun the loop without awaiting


@pytest.mark.parametrize("mode", ["h1", "h2", "naive"])
@pytest.mark.parametrize("kind", ["hang", "trickle", "tunnel"])
async def test_the_response_timeout_holds_on_every_path(kind: str, mode: str) -> None:
    # httpx's timeouts are per read, so a trickle used to keep naive mode going for ever.
    policy = BurstPolicy(connect_timeout=1.0, response_timeout=1.0, max_total_seconds=60.0)
    with misbehaving(kind) as server:
        error, elapsed, stall = await timed_failure(server.url(), mode, policy)
    assert error.code in ("no-response", "not-http2", "protocol-garbage"), error
    assert elapsed < 4.5, elapsed
    assert stall < STALL_LIMIT, stall


# -- cancellation (issue 14 #5: a gone client's burst must stop) ---------------------------------


def arrivals(base_url: str) -> list[int]:
    answer = httpx.get(f"{base_url}/arrivals", timeout=10)
    values: list[int] = json.loads(answer.text)["arrivals_ns"]
    return values


@pytest.mark.parametrize(("server", "mode"), [("uvicorn", "h1"), ("hypercorn", "h2"), ("uvicorn", "naive")])
async def test_a_cancelled_run_sends_nothing_more_and_closes_its_sockets(server: str, mode: str) -> None:
    with serve(server) as served:
        slow = spec(
            served.url("/slow"), method="POST", requests=5, bursts=50, expected_max_successes=5, mode=mode
        )
        async with anyio.create_task_group() as group:
            group.start_soon(partial(run_burst, slow, policy=BurstPolicy(max_total_seconds=60.0)))
            await anyio.sleep(1.5)
            cancelled_ns = time.perf_counter_ns()  # CLOCK_MONOTONIC: the server process reads the same clock
            cancelled_at = time.monotonic()
            group.cancel_scope.cancel()
        assert time.monotonic() - cancelled_at < 0.5
        await anyio.sleep(1.5)  # a run still going would send several bursts of five meanwhile
        seen = await anyio.to_thread.run_sync(arrivals, served.url("").rstrip("/"))
    before = [arrival for arrival in seen if arrival <= cancelled_ns]
    # A request released just before the cancel may reach its handler a moment later.
    late = [(arrival - cancelled_ns) / 1e6 for arrival in seen if arrival > cancelled_ns + 200_000_000]
    assert len(before) >= 5, "the run had not started sending"
    assert late == [], f"requests arrived {late} ms after the cancel"
