"""The memo of inlined helper runs (`core/inline_memo.py`) changes no finding: helpers reached
under a lock and without it, inside a transaction and outside one, report the same with the memo
on, off, and checked (every remembered run run again and compared), and the memo is used."""

from __future__ import annotations

from pathlib import Path

import pytest

from race_mcp import analyze_source
from race_mcp.analyzer.core import inline_memo
from race_mcp.analyzer.core.inline_memo import InlineMemo
from tests.corpus import read_expectations

FIXTURES = Path(__file__).parent / "fixtures" / "analyzer"
LOCKS = FIXTURES / "RC1xx_memo_contexts.py"

TRANSACTIONS = """
from django.db import transaction
from shop.models import Coupon


def label(code):
    return code.strip()


def find(code):
    label(code)
    return Coupon.objects.select_for_update().filter(code=code).first()


def redeem(code):
    label(code)
    coupon = find(code)
    if coupon.used:
        return False
    label(code)
    coupon.used = True
    coupon.save()
    return True


def redeem_atomically(code):
    label(code)
    with transaction.atomic():
        label(code)
        return redeem(code)


def redeem_loosely(code):
    label(code)
    return redeem(code)
"""


def _findings(
    source: str, label: str, mode: str, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[str, str, int]]:
    monkeypatch.setenv("RACE_MCP_INLINE_MEMO", mode)
    return sorted((f.rule_id, f.function or "", f.line) for f in analyze_source(source, label))


def _replays(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The helpers the memo replays (the real replay runs; its name is noted on the way)."""
    replayed: list[str] = []
    real = InlineMemo._replay

    def noting(self: InlineMemo, trace: inline_memo._Trace, frame: inline_memo.Frame) -> None:
        replayed.append(frame.function.qualname)
        real(self, trace, frame)

    monkeypatch.setattr(InlineMemo, "_replay", noting)
    return replayed


def test_a_helper_under_a_lock_and_without_reports_the_same_with_the_memo(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source, label = LOCKS.read_text(), str(LOCKS)
    replayed = _replays(monkeypatch)
    remembered = _findings(source, label, "on", monkeypatch)
    assert {"describe", "audit_line"} <= set(replayed)
    assert remembered == _findings(source, label, "off", monkeypatch)
    assert remembered == _findings(source, label, "check", monkeypatch)
    expected = read_expectations(source)
    assert {(rule, line) for rule, _, line in remembered} == expected.racy
    # Nothing inside the locked handlers, though the same helpers ran (and were remembered) there.
    for rule, first, last in expected.safe_spans:
        assert not [f for f in remembered if f[0] == rule and first <= f[2] <= last]


def test_a_helper_in_a_transaction_and_outside_reports_the_same_with_the_memo(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    label = "shop/coupons.py"
    replayed = _replays(monkeypatch)
    remembered = _findings(TRANSACTIONS, label, "on", monkeypatch)
    assert "label" in replayed
    assert remembered == _findings(TRANSACTIONS, label, "off", monkeypatch)
    assert remembered == _findings(TRANSACTIONS, label, "check", monkeypatch)
    # Reached from the loose root, the locking read outside a transaction locks nothing (RC302);
    # inside `atomic()` it holds the row, and the check-then-save after it is no race.
    locking = next(n for n, text in enumerate(TRANSACTIONS.splitlines(), 1) if "select_for_update" in text)
    assert remembered == [("RC302", "redeem", locking)]
