"""Catalog entries for the RA1xx family: what an OpenAPI operation must declare so that concurrent
clients cannot race it (preconditions, idempotency keys, rate limits). Examples are YAML documents."""

from __future__ import annotations

from ._model import CWE_362, Rule, snippet

__all__ = ["FAMILY", "PREFIX", "RULES"]

PREFIX = "RA1"
FAMILY = "RA1xx OpenAPI preconditions"


def _spec(operation: str) -> str:
    """A whole OpenAPI document around one path item, so every example can be checked as written."""
    header = 'openapi: 3.1.0\ninfo: {title: Shop, version: "1"}\npaths:\n'
    return header + "".join("  " + line for line in snippet(operation).splitlines(keepends=True))


_RA10_REFERENCES = [
    CWE_362,
    "RFC 9110 §13.1.1 If-Match, §15.5.13 412 Precondition Failed",
    "RFC 6585 §3 428 Precondition Required",
    "https://opensource.zalando.com/restful-api-guidelines/#optimistic-locking",
]
_RA11_REFERENCES = [
    "CWE-837: Improper Enforcement of a Single, Unique Action",
    "IETF draft-ietf-httpapi-idempotency-key-header (Idempotency-Key; 409 and 422 answers)",
    "https://opensource.zalando.com/restful-api-guidelines/#230",
]
_RA12_REFERENCES = [
    "CWE-799: Improper Control of Interaction Frequency",
    "RFC 6585 §4 429 Too Many Requests; RFC 9110 §10.2.3 Retry-After",
    "IETF draft-ietf-httpapi-ratelimit-headers (RateLimit, RateLimit-Policy)",
    "OWASP API4:2023 Unrestricted Resource Consumption",
]
_RA_OPTIONS = (
    "`[tool.race-mcp.openapi]`: `idempotency_headers`, `idempotency_fields`, `version_fields` and "
    "`rate_limit_headers` add synonyms; `range_covers` / `default_covers` let a `4XX` or `default` "
    "response count as declaring a specific code; `severity` overrides a rule's severity."
)


