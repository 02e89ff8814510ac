"""The bundled demo shop and its safe twin, served by real uvicorn processes on loopback.

Functional checks run against both apps, one request at a time. The race checks fire bursts of 20
identical requests with a plain `asyncio.gather` of httpx requests: in `shop.py` nearly every burst
(at least 19 of 20, or 9 of 10 for the secondary scenarios) overruns the limit, in `shop_fixed.py`
none ever does and the state it leaves is exactly the sequential one.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI
from fastapi.routing import APIRoute

from race_mcp.demo import shop, shop_fixed
from race_mcp.demo._server import RunningShop, serve_shop
from race_mcp.errors import BurstError

DEMO_DIR = Path(shop.__file__).parent
BURST_SIZE = 20
FIXED_TRIALS = 6


@pytest.fixture(scope="module")
def racy_shop() -> Iterator[RunningShop]:
    with serve_shop("shop") as running:
        yield running


@pytest.fixture(scope="module")
def fixed_shop() -> Iterator[RunningShop]:
    with serve_shop("shop_fixed") as running:
        yield running


@pytest.fixture(params=["shop", "shop_fixed"])
def client(request: pytest.FixtureRequest) -> Iterator[httpx.Client]:
    """A client for one of the two shops, reset to the seed state."""
    running: RunningShop = request.getfixturevalue("racy_shop" if request.param == "shop" else "fixed_shop")
    with httpx.Client(base_url=running.base_url, timeout=10.0) as http:
        assert http.post("/admin/reset").status_code == 204
        yield http


def balance(http: httpx.Client, account_id: int) -> int:
    response = http.get(f"/accounts/{account_id}")
    assert response.status_code == 200
    value: int = response.json()["balance_cents"]
    return value


# --- functional behaviour, one request at a time ---------------------------------------------------


def test_health_names_the_shop(client: httpx.Client) -> None:
    assert client.get("/health").json()["status"] == "ok"


def test_coupon_redeems_once(client: httpx.Client) -> None:
    first = client.post("/coupons/WELCOME10/redeem", json={"account_id": 3})
    assert first.status_code == 200
    assert first.json() == {
        "code": "WELCOME10",
        "account_id": 3,
        "credited_cents": 1000,
        "balance_cents": 1000,
    }
    again = client.post("/coupons/WELCOME10/redeem", json={"account_id": 2})
    assert again.status_code == 409
    assert client.get("/coupons/WELCOME10").json()["redeemed_by"] == 3
    assert balance(client, 2) == 2500
    assert client.post("/coupons/NOPE/redeem", json={"account_id": 3}).status_code == 404


def test_buying_decrements_stock_and_refuses_when_sold_out(client: httpx.Client) -> None:
    order = client.post("/orders", json={"account_id": 1, "product_id": 2, "quantity": 3})
    assert order.status_code == 201
    assert order.json()["total_cents"] == 3 * 1800 + 499 + 2 * 150
    assert client.get("/products/2").json()["stock"] == 37

    assert client.post("/orders", json={"account_id": 2, "product_id": 1}).status_code == 201
    assert client.get("/products/1").json()["stock"] == 0
    assert client.post("/orders", json={"account_id": 3, "product_id": 1}).status_code == 409
    assert client.post("/orders", json={"account_id": 3, "product_id": 99}).status_code == 404


def test_transfer_moves_money(client: httpx.Client) -> None:
    moved = client.post(
        "/wallet/transfer", json={"from_account_id": 1, "to_account_id": 2, "amount_cents": 2500}
    )
    assert moved.status_code == 200
    assert moved.json()["from_balance_cents"] == 7500
    assert (balance(client, 1), balance(client, 2)) == (7500, 5000)

    too_much = {"from_account_id": 2, "to_account_id": 3, "amount_cents": 5001}
    assert client.post("/wallet/transfer", json=too_much).status_code == 409
    same = {"from_account_id": 2, "to_account_id": 2, "amount_cents": 1}
    assert client.post("/wallet/transfer", json=same).status_code == 422
    assert (balance(client, 2), balance(client, 3)) == (5000, 0)


def test_withdraw_debits_the_balance(client: httpx.Client) -> None:
    taken = client.post("/wallet/withdraw", json={"account_id": 1, "amount_cents": 4000})
    assert taken.status_code == 200
    assert taken.json()["balance_cents"] == 6000
    assert client.post("/wallet/withdraw", json={"account_id": 1, "amount_cents": 7000}).status_code == 409
    assert balance(client, 1) == 6000


def test_signup_refuses_a_taken_email(client: httpx.Client) -> None:
    created = client.post("/accounts", json={"email": "dave@example.com", "name": "Dave"})
    assert created.status_code == 201
    assert created.json()["balance_cents"] == 0
    again = client.post("/accounts", json={"email": "DAVE@example.com", "name": "Dave 2"})
    assert again.status_code == 409
    undeliverable = client.post("/accounts", json={"email": "x@example.invalid", "name": "X"})
    assert undeliverable.status_code == 422


def test_in_memory_features(client: httpx.Client) -> None:
    spent = client.post("/gift-cards/GC-5000/spend", json={"amount_cents": 2000})
    assert spent.json() == {"code": "GC-5000", "spent_cents": 2000, "balance_cents": 3000}
    assert client.post("/gift-cards/GC-5000/spend", json={"amount_cents": 3001}).status_code == 409

    reward = client.post("/loyalty/1/rewards", json={"reward": "coffee-mug"})
    assert reward.json()["points_left"] == 100
    assert client.post("/loyalty/1/rewards", json={"reward": "coffee-mug"}).status_code == 409
    assert client.get("/loyalty/1").json()["points"] == 100

    statuses = [client.post("/accounts/2/verification-codes").status_code for _ in range(4)]
    assert statuses == [202, 202, 202, 429]


def test_product_price_change_needs_a_matching_if_match(client: httpx.Client) -> None:
    page = client.get("/products/2")
    etag = page.headers["etag"]
    assert client.patch("/products/2", json={"price_cents": 1900}).status_code == 428
    assert (
        client.patch("/products/2", json={"price_cents": 1900}, headers={"If-Match": '"999"'}).status_code
        == 412
    )
    changed = client.patch("/products/2", json={"price_cents": 1900}, headers={"If-Match": etag})
    assert changed.status_code == 200
    assert changed.json()["price_cents"] == 1900
    assert changed.headers["etag"] != etag
    assert (
        client.patch("/products/2", json={"price_cents": 2000}, headers={"If-Match": etag}).status_code == 412
    )


def test_account_rename(client: httpx.Client) -> None:
    renamed = client.patch("/accounts/2", json={"name": "Robert"})
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Robert"
    assert renamed.headers["etag"] == '"2"'
    assert client.patch("/accounts/99", json={"name": "Nobody"}).status_code == 404


def test_reset_restores_the_seed_state(client: httpx.Client) -> None:
    client.post("/coupons/SPRING25/redeem", json={"account_id": 2})
    client.post("/orders", json={"account_id": 2, "product_id": 1})
    client.post("/gift-cards/GC-2500/spend", json={"amount_cents": 2500})
    client.post("/loyalty/2/rewards", json={"reward": "free-shipping"})
    client.post("/accounts", json={"email": "erin@example.com", "name": "Erin"})
    for _ in range(3):
        client.post("/accounts/1/verification-codes")

    assert client.post("/admin/reset").status_code == 204

    assert client.get("/coupons/SPRING25").json()["redeemed_by"] is None
    assert balance(client, 2) == 2500
    assert client.get("/products/1").json()["stock"] == 1
    assert client.get("/gift-cards/GC-2500").json()["balance_cents"] == 2500
    assert client.get("/loyalty/2").json()["points"] == 120
    assert client.get("/accounts/4").status_code == 404
    assert client.post("/accounts/1/verification-codes").status_code == 202


def test_the_fixed_shop_replays_an_idempotent_transfer(fixed_shop: RunningShop) -> None:
    with httpx.Client(base_url=fixed_shop.base_url, timeout=10.0) as http:
        http.post("/admin/reset")
        body = {"from_account_id": 1, "to_account_id": 3, "amount_cents": 1000}
        key = {"Idempotency-Key": "transfer-7f3a"}
        first = http.post("/wallet/transfer", json=body, headers=key)
        retry = http.post("/wallet/transfer", json=body, headers=key)
        assert first.status_code == retry.status_code == 200
        assert first.json() == retry.json()
        assert (balance(http, 1), balance(http, 3)) == (9000, 1000)
        changed = http.post("/wallet/transfer", json={**body, "amount_cents": 5}, headers=key)
        assert changed.status_code == 422


def _api_routes(app: FastAPI) -> set[tuple[str, str]]:
    return {
        (method, route.path)
        for route in app.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }


def test_openapi_document_matches_both_apps() -> None:
    document = yaml.safe_load((DEMO_DIR / "openapi.yaml").read_text(encoding="utf-8"))
    assert document["openapi"].startswith("3.1")
    documented = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in {"get", "put", "post", "patch", "delete"}
    }
    assert documented == _api_routes(shop.app)
    assert documented == _api_routes(shop_fixed.app)


# --- races: a burst of concurrent requests --------------------------------------------------------

State = Callable[[httpx.AsyncClient], Awaitable[object]]


async def _json_field(http: httpx.AsyncClient, path: str, field: str) -> object:
    response = await http.get(path)
    assert response.status_code == 200, response.text
    return response.json()[field]


@dataclass(frozen=True)
class Scenario:
    """A request that may succeed at most `limit` times, and the state it leaves when it does."""

    name: str
    path: str
    body: dict[str, Any] | None
    limit: int
    settled_state: State
    expected_state: object
    racy_trials: int = 10


SCENARIOS = [
    Scenario(
        "single-use coupon",
        "/coupons/WELCOME10/redeem",
        {"account_id": 3},
        1,
        lambda http: _json_field(http, "/accounts/3", "balance_cents"),
        1000,
        racy_trials=20,
    ),
    Scenario(
        "last item in stock",
        "/orders",
        {"account_id": 2, "product_id": 1},
        1,
        lambda http: _json_field(http, "/products/1", "stock"),
        0,
        racy_trials=20,
    ),
    Scenario(
        "wallet withdrawal",
        "/wallet/withdraw",
        {"account_id": 1, "amount_cents": 6000},
        1,
        lambda http: _json_field(http, "/accounts/1", "balance_cents"),
        4000,
        racy_trials=20,
    ),
    Scenario(
        "wallet transfer",
        "/wallet/transfer",
        {"from_account_id": 2, "to_account_id": 3, "amount_cents": 2000},
        1,
        lambda http: _json_field(http, "/accounts/2", "balance_cents"),
        500,
    ),
    Scenario(
        "signup with one email",
        "/accounts",
        {"email": "gina@example.com", "name": "Gina"},
        1,
        lambda http: _status_of(http, "/accounts/5"),
        404,
    ),
    Scenario(
        "gift card (module dict, async)",
        "/gift-cards/GC-5000/spend",
        {"amount_cents": 2000},
        2,
        lambda http: _json_field(http, "/gift-cards/GC-5000", "balance_cents"),
        1000,
    ),
    Scenario(
        "loyalty points (app.state, async)",
        "/loyalty/1/rewards",
        {"reward": "coffee-mug"},
        1,
        lambda http: _json_field(http, "/loyalty/1", "points"),
        100,
    ),
    Scenario(
        "daily SMS limit (module dict, threaded)",
        "/accounts/1/verification-codes",
        None,
        3,
        lambda http: _status_of(http, "/accounts/1/verification-codes", method="POST"),
        429,
    ),
]


async def _status_of(http: httpx.AsyncClient, path: str, method: str = "GET") -> int:
    return (await http.request(method, path)).status_code


async def _trials(running: RunningShop, scenario: Scenario, trials: int) -> list[tuple[int, object]]:
    """Per trial: reset the shop, send BURST_SIZE identical requests at once with a plain
    `asyncio.gather`, then count the successes and read the state they left."""
    limits = httpx.Limits(max_connections=BURST_SIZE, max_keepalive_connections=BURST_SIZE)
    outcomes = []
    async with httpx.AsyncClient(base_url=running.base_url, timeout=30.0, limits=limits) as http:
        for _ in range(trials):
            assert (await http.post("/admin/reset")).status_code == 204
            burst = (http.post(scenario.path, json=scenario.body) for _ in range(BURST_SIZE))
            statuses = [response.status_code for response in await asyncio.gather(*burst)]
            assert set(statuses) <= {200, 201, 202, 409, 429}, statuses
            successes = sum(200 <= status < 300 for status in statuses)
            outcomes.append((successes, await scenario.settled_state(http)))
    return outcomes


@pytest.mark.slow
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_a_burst_overruns_the_limit_in_the_racy_shop(racy_shop: RunningShop, scenario: Scenario) -> None:
    outcomes = asyncio.run(_trials(racy_shop, scenario, scenario.racy_trials))
    overruns = sum(successes > scenario.limit for successes, _ in outcomes)
    assert overruns >= scenario.racy_trials - 1, (
        f"{overruns}/{scenario.racy_trials} bursts overran: {outcomes}"
    )


@pytest.mark.slow
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_a_burst_never_overruns_the_limit_in_the_fixed_shop(
    fixed_shop: RunningShop, scenario: Scenario
) -> None:
    outcomes = asyncio.run(_trials(fixed_shop, scenario, FIXED_TRIALS))
    assert outcomes == [(scenario.limit, scenario.expected_state)] * FIXED_TRIALS


def test_the_database_file_is_configurable(tmp_path: Path) -> None:
    database = tmp_path / "shop.sqlite3"
    with serve_shop("shop_fixed", database_path=database) as running:
        created = httpx.post(f"{running.base_url}/accounts", json={"email": "fay@example.com", "name": "Fay"})
        assert created.status_code == 201
    with closing(sqlite3.connect(database)) as connection:
        rows = connection.execute("SELECT id, email FROM accounts WHERE email = 'fay@example.com'").fetchall()
    assert rows == [(created.json()["id"], "fay@example.com")]


def test_serve_shop_reports_a_shop_that_cannot_start(tmp_path: Path) -> None:
    # A directory is no SQLite file: the app's startup fails and the child exits.
    with pytest.raises(BurstError, match="exited with code"), serve_shop("shop", database_path=tmp_path):
        pass
