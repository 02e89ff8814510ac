"""RA1xx rules: each fixture's markers match the findings exactly, and each catalog example holds.

In `tests/fixtures/openapi/*.yaml`, `# racy: RA101` stands just above the operation line a finding
must report, and `# safe: RA101` above an operation that must not get that rule. Only the rules a
file marks are compared, so one fixture can focus on one rule while others fire elsewhere.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from race_mcp import Settings
from race_mcp.config import OpenApiSettings
from race_mcp.openapi import check_openapi
from race_mcp.rules import RULES, render_rule_markdown
from tests.corpus import MARKER, _next_code_line

FIXTURES = Path(__file__).parent / "fixtures" / "openapi"
FILES = sorted(FIXTURES.glob("*.yaml"))
RA_RULES = sorted(rule_id for rule_id in RULES if rule_id.startswith("RA"))


def _markers(path: Path) -> tuple[set[tuple[str, int]], set[tuple[str, int]]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    racy: set[tuple[str, int]] = set()
    safe: set[tuple[str, int]] = set()
    for index, text in enumerate(lines):
        match = MARKER.search(text)
        if match is None:
            continue
        target = _next_code_line(lines, index)
        for rule_id in (part.strip() for part in match.group("ids").split(",")):
            (racy if match.group("kind") == "racy" else safe).add((rule_id, target))
    return racy, safe


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_fixture_matches_its_markers(path: Path) -> None:
    racy, safe = _markers(path)
    marked_rules = {rule for rule, _line in racy | safe}
    report = check_openapi(path)
    reported = {(f.rule_id, f.line) for f in report.findings if f.rule_id in marked_rules}
    assert reported == racy, f"missed {sorted(racy - reported)}, unexpected {sorted(reported - racy)}"
    assert not reported & safe
    assert report.errors == []


def test_every_ra_rule_has_a_fixture_with_racy_and_safe_cases() -> None:
    racy_rules: set[str] = set()
    safe_rules: set[str] = set()
    for path in FILES:
        racy, safe = _markers(path)
        racy_rules |= {rule for rule, _ in racy}
        safe_rules |= {rule for rule, _ in safe}
    assert set(RA_RULES) <= racy_rules
    assert set(RA_RULES) <= safe_rules
    assert {path.stem for path in FILES} >= set(RA_RULES)


@pytest.mark.parametrize("rule_id", RA_RULES)
def test_catalog_example_is_flagged_and_use_instead_is_not(rule_id: str, tmp_path: Path) -> None:
    rule = RULES[rule_id]
    racy, fixed = tmp_path / "racy.yaml", tmp_path / "fixed.yaml"
    racy.write_text(rule.example, encoding="utf-8")
    fixed.write_text(rule.use_instead, encoding="utf-8")
    only = Settings(select=[rule_id])
    assert [f.rule_id for f in check_openapi(racy, settings=only).findings] == [rule_id]
    assert check_openapi(fixed, settings=only).findings == []


@pytest.mark.parametrize("rule_id", RA_RULES)
def test_rule_docs_render_yaml_examples(rule_id: str) -> None:
    text = render_rule_markdown(RULES[rule_id])
    assert "```yaml\nopenapi: 3.1.0" in text
    assert "```python" not in text
    for section in ("## What it does", "## Why is this bad?", "## Example", "Use instead:", "## References"):
        assert section in text


def test_finding_carries_operation_pointer_file_and_line() -> None:
    report = check_openapi(FIXTURES / "RA101.yaml", settings=Settings(select=["RA101"]))
    patch = next(f for f in report.findings if f.operation == "PATCH /orders/{id}")
    assert patch.path == str(FIXTURES / "RA101.yaml")
    assert patch.pointer == "/paths/~1orders~1{id}/patch"
    assert patch.line == 9
    assert patch.cwe == "CWE-362"
    assert "lost update" in patch.message and patch.fix


def _rules_for(path: Path, settings: Settings, operation: str) -> set[str]:
    return {f.rule_id for f in check_openapi(path, settings=settings).findings if f.operation == operation}


def test_range_and_default_coverage_are_policy_knobs(tmp_path: Path) -> None:
    spec = tmp_path / "ranges.yaml"
    spec.write_text(
        "openapi: 3.0.0\ninfo: {title: t, version: '1'}\npaths:\n"
        "  /a/{id}:\n    put:\n      parameters: [{name: If-Match, in: header, schema: {type: string}}]\n"
        "      responses: {'200': {description: ok}, 4XX: {description: client error}}\n"
        "  /b/{id}:\n    put:\n      parameters: [{name: If-Match, in: header, schema: {type: string}}]\n"
        "      responses: {'200': {description: ok}, default: {description: any error}}\n",
        encoding="utf-8",
    )
    strict = Settings(select=["RA102", "RA121"])
    assert _rules_for(spec, strict, "PUT /a/{id}") == {"RA102", "RA121"}
    ranges = Settings(select=["RA102", "RA121"], openapi=OpenApiSettings(range_covers=True))
    assert _rules_for(spec, ranges, "PUT /a/{id}") == set()
    assert _rules_for(spec, ranges, "PUT /b/{id}") == {"RA102", "RA121"}
    default = Settings(select=["RA102", "RA121"], openapi=OpenApiSettings(default_covers=True))
    assert _rules_for(spec, default, "PUT /b/{id}") == set()


def test_synonyms_and_severity_overrides_come_from_settings(tmp_path: Path) -> None:
    spec = tmp_path / "vendor.yaml"
    spec.write_text(
        "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n"
        "  /charges:\n    post:\n"
        "      parameters: [{name: X-Client-Token, in: header, schema: {type: string}}]\n"
        "      responses: {'201': {description: ok}}\n"
        "  /items/{id}:\n    patch:\n      requestBody: {content: {application/json: {schema:\n"
        "        {type: object, properties: {lock_counter: {type: integer}}}}}}\n"
        "      responses: {'200': {description: ok}, '409': {description: stale},\n"
        "        '429': {description: slow, headers: {X-Quota-Left: {schema: {type: integer}}}}}\n",
        encoding="utf-8",
    )
    default = check_openapi(spec)
    assert {(f.operation, f.rule_id) for f in default.findings} >= {
        ("POST /charges", "RA111"),
        ("PATCH /items/{id}", "RA101"),
        ("PATCH /items/{id}", "RA122"),
    }
    tuned = OpenApiSettings(
        idempotency_headers=["X-Client-Token"],
        version_fields=["lockCounter"],
        severity={"ra121": "high"},
    )
    report = check_openapi(spec, settings=Settings(openapi=tuned))
    rules = {(f.operation, f.rule_id): f for f in report.findings}
    assert ("POST /charges", "RA111") not in rules
    assert ("POST /charges", "RA112") in rules
    assert ("PATCH /items/{id}", "RA101") not in rules
    assert rules[("POST /charges", "RA121")].severity == "high"


def test_ignore_and_select_filter_rules() -> None:
    spec = FIXTURES / "RA111.yaml"
    assert {f.rule_id for f in check_openapi(spec, settings=Settings(select=["RA11"])).findings} <= {
        "RA111",
        "RA112",
    }
    ignored = check_openapi(spec, settings=Settings(ignore=["RA1"]))
    assert ignored.findings == [] and ignored.summary.findings == 0


# What each RA111 and RA101 says on operations shaped like three public payment APIs': the
# severity follows the evidence, and the message claims money only where the operation moves it.
SHAPE_EXPECTATIONS = {
    "shapes_square.yaml": {
        ("RA111", "POST /v2/apple-pay/domains"): (
            "medium",
            "creates a resource or performs an action ('register'",
        ),
        ("RA111", "POST /v2/payments"): (
            "high",
            "moves money ('payment' in its name and its body carries amount",
        ),
        ("RA111", "POST /v2/payments/{payment_id}/cancel"): (
            "low",
            "changes the state of an existing resource",
        ),
        ("RA111", "POST /v2/loyalty/rewards/{reward_id}/redeem"): ("high", "spends something single-use"),
        ("RA101", "DELETE /v2/orders/{order_id}"): ("medium", "deletes the resource with no precondition"),
    },
    "shapes_paypal.yaml": {
        ("RA111", "POST /v2/checkout/orders/{id}/track"): (
            "medium",
            "creates a resource or performs an action",
        ),
        ("RA111", "POST /v2/checkout/orders/{id}/authorize"): ("high", "moves money ('authorize'"),
        ("RA111", "POST /v2/invoicing/invoices/{invoice_id}/payments"): ("high", "moves money ('payment'"),
        ("RA111", "POST /v2/invoicing/invoices/{invoice_id}/remind"): (
            "medium",
            "('remind' in its operationId)",
        ),
        ("RA111", "POST /v1/payments/payment/{payment_id}/execute"): ("high", "moves money ('execute'"),
        ("RA111", "POST /v1/notifications/webhooks-events/{event_id}/resend"): ("medium", "('resend'"),
        ("RA101", "PATCH /v1/catalogs/products/{product_id}"): ("high", "where both touch the same fields"),
    },
    "shapes_adyen.yaml": {
        ("RA111", "POST /payments/{paymentPspReference}/refunds"): (
            "high",
            "moves money ('refund' in its name",
        ),
        ("RA111", "POST /balanceAccounts/{id}/transferLimits"): ("medium", "('create' in its name)"),
        ("RA111", "POST /merchants/{merchantId}/payoutSettings"): ("medium", "('add' in its name)"),
        ("RA111", "POST /balanceTransfers"): ("high", "moves money ('transfer' in its name and its body"),
        ("RA111", "POST /authorise"): ("high", "moves money ('authorise'"),
        ("RA111", "POST /cancelOrRefund"): ("high", "moves money ('refund'"),
        ("RA111", "POST /voidPendingRefund"): ("low", "('void' in its name)"),
        ("RA101", "PATCH /stores/{storeId}"): ("high", "changes the resource with no precondition"),
    },
}


@pytest.mark.parametrize("name", sorted(SHAPE_EXPECTATIONS))
def test_severity_and_wording_follow_the_evidence(name: str) -> None:
    findings = {(f.rule_id, f.operation): f for f in check_openapi(FIXTURES / name).findings}
    for (rule_id, operation), (severity, fragment) in SHAPE_EXPECTATIONS[name].items():
        finding = findings[(rule_id, operation)]
        assert (finding.severity, fragment in finding.message) == (severity, True), finding.message
        if "money" not in fragment:
            assert "money" not in finding.message, finding.message
    for finding in findings.values():
        if finding.rule_id == "RA101" and finding.operation and finding.operation.startswith("DELETE"):
            assert "overwrites" not in finding.message and finding.severity == "medium"


READS = [
    *((verb, "") for verb in ("search", "validate", "test", "calculate", "preview", "query", "list")),
    *((verb, "") for verb in ("lookup", "estimate", "verify", "batch-retrieve")),
    ("export", "      x-readonly: true\n"),
    ("run", "      security: [{oauth2: [things.read]}]\n"),
    ("go", "      summary: Retrieves the things\n"),
]


def test_a_post_that_only_reads_asks_for_no_key_and_no_429(tmp_path: Path) -> None:
    # Each is a read by a different piece of evidence, so none may fall back on the others.
    spec = tmp_path / "reads.yaml"
    spec.write_text(
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n"
        + "".join(
            f"  /things{index}/{segment}:\n    post:\n{extra}      responses: {{'200': {{description: k}}}}\n"
            for index, (segment, extra) in enumerate(READS)
        ),
        encoding="utf-8",
    )
    report = check_openapi(spec)
    assert report.spec is not None and report.spec.operations == 14
    assert report.findings == []
