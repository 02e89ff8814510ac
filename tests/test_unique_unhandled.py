"""Issue 11: an insert on a unique key that nothing handles the violation of is reported at low
severity, with a message that says no duplicate is stored but the losing request fails unhandled;
without the unique key the same shape keeps its duplicate-creating message and severity."""

from __future__ import annotations

from pathlib import Path

from race_mcp import Finding, analyze_source

FIXTURE = Path(__file__).parent / "fixtures" / "analyzer" / "RC3xx_unique_unhandled.py"


def _findings_by_function() -> dict[str, Finding]:
    findings = analyze_source(FIXTURE.read_text(), FIXTURE.name)
    return {finding.function or "": finding for finding in findings}


def test_unique_key_without_handler_is_low_and_says_the_loser_fails() -> None:
    found = _findings_by_function()
    for function, rule in (
        ("submit_flag", "RC303"),
        ("claim_nickname_by_hand", "RC303"),
        ("register_member", "RC303"),
        ("_record_unlock", "RC303"),
        ("award_badge", "RC203"),
    ):
        finding = found[function]
        assert (finding.rule_id, finding.severity) == (rule, "low"), function
        assert "unique constraint refuses the duplicate" in finding.message
        assert "unhandled IntegrityError" in finding.message
        assert "duplicates are created" not in finding.message


def test_without_unique_key_the_duplicate_race_keeps_its_severity() -> None:
    found = _findings_by_function()
    for function in ("save_bookmark", "save_bookmark_caught"):
        finding = found[function]
        assert finding.rule_id == "RC303"
        assert finding.severity in ("medium", "high")
        assert "duplicates are created" in finding.message


def test_handled_violations_are_not_reported() -> None:
    found = _findings_by_function()
    handled = {
        "submit_flag_handled",
        "submit_flag_prechecked_and_handled",
        "unlock_hint",
        "claim_nickname",
        "claim_nicknames_in_bulk",
        "claim_nickname_catch_all",
        "register_member_handled",
        "award_badge_on_conflict",
        "award_badge_handled",
    }
    assert not handled & found.keys()


def test_add_before_a_handled_commit_is_covered() -> None:
    """`session.add` sends no INSERT: the commit in a `try` that catches IntegrityError raises it."""
    source = """
from flask import Flask, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Column, Integer, String
from sqlalchemy.exc import IntegrityError

app = Flask(__name__)
db = SQLAlchemy(app)


class Member(db.Model):
    id = Column(Integer, primary_key=True)
    email = Column(String(200), unique=True)


@app.post("/members")
def register():
    email = request.form["email"]
    if Member.query.filter_by(email=email).first() is not None:
        return "taken", 409
    db.session.add(Member(email=email))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return "taken", 409
    return "", 201
"""
    assert [f.rule_id for f in analyze_source(source, "members.py")] == []
    unhandled = source.replace("except IntegrityError:", "except KeyError:")
    assert [(f.rule_id, f.severity) for f in analyze_source(unhandled, "members.py")] == [("RC303", "low")]
