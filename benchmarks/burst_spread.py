"""Server-side arrival spread and detection rate: naive httpx vs last-byte sync vs single-packet.

One run serves the test app of `tests/burst_targets.py` with hypercorn (HTTP/1.1 and h2c on
one port, so every mode hits the same server) and, for N = 20 and 50 requests, sends at least
30 bursts per mode at `POST /coupon/racy`. The app stamps `perf_counter_ns()` when each
handler starts (Kettle's "start of execution"); a burst's spread is max - min of those stamps.
The race window is one `await asyncio.sleep(0)`; detection is the share of bursts whose
verdict is `race` (more than one coupon redeemed).

    .venv/bin/python benchmarks/burst_spread.py [--bursts 30]

Loopback has no network jitter, so the figures measure client-side serialisation and the
server's read/dispatch pattern only.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from race_mcp.burst import AuxRequest, BurstSpec, run_burst
from tests.burst_targets import Served, serve

MODES = (
    ("naive", "naive httpx + task group"),
    ("h1", "HTTP/1.1 last-byte sync"),
    ("h2", "HTTP/2 single-packet"),
)


@dataclass
class Row:
    mode: str
    requests: int
    spreads_ms: list[float]
    hits: int

    @property
    def median(self) -> float:
        return statistics.median(self.spreads_ms)

    @property
    def p90(self) -> float:
        return statistics.quantiles(self.spreads_ms, n=10)[-1]

    @property
    def detection(self) -> float:
        return self.hits / len(self.spreads_ms)


async def measure(served: Served, mode: str, requests: int, bursts: int) -> Row:
    spec = BurstSpec(
        url=served.url("/coupon/racy"),
        method="POST",
        json_body={"code": "WELCOME10"},
        requests=requests,
        mode=mode,  # type: ignore[arg-type]
        expected_max_successes=1,
        reset=AuxRequest(url=served.url("/reset")),
    )
    row = Row(mode, requests, [], 0)
    async with httpx.AsyncClient() as client:
        for _ in range(bursts):
            result = await run_burst(spec)
            arrivals = (await client.get(served.url("/arrivals"))).json()["arrivals_ns"]
            assert len(arrivals) == requests, (mode, len(arrivals))
            row.spreads_ms.append((max(arrivals) - min(arrivals)) / 1e6)
            row.hits += result.verdict == "race"
    return row


async def main(bursts: int) -> None:
    rows: list[Row] = []
    with serve("hypercorn") as served:
        for requests in (20, 50):
            for mode, _ in MODES:
                rows.append(await measure(served, mode, requests, bursts))
                print(f"  measured {mode} N={requests}", file=sys.stderr)
    labels = dict(MODES)
    print(
        f"\nServer-side arrival spread, {bursts} bursts each, hypercorn on 127.0.0.1, one-await race window\n"
    )
    print("| N | method | median spread (ms) | p90 (ms) | vs naive | detection |")
    print("|---|---|---|---|---|---|")
    for requests in (20, 50):
        naive = next(row for row in rows if row.requests == requests and row.mode == "naive")
        for row in (row for row in rows if row.requests == requests):
            ratio = row.median / naive.median if naive.median else float("nan")
            print(
                f"| {requests} | {labels[row.mode]} | {row.median:.3f} | {row.p90:.3f} | "
                f"{ratio:.3f}x | {row.detection:.0%} ({row.hits}/{len(row.spreads_ms)}) |"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bursts", type=int, default=30, help="bursts per mode and N (at least 30)")
    anyio.run(main, max(30, parser.parse_args().bursts))
