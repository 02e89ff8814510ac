"""`run_burst`: check the policy, pick the transport, send K bursts, judge them.

Order of one run: validate the spec against the policy caps, resolve and pin every target
(nothing is sent to a host that fails the allowlist), choose the mode, optionally run the
sequential baseline, then for each burst: reset, probe, burst, probe. All of it runs under one
wall-clock cap; cancelling the calling task stops it at once and closes every socket.
"""

from __future__ import annotations

import re
import ssl
import statistics
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import anyio

from ..errors import BurstError, InputError, PolicyError
from ._exchange import Exchange, PreparedRequest, SendReport
from ._h1 import send_h1
from ._h2 import detect_h2, send_h2
from ._json import loads_response
from ._judge import (
    Oracle,
    ProbeReading,
    cluster_keys,
    cluster_responses,
    decide,
    judge_trial,
    parse_json_path,
    read_json_path,
    status_counts,
)
from ._models import BaselineRun, BurstResult, BurstSpec, BurstTrial, SentMode
from ._naive import send_naive
from ._policy import BurstPolicy, Target, check_url, resolve_target
from ._requests import RequestTemplate, aux_template, burst_template
from ._wire import pin_reachable

__all__ = ["ProgressCallback", "run_burst"]

ProgressCallback = Callable[[float, float | None, str | None], Awaitable[None]]
"""Called as `progress(done, total, message)`; matches the MCP context's `report_progress`."""


class _Sender(Protocol):
    async def __call__(
        self,
        target: Target,
        requests: Sequence[PreparedRequest],
        *,
        hold: float,
        policy: BurstPolicy,
        ssl_context: ssl.SSLContext | None,
    ) -> SendReport: ...


_SENDERS: dict[SentMode, _Sender] = {
    "h2-single-packet": send_h2,
    "h1-last-byte": send_h1,
    "naive": send_naive,
}
_ALPN: dict[SentMode, tuple[str, ...]] = {
    "h2-single-packet": ("h2",),
    "h1-last-byte": ("http/1.1",),
    "naive": (),
}
_FORCED: dict[str, SentMode] = {"h2": "h2-single-packet", "h1": "h1-last-byte", "naive": "naive"}
_SERVER_TIMING = re.compile(r"dur=([0-9]{1,9}(?:\.[0-9]{1,9})?)")
_MAX_EVIDENCE = 12
# Request lines and headers, once placeholders are filled in.
_MAX_HEAD_BYTES = 64 * 1024
# Every request of a burst is rendered and held at once; this bounds the memory that takes.
_MAX_BURST_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class _Probe:
    target: Target
    template: RequestTemplate
    path: str
    steps: tuple[str | int, ...]
    change_per_success: float


@dataclass(frozen=True)
class _Plan:
    """Everything checked and resolved before the first packet."""

    spec: BurstSpec
    policy: BurstPolicy
    target: Target
    template: RequestTemplate
    oracle: Oracle
    reset: tuple[Target, RequestTemplate] | None
    probe: _Probe | None


def _check_caps(spec: BurstSpec, policy: BurstPolicy) -> None:
    if spec.requests > policy.max_requests:
        raise PolicyError(
            f"{spec.requests} requests per burst is over the cap of {policy.max_requests} "
            "(the user can raise [tool.race-mcp.burst] max_requests)",
            code="cap-requests",
        )
    if spec.bursts > policy.max_bursts:
        raise PolicyError(
            f"{spec.bursts} bursts is over the cap of {policy.max_bursts} "
            "(the user can raise [tool.race-mcp.burst] max_bursts)",
            code="cap-bursts",
        )
    if spec.expected_max_successes is None and not spec.baseline and spec.probe is None:
        raise InputError(
            "say how to judge the burst: give expected_max_successes (e.g. 1 for a single-use coupon), "
            "turn on the sequential baseline, or add a state probe",
            code="no-judgement",
        )


def _check_sizes(name: str, template: RequestTemplate, count: int, policy: BurstPolicy) -> None:
    """Caps on what is sent: the last copy is the largest (`{{i}}` has the most digits there)."""
    body = template.body_bytes(count - 1)
    if body > policy.max_body_bytes:
        raise PolicyError(
            f"the {name} body is {body:,} bytes with its placeholders filled in, over the "
            f"{policy.max_body_bytes:,}-byte cap (the user can raise [tool.race-mcp.burst] max_body_bytes)",
            code="cap-body",
        )
    head = template.head_bytes(count - 1)
    if head > _MAX_HEAD_BYTES:
        raise PolicyError(
            f"the {name} URL and headers are {head:,} bytes with their placeholders filled in, "
            f"over the {_MAX_HEAD_BYTES:,}-byte cap",
            code="cap-headers",
        )
    total = count * (body + head)
    if total > max(_MAX_BURST_BYTES, policy.max_body_bytes + _MAX_HEAD_BYTES):
        raise PolicyError(
            f"{count} requests of {body + head:,} bytes make {total:,} bytes per burst, over the "
            f"{_MAX_BURST_BYTES:,}-byte cap on one burst: send fewer requests or a smaller body",
            code="cap-burst-bytes",
        )


