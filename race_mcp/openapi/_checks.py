"""The RA1xx rules: what an operation must declare so that concurrent clients cannot race.

RA10x  lost updates: preconditions (If-Match, version fields) and their 412/428/ETag story
RA11x  duplicates: idempotency keys on creating and charging POSTs, and their 409/422 story
RA12x  bursts: 429, Retry-After and rate-limit headers on state-changing operations

Each check reads the `Facts` of one operation and yields `Hit`s; `check_operation` turns them into
`Finding`s with the rule's catalog entry. The vocabulary is built-in plus `[tool.race-mcp.openapi]`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ..config import OpenApiSettings
from ..findings import Confidence, Finding, Severity
from ..rules import get_rule
from ._classify import Kind, classify
from ._load import format_pointer
from ._operations import Facts, normalize_name

__all__ = ["Policy", "check_operation"]

PRECONDITIONS = frozenset({"ifmatch", "ifunmodifiedsince"})  # guard against lost updates
CONDITIONALS = PRECONDITIONS | {"ifnonematch", "ifmodifiedsince"}  # anything 412 can answer
IDEMPOTENCY_HEADERS = (
    "Idempotency-Key",
    "X-Idempotency-Key",
    "Idempotency-Token",
    "PayPal-Request-Id",
    "Repeatability-Request-ID",
    "chargebee-idempotency-key",
    "X-Payout-Idempotency",
    "I-Twilio-Idempotency-Token",
    "X-Unique-Transaction-ID",
)
IDEMPOTENCY_FIELDS = (
    "idempotency_key",
    "idempotency_token",
    "request_id",
    "client_request_id",
    "client_token",
)
VERSION_FIELDS = (
    "etag",
    "_etag",
    "version",
    "resourceVersion",
    "lock_version",
    "row_version",
    "revision",
    "sha",
    "if_match",
    "expected_version",
    "version_token",
)
_RATE_LIMIT = re.compile(r"^x?ratelimit")  # RateLimit, RateLimit-Policy, X-RateLimit-*, X-Rate-Limit-*


@dataclass(frozen=True, slots=True)
class Policy:
    """The checker's vocabulary and status-code coverage, from the built-ins and the settings."""

    idempotency_headers: frozenset[str]
    idempotency_fields: frozenset[str]
    version_fields: frozenset[str]
    rate_limit_headers: frozenset[str]
    range_covers: bool
    default_covers: bool
    severity: dict[str, Severity]

    @classmethod
    def from_settings(cls, settings: OpenApiSettings) -> Policy:
        def names(builtin: tuple[str, ...], extra: list[str]) -> frozenset[str]:
            return frozenset(normalize_name(name) for name in (*builtin, *extra))

        return cls(
            idempotency_headers=names(IDEMPOTENCY_HEADERS, settings.idempotency_headers),
            idempotency_fields=names(IDEMPOTENCY_FIELDS, settings.idempotency_fields),
            version_fields=names(VERSION_FIELDS, settings.version_fields),
            rate_limit_headers=names((), settings.rate_limit_headers),
            range_covers=settings.range_covers,
            default_covers=settings.default_covers,
            severity={key.upper(): value for key, value in settings.severity.items()},
        )

    def declares(self, facts: Facts, status: str) -> bool:
        """Whether the operation documents `status`, counting `4XX`/`default` only if configured."""
        return (
            status in facts.responses
            or (self.range_covers and f"{status[0]}XX" in facts.responses)
            or (self.default_covers and "default" in facts.responses)
        )

    def is_rate_limit_header(self, name: str) -> bool:
        return bool(_RATE_LIMIT.match(name)) or name in self.rate_limit_headers


@dataclass(frozen=True, slots=True)
class Hit:
    rule_id: str
    message: str
    pointer: tuple[str, ...]  # below the operation
    confidence: Confidence
    severity: Severity | None = None  # None: the rule's


# -- RA10x lost updates --------------------------------------------------------------------------


