"""The shop's own functional checks: what one request at a time must still do after a fix.

Each check resets the shop, sends a few sequential requests and compares the answers and the state
they leave with what the seed data says they must be. A fix that removes a race by refusing every
request, or by moving money twice, fails here even when the bursts look fine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx

__all__ = ["FUNCTIONAL_CHECKS", "CheckFailed", "CheckResult", "run_functional_checks"]


class CheckFailed(Exception):
    """A functional check saw an answer or a state it should not have."""


@dataclass(frozen=True)
class CheckResult:
    name: str
    problem: str | None  # None: the check passed


def _expect(condition: bool, problem: str) -> None:
    if not condition:
        raise CheckFailed(problem)


def _status(response: httpx.Response, expected: int, what: str) -> httpx.Response:
    _expect(response.status_code == expected, f"{what}: HTTP {response.status_code}, expected {expected}")
    return response


def _field(http: httpx.Client, path: str, name: str) -> object:
    return _status(http.get(path), 200, f"GET {path}").json()[name]


def _coupon_redeems_once(http: httpx.Client) -> None:
    first = _status(http.post("/coupons/WELCOME10/redeem", json={"account_id": 3}), 200, "first redemption")
    _expect(
        first.json()["credited_cents"] == 1000, f"credited {first.json()['credited_cents']}, expected 1000"
    )
    _status(http.post("/coupons/WELCOME10/redeem", json={"account_id": 2}), 409, "second redemption")
    _expect(_field(http, "/accounts/3", "balance_cents") == 1000, "the redeemer's balance is not 10.00")
    _expect(_field(http, "/accounts/2", "balance_cents") == 2500, "the refused redeemer was credited")


def _withdrawal_reduces_the_balance(http: httpx.Client) -> None:
    taken = _status(
        http.post("/wallet/withdraw", json={"account_id": 1, "amount_cents": 4000}), 200, "withdrawal"
    )
    _expect(taken.json()["balance_cents"] == 6000, f"receipt balance {taken.json()['balance_cents']}")
    too_much = {"account_id": 1, "amount_cents": 7000}
    _status(http.post("/wallet/withdraw", json=too_much), 409, "overdraft")
    _expect(_field(http, "/accounts/1", "balance_cents") == 6000, "the balance is not 60.00 after it")


def _transfer_moves_money(http: httpx.Client) -> None:
    body = {"from_account_id": 1, "to_account_id": 2, "amount_cents": 2500}
    moved = _status(http.post("/wallet/transfer", json=body), 200, "transfer")
    _expect(moved.json()["from_balance_cents"] == 7500, "the sender's receipt balance is not 75.00")
    balances = (_field(http, "/accounts/1", "balance_cents"), _field(http, "/accounts/2", "balance_cents"))
    _expect(balances == (7500, 5000), f"balances {balances}, expected (7500, 5000)")


def _order_decrements_stock(http: httpx.Client) -> None:
    order = _status(
        http.post("/orders", json={"account_id": 1, "product_id": 2, "quantity": 3}), 201, "order of 3 mugs"
    )
    _expect(order.json()["total_cents"] == 3 * 1800 + 499 + 2 * 150, "the order total is wrong")
    _expect(_field(http, "/products/2", "stock") == 37, "the mug stock is not 37 after the order")
    _status(http.post("/orders", json={"account_id": 2, "product_id": 1}), 201, "order of the last print")
    _status(http.post("/orders", json={"account_id": 3, "product_id": 1}), 409, "order when sold out")


def _gift_card_spends(http: httpx.Client) -> None:
    spent = _status(http.post("/gift-cards/GC-5000/spend", json={"amount_cents": 2000}), 200, "spend")
    _expect(spent.json()["balance_cents"] == 3000, "the gift card balance is not 30.00")
    _status(http.post("/gift-cards/GC-5000/spend", json={"amount_cents": 3001}), 409, "overspend")


FUNCTIONAL_CHECKS: tuple[tuple[str, Callable[[httpx.Client], None]], ...] = (
    ("a coupon redeems once", _coupon_redeems_once),
    ("a withdrawal reduces the balance", _withdrawal_reduces_the_balance),
    ("a transfer moves money", _transfer_moves_money),
    ("an order decrements the stock", _order_decrements_stock),
    ("a gift card spends its balance", _gift_card_spends),
)


def run_functional_checks(base_url: str) -> list[CheckResult]:
    """Every check against the shop at `base_url`, each from the seed state; never raises for a failure."""
    results = []
    with httpx.Client(base_url=base_url, timeout=30.0) as http:
        for name, check in FUNCTIONAL_CHECKS:
            try:
                _status(http.post("/admin/reset"), 204, "reset")
                check(http)
            except CheckFailed as exc:
                results.append(CheckResult(name, str(exc)))
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                results.append(CheckResult(name, f"{type(exc).__name__}: {exc}"))
            else:
                results.append(CheckResult(name, None))
    return results
