"""Renderers: one snapshot each, plus the properties scripts and GitHub code scanning rely on.

Snapshots live in tests/snapshots/render/. After an intended change, regenerate them with
`RACE_MCP_UPDATE_SNAPSHOTS=1 scripts/test tests/test_render.py` and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from race_mcp import __version__
from race_mcp.findings import AnalysisReport, Evidence, FileError, Finding
from race_mcp.render import FINGERPRINT_KEY, render_json, render_sarif, render_text
from race_mcp.rules import RULES, render_rule_markdown

SNAPSHOTS = Path(__file__).parent / "snapshots" / "render"
ROOT = PurePosixPath("/project")
SarifCheck = Callable[[str], dict[str, Any]]  # the `check_sarif` fixture in conftest.py


def assert_snapshot(name: str, actual: str) -> None:
    path = SNAPSHOTS / name
    if os.environ.get("RACE_MCP_UPDATE_SNAPSHOTS"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"no snapshot {path}: run with RACE_MCP_UPDATE_SNAPSHOTS=1 and review it"
    assert actual == path.read_text(encoding="utf-8")


def coupon_finding(**changes: Any) -> Finding:
    finding = Finding(
        rule_id="RC101",
        title="Shared in-process state checked, then written after an await",
        severity="high",
        confidence="high",
        path="app/shop.py",
        line=8,
        end_line=12,
        column=5,
        function="redeem",
        route="POST /redeem/{code}",
        message="`coupons` is checked at line 9 and written at line 12 with an `await` in between.",
        evidence=[
            Evidence(line=8, role="read", code="coupon = coupons[code]"),
            Evidence(line=9, role="check", code='if coupon["used"]:'),
            Evidence(line=11, role="await", code="await asyncio.sleep(0.01)"),
            Evidence(line=12, role="write", code='coupon["used"] = True'),
        ],
        fix="Hold an asyncio.Lock across the check and the write.",
        cwe="CWE-362",
    )
    return finding.model_copy(update=changes)


def counter_finding() -> Finding:
    return Finding(
        rule_id="RC102",
        title="Shared in-process state read and written by a handler that runs in threads",
        severity="medium",
        confidence="low",
        path="app/stats.py",
        line=14,
        end_line=14,
        column=9,
        function="count",
        message="`hits` is updated with `+=` in a handler that runs in a thread pool.",
        evidence=[Evidence(line=14, role="write", code="hits += 1")],
        cwe="CWE-362",
    )


def sample_report(max_findings: int | None = None) -> AnalysisReport:
    errors = [
        FileError(path="app/broken.py", message="app/broken.py:3:1: syntax error: invalid syntax"),
        FileError(path="vendor/blob.py", message="binary file (contains NUL bytes)"),
    ]
    findings = [counter_finding(), coupon_finding()]
    return AnalysisReport.build(findings, errors, files_analyzed=5, max_findings=max_findings)


# --------------------------------------------------------------------------------------------- text


def test_text_snapshot() -> None:
    assert_snapshot("report.txt", render_text(sample_report()))


def test_text_summary_when_clean_and_when_truncated() -> None:
    clean = AnalysisReport.build([], [], files_analyzed=3)
    assert render_text(clean) == "No findings in 3 files analyzed.\n"
    truncated = render_text(sample_report(max_findings=1))
    assert "app/stats.py" not in truncated
    assert truncated.endswith(
        "Found 2 findings (1 high, 1 medium) in 5 files analyzed; showing the first 1; 2 errors.\n"
    )


def test_text_color_only_adds_escape_codes() -> None:
    report = sample_report()
    colored = render_text(report, color=True)
    assert "\x1b[31m[high/high]\x1b[0m" in colored
    assert "\x1b[33m[medium/low]\x1b[0m" in colored
    assert re.sub(r"\x1b\[\d+m", "", colored) == render_text(report)


# --------------------------------------------------------------------------------------------- json


def test_json_snapshot() -> None:
    assert_snapshot("report.json", render_json(sample_report()))


def test_json_is_the_design_contract() -> None:
    report = sample_report(max_findings=1)
    data = json.loads(render_json(report))
    assert set(data) == {"findings", "errors", "summary"}
    assert set(data["findings"][0]) == set(Finding.model_fields)
    assert data["errors"][0] == {
        "path": "app/broken.py",
        "message": "app/broken.py:3:1: syntax error: invalid syntax",
        "code": "bad-input",
    }
    assert data["summary"]["findings"] == 2
    assert data["summary"]["shown"] == 1
    assert data["summary"]["truncated"] is True
    assert AnalysisReport.model_validate(data) == report


# -------------------------------------------------------------------------------------------- sarif


def sarif(report: AnalysisReport, check: SarifCheck, root: PurePosixPath = ROOT) -> dict[str, Any]:
    return check(render_sarif(report, source_root=root))


def test_sarif_snapshot(check_sarif: SarifCheck) -> None:
    log = sarif(sample_report(), check_sarif)
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["semanticVersion"] == __version__
    # Rule descriptors and indexes follow the catalog, which grows (both are checked against it
    # elsewhere); the snapshot covers everything else.
    del driver["rules"]
    for result in log["runs"][0]["results"]:
        result["ruleIndex"] = "<index>"
    driver["semanticVersion"] = driver["version"] = "<version>"
    assert_snapshot("report.sarif.json", json.dumps(log, indent=2) + "\n")


def test_sarif_rules_document_the_catalog(check_sarif: SarifCheck) -> None:
    rules = sarif(sample_report(), check_sarif)["runs"][0]["tool"]["driver"]["rules"]
    assert [rule["id"] for rule in rules] == list(RULES)
    levels = {"high": "error", "medium": "warning", "low": "note"}
    for descriptor, rule in zip(rules, RULES.values(), strict=True):
        assert descriptor["name"] == rule.name
        assert descriptor["shortDescription"]["text"] == rule.title
        assert descriptor["fullDescription"]["text"] == rule.what_it_does
        assert descriptor["help"]["markdown"] == render_rule_markdown(rule)
        assert descriptor["defaultConfiguration"]["level"] == levels[rule.severity]
        assert f"external/cwe/{rule.cwe.lower()}" in descriptor["properties"]["tags"]


def test_sarif_result_levels_and_evidence(check_sarif: SarifCheck) -> None:
    results = sarif(sample_report(), check_sarif)["runs"][0]["results"]
    assert [(r["ruleId"], r["level"]) for r in results] == [("RC101", "error"), ("RC102", "warning")]
    coupon = results[0]
    assert coupon["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "app/shop.py", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 8, "startColumn": 5, "endLine": 12},
    }
    steps = coupon["codeFlows"][0]["threadFlows"][0]["locations"]
    assert [s["location"]["physicalLocation"]["region"]["startLine"] for s in steps] == [8, 9, 11, 12]
    assert [r["message"]["text"] for r in coupon["relatedLocations"]][1] == 'check: if coupon["used"]:'


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("app/shop.py", {"uri": "app/shop.py", "uriBaseId": "%SRCROOT%"}),
        ("./app/shop.py", {"uri": "app/shop.py", "uriBaseId": "%SRCROOT%"}),
        ("/project/app/shop.py", {"uri": "app/shop.py", "uriBaseId": "%SRCROOT%"}),
        ("my app/shop #1.py", {"uri": "my%20app/shop%20%231.py", "uriBaseId": "%SRCROOT%"}),
        ("../elsewhere/shop.py", {"uri": "file:///elsewhere/shop.py"}),
        ("/srv/shop.py", {"uri": "file:///srv/shop.py"}),
    ],
)
def test_sarif_uris_are_relative_to_the_source_root(
    path: str, expected: dict[str, str], check_sarif: SarifCheck
) -> None:
    report = AnalysisReport.build([coupon_finding(path=path)], [], files_analyzed=1)
    location = sarif(report, check_sarif)["runs"][0]["results"][0]["locations"][0]
    assert location["physicalLocation"]["artifactLocation"] == expected


def fingerprint(finding: Finding, check: SarifCheck) -> str:
    report = AnalysisReport.build([finding], [], files_analyzed=1)
    value: str = sarif(report, check)["runs"][0]["results"][0]["partialFingerprints"][FINGERPRINT_KEY]
    return value


def test_sarif_fingerprint_survives_moved_lines_but_not_changed_code(check_sarif: SarifCheck) -> None:
    original = coupon_finding()
    moved = coupon_finding(
        line=40,
        end_line=44,
        evidence=[step.model_copy(update={"line": step.line + 32}) for step in original.evidence],
    )
    reindented = coupon_finding(
        evidence=[
            step.model_copy(update={"code": "  " + step.code.replace(" ", "  ")})
            for step in original.evidence
        ]
    )
    changed = coupon_finding(
        evidence=[*original.evidence[:3], Evidence(line=12, role="write", code='coupon["used"] = 1')]
    )
    assert fingerprint(moved, check_sarif) == fingerprint(original, check_sarif)
    assert fingerprint(reindented, check_sarif) == fingerprint(original, check_sarif)
    assert fingerprint(changed, check_sarif) != fingerprint(original, check_sarif)
    assert fingerprint(coupon_finding(function="refund"), check_sarif) != fingerprint(original, check_sarif)


def test_sarif_identical_findings_get_distinct_fingerprints(check_sarif: SarifCheck) -> None:
    report = AnalysisReport.build([coupon_finding(), coupon_finding(line=30)], [], files_analyzed=1)
    results = sarif(report, check_sarif)["runs"][0]["results"]
    first, second = (r["partialFingerprints"][FINGERPRINT_KEY] for r in results)
    assert first != second


def test_sarif_describes_rules_missing_from_the_catalog(check_sarif: SarifCheck) -> None:
    spec_finding = coupon_finding(rule_id="RA999", title="Spec lacks a precondition", severity="low")
    report = AnalysisReport.build([spec_finding], [], files_analyzed=1)
    run = sarif(report, check_sarif)["runs"][0]
    result = run["results"][0]
    descriptor = run["tool"]["driver"]["rules"][result["ruleIndex"]]
    assert descriptor["id"] == "RA999"
    assert descriptor["shortDescription"]["text"] == "Spec lacks a precondition"
    assert result["level"] == "note"


def test_sarif_reports_errors_as_notifications(check_sarif: SarifCheck) -> None:
    run = sarif(sample_report(), check_sarif)["runs"][0]
    notifications = run["invocations"][0]["toolExecutionNotifications"]
    assert [n["message"]["text"] for n in notifications] == [
        "app/broken.py:3:1: syntax error: invalid syntax",
        "vendor/blob.py: binary file (contains NUL bytes)",
    ]
    assert notifications[1]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "vendor/blob.py"
