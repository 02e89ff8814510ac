"""Finding messages read as sentences for every store (issue 11: "`X` rows is checked", RC303
findings carrying RC301's outcome)."""

from __future__ import annotations

import pytest

from race_mcp import analyze_source
from race_mcp.analyzer.core.checks import message
from race_mcp.analyzer.core.stores import spec, stores
from race_mcp.analyzer.python import stores as _registered  # noqa: F401  (registers the stores)
from race_mcp.findings import Evidence

_STEPS = [
    Evidence(line=3, role="read", code="row = load()"),
    Evidence(line=4, role="check", code="if row.used:"),
    Evidence(line=6, role="write", code="db.session.add(Redemption(row=row))"),
]


@pytest.mark.parametrize("name", sorted(stores()))
def test_the_verb_agrees_with_every_store_label(name: str) -> None:
    store = spec(name)
    text = message(_STEPS, f"{name}:things", "sequential", None, True, {})
    label = store.label("things")
    plural = label.endswith(("rows", "items", "documents", "keys"))
    assert store.plural == plural, f"{name}: label {label!r} but plural={store.plural}"
    verb, pronoun = ("are", "them") if plural else ("is", "it")
    assert f" {verb} checked at line 4" in text and f"holding {pronoun} in between" in text, text


@pytest.mark.parametrize("name", sorted(n for n in stores() if spec(n).insert_rules))
def test_insert_rules_say_what_an_insert_race_does(name: str) -> None:
    store = spec(name)
    for rule in store.insert_rules:
        text = message(_STEPS, f"{name}:things", "sequential", None, True, {}, rule)
        assert store.insert_outcome is not None and store.insert_outcome in text
        assert store.outcome not in text
        # A row lock held by the check locks no missing row: the message names what is missing instead.
        assert "holding" not in text and "nothing that refuses a second insert" in text, text


def test_an_orm_check_then_add_says_duplicates_not_limits() -> None:
    source = """
from flask import Flask
from .db import db, Team

app = Flask(__name__)


@app.route("/teams", methods=["POST"])
def create_team():
    existing = Team.query.filter_by(name="red").first()
    if existing:
        return "taken", 409
    db.session.add(Team(name="red"))
    db.session.commit()
    return "ok"
"""
    findings = [f for f in analyze_source(source, "teams.py") if f.rule_id == "RC303"]
    assert findings, "the check-then-insert is no longer found"
    assert "`Team` rows are checked" in findings[0].message
    assert "all find nothing and all insert" in findings[0].message
    assert "limits are overrun" not in findings[0].message


def test_a_refused_duplicate_does_not_say_nothing_refuses_it() -> None:
    store = spec("orm")
    text = message(_STEPS, "orm:things", "sequential", None, True, {}, "RC303", refused=True)
    assert store.refused_outcome is not None and store.refused_outcome in text
    assert "nothing that refuses" not in text, text


def test_a_decided_row_write_says_the_check_is_passed_twice_not_only_limits() -> None:
    # A status transition is as much "decided" as a balance limit: the outcome names both.
    source = """
from flask import Flask
from .db import db, Order

app = Flask(__name__)


@app.route("/orders/<int:order_id>/ship", methods=["POST"])
def ship(order_id):
    order = Order.query.get(order_id)
    if order.status != "paid":
        return "not paid", 409
    order.status = "shipped"
    db.session.commit()
    send_parcel(order)
    return "ok"
"""
    findings = [f for f in analyze_source(source, "orders.py") if f.rule_id in ("RC301", "RC304")]
    assert findings, "the unlocked transition is no longer found"
    assert "pass the check before any" in findings[0].message and "more than once" in findings[0].message