def _lost_update(facts: Facts, kind: Kind, policy: Policy, get_of_path: Facts | None) -> Iterator[Hit]:
    headers = set(facts.headers)
    guard_headers = headers & PRECONDITIONS
    version_fields = facts.fields & policy.version_fields
    label = facts.operation.label
    if kind.name in ("update", "delete") and not guard_headers and not version_fields:
        yield _no_precondition(facts, kind)
    if not kind.changes_state:
        guard_headers = set()  # If-Match on a GET is a cache validator, not a write guard
    if guard_headers and not policy.declares(facts, "412"):
        yield Hit(
            "RA102",
            f"{label} accepts {_names(guard_headers)} but declares no 412 Precondition Failed, so "
            "clients cannot tell a lost race from any other error.",
            ("responses",),
            "high",
        )
    elif kind.name in ("update", "delete") and (
        version_fields
        and not guard_headers
        and not (policy.declares(facts, "409") or policy.declares(facts, "412"))
    ):
        yield Hit(
            "RA102",
            f"{label} takes a version field ({', '.join(sorted(version_fields))}) but declares neither "
            "409 Conflict nor 412 for a stale version, so a lost race has no documented answer.",
            ("responses",),
            "high",
        )
    required = {name for name in guard_headers if facts.headers[name]}
    if required and not policy.declares(facts, "428"):
        yield Hit(
            "RA103",
            f"{label} requires {_names(required)} but declares no 428 Precondition Required for "
            "requests that omit it.",
            ("responses",),
            "high",
        )
    if "412" in facts.responses and not headers & CONDITIONALS and not version_fields:
        yield Hit(
            "RA104",
            f"{label} declares 412 Precondition Failed but accepts no precondition header "
            "(If-Match, If-None-Match, If-Unmodified-Since, If-Modified-Since).",
            ("responses", facts.response_keys["412"]),
            "high",
        )
    if "ifmatch" in guard_headers:
        yield from _etag_source(facts, get_of_path)


_NO_GUARD = "no If-Match or If-Unmodified-Since header and no version field"


def _no_precondition(facts: Facts, kind: Kind) -> Hit:
    """RA101, said the way it is true for the method: a PUT replaces, a PATCH merges, a DELETE deletes."""
    label, method = facts.operation.label, facts.operation.method
    if kind.name == "delete":
        # If-Match on a DELETE is what stops a client deleting on the strength of a stale read.
        message = (
            f"{label} deletes the resource with no precondition ({_NO_GUARD}), so a client can delete it "
            "on the strength of a stale read: changes another client made since that read are destroyed "
            "unseen, and nothing tells the deleting client it acted on an old version."
        )
        return Hit("RA101", message, (), "medium", "medium")
    if method == "PUT":
        outcome = "both replace it, and the later silently overwrites the earlier (lost update)"
    else:
        why = f" ({kind.evidence})" if method == "POST" and kind.evidence else ""
        outcome = (
            f"both change it{why}; each change lands on a state its client never saw, and where both "
            "touch the same fields the later silently overwrites the earlier (lost update)"
        )
    verb = "replaces" if method == "PUT" else "changes"
    message = (
        f"{label} {verb} the resource with no precondition ({_NO_GUARD}), so two clients that read "
        f"the same version {outcome}."
    )
    return Hit("RA101", message, (), "medium")


def _etag_source(facts: Facts, get_of_path: Facts | None) -> Iterator[Hit]:
    label = facts.operation.label
    source = get_of_path or facts
    if any("etag" in names for status, names in source.response_headers.items() if status.startswith("2")):
        return
    where = f"GET {facts.operation.path}" if get_of_path is not None else label
    yield Hit(
        "RA105",
        f"{label} accepts If-Match but {where} returns no ETag header in a 2xx response, so clients "
        "have no validator to send.",
        (),
        "high" if get_of_path is not None else "medium",
    )


# -- RA11x duplicates ----------------------------------------------------------------------------

# What a duplicate of each kind of POST does, and how much that matters.
_DUPLICATE_RISK: dict[str, tuple[str, Severity]] = {
    "charge": ("moves money", "high"),
    "spend": ("spends something single-use", "high"),
    "create": ("creates a resource or performs an action", "medium"),
    "transition": ("changes the state of an existing resource", "low"),
}
_DUPLICATE_OUTCOME = {
    "charge": "moves the money twice",
    "spend": "spends it twice",
    "create": "runs twice",
    "transition": "gets an error or repeats the change instead of the first answer",
}