async def _plan(spec: BurstSpec, policy: BurstPolicy) -> _Plan:
    _check_caps(spec, policy)
    for url in (spec.url, spec.reset.url if spec.reset else None, spec.probe.url if spec.probe else None):
        if url is not None:
            check_url(url)
    oracle = Oracle(spec.success)
    template = burst_template(
        url=spec.url,
        method=spec.method,
        headers=spec.headers,
        cookies=spec.cookies,
        body=spec.body,
        json_body=spec.json_body,
        form=spec.form,
        raw_request=spec.raw_request,
    )
    _check_sizes("request", template, spec.requests, policy)
    reset_template = None
    if spec.reset is not None:
        reset_template = aux_template(
            url=spec.reset.url,
            method=spec.reset.method,
            body=spec.reset.body,
            json_body=spec.reset.json_body,
            base=template,
        )
        _check_sizes("reset", reset_template, 1, policy)
    steps = parse_json_path(spec.probe.json_path) if spec.probe is not None else ()
    # Every host is resolved and checked before the first connection to any of them.
    resolved = await resolve_target(spec.url, policy)
    reset_resolved = await resolve_target(spec.reset.url, policy) if spec.reset is not None else None
    probe_resolved = await resolve_target(spec.probe.url, policy) if spec.probe is not None else None
    target = await pin_reachable(resolved, policy.connect_timeout)
    reset = None
    if reset_resolved is not None and reset_template is not None:
        reset = (await pin_reachable(reset_resolved, policy.connect_timeout), reset_template)
    probe = None
    if spec.probe is not None and probe_resolved is not None:
        probe = _Probe(
            target=await pin_reachable(probe_resolved, policy.connect_timeout),
            template=aux_template(url=spec.probe.url, method="GET", body=None, json_body=None, base=template),
            path=spec.probe.json_path,
            steps=steps,
            change_per_success=spec.probe.change_per_success,
        )
    return _Plan(spec, policy, target, template, oracle, reset, probe)


async def _choose_mode(plan: _Plan) -> SentMode:
    if plan.spec.mode != "auto":
        return _FORCED[plan.spec.mode]
    context = None
    if plan.target.tls:
        context = plan.policy.ssl_context(verify=plan.spec.verify_tls, alpn=("h2", "http/1.1"))
    speaks_h2 = await detect_h2(plan.target, plan.policy, context)
    return "h2-single-packet" if speaks_h2 else "h1-last-byte"


def _describe(exchange: Exchange) -> str:
    if exchange.error:
        return exchange.error
    body = bytes(exchange.body[:120]).decode("utf-8", "replace")
    return f"HTTP {exchange.status}: {body}"


class _Transport:
    """The chosen mode with its TLS contexts: sends bursts and single helper requests."""

    def __init__(self, plan: _Plan, mode: SentMode) -> None:
        self.plan = plan
        self.mode = mode
        verify = plan.spec.verify_tls
        self._tls_h1 = plan.policy.ssl_context(verify=verify, alpn=_ALPN["h1-last-byte"])
        self._tls_mode = plan.policy.ssl_context(verify=verify, alpn=_ALPN[mode])

    async def burst(self, requests: Sequence[PreparedRequest]) -> SendReport:
        target = self.plan.target
        return await _SENDERS[self.mode](
            target,
            requests,
            hold=self.plan.spec.hold_ms / 1000,
            policy=self.plan.policy,
            ssl_context=self._tls_mode if target.tls else None,
        )

    async def one(self, target: Target, request: PreparedRequest) -> Exchange:
        """One request sent whole: in the burst's HTTP/2 on its own origin, else over HTTP/1.1."""
        if target.origin == self.plan.target.origin and self.mode == "h2-single-packet":
            sender, context = send_h2, self._tls_mode
        else:
            sender, context = send_h1, self._tls_h1
        report = await sender(
            target, [request], hold=0, policy=self.plan.policy, ssl_context=context if target.tls else None
        )
        return report.exchanges[0]

    async def reset(self) -> None:
        if self.plan.reset is None:
            return
        target, template = self.plan.reset
        exchange = await self.one(target, template.render(0))
        if not exchange.ok or exchange.status is None or exchange.status >= 400:
            raise BurstError(f"the reset request failed: {_describe(exchange)}", code="reset-failed")

    async def read_probe(self) -> float | None:
        probe = self.plan.probe
        if probe is None:
            return None
        exchange = await self.one(probe.target, probe.template.render(0))
        if not exchange.ok or exchange.status is None or exchange.status >= 400:
            raise BurstError(f"the state probe failed: {_describe(exchange)}", code="probe-failed")
        parsed, document = loads_response(bytes(exchange.body))
        found, value = read_json_path(document, probe.steps) if parsed else (False, None)
        if not found or isinstance(value, bool) or not isinstance(value, int | float):
            raise BurstError(
                f"the state probe's JSON path {probe.path!r} does not lead to a number in "
                f"{_describe(exchange)!r}",
                code="probe-failed",
            )
        return float(value)


