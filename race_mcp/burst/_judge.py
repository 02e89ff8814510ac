"""From responses to a verdict: the success oracle, response clusters, trials and the final call.

A burst shows a race when more requests succeed than the limit allows, or when the state probe
moved by a different amount than the successes account for (a lost update whose responses all
look fine). The absence of a race only counts when the burst was demonstrably tight: every
request answered, none answered before its release, no serialised responses, a fast release.
"""

from __future__ import annotations

import operator
import re
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import regex

from ..errors import InputError
from ._exchange import Exchange, SendReport
from ._json import loads_response, loads_user
from ._models import BurstTrial, ResponseCluster, SuccessOracle, Verdict

__all__ = [
    "Oracle",
    "Verdict",
    "cluster_responses",
    "decide",
    "judge_trial",
    "parse_json_path",
    "read_json_path",
]

# A release slower than this cannot be trusted to hit a window of about a millisecond.
SLOW_RELEASE_MS = 5.0
_SAMPLE_CHARS = 240
_MAX_CLUSTERS = 8
# The success regex sees this much of each body, for at most this long per match and per run.
REGEX_TEXT_CHARS = 65_536
_REGEX_SECONDS = 0.5
_REGEX_BUDGET = 5.0
_REGEX_CACHE = 4096

# Indexes are ASCII digits of bounded length: `int()` would take "٣" and choke on 5,000 digits.
_PATH_STEP = re.compile(r"\.([A-Za-z_][\w-]*)|\[([0-9]{1,9})\]|\[['\"]([^'\"]+)['\"]\]")
_MAX_PATH_STEPS = 64
_CONDITION = re.compile(r"^\s*(?P<path>[^\s=!<>]+)\s*(?:(?P<op>==|!=|>=|<=|>|<)\s*(?P<literal>.+?))?\s*$")
_MAX_CONDITION_CHARS = 4096
# What to check when every answer of a run had the same error status.
_STATUS_HINTS = {
    400: "check the request body and headers",
    401: "check the credentials (headers, cookies)",
    403: "check the credentials (headers, cookies)",
    404: "check the method and path",
    405: "check the method and path",
    409: "the state may already be used up: give a reset request that restores it",
    415: "check the Content-Type and the body",
    422: "check the request body",
    429: "the server rate-limited the burst",
}
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}
# Values that differ between otherwise identical responses: ids, times, tokens, numbers.
_VOLATILE = (
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<uuid>"),
    (re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?"), "<time>"),
    (re.compile(r"\b[0-9a-f]{16,}\b", re.I), "<hex>"),
    (re.compile(r"[A-Za-z0-9+/_-]{24,}={0,2}"), "<token>"),
    (re.compile(r"-?\d+(\.\d+)?"), "<n>"),
)

PathStep = str | int


def parse_json_path(path: str) -> tuple[PathStep, ...]:
    """`$.a.b[0]`, `a.b[0]` or `$['a']` as a tuple of keys and indexes."""
    text = path.strip()
    text = text[1:] if text.startswith("$") else text
    if text and text[0] not in ".[":
        text = "." + text
    steps: list[PathStep] = []
    position = 0
    while position < len(text):
        match = _PATH_STEP.match(text, position)
        if match is None:
            raise InputError(
                f"{path[:80]!r}: not a JSON path (use e.g. $.balance or $.items[0].stock)",
                code="bad-json-path",
            )
        name, index, quoted = match.groups()
        steps.append(int(index) if index is not None else (name or quoted))
        position = match.end()
        if len(steps) > _MAX_PATH_STEPS:
            raise InputError(
                f"{path[:80]!r}: a JSON path of more than {_MAX_PATH_STEPS} steps", code="json-too-deep"
            )
    return tuple(steps)


def read_json_path(document: Any, steps: Sequence[PathStep]) -> tuple[bool, Any]:
    """(found, value) at `steps` inside a parsed JSON document."""
    value = document
    for step in steps:
        if isinstance(value, list) and isinstance(step, int) and -len(value) <= step < len(value):
            value = value[step]
            continue
        if isinstance(value, dict) and isinstance(step, str) and step in value:
            value = value[step]
            continue
        return False, None
    return True, value


@dataclass(frozen=True)
class _Condition:
    steps: tuple[PathStep, ...]
    compare: Callable[[Any, Any], bool] | None
    literal: Any

    def holds(self, body: bytes) -> bool:
        parsed, document = loads_response(body)
        found, value = read_json_path(document, self.steps) if parsed else (False, None)
        if not found:
            return False
        if self.compare is None:
            return bool(value)
        try:
            return self.compare(value, self.literal)
        except (TypeError, RecursionError):  # "abc" >= 3; lists nested past the stack
            return False


def _parse_condition(text: str) -> _Condition:
    if len(text) > _MAX_CONDITION_CHARS:
        raise InputError(
            f"the JSON condition is over {_MAX_CONDITION_CHARS:,} characters", code="bad-json-condition"
        )
    match = _CONDITION.match(text)
    if match is None:
        raise InputError(
            f"{text[:80]!r}: write a JSON condition as PATH, or PATH OP VALUE (e.g. $.ok == true)",
            code="bad-json-condition",
        )
    literal: Any = None
    if match.group("op"):
        try:
            literal = loads_user(match.group("literal"), "the JSON condition's value")
        except ValueError:
            raise InputError(
                f'{text[:80]!r}: the value must be JSON (quote strings: $.status == "redeemed")',
                code="bad-json-condition",
            ) from None
    compare = _OPERATORS[match.group("op")] if match.group("op") else None
    return _Condition(parse_json_path(match.group("path")), compare, literal)


class _BodyRegex:
    """The user's success regex, run with a timeout on the start of each body.

    The pattern is the user's and the bodies are the target's: together they can backtrack
    for hours (`^(a|aa)+$` on a short body). Each match gets at most `_REGEX_SECONDS`, the run
    `_REGEX_BUDGET` in all, and sees the first `REGEX_TEXT_CHARS` characters; a match that runs
    out of time ends the run with `regex-timeout` rather than a verdict built on a guess.
    """

    def __init__(self, pattern: str) -> None:
        try:
            self.compiled = regex.compile(pattern)
        except (regex.error, ValueError, OverflowError) as exc:
            raise InputError(f"success regex {pattern[:80]!r}: {exc}", code="bad-regex") from None
        self.pattern = pattern
        self.spent = 0.0
        self.seen: dict[str, bool] = {}

    def matches(self, body: bytes) -> bool:
        text = body[: REGEX_TEXT_CHARS * 4].decode("utf-8", "replace")[:REGEX_TEXT_CHARS]
        known = self.seen.get(text)
        if known is not None:
            return known
        allowed = min(_REGEX_SECONDS, _REGEX_BUDGET - self.spent)
        started = time.monotonic()
        try:
            if allowed <= 0:
                raise TimeoutError
            found = self.compiled.search(text, timeout=allowed) is not None
        except TimeoutError:
            raise InputError(
                f"success regex {self.pattern[:80]!r} ran out of time on a {len(text):,}-character "
                "response body: nested repeats such as (a+)+ or (a|aa)+ backtrack without end; "
                "simplify the pattern or judge by status or a JSON condition",
                code="regex-timeout",
            ) from None
        finally:
            self.spent += time.monotonic() - started
        if len(self.seen) < _REGEX_CACHE:
            self.seen[text] = found
        return found


class Oracle:
    """Decides whether one response counts as a success."""

    def __init__(self, spec: SuccessOracle) -> None:
        self.statuses = frozenset(spec.status)
        self.pattern = _BodyRegex(spec.body_regex) if spec.body_regex else None
        self.condition = _parse_condition(spec.json_condition) if spec.json_condition else None

    def succeeded(self, exchange: Exchange) -> bool:
        if not exchange.ok or exchange.status is None:
            return False
        if self.statuses:
            if exchange.status not in self.statuses:
                return False
        elif not 200 <= exchange.status < 300:
            return False
        body = bytes(exchange.body)
        if self.pattern is not None and not self.pattern.matches(body):
            return False
        return self.condition is None or self.condition.holds(body)


def _normalise(text: str) -> str:
    for pattern, placeholder in _VOLATILE:
        text = pattern.sub(placeholder, text)
    return " ".join(text.split())


def _sample(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SAMPLE_CHARS else text[:_SAMPLE_CHARS] + "…"


def _cluster_key(exchange: Exchange) -> tuple[int | None, str]:
    if not exchange.ok:
        return None, _normalise(exchange.error or "no response")
    return exchange.status, _normalise(bytes(exchange.body[:4096]).decode("utf-8", "replace"))


def cluster_responses(exchanges: Sequence[Exchange], oracle: Oracle) -> list[ResponseCluster]:
    """Group alike responses (volatile values masked), biggest group first."""
    groups: dict[tuple[int | None, str], list[Exchange]] = {}
    for exchange in exchanges:
        groups.setdefault(_cluster_key(exchange), []).append(exchange)
    clusters = [
        ResponseCluster(
            status=key[0],
            count=len(members),
            success=oracle.succeeded(members[0]),
            sample=_sample(
                bytes(members[0].body).decode("utf-8", "replace") if members[0].ok else members[0].error or ""
            ),
        )
        for key, members in groups.items()
    ]
    clusters.sort(key=lambda cluster: (-cluster.count, cluster.status or 0))
    return clusters[:_MAX_CLUSTERS]


def cluster_keys(exchanges: Sequence[Exchange]) -> set[tuple[int | None, str]]:
    return {_cluster_key(exchange) for exchange in exchanges}


def status_counts(exchanges: Sequence[Exchange]) -> dict[str, int]:
    counts = Counter(str(exchange.status) if exchange.ok else "error" for exchange in exchanges)
    return dict(sorted(counts.items()))


def _problem(report: SendReport, slow_release_ms: float) -> str | None:
    """Why this burst cannot support a no_race verdict, if it cannot."""
    total = len(report.exchanges)
    failed = [exchange for exchange in report.exchanges if not exchange.ok]
    if failed:
        return f"{len(failed)} of {total} requests got no valid response ({failed[0].error})"
    early = [exchange for exchange in report.exchanges if exchange.early]
    if early:
        statuses = ", ".join(sorted({str(exchange.status) for exchange in early}))
        return (
            f"{len(early)} of {total} responses (HTTP {statuses}) arrived before the release: the server "
            "answered incomplete requests, so they were not held back"
        )
    step = report.serialised_step_ms()
    if step is not None:
        return f"the responses came one by one every ~{step:.1f} ms: the server serialised the requests"
    if report.send_spread_ms > slow_release_ms:
        return f"the release took {report.send_spread_ms:.1f} ms, too slow to hit a narrow race window"
    return None


@dataclass(frozen=True)
class ProbeReading:
    before: float
    after: float
    change_per_success: float

    def expected(self, successes: int) -> float:
        return successes * self.change_per_success

    def mismatch(self, successes: int) -> bool:
        observed = self.after - self.before
        return abs(observed - self.expected(successes)) > 1e-9 * max(1.0, abs(observed))


def judge_trial(
    index: int,
    report: SendReport,
    oracle: Oracle,
    limit: int | None,
    probe: ProbeReading | None,
    *,
    slow_release_ms: float = SLOW_RELEASE_MS,
) -> BurstTrial:
    successes = sum(oracle.succeeded(exchange) for exchange in report.exchanges)
    over_limit = limit is not None and successes > limit
    # Requests answered before their release were never held, so their count proves nothing.
    held = not any(exchange.early for exchange in report.exchanges)
    race = held and (over_limit or (probe is not None and probe.mismatch(successes)))
    return BurstTrial(
        index=index,
        successes=successes,
        race=race,
        status_counts=status_counts(report.exchanges),
        send_spread_ms=round(report.send_spread_ms, 4),
        response_spread_ms=None if report.response_spread_ms is None else round(report.response_spread_ms, 4),
        failed=sum(not exchange.ok for exchange in report.exchanges),
        early=sum(exchange.early for exchange in report.exchanges),
        probe_before=probe.before if probe else None,
        probe_after=probe.after if probe else None,
        problem=None if race else _problem(report, slow_release_ms),
    )


def _race_evidence(trial: BurstTrial, requests: int, limit: int | None, probe: ProbeReading | None) -> str:
    parts = [f"burst {trial.index}: {trial.successes} of {requests} requests succeeded"]
    if limit is not None:
        parts.append(f"where at most {limit} may")
    if probe is not None and trial.probe_before is not None and trial.probe_after is not None:
        change = trial.probe_after - trial.probe_before
        parts.append(
            f"; the probed value went {_number(trial.probe_before)} → {_number(trial.probe_after)} "
            f"(change {_number(change)}), but {trial.successes} successes should change it by "
            f"{_number(probe.expected(trial.successes))}"
        )
    return " ".join(parts).replace(" ;", ";")


def _all_refused(trials: Sequence[BurstTrial]) -> str | None:
    """When nothing succeeded and every answer was an HTTP error: which, and what to check.

    Such a run never reached the code under test (a wrong method or path, missing credentials,
    state already used up), so it proves nothing either way, whatever else went wrong.
    """
    if any(trial.successes for trial in trials):
        return None
    counts: Counter[str] = Counter()
    for trial in trials:
        counts.update(trial.status_counts)
    if not counts or "error" in counts or not all(400 <= int(status) < 600 for status in counts):
        return None
    total = sum(counts.values())
    common = int(counts.most_common(1)[0][0])
    if len(counts) == 1:
        what = f"all {total} answers were {common} {_phrase(common)}"
    else:
        listed = ", ".join(f"{status}: {count}" for status, count in sorted(counts.items()))
        what = f"all {total} answers were HTTP errors ({listed})"
    default = (
        "the server failed on every request: check its log"
        if common >= 500
        else ("check the method, path, body and credentials")
    )
    return f"{what}: {_STATUS_HINTS.get(common, default)}"


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "(non-standard status)"


def _number(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str
    evidence: list[str]


def decide(
    trials: Sequence[BurstTrial],
    *,
    requests: int,
    limit: int | None,
    probes: Sequence[ProbeReading | None],
    deviations: Sequence[str],
    none_may_succeed: bool = False,
) -> Decision:
    """The verdict over all bursts, with the reason and the facts that support it.

    `none_may_succeed`: the user said at most 0 may succeed, so a run of refusals is the point.
    """
    hits = [trial for trial in trials if trial.race]
    spread = statistics.median(trial.send_spread_ms for trial in trials)
    rate = f"{len(hits)} of {len(trials)} bursts"
    evidence = [_race_evidence(trial, requests, limit, probes[trial.index - 1]) for trial in hits[:3]]
    answered_early = next((trial for trial in trials if trial.early), None)
    if hits and answered_early is not None:
        # A server that answers incomplete requests does so whenever it is quick enough: a burst where
        # its answers happened to arrive after the release was not held back either.
        return Decision(
            "inconclusive",
            f"the burst cannot be trusted: in burst {answered_early.index} {answered_early.early} responses "
            "arrived before the release, so the server answers incomplete requests and its successes "
            "in other bursts may not have been held back either",
            evidence,
        )
    if hits:
        first = hits[0]
        if limit is not None and first.successes > limit:
            what = f"{first.successes} requests succeeded where at most {limit} may"
        else:
            what = "the probed state does not add up to the successes (a lost update or a doubled effect)"
        return Decision("race", f"race reproduced in {rate}: {what}", evidence)
    refused = None if none_may_succeed else _all_refused(trials)
    if refused is not None:
        return Decision("inconclusive", refused, evidence)
    problems = [trial.problem for trial in trials if trial.problem]
    # A clean negative needs (nearly) every burst to have been tight: one in ten may falter.
    if len(problems) > len(trials) // 10:
        return Decision(
            "inconclusive",
            f"the burst cannot be trusted in {len(problems)} of {len(trials)} bursts: {problems[0]}",
            evidence,
        )
    if deviations:
        return Decision(
            "inconclusive",
            "no limit overrun, but the burst's responses differ from the sequential baseline "
            f"({deviations[0]}); check the side effects with a state probe",
            evidence,
        )
    best = max(trial.successes for trial in trials)
    limit_text = f" (limit {limit})" if limit is not None else ""
    return Decision(
        "no_race",
        f"not reproduced: at most {best} successes{limit_text} in each of {len(trials)} bursts "
        f"at a median release spread of {spread:.3f} ms",
        evidence,
    )
