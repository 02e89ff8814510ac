"""RC2xx fixers: before/after rewrites, the demo shop's races patched and proven by bursts, and the
fixtures' racy cases either fixed soundly or declined with guidance."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from race_mcp.analyzer import analyze_source
from race_mcp.burst import BurstPolicy, run_burst
from race_mcp.demo import _prove
from race_mcp.demo._server import RunningShop, serve_shop
from race_mcp.remediate._fixers import Fixed
from tests._remediate_helpers import dedent, fix, fix_and_verify, guidance_for

FIXTURES = Path(__file__).parent / "fixtures" / "analyzer"
DEMO = Path(__file__).parent.parent / "race_mcp" / "demo"
SHOP = "race_mcp/demo/shop.py"


def test_sqlite_read_check_write_becomes_one_guarded_update(tmp_path: Path) -> None:
    before = dedent(
        """
        import sqlite3

        from flask import Flask, abort, jsonify, request

        app = Flask(__name__)


        def get_db() -> sqlite3.Connection:
            return sqlite3.connect("app.db")


        @app.post("/wallets/<int:wallet_id>/spend")
        def spend(wallet_id):
            cost = int(request.json["cost"])
            db = get_db()
            row = db.execute("SELECT credits FROM wallets WHERE id = ?", (wallet_id,)).fetchone()
            if row is None or row["credits"] < cost:
                abort(409)
            # the new balance, computed in Python
            db.execute("UPDATE wallets SET credits = ? WHERE id = ?", (row["credits"] - cost, wallet_id))
            db.commit()
            return jsonify(ok=True)
        """
    )
    after = before.replace(
        '    db.execute("UPDATE wallets SET credits = ? WHERE id = ?", (row["credits"] - cost, wallet_id))\n',
        '    updated = db.execute("UPDATE wallets SET credits = credits - ? WHERE id = ? AND credits >= ?", '
        "(cost, wallet_id, cost))\n"
        "    if updated.rowcount == 0:\n"
        "        abort(409)\n",
    )
    result = fix_and_verify(before, "app.py", "RC201", "spend", tmp_path)
    assert result.module.code == after
    assert result.safety == "safe"


def test_claim_shape_gets_is_null_guard_and_asyncpg_status_check(tmp_path: Path) -> None:
    before = dedent(
        """
        import asyncpg
        from fastapi import FastAPI, HTTPException

        app = FastAPI()


        @app.post("/codes/{code}/redeem")
        async def redeem(code: str, user_id: int, pool: asyncpg.Pool) -> dict[str, bool]:
            async with pool.acquire() as conn:
                row = await conn.fetchrow("SELECT redeemed_by FROM codes WHERE code = $1", code)
                if row["redeemed_by"] is not None:
                    raise HTTPException(409, "already redeemed")
                await conn.execute("UPDATE codes SET redeemed_by = $1 WHERE code = $2", user_id, code)
            return {"ok": True}
        """
    )
    result = fix_and_verify(before, "codes.py", "RC201", "redeem", tmp_path)
    assert (
        "        updated = await conn.execute("
        '"UPDATE codes SET redeemed_by = $1 WHERE code = $2 AND redeemed_by IS NULL", user_id, code)\n'
        '        if updated == "UPDATE 0":\n'
        '            raise HTTPException(409, "already redeemed")\n'
    ) in result.module.code


# --- the demo shop -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule_id", "function", "expected"),
    [
        (
            "RC201",
            "withdraw",
            [
                "async with db.transaction() as tx:",
                '"UPDATE accounts SET balance_cents = balance_cents - ? WHERE id = ? '
                'AND balance_cents >= ?", body.amount_cents, body.account_id, body.amount_cents)',
                'if not updated:\n            raise HTTPException(409, "insufficient funds")',
                "withdrawal_id = await tx.insert(",
            ],
        ),
        (
            "RC201",
            "transfer",
            [
                "async with db.transaction() as tx:",
                "WHERE id = ? AND balance_cents >= ?",
                '"UPDATE accounts SET balance_cents = balance_cents + ? WHERE id = ?",',
                "transfer_id = await tx.insert(",
            ],
        ),
        (
            "RC201",
            "redeem_coupon",
            [
                '"UPDATE coupons SET redeemed_by = ? WHERE code = ? AND redeemed_by IS NULL"',
                'if not updated:\n            raise HTTPException(409, "coupon already redeemed")',
            ],
        ),
        ("RC201", "create_order", ['"UPDATE products SET stock = stock - ? WHERE id = ? AND stock >= ?"']),
        (
            "RC203",
            "create_account",
            [
                "import sqlite3",
                "    email TEXT NOT NULL UNIQUE,",
                "    except sqlite3.IntegrityError:\n"
                '        raise HTTPException(409, "an account with this email already exists") from None',
            ],
        ),
    ],
)
def test_demo_shop_races_are_patched(
    rule_id: str, function: str, expected: list[str], tmp_path: Path
) -> None:
    source = (DEMO / "shop.py").read_text()
    result = fix_and_verify(source, SHOP, rule_id, function, tmp_path)
    for snippet in expected:
        assert snippet in result.module.code
    assert result.safety == ("unsafe" if rule_id == "RC203" else "safe")
    if rule_id == "RC203":
        assert "migration" in result.note


def test_the_pipeline_patches_every_sql_race_in_the_demo_shop() -> None:
    from race_mcp.remediate import propose_patches

    report = propose_patches((DEMO / "shop.py").read_text(), SHOP)
    patched = {(p.rule_id, p.line) for p in report.patches}
    assert {("RC203", 167), ("RC201", 198), ("RC201", 221), ("RC201", 270), ("RC201", 334)} <= patched
    assert report.patched_source is not None
    left = {f.rule_id for f in analyze_source(report.patched_source, SHOP)}
    assert not {rule for rule in left if rule.startswith(("RC1", "RC2"))}


# --- fixtures: fixed where sound, declined otherwise --------------------------------------------


FIXABLE = [
    ("RC2xx_sqlite.py", "RC201", "spend_credits"),
    ("RC2xx_sqlite.py", "RC201", "spend_unchecked"),
    ("RC2xx_sqlite.py", "RC202", "sell_seat"),
    ("RC2xx_sqlite.py", "RC203", "join_waitlist"),
    ("RC2xx_asyncpg.py", "RC201", "hold_item"),
    ("RC2xx_asyncpg.py", "RC201", "spend_points"),
    ("RC2xx_asyncpg.py", "RC201", "restock"),
    ("RC2xx_asyncpg.py", "RC202", "create_reservation"),
    ("RC2xx_psycopg.py", "RC201", "spend_voucher"),
]

DECLINED = [
    # `with conn:` opens no transaction on an isolation_level=None connection.
    ("RC2xx_sqlite.py", "RC202", "gift_credits"),
    # The check reads a tuple-unpacked cursor row the fixer does not follow.
    ("RC2xx_sqlite.py", "RC201", "book_seat"),
    # The writes live in two helpers.
    ("RC2xx_asyncpg.py", "RC202", "move_points"),
    # No unique constraint can be added: the lookup spans two columns.
    ("RC2xx_asyncpg.py", "RC203", "register_device"),
    # A team's wrapper: `with db:` would not be a transaction.
    ("RC2xx_repository.py", "RC202", "move_units"),
    # Two drivers in one file.
    ("RC2xx_django_raw.py", "RC201", "vote"),
    # psycopg 2 and 3 in one file: which UniqueViolation the INSERT raises is not certain.
    ("RC2xx_psycopg.py", "RC203", "issue_welcome_voucher"),
    # `if balance == 0: return`: not a limit the UPDATE can re-check.
    ("RC2xx_psycopg.py", "RC201", "merge_vouchers"),
]


@pytest.mark.parametrize(("fixture", "rule_id", "function"), FIXABLE)
def test_fixture_race_is_fixed(fixture: str, rule_id: str, function: str, tmp_path: Path) -> None:
    source = (FIXTURES / fixture).read_text()
    fix_and_verify(source, f"tests/fixtures/analyzer/{fixture}", rule_id, function, tmp_path)


@pytest.mark.parametrize(("fixture", "rule_id", "function"), DECLINED)
def test_fixture_race_without_a_sound_rewrite_gets_guidance(
    fixture: str, rule_id: str, function: str
) -> None:
    source = (FIXTURES / fixture).read_text()
    message = guidance_for(source, fixture, rule_id, function)
    assert "transaction" in message or "UNIQUE" in message or "FOR UPDATE" in message


def test_rc203_guidance_without_the_schema_in_the_file() -> None:
    source = dedent(
        """
        import sqlite3


        def join(conn: sqlite3.Connection, email: str) -> bool:
            if conn.execute("SELECT 1 FROM waitlist WHERE email = ?", (email,)).fetchone():
                return False
            conn.execute("INSERT INTO waitlist (email) VALUES (?)", (email,))
            conn.commit()
            return True
        """
    )
    result = fix(source, "waitlist.py", "RC203", "join")
    assert not isinstance(result, Fixed)
    assert "migration" in result.message


# --- runtime proof on the demo shop --------------------------------------------------------------


@pytest.fixture(scope="module")
def patched_shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningShop]:
    """A copy of the demo package whose shop.py has withdraw and redeem_coupon patched."""
    package = tmp_path_factory.mktemp("served") / "patched_demo"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for module in ("_models.py", "_partners.py", "_store.py"):  # what shop.py imports
        shutil.copy(DEMO / module, package / module)
    source = (DEMO / "shop.py").read_text()
    for function in ("withdraw", "redeem_coupon"):
        result = fix(source, SHOP, "RC201", function)
        assert isinstance(result, Fixed)
        source = result.module.code
    (package / "shop.py").write_text(source)
    with serve_shop("shop", app_dir=package) as running:
        yield running


@pytest.mark.parametrize("route", ["POST /wallet/withdraw", "POST /coupons/{code}/redeem"])
def test_bursts_find_no_race_in_the_patched_shop(patched_shop: RunningShop, route: str) -> None:
    scenario = next(s for s in _prove.BURST_SCENARIOS if s.route == route)
    result = asyncio.run(run_burst(scenario.for_shop(patched_shop), policy=BurstPolicy()))
    assert result.verdict != "race", result.reason
    assert result.status_counts.get("200", 0) >= 1


async def _concurrently(base_url: str, path: str, body: dict[str, int], count: int) -> list[int]:
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0, limits=limits) as http:
        assert (await http.post("/admin/reset")).status_code == 204
        responses = await asyncio.gather(*(http.post(path, json=body) for _ in range(count)))
    return [r.status_code for r in responses]


def test_patched_withdrawals_add_up(patched_shop: RunningShop) -> None:
    # Alice has 100.00: ten concurrent withdrawals of 30.00 may succeed at most three times.
    statuses = asyncio.run(
        _concurrently(patched_shop.base_url, "/wallet/withdraw", {"account_id": 1, "amount_cents": 3000}, 10)
    )
    assert set(statuses) <= {200, 409}
    successes = statuses.count(200)
    assert 1 <= successes <= 3
    balance = httpx.get(f"{patched_shop.base_url}/accounts/1").json()["balance_cents"]
    assert balance == 10000 - 3000 * successes


def test_patched_coupon_redeems_once(patched_shop: RunningShop) -> None:
    statuses = asyncio.run(
        _concurrently(patched_shop.base_url, "/coupons/WELCOME10/redeem", {"account_id": 3}, 10)
    )
    assert statuses.count(200) == 1 and statuses.count(409) == 9
    assert httpx.get(f"{patched_shop.base_url}/accounts/3").json()["balance_cents"] == 1000
