"""The demo's report on the bundled shop: the racy shop's findings, the safe twin's silence, the text story.

The report is the one `race-mcp demo --format json` printed in the session's single demo run
(`demo_run` in conftest.py).

The RC1xx expectations name the in-memory races that `shop.py` really has (the burst tests in
test_demo_shop.py prove each one at runtime); they fail until the RC1xx analyzer recognises them.
"""

from __future__ import annotations

import json

import pytest

from race_mcp.demo import DEMO_DIR, DemoReport, render_demo_text
from tests._demo_run import DemoRun

# (rule, route, handler) of every in-process race in shop.py.
EXPECTED_RC1 = {
    ("RC101", "POST /gift-cards/{code}/spend", "spend_gift_card"),
    ("RC101", "POST /loyalty/{account_id}/rewards", "redeem_reward"),
    ("RC102", "POST /accounts/{account_id}/verification-codes", "send_verification_code"),
    ("RC102", "GET /products/{product_id}", "get_product"),
}


# (rule, route) of the database races in shop.py that static analysis finds: SELECT, decide, unguarded
# UPDATE; check-then-insert with no UNIQUE; and money handlers that take no Idempotency-Key.
EXPECTED_STORE = {
    ("RC201", "POST /wallet/withdraw"),
    ("RC201", "POST /wallet/transfer"),
    ("RC201", "POST /coupons/{code}/redeem"),
    ("RC201", "POST /orders"),
    ("RC203", "POST /accounts"),
    ("RC601", "POST /wallet/withdraw"),
    ("RC601", "POST /wallet/transfer"),
    ("RC601", "POST /coupons/{code}/redeem"),
    ("RC601", "POST /orders"),
}


# Every test here reads the whole demo story (15-30 s, run once per session).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def report(demo_run: DemoRun) -> DemoReport:
    return demo_run.report


def test_steps_come_in_order_with_relative_paths(report: DemoReport) -> None:
    assert [step.key for step in report.steps][:4] == [
        "analyze-shop",
        "analyze-safe-twin",
        "check-spec",
        "prove-races",
    ]
    assert report.demo_dir == str(DEMO_DIR)
    for step in report.steps[:2]:
        assert step.analysis is not None
        assert step.analysis.errors == []
        assert step.analysis.summary.files_analyzed == 1
        assert {finding.path for finding in step.analysis.findings} <= {"shop.py", "shop_fixed.py"}


def test_the_safe_twin_has_no_findings(report: DemoReport) -> None:
    twin = report.step("analyze-safe-twin")
    assert twin.analysis is not None
    assert twin.analysis.findings == []
    assert twin.status == "passed"
    assert twin.summary.startswith("0 findings in shop_fixed.py")


def test_the_racy_shop_has_every_in_process_race(report: DemoReport) -> None:
    racy = report.step("analyze-shop")
    assert racy.analysis is not None
    found = {
        (finding.rule_id, finding.route, finding.function)
        for finding in racy.analysis.findings
        if finding.rule_id.startswith("RC1")
    }
    assert found == EXPECTED_RC1
    assert all(finding.path == "shop.py" for finding in racy.analysis.findings)
    assert racy.status == "passed"
    assert report.passed


def test_text_tells_the_story_step_by_step(report: DemoReport) -> None:
    text = render_demo_text(report)
    assert text == report.render_text()
    racy, twin = report.step("analyze-shop"), report.step("analyze-safe-twin")
    assert f"1. Static analysis of the demo shop: {racy.summary} [{racy.status}]" in text
    assert f"2. Static analysis of the safe twin: {twin.summary} [{twin.status}]" in text
    for detail in racy.details:
        assert f"   {detail}\n" in text
    assert text.rstrip().splitlines()[-1].startswith("Demo ")


def test_json_round_trips(report: DemoReport) -> None:
    payload = json.loads(report.model_dump_json())
    assert payload["passed"] == report.passed
    assert [step["key"] for step in payload["steps"]] == [step.key for step in report.steps]
    assert DemoReport.model_validate(payload).steps == report.steps


def test_the_racy_shop_has_its_database_races(report: DemoReport) -> None:
    racy = report.step("analyze-shop")
    assert racy.analysis is not None
    found = {
        (finding.rule_id, finding.route)
        for finding in racy.analysis.findings
        if not finding.rule_id.startswith("RC1")
    }
    assert found == EXPECTED_STORE


def test_the_contract_step_links_spec_and_code(report: DemoReport) -> None:
    step = report.step("check-spec")
    assert step.status == "passed", step.summary
    assert any(line.startswith("POST /coupons/{code}/redeem: the spec lacks RA111") for line in step.details)
    assert "RC201" in next(line for line in step.details if line.startswith("POST /wallet/withdraw"))


def test_every_demo_race_is_proven_by_a_real_burst(report: DemoReport) -> None:
    step = report.step("prove-races")
    assert step.status == "passed", "\n".join(step.details)
    assert step.summary.startswith("3 of 3 races proven")
    assert all(": race (" in line for line in step.details)
