"""The demo steps after static analysis: the API contract, then bursts that prove the races.

Each burst scenario names the route it attacks, the request, and how success is judged; the step
starts the racy shop on loopback, runs every scenario against it and expects `race` from each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio

from ..burst import BurstPolicy, BurstResult, BurstSpec, run_burst
from ..errors import RaceMcpError
from ..openapi import OpenApiReport, check_openapi
from ._report import DemoStep, StepStatus
from ._server import RunningShop, serve_shop

if TYPE_CHECKING:
    from . import DemoContext

__all__ = ["BURST_SCENARIOS", "BurstScenario", "burst_all", "check_spec_step", "prove_races_step"]


def check_spec_step(context: DemoContext) -> DemoStep:
    """Step: the shop's OpenAPI document, linked to the racy code by route."""
    spec = context.demo_dir / "openapi.yaml"
    try:
        report = check_openapi(spec, settings=context.settings, source=context.demo_dir / "shop.py")
    except RaceMcpError as exc:
        return DemoStep(key="check-spec", title="OpenAPI contract", status="failed", summary=str(exc))
    both = [endpoint for endpoint in report.endpoints if endpoint.spec_findings and endpoint.code_findings]
    details = [
        f"{endpoint.operation}: the spec lacks "
        + ", ".join(sorted({f.rule_id for f in endpoint.spec_findings}))
        + " and the code has "
        + ", ".join(sorted({f.rule_id for f in endpoint.code_findings}))
        for endpoint in both
    ]
    rules = set(report.summary.by_rule)
    status: StepStatus = "passed" if both and {"RA101", "RA111"} <= rules else "failed"
    summary = (
        f"{_spec_count(report)} in openapi.yaml; {len(both)} endpoints where the contract and the code "
        "both leave the race open (ranked first)"
    )
    return DemoStep(
        key="check-spec", title="OpenAPI contract", status=status, summary=summary, details=details
    )


def _spec_count(report: OpenApiReport) -> str:
    spec_only = {rule: n for rule, n in report.summary.by_rule.items() if rule.startswith("RA")}
    total = sum(spec_only.values())
    return f"{total} spec findings (" + ", ".join(f"{r} x{n}" for r, n in sorted(spec_only.items())) + ")"


@dataclass(frozen=True)
class BurstScenario:
    """One race to prove: the route it lives on, and the burst that shows it."""

    route: str
    story: str
    spec: dict[str, Any]

    def for_shop(self, shop: RunningShop) -> BurstSpec:
        """The scenario aimed at a running shop, resetting it before every burst."""
        spec = dict(self.spec)
        spec["url"] = shop.base_url + spec["url"]
        spec["reset"] = {"url": f"{shop.base_url}/admin/reset"}
        if "probe" in spec:
            spec["probe"] = {**spec["probe"], "url": shop.base_url + spec["probe"]["url"]}
        return BurstSpec.model_validate(spec)


BURST_SCENARIOS: tuple[BurstScenario, ...] = (
    BurstScenario(
        route="POST /coupons/{code}/redeem",
        story="a single-use coupon redeemed by 10 requests at once",
        spec={
            "url": "/coupons/WELCOME10/redeem",
            "method": "POST",
            "json_body": {"account_id": 3},
            "requests": 10,
            "bursts": 2,
            "mode": "h1",
            "expected_max_successes": 1,
            "hold_ms": 20,
        },
    ),
    BurstScenario(
        route="POST /wallet/withdraw",
        story="10 withdrawals of 1.00 at once: every response is 200, the probe counts the balance",
        spec={
            "url": "/wallet/withdraw",
            "method": "POST",
            "json_body": {"account_id": 1, "amount_cents": 100},
            "requests": 10,
            "bursts": 2,
            "mode": "h1",
            "probe": {"url": "/accounts/1", "json_path": "$.balance_cents", "change_per_success": -100},
            "hold_ms": 20,
        },
    ),
    BurstScenario(
        route="POST /gift-cards/{code}/spend",
        story="a 50.00 gift card spent for 50.00 by 10 requests at once (in-process state)",
        spec={
            "url": "/gift-cards/GC-5000/spend",
            "method": "POST",
            "json_body": {"amount_cents": 5000},
            "requests": 10,
            "bursts": 2,
            "mode": "h1",
            "expected_max_successes": 1,
            "hold_ms": 20,
        },
    ),
)


async def burst_all(shop: RunningShop) -> list[tuple[BurstScenario, BurstResult | str]]:
    """Every scenario against `shop`, in order; a burst that could not run is its error message."""
    outcomes: list[tuple[BurstScenario, BurstResult | str]] = []
    for scenario in BURST_SCENARIOS:
        try:
            outcomes.append((scenario, await run_burst(scenario.for_shop(shop), policy=BurstPolicy())))
        except RaceMcpError as exc:
            outcomes.append((scenario, str(exc)))
    return outcomes


def tally_outcomes(
    outcomes: list[tuple[BurstScenario, BurstResult | str]], *, wanted: str, again: bool = False
) -> tuple[int, list[str]]:
    """How many bursts gave the `wanted` verdict, and one line per scenario for the report.

    `again` labels bursts re-run against the patched shop (the same burst as the proof's)."""
    count = 0
    details = []
    for scenario, result in outcomes:
        if isinstance(result, str):
            details.append(f"{scenario.route}: error: {result}")
            continue
        count += result.verdict == wanted
        story = f"the same burst: {scenario.story}" if again else scenario.story
        timing = f"{result.mode}, spread {result.spread_ms:.2f} ms"
        if not again:
            timing += f", hit rate {result.hit_rate:.0%}"
        details.append(f"{scenario.route}: {result.verdict} ({story}); {result.reason} [{timing}]")
    return count, details


def prove_races_step(context: DemoContext) -> DemoStep:
    """Step: start the racy shop on 127.0.0.1 and prove each race with a synchronized burst."""
    try:
        with serve_shop("shop", database_url=context.database) as shop:
            outcomes = anyio.run(burst_all, shop)
    except RaceMcpError as exc:
        return DemoStep(
            key="prove-races", title="Bursts against the racy shop", status="failed", summary=str(exc)
        )
    proven, details = tally_outcomes(outcomes, wanted="race")
    status: StepStatus = "passed" if proven == len(outcomes) else "failed"
    summary = f"{proven} of {len(outcomes)} races proven by a burst on 127.0.0.1"
    return DemoStep(
        key="prove-races",
        title="Bursts against the racy shop",
        status=status,
        summary=summary,
        details=details,
    )
