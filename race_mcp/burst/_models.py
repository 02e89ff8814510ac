"""What to send, how to judge it, and what came back: the burst's public models.

`BurstResult` serialises to the `burst` JSON contract of DESIGN.md (verdict, mode, requests,
bursts, successes, expected_max_successes, status_counts, spread_ms, hit_rate, evidence,
reason); the remaining fields are extra detail for people and assistants.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = [
    "AuxRequest",
    "BaselineRun",
    "BurstResult",
    "BurstSpec",
    "BurstTrial",
    "Mode",
    "ResponseCluster",
    "SentMode",
    "StateProbe",
    "SuccessOracle",
    "Verdict",
]

Mode = Literal["auto", "h2", "h1", "naive"]
SentMode = Literal["h2-single-packet", "h1-last-byte", "naive"]
Verdict = Literal["race", "no_race", "inconclusive"]


class SuccessOracle(BaseModel, extra="forbid"):
    """What a successful response looks like; every condition given must hold."""

    status: list[int] = Field(
        default_factory=list, description="status codes that mean success (default: any 2xx)"
    )
    body_regex: str | None = Field(None, description="a regular expression the body must match")
    json_condition: str | None = Field(
        None,
        description="a JSON path condition on the body, e.g. `$.ok == true` or `$.balance >= 0`; "
        "a bare path means the value must be truthy",
    )


class AuxRequest(BaseModel, extra="forbid"):
    """A single helper request (the reset before each burst); inherits the burst's headers and cookies."""

    url: str = Field(description="absolute URL on the same allowlisted hosts")
    method: str = Field("POST", description="HTTP method")
    body: str | None = Field(None, description="raw body")
    json_body: Any = Field(None, description="JSON body (sent as application/json)")


class StateProbe(BaseModel, extra="forbid"):
    """A GET read before and after each burst, to catch effects the responses do not show."""

    url: str = Field(description="absolute URL of a JSON resource holding the state")
    json_path: str = Field(description="where the number lives, e.g. `$.balance` or `$.items[0].stock`")
    change_per_success: float = Field(
        description="how much one successful request should change it, e.g. 1 for a counter, -10 for a debit"
    )


class BurstSpec(BaseModel, extra="forbid"):
    """One run: the request to repeat, how many at once and how often, and how to judge it."""

    url: str = Field(description="target URL (http:// or https://); with raw_request, its origin")
    method: str = Field("GET", description="HTTP method")
    headers: dict[str, str] = Field(default_factory=dict, description="request headers")
    cookies: dict[str, str] = Field(default_factory=dict, description="cookies sent with every request")
    body: str | None = Field(None, description="raw request body")
    json_body: Any = Field(None, description="JSON request body")
    form: dict[str, str] | None = Field(None, description="form fields (application/x-www-form-urlencoded)")
    raw_request: str | None = Field(
        None,
        description="a raw HTTP request as a proxy saves it; method, path, headers and body come from it",
    )
    requests: int = Field(20, ge=1, le=1000, description="requests per burst")
    bursts: int = Field(1, ge=1, le=1000, description="how many bursts to send")
    mode: Mode = Field(
        "auto", description="auto: HTTP/2 single-packet when the server speaks it, else HTTP/1.1"
    )
    expected_max_successes: int | None = Field(
        None, ge=0, description="how many may succeed at most (a single-use coupon: 1)"
    )
    success: SuccessOracle = Field(default_factory=SuccessOracle, description="what counts as success")
    baseline: bool = Field(False, description="first send the same requests one at a time to calibrate")
    reset: AuxRequest | None = Field(None, description="request that restores the state before each burst")
    probe: StateProbe | None = Field(None, description="state read before and after each burst")
    hold_ms: int = Field(100, ge=0, le=5000, description="pause between pre-sending and releasing")
    verify_tls: bool = Field(True, description="verify the server certificate of https targets")


class ResponseCluster(BaseModel):
    """Responses that look alike once volatile values (ids, numbers, times) are masked."""

    status: int | None = Field(description="status code, null for requests that got no response")
    count: int
    success: bool
    sample: str = Field(description="the start of one response body, or the error")


class BurstTrial(BaseModel):
    """One burst: what came back, how tight it was, and what the probe saw."""

    index: int
    successes: int
    race: bool
    status_counts: dict[str, int]
    send_spread_ms: float = Field(description="time between the first and the last release write")
    response_spread_ms: float | None = Field(description="time between the first and the last response")
    failed: int = Field(description="requests without a valid response")
    early: int = Field(description="responses that arrived before the release")
    probe_before: float | None = None
    probe_after: float | None = None
    problem: str | None = Field(None, description="why this burst cannot support a no_race verdict")


class BaselineRun(BaseModel):
    """The same requests sent one at a time, before any burst."""

    successes: int
    status_counts: dict[str, int]
    clusters: list[ResponseCluster]


class BurstResult(BaseModel):
    """The verdict with its evidence; the first eleven fields are the stable JSON contract."""

    verdict: Verdict
    mode: SentMode
    requests: int
    bursts: int
    successes: int = Field(description="the most successes seen in one burst")
    expected_max_successes: int | None
    status_counts: dict[str, int] = Field(description="status codes over all bursts; `error` for none")
    spread_ms: float = Field(description="median send spread of the release over the bursts")
    hit_rate: float = Field(description="share of bursts that showed the race")
    evidence: list[str]
    reason: str
    url: str
    connections: int = Field(description="connections used per burst")
    trials: list[BurstTrial]
    clusters: list[ResponseCluster]
    baseline: BaselineRun | None = None
