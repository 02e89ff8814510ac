"""RC2xx JavaScript/TypeScript fixers (pg, mysql2): the decision moves into the UPDATE's WHERE and the
row count is checked; before/after text, re-analysis, git apply. Other SQL rules: guidance in JS."""

from __future__ import annotations

from pathlib import Path

import pytest

from race_mcp.analyzer import analyze_source
from race_mcp.remediate import propose_patches
from tests._remediate_helpers import dedent
from tests._remediate_js_helpers import fix_and_verify, guidance_for

FIXTURES = Path(__file__).parent / "fixtures" / "analyzer" / "js"

WITHDRAW_CJS = dedent(
    """
    const { Pool } = require("pg");
    const express = require("express");

    const pool = new Pool();
    const app = express();

    app.post("/withdraw", async (req, res) => {
      const { rows } = await pool.query("SELECT balance FROM accounts WHERE id = $1", [req.user.id]);
      if (rows[0].balance < req.body.amount) {
        return res.status(400).send({ error: "insufficient funds" });
      }
      const next = rows[0].balance - req.body.amount;
      await pool.query("UPDATE accounts SET balance = $1 WHERE id = $2", [next, req.user.id]);
      res.send({ balance: next });
    });
    """
)

WITHDRAW_CJS_FIXED = WITHDRAW_CJS.replace(
    '  await pool.query("UPDATE accounts SET balance = $1 WHERE id = $2", [next, req.user.id]);\n',
    '  const result = await pool.query("UPDATE accounts SET balance = balance - $1 WHERE id = $2 '
    'AND balance >= $1", [req.body.amount, req.user.id]);\n'
    '  if (result.rowCount === 0) return res.status(409).send({ error: "changed concurrently; retry" });\n',
)


def test_rc201_commonjs_absolute_set_becomes_relative_and_guarded(tmp_path: Path) -> None:
    assert fix_and_verify(WITHDRAW_CJS, "bank.js", "RC201", None, tmp_path) == WITHDRAW_CJS_FIXED


CLAIM_TS = dedent(
    """
    import { Pool } from "pg";

    const pool = new Pool();

    export async function pay(orderId: number): Promise<void> {
      const result = await pool.query("SELECT status FROM orders WHERE id = $1", [orderId]);
      const order = result.rows[0];
      if (order.status !== "pending") throw new Error("not pending");
      await pool.query("UPDATE orders SET status = 'paid' WHERE id = $1", [orderId]);
    }
    """
)


def test_rc201_typescript_state_transition_is_guarded_by_the_state_read(tmp_path: Path) -> None:
    patched = fix_and_verify(CLAIM_TS, "orders.ts", "RC201", "pay", tmp_path)
    assert (
        "  const result2 = await pool.query("
        "\"UPDATE orders SET status = 'paid' WHERE id = $1 AND status = $2\", "
        '[orderId, "pending"]);\n'
        '  if (result2.rowCount === 0) throw new Error("not pending");\n'
    ) in patched


STOCK_ESM = dedent(
    """
    import mysql from "mysql2/promise";

    const db = await mysql.createConnection(process.env.DATABASE_URL);

    export async function take(id, quantity) {
      const [rows] = await db.execute("SELECT stock, reserved FROM products WHERE id = ?", [id]);
      const [row] = rows;
      if (row.stock - row.reserved >= quantity) {
        await db.execute("UPDATE products SET reserved = reserved + ? WHERE id = ?", [quantity, id]);
        return true;
      }
      return false;
    }
    """
)


def test_rc201_mysql2_esm_check_it_cannot_translate_becomes_a_compare_and_set(tmp_path: Path) -> None:
    patched = fix_and_verify(STOCK_ESM, "stock.mjs", "RC201", "take", tmp_path)
    assert (
        '    const [result] = await db.execute("UPDATE products SET reserved = reserved + ? WHERE id = ? '
        'AND stock <=> ? AND reserved <=> ?", [quantity, id, row.stock, row.reserved]);\n'
        "    if (result.affectedRows === 0) "
        'throw new Error("products changed concurrently; nothing was updated");\n'
    ) in patched


def test_rc201_mysql2_typescript_reads_the_row_count_off_the_result_header(tmp_path: Path) -> None:
    # mysql2's typings make `execute`'s result a union of rows and a header: `result.affectedRows`
    # does not compile (TS2339); the header's shape, asserted, does.
    source = dedent(
        """
        import mysql from "mysql2/promise";
        const pool = mysql.createPool({ uri: process.env.DATABASE_URL });
        export async function redeem(code: string): Promise<void> {
          const [rows] = await pool.execute<any[]>("SELECT uses, max_uses FROM coupons WHERE code = ?", [
            code,
          ]);
          if (rows[0].uses >= rows[0].max_uses) throw new Error("used up");
          await pool.execute("UPDATE coupons SET uses = ? WHERE code = ?", [rows[0].uses + 1, code]);
        }
        """
    )
    patched = fix_and_verify(source, "coupons.ts", "RC201", "redeem", tmp_path)
    assert "  if ((result as { affectedRows: number }).affectedRows === 0) throw new Error(" in patched
    # JavaScript keeps the plain property (test_rc201_mysql2_esm_check_it_cannot_translate_...).