RULES: list[Rule] = [
    Rule(
        id="RA101",
        name="write-without-precondition",
        title="Update or delete with no If-Match and no version field",
        family=FAMILY,
        severity="high",
        cwe="CWE-362",
        fix=(
            "Accept an If-Match header checked against the current ETag (412 on mismatch), or a version "
            "field checked in the UPDATE's WHERE clause (409 on mismatch)."
        ),
        language="yaml",
        what_it_does=(
            "Flags a PUT, PATCH or DELETE (and a POST on an item path such as `/accounts/{id}`, which "
            "some APIs use as an update) that accepts neither an `If-Match` / `If-Unmodified-Since` "
            "header (at operation or path level, inline or `$ref`'d, any case) nor a version field "
            "(`etag`, `version`, `resourceVersion`, `lock_version`, ...) in its body or query."
        ),
        why_bad=(
            "Two clients read version 1, both change it, both write: the second write silently "
            "discards the first (the lost update of RFC 9110 §13.1.1). A precondition lets the server "
            "refuse the stale write instead. With `--source`, an operation whose handler also does an "
            "unguarded read-modify-write is ranked first."
        ),
        example=_spec(
            """
              /orders/{id}:
                patch:
                  parameters:
                    - {name: id, in: path, required: true, schema: {type: string}}
                  requestBody:
                    content:
                      application/json:
                        schema: {type: object, properties: {status: {type: string}}}
                  responses:
                    "200": {description: updated}
            """
        ),
        use_instead=_spec(
            """
              /orders/{id}:
                patch:
                  parameters:
                    - {name: id, in: path, required: true, schema: {type: string}}
                    - {name: If-Match, in: header, required: true, schema: {type: string}}
                  requestBody:
                    content:
                      application/json:
                        schema: {type: object, properties: {status: {type: string}}}
                  responses:
                    "200": {description: updated}
                    "412": {description: the order changed since you read it}
                    "428": {description: send If-Match}
            """
        ),
        known_problems=(
            "A spec cannot show that the server really compares the validator; it shows only that the "
            "contract lets clients send one. A body field named `version` may be a semantic version, "
            "not a lock. " + _RA_OPTIONS
        ),
        references=_RA10_REFERENCES,
    ),
    Rule(
        id="RA102",
        name="precondition-without-failure-response",
        title="Precondition accepted but no 412 (or 409) declared",
        family=FAMILY,
        severity="medium",
        cwe="CWE-362",
        fix=(
            "Declare 412 Precondition Failed (or 409 Conflict for a body version) with a body that tells the "
            "client to re-read and retry."
        ),
        language="yaml",
        what_it_does=(
            "Flags an operation that accepts `If-Match` or `If-Unmodified-Since` but declares no "
            "`412` response, or that takes a version field in its body but declares neither `409` "
            "nor `412`."
        ),
        why_bad=(
            "The precondition is the answer to the race; the failure response is how the losing client "
            "learns it lost and must re-read. Undocumented, clients treat it as a generic error and "
            "often retry the stale write or give up."
        ),
        example=_spec(
            """
              /orders/{id}:
                put:
                  parameters:
                    - {name: If-Match, in: header, schema: {type: string}}
                  responses:
                    "200": {description: replaced}
            """
        ),
        use_instead=_spec(
            """
              /orders/{id}:
                put:
                  parameters:
                    - {name: If-Match, in: header, schema: {type: string}}
                  responses:
                    "200": {description: replaced}
                    "412": {description: the ETag no longer matches; re-read and retry}
            """
        ),
        known_problems=_RA_OPTIONS,
        references=_RA10_REFERENCES,
    ),
    Rule(
        id="RA103",
        name="required-precondition-without-428",
        title="Precondition required but no 428 declared",
        family=FAMILY,
        severity="low",
        cwe="CWE-362",
        fix="Declare 428 Precondition Required for requests that omit the required precondition.",
        language="yaml",
        what_it_does=(
            "Flags an operation whose `If-Match` or `If-Unmodified-Since` header is `required: true` "
            "but that declares no `428 Precondition Required` response."
        ),
        why_bad=(
            "RFC 6585 defines 428 for exactly this: the server insists on a conditional request so "
            "that no client can skip the check and overwrite a concurrent change. Without it clients "
            "cannot tell a missing precondition from a malformed request."
        ),
        example=_spec(
            """
              /orders/{id}:
                delete:
                  parameters:
                    - {name: If-Match, in: header, required: true, schema: {type: string}}
                  responses:
                    "204": {description: deleted}
                    "412": {description: changed since read}
            """
        ),
        use_instead=_spec(
            """
              /orders/{id}:
                delete:
                  parameters:
                    - {name: If-Match, in: header, required: true, schema: {type: string}}
                  responses:
                    "204": {description: deleted}
                    "412": {description: changed since read}
                    "428": {description: If-Match is required}
            """
        ),
        known_problems=_RA_OPTIONS,
        references=_RA10_REFERENCES,
    ),
    Rule(
        id="RA104",
        name="precondition-failed-without-precondition-header",
        title="412 declared but no precondition header accepted",
        family=FAMILY,
        severity="low",
        cwe="CWE-1068",
        fix="Accept the If-Match header the 412 answers, or remove the 412 if nothing can fail it.",
        language="yaml",
        what_it_does=(
            "Flags an operation that declares `412 Precondition Failed` but accepts none of "
            "`If-Match`, `If-None-Match`, `If-Unmodified-Since`, `If-Modified-Since` (nor a body "
            "version field), like IBM's `ibm-precondition-headers`."
        ),
        why_bad=(
            "The 412 says the API guards against concurrent changes, but clients have no way to send "
            "the condition, so the guard is either missing or undocumented."
        ),
        example=_spec(
            """
              /orders/{id}:
                patch:
                  responses:
                    "200": {description: updated}
                    "412": {description: changed since read}
            """
        ),
        use_instead=_spec(
            """
              /orders/{id}:
                patch:
                  parameters:
                    - {name: If-Match, in: header, schema: {type: string}}
                  responses:
                    "200": {description: updated}
                    "412": {description: changed since read}
            """
        ),
        references=[
            "CWE-1068: Inconsistency Between Implementation and Documented Design",
            *_RA10_REFERENCES[1:],
        ],
    ),
    Rule(
        id="RA105",
        name="if-match-without-etag",
        title="If-Match accepted but the resource's GET returns no ETag",
        family=FAMILY,
        severity="medium",
        cwe="CWE-362",
        fix="Return an ETag header from the resource's GET (and from the write's 2xx response).",
        language="yaml",
        what_it_does=(
            "Flags an operation that accepts `If-Match` when the GET on the same path declares no "
            "`ETag` response header in any 2xx response (or, with no GET on the path, when the "
            "operation's own 2xx responses declare none), like IBM's `ibm-etag-header`."
        ),
        why_bad=(
            "If-Match needs the entity tag the client saw when it read the resource. If no response "
            "carries one, clients send `If-Match: *` or nothing, and the lost update is back."
        ),
        example=_spec(
            """
              /orders/{id}:
                get:
                  responses:
                    "200": {description: the order}
                patch:
                  parameters:
                    - {name: If-Match, in: header, schema: {type: string}}
                  responses:
                    "200": {description: updated}
                    "412": {description: changed since read}
            """
        ),
        use_instead=_spec(
            """
              /orders/{id}:
                get:
                  responses:
                    "200":
                      description: the order
                      headers:
                        ETag: {schema: {type: string}}
                patch:
                  parameters:
                    - {name: If-Match, in: header, schema: {type: string}}
                  responses:
                    "200": {description: updated}
                    "412": {description: changed since read}
            """
        ),
        references=_RA10_REFERENCES,
    ),
    Rule(
        id="RA111",
        name="unsafe-post-without-idempotency-key",
        title="Creating or charging POST with no idempotency key",
        family=FAMILY,
        severity="high",
        cwe="CWE-837",
        fix="Accept an Idempotency-Key header and replay the stored response for a repeated key.",
        language="yaml",
        what_it_does=(
            "Flags a POST that creates a resource, or pays, redeems, transfers, orders or otherwise "
            "spends something (judged from its path and operationId), that accepts no idempotency "
            "key: no `Idempotency-Key` header or vendor synonym (`X-Idempotency-Key`, "
            "`PayPal-Request-Id`, `Repeatability-Request-ID`, ...) and no body or query field such as "
            "`idempotency_key` or `request_id`. Severity is high for charging POSTs, medium for "
            "plain creates; POSTs that only search, log in or validate are left alone."
        ),
        why_bad=(
            "Networks time out and users double-click: the client cannot know whether the first "
            "request ran, so it retries, and without a key the server runs it twice, charging twice "
            "or redeeming a single-use coupon twice. Concurrent retries race each other too."
        ),
        example=_spec(
            """
              /payments:
                post:
                  operationId: createPayment
                  responses:
                    "201": {description: charged}
            """
        ),
        use_instead=_spec(
            """
              /payments:
                post:
                  operationId: createPayment
                  parameters:
                    - {name: Idempotency-Key, in: header, required: true, schema: {type: string}}
                  responses:
                    "201": {description: charged}
                    "409": {description: a request with this key is still in progress}
                    "422": {description: this key was used with a different body}
            """
        ),
        known_problems=(
            "Whether a POST creates or charges is guessed from words in its path and operationId. "
            + _RA_OPTIONS
        ),
        references=_RA11_REFERENCES,
    ),
    Rule(
        id="RA112",
        name="idempotency-key-without-conflict-responses",
        title="Idempotency key accepted but no 409/422 declared",
        family=FAMILY,
        severity="low",
        cwe="CWE-837",
        fix=(
            "Declare 409 for a retry while the first request is in flight and 422 for a reused key with a "
            "different body."
        ),
        language="yaml",
        what_it_does=(
            "Flags a creating or charging POST that takes an idempotency key but declares no `409` "
            "(a retry arrives while the first request is still running) or neither `422` nor `400` "
            "(the key is reused with a different body), as the Idempotency-Key draft specifies."
        ),
        why_bad=(
            "The concurrent retry is the race the key exists for. If the spec does not say what the "
            "second request gets while the first is in flight, servers tend to run it anyway."
        ),
        example=_spec(
            """
              /transfers:
                post:
                  parameters:
                    - {name: Idempotency-Key, in: header, schema: {type: string}}
                  responses:
                    "201": {description: transferred}
            """
        ),
        use_instead=_spec(
            """
              /transfers:
                post:
                  parameters:
                    - {name: Idempotency-Key, in: header, schema: {type: string}}
                  responses:
                    "201": {description: transferred}
                    "409": {description: a request with this key is still in progress}
                    "422": {description: this key was used with a different body}
            """
        ),
        known_problems=_RA_OPTIONS,
        references=_RA11_REFERENCES,
    ),
    Rule(
        id="RA121",
        name="state-change-without-429",
        title="State-changing operation with no 429 declared",
        family=FAMILY,
        severity="low",
        cwe="CWE-799",
        fix="Declare 429 Too Many Requests with a Retry-After header.",
        language="yaml",
        what_it_does=(
            "Flags a POST, PUT, PATCH, DELETE (or custom method) that declares no `429 Too Many "
            "Requests` response. POSTs that only search, log in or validate are left alone."
        ),
        why_bad=(
            "Race exploits send many requests at once (the single-packet attack sends 20-30 in one "
            "TCP packet). A documented limit is the server's promise to cap that, and tells honest "
            "clients how fast they may retry."
        ),
        example=_spec(
            """
              /coupons/{code}/redeem:
                post:
                  parameters:
                    - {name: Idempotency-Key, in: header, schema: {type: string}}
                  responses:
                    "200": {description: redeemed}
            """
        ),
        use_instead=_spec(
            """
              /coupons/{code}/redeem:
                post:
                  parameters:
                    - {name: Idempotency-Key, in: header, schema: {type: string}}
                  responses:
                    "200": {description: redeemed}
                    "429":
                      description: slow down
                      headers:
                        Retry-After: {schema: {type: integer}}
            """
        ),
        known_problems=_RA_OPTIONS,
        references=_RA12_REFERENCES,
    ),
    Rule(
        id="RA122",
        name="too-many-requests-without-retry-after",
        title="429 declared without Retry-After",
        family=FAMILY,
        severity="low",
        cwe="CWE-799",
        fix="Add a Retry-After header to the 429 response.",
        language="yaml",
        what_it_does=(
            "Flags a `429` response of any operation that declares no `Retry-After` header (any case)."
        ),
        why_bad=(
            "Throttled clients that are not told when to come back retry at once, all together, "
            "turning one burst into a stampede of synchronized retries."
        ),
        example=_spec(
            """
              /search:
                get:
                  responses:
                    "200": {description: results}
                    "429": {description: slow down}
            """
        ),
        use_instead=_spec(
            """
              /search:
                get:
                  responses:
                    "200": {description: results}
                    "429":
                      description: slow down
                      headers:
                        Retry-After: {schema: {type: integer}}
            """
        ),
        references=_RA12_REFERENCES,
    ),
    Rule(
        id="RA123",
        name="state-change-without-rate-limit-headers",
        title="State-changing operation's 2xx response declares no rate-limit headers",
        family=FAMILY,
        severity="low",
        cwe="CWE-799",
        fix="Declare RateLimit and RateLimit-Policy (or X-RateLimit-*) headers on success responses.",
        language="yaml",
        what_it_does=(
            "Flags a POST, PUT, PATCH, DELETE (or custom method) with a 2xx response that declares none "
            "of the rate-limit header families (`RateLimit`, `RateLimit-Policy`, "
            "`RateLimit-Limit/Remaining/Reset`, `X-RateLimit-*`, `X-Rate-Limit-*`, any case, or a name "
            "from `rate_limit_headers`). One finding per operation, naming its bare responses."
        ),
        why_bad=(
            "Clients that see their remaining quota on each success can pace their retries; clients "
            "that only learn about the limit from a 429 hit it together. OWASP's Spectral ruleset "
            "asks the same of every 2XX and 4XX response (case-sensitively); this rule asks it of the "
            "success responses of the operations a race would target."
        ),
        example=_spec(
            """
              /orders:
                post:
                  parameters:
                    - {name: Idempotency-Key, in: header, schema: {type: string}}
                  responses:
                    "201": {description: created}
            """
        ),
        use_instead=_spec(
            """
              /orders:
                post:
                  parameters:
                    - {name: Idempotency-Key, in: header, schema: {type: string}}
                  responses:
                    "201":
                      description: created
                      headers:
                        RateLimit: {schema: {type: string}}
                        RateLimit-Policy: {schema: {type: string}}
            """
        ),
        known_problems=_RA_OPTIONS,
        references=_RA12_REFERENCES,
    ),
]
