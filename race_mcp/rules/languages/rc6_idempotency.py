"""RC6xx idempotency in JavaScript/TypeScript and Rust. Idempotency keys: an Express route and an Axum route
that create payments. Keyed by rule id; `race_mcp.rules` attaches each entry to its rule
(`Rule.other_languages`).
"""

from __future__ import annotations

from .._model import LanguageExamples, OtherLanguage, snippet

__all__ = ["EXAMPLES"]

EXAMPLES: dict[str, dict[OtherLanguage, LanguageExamples]] = {
    "RC601": {
        "javascript": LanguageExamples(
            filename="payments.ts",
            gap=(
                "the money-handler check (which reads a module's routes and their persisted writes) runs on "
                "Python modules only so far."
            ),
            racy=snippet(
                """
                import express from "express";
                import { Pool } from "pg";

                const app = express();
                const pool = new Pool();

                app.post("/payments", async (req, res) => {
                  const { customerId, amount } = req.body;
                  await pool.query("INSERT INTO payments (customer_id, amount) VALUES ($1, $2)", [
                    customerId,
                    amount,
                  ]);
                  res.status(201).json({ status: "pending" });
                });
                """
            ),
            fixed=snippet(
                """
                import express from "express";
                import { Pool } from "pg";

                const app = express();
                const pool = new Pool();

                app.post("/payments", async (req, res) => {
                  const idempotencyKey = req.get("Idempotency-Key");
                  if (!idempotencyKey) {
                    return res.status(400).json({ error: "Idempotency-Key header required" });
                  }
                  const { customerId, amount } = req.body;
                  // payments.idempotency_key is UNIQUE: a retry inserts nothing.
                  await pool.query(
                    `INSERT INTO payments (customer_id, amount, idempotency_key) VALUES ($1, $2, $3)
                     ON CONFLICT (idempotency_key) DO NOTHING`,
                    [customerId, amount, idempotencyKey],
                  );
                  res.status(201).json({ status: "pending" });
                });
                """
            ),
        ),
        "rust": LanguageExamples(
            filename="payments.rs",
            gap=(
                "the money-handler check (which reads a module's routes and their persisted writes) runs on "
                "Python modules only so far."
            ),
            racy=snippet(
                """
                use axum::extract::State;
                use axum::http::StatusCode;
                use axum::routing::post;
                use axum::{Json, Router};
                use serde::Deserialize;
                use sqlx::PgPool;

                #[derive(Deserialize)]
                struct PaymentIn {
                    customer_id: i64,
                    amount: i64,
                }

                async fn create_payment(
                    State(pool): State<PgPool>,
                    Json(body): Json<PaymentIn>,
                ) -> Result<StatusCode, AppError> {
                    sqlx::query("INSERT INTO payments (customer_id, amount) VALUES ($1, $2)")
                        .bind(body.customer_id)
                        .bind(body.amount)
                        .execute(&pool)
                        .await?;
                    Ok(StatusCode::CREATED)
                }

                pub fn app(pool: PgPool) -> Router {
                    Router::new().route("/payments", post(create_payment)).with_state(pool)
                }
                """
            ),
            fixed=snippet(
                """
                use axum::extract::State;
                use axum::http::{HeaderMap, StatusCode};
                use axum::routing::post;
                use axum::{Json, Router};
                use serde::Deserialize;
                use sqlx::PgPool;

                #[derive(Deserialize)]
                struct PaymentIn {
                    customer_id: i64,
                    amount: i64,
                }

                async fn create_payment(
                    State(pool): State<PgPool>,
                    headers: HeaderMap,
                    Json(body): Json<PaymentIn>,
                ) -> Result<StatusCode, AppError> {
                    let Some(key) = headers.get("Idempotency-Key").and_then(|v| v.to_str().ok()) else {
                        return Ok(StatusCode::BAD_REQUEST);
                    };
                    // payments.idempotency_key is UNIQUE: a retry inserts nothing.
                    let insert = "INSERT INTO payments (customer_id, amount, idempotency_key)
                                  VALUES ($1, $2, $3) ON CONFLICT (idempotency_key) DO NOTHING";
                    sqlx::query(insert)
                        .bind(body.customer_id)
                        .bind(body.amount)
                        .bind(key)
                        .execute(&pool)
                        .await?;
                    Ok(StatusCode::CREATED)
                }

                pub fn app(pool: PgPool) -> Router {
                    Router::new().route("/payments", post(create_payment)).with_state(pool)
                }
                """
            ),
        ),
    },
}