@pytest.mark.parametrize("fixture", ["RC2xx_pg.js", "RC2xx_mysql2.js"])
def test_rc201_fixture_races_are_all_patched(fixture: str) -> None:
    source = (FIXTURES / fixture).read_text(encoding="utf-8")
    racy = sorted(f.line for f in analyze_source(source, fixture) if f.rule_id == "RC201")
    report = propose_patches(source, fixture, rule="RC201")
    assert [p.line for p in report.patches] == racy and len(racy) >= 2
    assert not report.unpatched and not report.errors


def test_rc202_guidance_shows_a_transaction_on_one_client() -> None:
    source = (FIXTURES / "RC2xx_mysql2.js").read_text(encoding="utf-8")
    report = propose_patches(source, "RC2xx_mysql2.js", rule="RC202")
    assert report.patches == [] and len(report.unpatched) == 2
    for unpatched in report.unpatched:
        assert 'await client.query("BEGIN");' in unpatched.guidance
        assert "with conn:" not in unpatched.guidance  # no Python in a JavaScript answer


def test_rc203_guidance_shows_on_conflict_in_javascript() -> None:
    source = (FIXTURES / "RC2xx_pg.js").read_text(encoding="utf-8")
    message = guidance_for(source, "RC2xx_pg.js", "RC203")
    assert "ON CONFLICT (email) DO NOTHING" in message and "result.rowCount === 0" in message


def test_rc201_without_a_literal_update_is_guidance() -> None:
    source = WITHDRAW_CJS.replace(
        'await pool.query("UPDATE accounts SET balance = $1 WHERE id = $2", [next, req.user.id]);',
        "await pool.query(UPDATE_SQL, [next, req.user.id]);",
    ).replace(
        "const app = express();",
        'const app = express();\nconst UPDATE_SQL = "UPDATE accounts SET balance = $1 WHERE id = $2";',
    )
    message = guidance_for(source, "bank.js", "RC201")
    assert "balance >= $1" in message and "rowCount" in message


SPEND_CJS = dedent(
    """
    async function spend(pool, id, amount) {
      const res = await pool.query(`SELECT balance, frozen FROM wallets WHERE id = $1`, [id]);
      const wallet = res.rows[0];
      if (!wallet || wallet.frozen) throw new Error("unavailable");
      if (wallet.balance < amount) throw new Error("insufficient");
      await pool.query(`UPDATE wallets SET balance = balance - $2 WHERE id = $1`, [id, amount]);
      return wallet.balance - amount;
    }
    module.exports = { spend };
    """
)


def test_rc201_two_refusals_get_a_generic_answer_and_a_null_safe_compare(tmp_path: Path) -> None:
    patched = fix_and_verify(SPEND_CJS, "wallets.js", "RC201", "spend", tmp_path)
    assert (
        "  const result = await pool.query(`UPDATE wallets SET balance = balance - $2 WHERE id = $1 "
        "AND frozen IS NOT DISTINCT FROM $3 AND balance >= $2`, [id, amount, wallet.frozen]);\n"
        '  if (result.rowCount === 0) throw new Error("wallets changed concurrently; nothing was updated");\n'
    ) in patched


NEXT_ROUTE = dedent(
    """
    import { NextResponse } from "next/server";
    import { Pool } from "pg";

    const pool = new Pool();

    export async function POST(request: Request) {
      const { code } = await request.json();
      const { rows } = await pool.query("SELECT uses FROM coupons WHERE code = $1", [code]);
      if (rows[0].uses >= 1) return NextResponse.json({ error: "used" }, { status: 409 });
      await pool.query("UPDATE coupons SET uses = uses + 1 WHERE code = $1", [code]);
      return NextResponse.json({ ok: true });
    }
    """
)


def test_rc201_next_app_router_answers_with_next_response(tmp_path: Path) -> None:
    patched = fix_and_verify(NEXT_ROUTE, "app/api/redeem/route.ts", "RC201", None, tmp_path)
    assert (
        '  const result = await pool.query("UPDATE coupons SET uses = uses + 1 '
        'WHERE code = $1 AND uses < 1", [code]);\n'
        '  if (result.rowCount === 0) return NextResponse.json({ error: "changed concurrently; retry" }, '
        "{ status: 409 });\n"
    ) in patched