@dataclass
class _Progress:
    callback: ProgressCallback | None
    total: int
    done: int = 0

    async def step(self, message: str) -> None:
        self.done += 1
        if self.callback is not None:
            await self.callback(float(self.done), float(self.total), message)


@dataclass
class _Record:
    """What a run has gathered so far (kept when the time cap cuts it short)."""

    mode: SentMode | None = None
    baseline: list[Exchange] | None = None
    limit: int | None = None
    trials: list[BurstTrial] | None = None
    reports: list[SendReport] | None = None
    probes: list[ProbeReading | None] | None = None


async def _baseline(transport: _Transport, plan: _Plan) -> list[Exchange]:
    """The burst's requests one at a time, after a reset: what success normally looks like."""
    await transport.reset()
    return [
        await transport.one(plan.target, plan.template.render(index)) for index in range(plan.spec.requests)
    ]


async def _one_burst(
    transport: _Transport, plan: _Plan, index: int
) -> tuple[SendReport, ProbeReading | None]:
    await transport.reset()
    before = await transport.read_probe()
    report = await transport.burst([plan.template.render(i) for i in range(plan.spec.requests)])
    if not any(exchange.ok for exchange in report.exchanges):
        first = report.exchanges[0]
        raise BurstError(
            f"burst {index}: no request got a valid response: {first.error}",
            code=first.error_code or "no-response",
        )
    after = await transport.read_probe()
    if plan.probe is None or before is None or after is None:
        return report, None
    return report, ProbeReading(before, after, plan.probe.change_per_success)


async def _execute(plan: _Plan, progress: _Progress, record: _Record) -> None:
    record.mode = await _choose_mode(plan)
    transport = _Transport(plan, record.mode)
    record.limit = plan.spec.expected_max_successes
    if plan.spec.baseline:
        record.baseline = await _baseline(transport, plan)
        successes = sum(plan.oracle.succeeded(exchange) for exchange in record.baseline)
        if record.limit is None:
            record.limit = successes
        await progress.step(f"baseline: {successes} of {plan.spec.requests} succeeded one at a time")
    record.trials, record.reports, record.probes = [], [], []
    for index in range(1, plan.spec.bursts + 1):
        report, probe = await _one_burst(transport, plan, index)
        trial = judge_trial(index, report, plan.oracle, record.limit, probe)
        record.trials.append(trial)
        record.reports.append(report)
        record.probes.append(probe)
        hits = sum(trial.race for trial in record.trials)
        await progress.step(
            f"burst {index}/{plan.spec.bursts}: {trial.successes} successes; race in {hits} so far"
        )


def _deviations(reports: Sequence[SendReport], baseline: Sequence[Exchange], oracle: Oracle) -> list[str]:
    """Kinds of response the burst produced that the sequential baseline never did."""
    known = cluster_keys([exchange for exchange in baseline if exchange.ok])
    fresh = [
        exchange
        for report in reports
        for exchange in report.exchanges
        if exchange.ok and next(iter(cluster_keys([exchange]))) not in known
    ]
    return [
        f"{cluster.count}x new HTTP {cluster.status}: {cluster.sample}"
        for cluster in cluster_responses(fresh, oracle)
    ]


def _server_timing(reports: Sequence[SendReport]) -> str | None:
    durations = [
        float(match)
        for report in reports
        for exchange in report.exchanges
        for match in _SERVER_TIMING.findall(exchange.header("server-timing") or "")
    ]
    if not durations:
        return None
    return f"server timing: the responses report {min(durations):g}-{max(durations):g} ms of processing"


