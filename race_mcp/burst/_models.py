"""What to send, how to judge it, and what came back: the burst's public models.

`BurstResult` serialises to the `burst` JSON contract of docs/design.md (verdict, mode, requests,
bursts, successes, expected_max_successes, status_counts, spread_ms, hit_rate, evidence,
reason); the remaining fields are extra detail for people and assistants.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

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


def _compact(schema: dict[str, Any], *, nullable_refs: bool) -> None:
    """A shorter JSON schema for the same model: no generated titles, `null` folded into the type.

    The tool list goes into every assistant's context, so each byte counts. `nullable_refs`
    keeps `anyOf [$ref, null]` where a null value really occurs (results); an optional nested
    request is simply left out, so its schema names only the object.
    """
    schema.pop("title", None)
    for field in schema.get("properties", {}).values():
        field.pop("title", None)
        if "default" in field and field["default"] is None:
            del field["default"]  # not required already says it may be left out
        branches = field.get("anyOf")
        if not (isinstance(branches, list) and len(branches) == 2 and {"type": "null"} in branches):
            continue
        other = next(branch for branch in branches if branch != {"type": "null"})
        if isinstance(other.get("type"), str):
            del field["anyOf"]
            field.update(other, type=[other["type"], "null"])
        elif not nullable_refs:
            del field["anyOf"]
            field.update(other)


def _compact_input(schema: dict[str, Any]) -> None:
    _compact(schema, nullable_refs=False)


def _compact_part(schema: dict[str, Any]) -> None:
    """A part of the spec: the field that holds it already says what it is for."""
    _compact(schema, nullable_refs=False)
    schema.pop("description", None)


def _compact_output(schema: dict[str, Any]) -> None:
    _compact(schema, nullable_refs=True)


_INPUT = ConfigDict(extra="forbid", json_schema_extra=_compact_input)
_PART = ConfigDict(extra="forbid", json_schema_extra=_compact_part)
_OUTPUT = ConfigDict(json_schema_extra=_compact_output)


class SuccessOracle(BaseModel):
    """What a success looks like; every condition given must hold."""

    model_config = _PART

    status: list[int] = Field(default_factory=list, description="success statuses (default: any 2xx)")
    body_regex: str | None = Field(None, description="regex the body's first 64 KiB must match")
    json_condition: str | None = Field(
        None, description="`$.ok == true`, `$.balance >= 0`; a bare path must be truthy"
    )


class AuxRequest(BaseModel):
    """The reset request sent before each burst, with the burst's headers and cookies."""

    model_config = _PART

    url: str = Field(description="URL (an allowlisted host)")
    method: str = Field("POST", description="HTTP method")
    body: str | None = Field(None, description="raw body")
    json_body: Any = Field(None, description="JSON body")


class StateProbe(BaseModel):
    """A GET before and after each burst, for effects the responses hide (lost updates)."""

    model_config = _PART

    url: str = Field(description="URL of a JSON document holding the state")
    json_path: str = Field(description="where the number is, e.g. `$.balance`, `$.items[0].stock`")
    change_per_success: float = Field(
        allow_inf_nan=False, description="change per success, e.g. -10 for a debit of 10"
    )


class BurstSpec(BaseModel):
    """The request to repeat, how many at once, and how to judge it. `{{i}}` (index) and
    `{{uuid}}` in the path, headers, cookies and body differ per request."""

    model_config = _INPUT

    url: str = Field(description="http(s) URL; with raw_request, its origin")
    method: str | None = Field(None, description="HTTP method (default: POST with a body, else GET)")
    headers: dict[str, str] = Field(default_factory=dict, description="request headers")
    cookies: dict[str, str] = Field(default_factory=dict, description="cookies")
    body: str | None = Field(None, description="raw body")
    json_body: Any = Field(None, description="JSON body")
    form: dict[str, str] | None = Field(None, description="form fields (urlencoded)")
    raw_request: str | None = Field(None, description="raw HTTP request (method, path, headers, body)")
    requests: int = Field(20, ge=1, le=1000, description="requests per burst")
    bursts: int = Field(1, ge=1, le=1000, description="bursts to send")
    mode: Mode = Field("auto", description="auto: HTTP/2 single-packet if offered, else HTTP/1.1 last-byte")
    expected_max_successes: int | None = Field(
        None, ge=0, description="most that may succeed (single-use coupon: 1)"
    )
    success: SuccessOracle = Field(default_factory=SuccessOracle, description="what counts as success")
    baseline: bool = Field(False, description="send the requests one at a time first, to calibrate")
    reset: AuxRequest | None = Field(
        None, description="request that restores the state before each burst (gets the burst's headers)"
    )
    probe: StateProbe | None = Field(
        None, description="a GET before and after each burst, for effects the responses hide"
    )
    hold_ms: int = Field(100, ge=0, le=5000, description="pause before the release")
    verify_tls: bool = Field(True, description="verify https certificates")


class ResponseCluster(BaseModel):
    """Responses that look alike once volatile values (ids, numbers, times) are masked."""

    model_config = _OUTPUT

    status: int | None = Field(description="null: no response")
    count: int
    success: bool
    sample: str = Field(description="start of one body, or the error")


class BurstTrial(BaseModel):
    """One burst: what came back, how tight it was, and what the probe saw."""

    model_config = _OUTPUT

    index: int
    successes: int
    race: bool
    status_counts: dict[str, int]
    send_spread_ms: float = Field(description="first to last release write")
    response_spread_ms: float | None = Field(description="first to last response")
    failed: int = Field(description="requests without a valid response")
    early: int = Field(description="answered before the release")
    probe_before: float | None = None
    probe_after: float | None = None
    problem: str | None = Field(None, description="why this burst cannot support a no_race verdict")


class BaselineRun(BaseModel):
    """The same requests sent one at a time, before any burst."""

    model_config = _OUTPUT

    successes: int
    status_counts: dict[str, int]
    clusters: list[ResponseCluster]


class BurstResult(BaseModel):
    """The verdict with its evidence; the first eleven fields are the stable JSON contract."""

    model_config = _OUTPUT

    verdict: Verdict
    mode: SentMode
    requests: int
    bursts: int
    successes: int = Field(description="the most successes seen in one burst")
    expected_max_successes: int | None
    status_counts: dict[str, int] = Field(description="status codes over all bursts; `error` for none")
    spread_ms: float = Field(description="median release spread")
    hit_rate: float = Field(description="share of bursts that showed the race")
    evidence: list[str]
    reason: str
    url: str
    connections: int = Field(description="connections used per burst")
    trials: list[BurstTrial]
    clusters: list[ResponseCluster]
    baseline: BaselineRun | None = None
