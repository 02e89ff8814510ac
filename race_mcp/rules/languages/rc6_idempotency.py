"""RC6xx idempotency in JavaScript/TypeScript and Rust. Idempotency keys: an Express route and an Axum
route that create payments; claims: a sweeper that skips the claim the live path takes. Keyed by rule
id; `race_mcp.rules` attaches each entry to its rule (`Rule.other_languages`).
"""

from __future__ import annotations

from .._model import LanguageExamples, OtherLanguage, snippet

__all__ = ["EXAMPLES"]

EXAMPLES: dict[str, dict[OtherLanguage, LanguageExamples]] = {
    "RC601": {
        "javascript": LanguageExamples(
            filename="payments.ts",
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
            fix=(
                "Accept an `Idempotency-Key` header (from the `HeaderMap`), store the key under a UNIQUE "
                "constraint with the result in the same transaction as the write (`ON CONFLICT "
                "(idempotency_key) DO NOTHING`), and replay the stored result for a repeated key."
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
    "RC602": {
        "javascript": LanguageExamples(
            filename="sweeper.ts",
            racy=snippet(
                """
                import { Job } from "./models";

                export async function live(ids: number[], handle: (job: Job) => Promise<void>) {
                  for (const id of ids) {
                    const job = await Job.get(id);
                    if (await job.claim()) {
                      await handle(job);
                    }
                  }
                }

                export async function sweep(handle: (job: Job) => Promise<void>) {
                  for (const job of await Job.stale(10)) {
                    await handle(job);
                  }
                }
                """
            ),
            fixed=snippet(
                """
                import { Job } from "./models";

                export async function live(ids: number[], handle: (job: Job) => Promise<void>) {
                  for (const id of ids) {
                    const job = await Job.get(id);
                    if (await job.claim()) {
                      await handle(job);
                    }
                  }
                }

                export async function sweep(handle: (job: Job) => Promise<void>) {
                  for (const job of await Job.stale(10)) {
                    if (await job.claim()) {
                      await handle(job);
                    }
                  }
                }
                """
            ),
        ),
        "rust": LanguageExamples(
            filename="sweeper.rs",
            racy=snippet(
                """
                use crate::models::Job;

                pub async fn live(ids: Vec<i64>, handle: impl Fn(&Job)) {
                    for id in ids {
                        let job = Job::get(id).await;
                        if job.claim().await {
                            handle(&job);
                        }
                    }
                }

                pub async fn sweep(handle: impl Fn(&Job)) {
                    for job in Job::stale(10).await {
                        handle(&job);
                    }
                }
                """
            ),
            fixed=snippet(
                """
                use crate::models::Job;

                pub async fn live(ids: Vec<i64>, handle: impl Fn(&Job)) {
                    for id in ids {
                        let job = Job::get(id).await;
                        if job.claim().await {
                            handle(&job);
                        }
                    }
                }

                pub async fn sweep(handle: impl Fn(&Job)) {
                    for job in Job::stale(10).await {
                        if job.claim().await {
                            handle(&job);
                        }
                    }
                }
                """
            ),
        ),
    },
}
