"""RC5xx Redis in JavaScript/TypeScript and Rust. Redis: ioredis and redis-rs. Keyed by rule id;
`race_mcp.rules` attaches each entry to its rule (`Rule.other_languages`).
"""

from __future__ import annotations

from .._model import LanguageExamples, OtherLanguage, snippet

__all__ = ["EXAMPLES"]

EXAMPLES: dict[str, dict[OtherLanguage, LanguageExamples]] = {
    "RC501": {
        "javascript": LanguageExamples(
            filename="coupons-redis.mjs",
            racy=snippet(
                """
                import express from "express";
                import Redis from "ioredis";
                import { requireIdempotencyKey } from "./idempotency";

                const app = express();
                const redis = new Redis();

                app.post("/coupons/:code/redeem", requireIdempotencyKey, async (req, res) => {
                  const key = `coupon:${req.params.code}:used`;
                  const used = await redis.get(key);
                  if (used) {
                    return res.status(409).json({ ok: false });
                  }
                  await redis.set(key, "1");
                  res.json({ ok: true });
                });
                """
            ),
            fixed=snippet(
                """
                import express from "express";
                import Redis from "ioredis";
                import { requireIdempotencyKey } from "./idempotency";

                const app = express();
                const redis = new Redis();

                app.post("/coupons/:code/redeem", requireIdempotencyKey, async (req, res) => {
                  const key = `coupon:${req.params.code}:used`;
                  // SET NX claims the coupon only if nobody has: one command, decided by Redis.
                  const claimed = await redis.set(key, "1", "NX");
                  if (!claimed) {
                    return res.status(409).json({ ok: false });
                  }
                  res.json({ ok: true });
                });
                """
            ),
        ),
        "rust": LanguageExamples(
            filename="coupons_redis.rs",
            fix=(
                "Use `incr`/`decr` and check the returned value, `set_nx` (or `SET ... NX` through "
                "`redis::cmd`), `WATCH` + `MULTI`, or a Lua `redis::Script` instead of GET then SET."
            ),
            racy=snippet(
                """
                use axum::extract::{Path, State};
                use axum::http::StatusCode;
                use axum::middleware;
                use axum::routing::post;
                use axum::Router;
                use redis::AsyncCommands;
                use crate::idempotency::require_idempotency_key;

                async fn redeem(
                    State(client): State<redis::Client>,
                    Path(code): Path<String>,
                ) -> Result<StatusCode, AppError> {
                    let mut con = client.get_multiplexed_async_connection().await?;
                    let used: Option<String> = con.get(format!("coupon:{}:used", code)).await?;
                    if used.is_some() {
                        return Ok(StatusCode::CONFLICT);
                    }
                    con.set(format!("coupon:{}:used", code), "1").await?;
                    Ok(StatusCode::OK)
                }

                pub fn app(client: redis::Client) -> Router {
                    Router::new()
                        .route("/coupons/:code/redeem", post(redeem))
                        .route_layer(middleware::from_fn(require_idempotency_key))
                        .with_state(client)
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
                use redis::AsyncCommands;
                use crate::idempotency::require_idempotency_key;

                async fn redeem(
                    State(client): State<redis::Client>,
                    Path(code): Path<String>,
                ) -> Result<StatusCode, AppError> {
                    let mut con = client.get_multiplexed_async_connection().await?;
                    // SETNX claims the coupon only if nobody has: one command, decided by Redis.
                    let claimed: bool = con.set_nx(format!("coupon:{}:used", code), "1").await?;
                    if !claimed {
                        return Ok(StatusCode::CONFLICT);
                    }
                    Ok(StatusCode::OK)
                }

                pub fn app(client: redis::Client) -> Router {
                    Router::new()
                        .route("/coupons/:code/redeem", post(redeem))
                        .route_layer(middleware::from_fn(require_idempotency_key))
                        .with_state(client)
                }
                """
            ),
        ),
    },
    "RC502": {
        "javascript": LanguageExamples(
            filename="ratelimit.mjs",
            racy=snippet(
                """
                import express from "express";
                import Redis from "ioredis";

                const app = express();
                const redis = new Redis();

                app.use(async (req, res, next) => {
                  const key = `rl:${req.ip}:${Math.floor(Date.now() / 60000)}`;
                  const hits = Number(await redis.get(key));
                  if (hits >= 60) {
                    return res.status(429).end();
                  }
                  await redis.multi().incr(key).expire(key, 60).exec();
                  next();
                });
                """
            ),
            fixed=snippet(
                """
                import express from "express";
                import Redis from "ioredis";

                const app = express();
                const redis = new Redis();

                app.use(async (req, res, next) => {
                  const key = `rl:${req.ip}:${Math.floor(Date.now() / 60000)}`;
                  // The limit is checked on the value INCR returned: Redis counted this request itself.
                  const [[, hits]] = await redis.multi().incr(key).expire(key, 60).exec();
                  if (hits > 60) {
                    return res.status(429).end();
                  }
                  next();
                });
                """
            ),
        ),
        "rust": LanguageExamples(
            filename="ratelimit.rs",
            fix=(
                "Increment first (`con.incr(&key, 1)` returns the new count) and compare what it returns "
                "with the limit."
            ),
            racy=snippet(
                """
                use redis::AsyncCommands;

                pub async fn allow(
                    con: &mut redis::aio::MultiplexedConnection,
                    client_ip: &str,
                    minute: u64,
                ) -> redis::RedisResult<bool> {
                    let key = format!("rl:{}:{}", client_ip, minute);
                    let hits: i64 = con.get(&key).await.unwrap_or(0);
                    if hits >= 60 {
                        return Ok(false);
                    }
                    con.incr(&key, 1).await?;
                    Ok(true)
                }
                """
            ),
            fixed=snippet(
                """
                use redis::AsyncCommands;

                pub async fn allow(
                    con: &mut redis::aio::MultiplexedConnection,
                    client_ip: &str,
                    minute: u64,
                ) -> redis::RedisResult<bool> {
                    let key = format!("rl:{}:{}", client_ip, minute);
                    // The limit is checked on the value INCR returned: Redis counted this request itself.
                    let hits: i64 = con.incr(&key, 1).await?;
                    Ok(hits <= 60)
                }
                """
            ),
        ),
    },
    "RC503": {
        "javascript": LanguageExamples(
            filename="attempts.mjs",
            racy=snippet(
                """
                import Redis from "ioredis";

                const redis = new Redis();

                export async function allowLoginAttempt(username) {
                  const key = `login-attempts:${username}`;
                  const attempts = await redis.incr(key);
                  if (attempts === 1) {
                    await redis.expire(key, 900);
                  }
                  return attempts <= 5;
                }
                """
            ),
            fixed=snippet(
                """
                import Redis from "ioredis";

                const redis = new Redis();

                export async function allowLoginAttempt(username) {
                  const key = `login-attempts:${username}`;
                  // One MULTI: the counter never exists without its expiry.
                  const tx = redis.multi();
                  tx.incr(key);
                  tx.expire(key, 900, "NX");
                  const [[, attempts]] = await tx.exec();
                  return attempts <= 5;
                }
                """
            ),
        ),
        "rust": LanguageExamples(
            filename="attempts.rs",
            fix=(
                "Set the expiry atomically with the increment: `redis::pipe().atomic().incr(..).expire(..)`, "
                "`SET key 0 EX n NX` first, or a Lua `redis::Script`."
            ),
            racy=snippet(
                """
                use redis::AsyncCommands;

                pub async fn allow_login_attempt(
                    con: &mut redis::aio::MultiplexedConnection,
                    user: &str,
                ) -> redis::RedisResult<bool> {
                    let key = format!("login-attempts:{}", user);
                    let attempts: i64 = con.incr(&key, 1).await?;
                    if attempts == 1 {
                        con.expire(&key, 900).await?;
                    }
                    Ok(attempts <= 5)
                }
                """
            ),
            fixed=snippet(
                """
                use redis::AsyncCommands;

                pub async fn allow_login_attempt(
                    con: &mut redis::aio::MultiplexedConnection,
                    user: &str,
                ) -> redis::RedisResult<bool> {
                    let key = format!("login-attempts:{}", user);
                    // One MULTI/EXEC: the counter never exists without its expiry.
                    let (attempts,): (i64,) = redis::pipe()
                        .atomic()
                        .incr(&key, 1)
                        .expire(&key, 900)
                        .ignore()
                        .query_async(con)
                        .await?;
                    Ok(attempts <= 5)
                }
                """
            ),
        ),
    },
}
