"""Rust SQL patches (sqlx, tokio-postgres): FOR UPDATE inside a transaction, a compare-and-set
UPDATE whose row count answers like the check, guidance elsewhere. The compare-and-set SQL the
fixer writes is run on the real PostgreSQL (127.0.0.1:5432, db `test`) to show it refuses a write
after a concurrent change that the original UPDATE silently overwrote."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("tree_sitter_rust")

from race_mcp import propose_patches

from ._remediate_rust_helpers import verified_patch

HEADER = textwrap.dedent(
    """\
    use axum::extract::{Path, State};
    use sqlx::PgPool;
    use std::sync::Arc;

    struct AppState {
        pool: PgPool,
        pg: tokio_postgres::Client,
    }

    """
)

WITHDRAW = HEADER + textwrap.dedent(
    """\
    async fn withdraw(State(state): State<Arc<AppState>>, Path(id): Path<i64>) -> Result<(), AppError> {
        let balance: i64 = sqlx::query_scalar("SELECT balance FROM accounts WHERE id = $1")
            .bind(id).fetch_one(&state.pool).await?;
        if balance < 10 {
            return Err(AppError::Insufficient);
        }
        sqlx::query("UPDATE accounts SET balance = $1 WHERE id = $2")
            .bind(balance - 10).bind(id).execute(&state.pool).await?;
        Ok(())
    }
    """
)


def test_sqlx_update_becomes_a_compare_and_set_answered_like_the_check(tmp_path: Path) -> None:
    patched = verified_patch(WITHDRAW, "src/wallet.rs", "RC201", "withdraw", tmp_path)
    expected = (
        "    let changed = sqlx::query("
        '"UPDATE accounts SET balance = $1 WHERE id = $2 AND balance IS NOT DISTINCT FROM $3")\n'
        "        .bind(balance - 10).bind(id).bind(&balance).execute(&state.pool).await?;\n"
        "    if changed.rows_affected() == 0 {\n"
        "        return Err(AppError::Insufficient);\n"
        "    }\n"
    )
    assert expected in patched


def test_tokio_postgres_row_column_is_compared(tmp_path: Path) -> None:
    source = HEADER + textwrap.dedent(
        """\
        async fn redeem(State(state): State<Arc<AppState>>, code: String) -> Result<(), AppError> {
            let row = state.pg.query_one("SELECT used FROM coupons WHERE code = $1", &[&code]).await?;
            let used: bool = row.get("used");
            if used {
                return Err(AppError::Used);
            }
            state.pg.execute("UPDATE coupons SET used = true WHERE code = $1", &[&code]).await?;
            Ok(())
        }
        """
    )
    patched = verified_patch(source, "src/coupons.rs", "RC201", "redeem", tmp_path)
    assert (
        'let changed = state.pg.execute("UPDATE coupons SET used = true WHERE code = $1 '
        'AND used IS NOT DISTINCT FROM $2", &[&code, &used]).await?;\n'
        "    if changed == 0 {\n        return Err(AppError::Used);\n    }\n"
    ) in patched


def test_a_read_inside_a_transaction_gets_for_update(tmp_path: Path) -> None:
    source = HEADER + textwrap.dedent(
        """\
        async fn buy(State(state): State<Arc<AppState>>, Path(id): Path<i64>) -> Result<(), AppError> {
            let mut tx = state.pool.begin().await?;
            let stock: i64 = sqlx::query_scalar!("SELECT stock FROM products WHERE id = $1;", id)
                .fetch_one(&mut *tx).await?;
            if stock < 1 {
                return Err(AppError::SoldOut);
            }
            sqlx::query!("UPDATE products SET stock = $1 WHERE id = $2", stock - 1, id)
                .execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        }
        """
    )
    patched = verified_patch(source, "src/shop.rs", "RC201", "buy", tmp_path)
    assert patched == source.replace("WHERE id = $1;", "WHERE id = $1 FOR UPDATE;")


def test_a_query_macro_gets_the_old_value_as_an_argument(tmp_path: Path) -> None:
    source = HEADER + textwrap.dedent(
        """\
        async fn rename(State(state): State<Arc<AppState>>, Path(id): Path<i64>) -> Result<(), AppError> {
            let item = sqlx::query!("SELECT name, locked FROM items WHERE id = $1", id)
                .fetch_one(&state.pool).await?;
            if item.locked {
                return Err(AppError::Locked);
            }
            sqlx::query!("UPDATE items SET name = $1 WHERE id = $2", format!("{}!", item.name), id)
                .execute(&state.pool).await?;
            Ok(())
        }
        """
    )
    patched = verified_patch(source, "src/items.rs", "RC201", "rename", tmp_path)
    assert (
        'sqlx::query!("UPDATE items SET name = $1 WHERE id = $2 AND name IS NOT DISTINCT FROM $3", '
        'format!("{}!", item.name), id, item.name)'
    ) in patched


def test_a_guarded_update_only_needs_its_count_read(tmp_path: Path) -> None:
    source = HEADER + textwrap.dedent(
        """\
        async fn take(State(state): State<Arc<AppState>>, Path(id): Path<i64>, user: i64) -> Result<(), E> {
            let row = sqlx::query("SELECT taken_by FROM seats WHERE id = $1").bind(id)
                .fetch_one(&state.pool).await?;
            let taken: Option<i64> = row.get("taken_by");
            if taken.is_some() {
                return Err(E::Taken);
            }
            sqlx::query("UPDATE seats SET taken_by = $1 WHERE id = $2 AND taken_by IS NULL")
                .bind(user).bind(id).execute(&state.pool).await?;
            Ok(())
        }
        """
    )
    patched = verified_patch(source, "src/seats.rs", "RC201", "take", tmp_path)
    assert "IS NOT DISTINCT FROM" not in patched
    assert "    let changed = sqlx::query(" in patched
    assert "if changed.rows_affected() == 0 {\n        return Err(E::Taken);\n    }" in patched


SPEND = 'const SPEND: &str = "UPDATE accounts SET balance = $1 WHERE id = $2";'


def test_sql_in_a_constant_gets_guidance() -> None:
    source = HEADER.replace(
        "struct AppState",
        SPEND + "\n\nstruct AppState",
    ) + textwrap.dedent(
        """\
        async fn spend(State(state): State<Arc<AppState>>, Path(id): Path<i64>) -> Result<(), AppError> {
            let balance: i64 = sqlx::query_scalar("SELECT balance FROM accounts WHERE id = $1")
                .bind(id).fetch_one(&state.pool).await?;
            if balance < 10 {
                return Err(AppError::Insufficient);
            }
            sqlx::query(SPEND).bind(balance - 10).bind(id).execute(&state.pool).await?;
            Ok(())
        }
        """
    )
    report = propose_patches(source, "src/spend.rs")
    assert report.patches == []
    assert [u.rule_id for u in report.unpatched] == ["RC201"]
    assert "rows_affected() == 0" in report.unpatched[0].guidance


def test_insert_after_lookup_and_separate_writes_get_guidance() -> None:
    source = HEADER + textwrap.dedent(
        """\
        async fn join(State(state): State<Arc<AppState>>, email: String) -> Result<(), AppError> {
            let found = sqlx::query("SELECT id FROM members WHERE email = $1").bind(&email)
                .fetch_optional(&state.pool).await?;
            if found.is_some() {
                return Err(AppError::Exists);
            }
            sqlx::query("INSERT INTO members (email) VALUES ($1)").bind(&email).execute(&state.pool).await?;
            Ok(())
        }

        async fn transfer(State(state): State<Arc<AppState>>, from: i64, to: i64) -> Result<(), AppError> {
            state.pg.execute("UPDATE balances SET amount = amount - 10 WHERE id = $1", &[&from]).await?;
            state.pg.execute("UPDATE balances SET amount = amount + 10 WHERE id = $1", &[&to]).await?;
            Ok(())
        }
        """
    )
    report = propose_patches(source, "src/members.rs")
    guidance = {u.rule_id: u.guidance for u in report.unpatched}
    assert report.patches == [] and sorted(guidance) == ["RC202", "RC203"]
    assert "is_unique_violation()" in guidance["RC203"]
    assert "pool.begin()" in guidance["RC202"]


def test_the_compare_and_set_refuses_a_concurrent_change_on_postgres(tmp_path: Path) -> None:
    """Request A reads 100; request B spends 50; A's original UPDATE overwrites B's (lost update),
    the patched one changes no row, so A answers with its rejection."""
    psycopg = pytest.importorskip("psycopg")
    pytest.importorskip("psycopg.sql")
    patched = verified_patch(WITHDRAW, "src/wallet.rs", "RC201", "withdraw", tmp_path)
    original_sql = re.search(r'"(UPDATE accounts[^"]*)"', WITHDRAW)
    patched_sql = re.search(r'"(UPDATE accounts[^"]*)"', patched)
    assert original_sql is not None and patched_sql is not None
    try:
        connection = psycopg.connect("host=127.0.0.1 port=5432 dbname=test user=postgres", autocommit=True)
    except psycopg.OperationalError as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    with connection:
        connection.execute("CREATE TEMP TABLE accounts (id bigint PRIMARY KEY, balance bigint NOT NULL)")
        connection.execute("PREPARE original AS " + original_sql.group(1))
        connection.execute("PREPARE guarded AS " + patched_sql.group(1))
        for statement, expected_rows, final in (("original", 1, 90), ("guarded", 0, 50)):
            connection.execute("DELETE FROM accounts")
            connection.execute("INSERT INTO accounts VALUES (1, 100)")
            seen = connection.execute("SELECT balance FROM accounts WHERE id = 1").fetchone()[0]
            connection.execute("UPDATE accounts SET balance = balance - 50 WHERE id = 1")  # request B
            # EXECUTE takes no bound parameters: its arguments are literals (ints computed here).
            arguments = (seen - 10, 1) if statement == "original" else (seen - 10, 1, seen)
            placeholders = psycopg.sql.SQL(", ").join(psycopg.sql.Literal(a) for a in arguments)
            query = psycopg.sql.SQL("EXECUTE {}({})").format(psycopg.sql.Identifier(statement), placeholders)
            changed = connection.execute(query).rowcount
            assert changed == expected_rows
            assert connection.execute("SELECT balance FROM accounts").fetchone()[0] == final


def test_a_crlf_file_keeps_its_line_endings(tmp_path: Path) -> None:
    source = WITHDRAW.replace("\n", "\r\n")
    patched = verified_patch(source, "src/wallet.rs", "RC201", "withdraw", tmp_path)
    assert "\n" not in patched.replace("\r\n", "")
    assert "    if changed.rows_affected() == 0 {\r\n" in patched