def _duplicates(facts: Facts, kind: Kind, policy: Policy) -> Iterator[Hit]:
    if facts.operation.method != "POST" or kind.name not in _DUPLICATE_RISK or kind.idempotent:
        return  # PUT, PATCH and DELETE are idempotent by definition (RFC 9110)
    label = facts.operation.label
    has_key = bool(set(facts.headers) & policy.idempotency_headers) or bool(
        facts.fields & policy.idempotency_fields
    )
    if not has_key:
        what, severity = _DUPLICATE_RISK[kind.name]
        amount = f" and its body carries {kind.amount}" if kind.amount and kind.name == "charge" else ""
        yield Hit(
            "RA111",
            f"{label} {what} ({kind.evidence}{amount}) with no idempotency key (no Idempotency-Key "
            "header or synonym, no idempotency_key field), so a retried or double-clicked request "
            f"{_DUPLICATE_OUTCOME[kind.name]}.",
            (),
            "high" if kind.name == "charge" and kind.amount else "medium",
            severity,
        )
        return
    missing = [code for code in ("409",) if not policy.declares(facts, code)]
    if not (policy.declares(facts, "422") or policy.declares(facts, "400")):
        missing.append("422")
    if missing:
        yield Hit(
            "RA112",
            f"{label} takes an idempotency key but declares no {' or '.join(missing)}: a retry that "
            "arrives while the first request runs (409) or reuses the key with another body (422) "
            "has no documented answer.",
            ("responses",),
            "medium",
        )


# -- RA12x bursts --------------------------------------------------------------------------------


def _bursts(facts: Facts, kind: Kind, policy: Policy) -> Iterator[Hit]:
    label = facts.operation.label
    if kind.changes_state:
        yield from _rate_limit_story(facts, policy)
    response = facts.responses.get("429")
    if response is not None and response.ref is None and "retryafter" not in facts.response_headers["429"]:
        yield Hit(
            "RA122",
            f"{label} declares 429 Too Many Requests without a Retry-After header, so throttled "
            "clients retry at once and together.",
            ("responses", facts.response_keys["429"]),
            "high",
        )


def _rate_limit_story(facts: Facts, policy: Policy) -> Iterator[Hit]:
    label = facts.operation.label
    if not policy.declares(facts, "429"):
        yield Hit(
            "RA121",
            f"{label} changes state but declares no 429 Too Many Requests, so a burst of concurrent "
            "requests has no documented limit and clients do not know how throttling looks.",
            ("responses",),
            "medium",
        )
    bare = [
        facts.response_keys[status]
        for status, names in facts.response_headers.items()
        if status.startswith("2")
        and facts.responses[status].ref is None  # an unresolvable response: headers unknown
        and not any(policy.is_rate_limit_header(name) for name in names)
    ]
    if bare:
        yield Hit(
            "RA123",
            f"{label} returns {', '.join(bare)} with no rate-limit headers (RateLimit, "
            "RateLimit-Policy, X-RateLimit-*), so clients cannot see their quota before they hit it.",
            ("responses", bare[0]),
            "medium",
        )


def _names(normalized: set[str]) -> str:
    spelled = {"ifmatch": "If-Match", "ifunmodifiedsince": "If-Unmodified-Since"}
    return " and ".join(spelled.get(name, name) for name in sorted(normalized))


def check_operation(
    facts: Facts, policy: Policy, *, get_of_path: Facts | None, enabled: Callable[[str], bool]
) -> list[Finding]:
    """Every RA1xx finding for one operation, located at the operation's line in its file."""
    kind = classify(facts)
    hits = [
        *_lost_update(facts, kind, policy, get_of_path),
        *_duplicates(facts, kind, policy),
        *_bursts(facts, kind, policy),
    ]
    node = facts.operation.node
    line = node.line
    findings = []
    for hit in hits:
        if not enabled(hit.rule_id):
            continue
        rule = get_rule(hit.rule_id)
        findings.append(
            Finding(
                rule_id=rule.id,
                title=rule.title,
                severity=policy.severity.get(rule.id, hit.severity or rule.severity),
                confidence=hit.confidence,
                path=node.file.label,
                line=line,
                end_line=line,
                message=hit.message,
                fix=rule.fix,
                cwe=rule.cwe,
                pointer=format_pointer((*node.pointer, *hit.pointer)),
                operation=facts.operation.label,
            )
        )
    return findings