def _summary_evidence(plan: _Plan, record: _Record, exchanges: Sequence[Exchange]) -> list[str]:
    assert record.trials is not None and record.reports is not None
    spreads = [trial.send_spread_ms for trial in record.trials]
    responses = [trial.response_spread_ms for trial in record.trials if trial.response_spread_ms is not None]
    connections = record.reports[0].connections
    lines = [
        f"release spread: median {statistics.median(spreads):.3f} ms, max {max(spreads):.3f} ms over "
        f"{len(spreads)} burst(s) of {plan.spec.requests} on {connections} connection(s)"
        + (f"; responses within a median {statistics.median(responses):.3f} ms" if responses else "")
    ]
    clusters = cluster_responses(exchanges, plan.oracle)
    lines.append(
        "responses: "
        + "; ".join(
            f"{cluster.count}x {cluster.status or 'no response'}"
            f"{' (success)' if cluster.success else ''}: {cluster.sample[:100]}"
            for cluster in clusters[:4]
        )
    )
    if record.baseline is not None:
        successes = sum(plan.oracle.succeeded(exchange) for exchange in record.baseline)
        lines.append(
            f"sequential baseline: {successes} of {len(record.baseline)} succeeded one at a time; "
            f"statuses {status_counts(record.baseline)}"
        )
    for trial in record.trials:
        if plan.probe is not None and not trial.race and trial.probe_before is not None:
            lines.append(
                f"probe {plan.probe.path}: {trial.probe_before:g} → {trial.probe_after:g} with "
                f"{trial.successes} successes (consistent) in burst {trial.index}"
            )
            break
    timing = _server_timing(record.reports)
    if timing:
        lines.append(timing)
    problems = [f"burst {trial.index}: {trial.problem}" for trial in record.trials if trial.problem]
    return lines + problems[:2]


def _result(plan: _Plan, record: _Record, note: str | None) -> BurstResult:
    assert record.mode is not None and record.trials and record.reports is not None
    assert record.probes is not None
    exchanges = [exchange for report in record.reports for exchange in report.exchanges]
    deviations = _deviations(record.reports, record.baseline, plan.oracle) if record.baseline else []
    decision = decide(
        record.trials,
        requests=plan.spec.requests,
        limit=record.limit,
        probes=record.probes,
        deviations=deviations,
        none_may_succeed=plan.spec.expected_max_successes == 0,
    )
    counts: Counter[str] = Counter()
    for trial in record.trials:
        counts.update(trial.status_counts)
    evidence = [*decision.evidence, *_summary_evidence(plan, record, exchanges), *deviations[:2]]
    if note:
        evidence.insert(0, note)
    baseline = None
    if record.baseline is not None:
        baseline = BaselineRun(
            successes=sum(plan.oracle.succeeded(exchange) for exchange in record.baseline),
            status_counts=status_counts(record.baseline),
            clusters=cluster_responses(record.baseline, plan.oracle),
        )
    hits = sum(trial.race for trial in record.trials)
    return BurstResult(
        verdict=decision.verdict,
        mode=record.mode,
        requests=plan.spec.requests,
        bursts=len(record.trials),
        successes=max(trial.successes for trial in record.trials),
        expected_max_successes=record.limit,
        status_counts=dict(sorted(counts.items())),
        spread_ms=round(statistics.median(trial.send_spread_ms for trial in record.trials), 4),
        hit_rate=round(hits / len(record.trials), 4),
        evidence=evidence[:_MAX_EVIDENCE],
        reason=decision.reason + (f" ({note})" if note else ""),
        url=plan.spec.url,
        connections=record.reports[0].connections,
        trials=record.trials,
        clusters=cluster_responses(exchanges, plan.oracle),
        baseline=baseline,
    )


async def run_burst(
    spec: BurstSpec, *, policy: BurstPolicy | None = None, progress: ProgressCallback | None = None
) -> BurstResult:
    """Send `spec.bursts` synchronised bursts and judge whether they exposed a race.

    Raises `InputError` for a spec that cannot be used, `PolicyError` for a refused target or a
    cap exceeded (before any packet is sent), and `BurstError` when nothing usable came back.
    Cancelling the calling task stops the run promptly and closes every connection.
    """
    policy = policy or BurstPolicy()
    record = _Record()
    plan: _Plan | None = None
    tracker = _Progress(progress, spec.bursts + (1 if spec.baseline else 0))
    # One wall clock for everything, resolving and connecting included: every wait in the
    # engine is an await (or a bounded regex match), so the cap holds on every path.
    with anyio.move_on_after(policy.max_total_seconds) as scope:
        plan = await _plan(spec, policy)
        await _execute(plan, tracker, record)
    note = None
    if scope.cancelled_caught:
        if plan is None or not record.trials:
            where = plan.target.label if plan is not None else spec.url[:200]
            raise BurstError(
                f"{where}: no burst finished within the {policy.max_total_seconds:g} s time cap",
                code="cap-time",
            )
        note = (
            f"stopped at the {policy.max_total_seconds:g} s time cap after "
            f"{len(record.trials)} of {spec.bursts} bursts"
        )
    assert plan is not None  # the scope ran to its end, or it stopped after the plan and a burst
    return _result(plan, record, note)
