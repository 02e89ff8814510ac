"""RC2xx raw SQL in JavaScript/TypeScript and Rust. Raw SQL: pg and mysql2 in Node, sqlx and tokio-postgres
in Rust. Keyed by rule id; `race_mcp.rules` attaches each entry to its rule (`Rule.other_languages`).
"""

from __future__ import annotations

from .._model import LanguageExamples, OtherLanguage, snippet

__all__ = ["EXAMPLES"]

EXAMPLES: dict[str, dict[OtherLanguage, LanguageExamples]] = {
    "RC201": {
        "javascript": LanguageExamples(
            filename="withdraw.js",
            racy=snippet(
                """
                const express = require("express");
                const { Pool } = require("pg");
                const { requireIdempotencyKey } = require("./idempotency");

                const app = express();
                const pool = new Pool();

                app.post("/accounts/:id/withdraw", requireIdempotencyKey, async (req, res) => {
                  const { rows } = await pool.query("SELECT balance FROM accounts WHERE id = $1", [
                    req.params.id,
                  ]);
                  if (rows[0].balance < req.body.amount) {
                    return res.status(409).json({ error: "insufficient funds" });
                  }
                  await pool.query("UPDATE accounts SET balance = $1 WHERE id = $2", [
                    rows[0].balance - req.body.amount,
                    req.params.id,
                  ]);
                  res.json({ ok: true });
                });
                """
            ),
            fixed=snippet(
                """
                const express = require("express");
                const { Pool } = require("pg");
                const { requireIdempotencyKey } = require("./idempotency");

                const app = express();
                const pool = new Pool();

                app.post("/accounts/:id/withdraw", requireIdempotencyKey, async (req, res) => {
                  const result = await pool.query(
                    "UPDATE accounts SET balance = balance - $1 WHERE id = $2 AND balance >= $1",
                    [req.body.amount, req.params.id],
                  );
                  if (result.rowCount === 0) {
                    return res.status(409).json({ error: "insufficient funds" });
                  }
                  res.json({ ok: true });
                });
                """
            ),
        ),
        "rust": LanguageExamples(
            filename="withdraw.rs",
            fix=(
                "Make the write atomic and guarded: `UPDATE t SET x = x - $1 WHERE id = $2 AND x >= $1` and "
                "check `rows_affected()`; or `SELECT ... FOR UPDATE` inside `pool.begin()` on the same "
                "transaction as the UPDATE, then `tx.commit()`."
            ),
            racy=snippet(
                """
                use axum::extract::{Path, State};
                use axum::http::StatusCode;
                use axum::middleware;
                use axum::routing::post;
                use axum::Router;
                use sqlx::PgPool;
                use crate::idempotency::require_idempotency_key;

                async fn withdraw(
                    State(pool): State<PgPool>,
                    Path((id, amount)): Path<(i64, i64)>,
                ) -> Result<StatusCode, AppError> {
                    let balance: i64 = sqlx::query_scalar("SELECT balance FROM accounts WHERE id = $1")
                        .bind(id)
                        .fetch_one(&pool)
                        .await?;
                    if balance < amount {
                        return Ok(StatusCode::CONFLICT);
                    }
                    sqlx::query("UPDATE accounts SET balance = $1 WHERE id = $2")
                        .bind(balance - amount)
                        .bind(id)
                        .execute(&pool)
                        .await?;
                    Ok(StatusCode::OK)
                }

                pub fn app(pool: PgPool) -> Router {
                    Router::new()
                        .route("/accounts/:id/withdraw/:amount", post(withdraw))
                        .route_layer(middleware::from_fn(require_idempotency_key))
                        .with_state(pool)
                }
                """
            ),
            fixed=snippet(
                """
                use axum::extract::{Path, State};
                use axum::http::StatusCode;
                use axum::middleware;
                use axum::routing::post;
                use axum::Router;
                use sqlx::PgPool;
                use crate::idempotency::require_idempotency_key;

                async fn withdraw(
                    State(pool): State<PgPool>,
                    Path((id, amount)): Path<(i64, i64)>,
                ) -> Result<StatusCode, AppError> {
                    let guarded = "UPDATE accounts SET balance = balance - $1
                                   WHERE id = $2 AND balance >= $1";
                    let done = sqlx::query(guarded)
                        .bind(amount)
                        .bind(id)
                        .execute(&pool)
                        .await?;
                    if done.rows_affected() == 0 {
                        return Ok(StatusCode::CONFLICT);
                    }
                    Ok(StatusCode::OK)
                }

                pub fn app(pool: PgPool) -> Router {
                    Router::new()
                        .route("/accounts/:id/withdraw/:amount", post(withdraw))
                        .route_layer(middleware::from_fn(require_idempotency_key))
                        .with_state(pool)
                }
                """
            ),
        ),
    },
    "RC202": {
        "javascript": LanguageExamples(
            filename="points.js",
            racy=snippet(
                """
                const express = require("express");
                const { Pool } = require("pg");

                const app = express();
                const pool = new Pool();
                const DEBIT = "UPDATE accounts SET points = points - $1 WHERE id = $2";
                const CREDIT = "UPDATE accounts SET points = points + $1 WHERE id = $2";

                app.post("/points/move", async (req, res) => {
                  const { source, target, points } = req.body;
                  await pool.query(DEBIT, [points, source]);
                  await pool.query(CREDIT, [points, target]);
                  res.json({ ok: true });
                });
                """
            ),
            fixed=snippet(
                """
                const express = require("express");
                const { Pool } = require("pg");

                const app = express();
                const pool = new Pool();
                const DEBIT = "UPDATE accounts SET points = points - $1 WHERE id = $2";
                const CREDIT = "UPDATE accounts SET points = points + $1 WHERE id = $2";

                app.post("/points/move", async (req, res) => {
                  const { source, target, points } = req.body;
                  const client = await pool.connect();
                  try {
                    await client.query("BEGIN");
                    await client.query(DEBIT, [points, source]);
                    await client.query(CREDIT, [points, target]);
                    await client.query("COMMIT");
                  } catch (err) {
                    await client.query("ROLLBACK");
                    throw err;
                  } finally {
                    client.release();
                  }
                  res.json({ ok: true });
                });
                """
            ),
        ),
        "rust": LanguageExamples(
            filename="points.rs",
            fix=(
                "Run the writes in one transaction: `let mut tx = pool.begin().await?`, execute each on "
                "`&mut *tx`, then `tx.commit().await?` (tokio-postgres: `client.transaction()`)."
            ),
            racy=snippet(
                """
                use axum::extract::State;
                use axum::routing::post;
                use axum::{Json, Router};
                use serde::Deserialize;
                use sqlx::PgPool;

                #[derive(Deserialize)]
                struct Move {
                    source: i64,
                    target: i64,
                    points: i64,
                }

                async fn move_points(
                    State(pool): State<PgPool>,
                    Json(body): Json<Move>,
                ) -> Result<(), AppError> {
                    sqlx::query("UPDATE accounts SET points = points - $1 WHERE id = $2")
                        .bind(body.points)
                        .bind(body.source)
                        .execute(&pool)
                        .await?;
                    sqlx::query("UPDATE accounts SET points = points + $1 WHERE id = $2")
                        .bind(body.points)
                        .bind(body.target)
                        .execute(&pool)
                        .await?;
                    Ok(())
                }

                pub fn app(pool: PgPool) -> Router {
                    Router::new().route("/points/move", post(move_points)).with_state(pool)
                }
                """
            ),
            fixed=snippet(
                """
                use axum::extract::State;
                use axum::routing::post;
                use axum::{Json, Router};
                use serde::Deserialize;
                use sqlx::PgPool;

                #[derive(Deserialize)]
                struct Move {
                    source: i64,
                    target: i64,
                    points: i64,
                }

                async fn move_points(
                    State(pool): State<PgPool>,
                    Json(body): Json<Move>,
                ) -> Result<(), AppError> {
                    let mut tx = pool.begin().await?;
                    sqlx::query("UPDATE accounts SET points = points - $1 WHERE id = $2")
                        .bind(body.points)
                        .bind(body.source)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("UPDATE accounts SET points = points + $1 WHERE id = $2")
                        .bind(body.points)
                        .bind(body.target)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(())
                }

                pub fn app(pool: PgPool) -> Router {
                    Router::new().route("/points/move", post(move_points)).with_state(pool)
                }
                """
            ),
        ),
    },
    "RC203": {
        "javascript": LanguageExamples(
            filename="signup.js",
            racy=snippet(
                """
                const express = require("express");
                const { Pool } = require("pg");

                const app = express();
                const pool = new Pool();

                app.post("/signup", async (req, res) => {
                  const { email } = req.body;
                  const existing = await pool.query("SELECT id FROM users WHERE email = $1", [email]);
                  if (existing.rows.length > 0) {
                    return res.status(409).json({ error: "email taken" });
                  }
                  await pool.query("INSERT INTO users (email) VALUES ($1)", [email]);
                  res.status(201).end();
                });
                """
            ),
            fixed=snippet(
                """
                const express = require("express");
                const { Pool } = require("pg");

                const app = express();
                const pool = new Pool();

                // users.email is UNIQUE: the database refuses the second insert.
                app.post("/signup", async (req, res) => {
                  try {
                    await pool.query("INSERT INTO users (email) VALUES ($1)", [req.body.email]);
                  } catch (err) {
                    if (err.code === "23505") {
                      return res.status(409).json({ error: "email taken" });
                    }
                    throw err;
                  }
                  res.status(201).end();
                });
                """
            ),
        ),
        "rust": LanguageExamples(
            filename="signup.rs",
            fix=(
                "Add a UNIQUE constraint on the looked-up column and insert with `ON CONFLICT DO NOTHING` "
                "(checking `rows_affected()`), or answer the unique violation (SQLSTATE 23505) with 409, "
                "instead of checking first."
            ),
            racy=snippet(
                """
                use actix_web::{post, web, HttpResponse};
                use sqlx::PgPool;

                #[post("/signup")]
                async fn sign_up(pool: web::Data<PgPool>, email: String) -> Result<HttpResponse, AppError> {
                    let existing = sqlx::query("SELECT id FROM users WHERE email = $1")
                        .bind(&email)
                        .fetch_optional(pool.get_ref())
                        .await?;
                    if existing.is_some() {
                        return Ok(HttpResponse::Conflict().finish());
                    }
                    sqlx::query("INSERT INTO users (email) VALUES ($1)")
                        .bind(&email)
                        .execute(pool.get_ref())
                        .await?;
                    Ok(HttpResponse::Created().finish())
                }
                """
            ),
            fixed=snippet(
                """
                use actix_web::{post, web, HttpResponse};
                use sqlx::PgPool;

                // users.email is UNIQUE: the insert is its own check.
                #[post("/signup")]
                async fn sign_up(pool: web::Data<PgPool>, email: String) -> Result<HttpResponse, AppError> {
                    let insert = "INSERT INTO users (email) VALUES ($1) ON CONFLICT (email) DO NOTHING";
                    let inserted = sqlx::query(insert)
                        .bind(&email)
                        .execute(pool.get_ref())
                        .await?;
                    if inserted.rows_affected() == 0 {
                        return Ok(HttpResponse::Conflict().finish());
                    }
                    Ok(HttpResponse::Created().finish())
                }
                """
            ),
        ),
    },
}
