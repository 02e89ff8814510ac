"""Keys handed in already checked (`python/stores/_orm_caller_checks.py`): a helper inserting a
unique key its caller found missing is reported in the helper, naming the caller's check."""

from __future__ import annotations

from pathlib import Path

from race_mcp import analyze_paths
from race_mcp.config import Settings

PROJECT = Path(__file__).parent / "fixtures" / "projects" / "flask_mixin_crud"


def _helper_findings() -> list[tuple[str, int, str]]:
    report = analyze_paths([PROJECT], settings=Settings(jobs=1))
    assert not report.errors, report.errors
    return [(f.function or "", f.line, f.message) for f in report.findings if f.path.endswith("enrolment.py")]


def test_the_helper_is_reported_with_the_callers_check_named() -> None:
    found = _helper_findings()
    assert [(name, line) for name, line, _ in found] == [("issue_badge", 12)]
    message = found[0][2]
    assert "checked by a caller (kiosk.py:" in message
    assert "inserted at line 14" in message
    assert "unhandled IntegrityError" in message
