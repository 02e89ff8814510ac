"""RC1xx in-process shared state in JavaScript/TypeScript and Rust. In-process state: Express/Koa handlers
on Node's event loop, Axum/actix-web handlers on tokio's worker threads. Keyed by rule id;
`race_mcp.rules` attaches each entry to its rule (`Rule.other_languages`).
"""

from __future__ import annotations

from .._model import LanguageExamples, OtherLanguage, snippet

__all__ = ["EXAMPLES"]

EXAMPLES: dict[str, dict[OtherLanguage, LanguageExamples]] = {
    "RC101": {
        "javascript": LanguageExamples(
            filename="coupons.ts",
            racy=snippet(
                """
                import express from "express";

                const app = express();
                const coupons = new Map<string, { used: boolean }>([["WELCOME", { used: false }]]);

                app.post("/redeem/:code", async (req, res) => {
                  const coupon = coupons.get(req.params.code);
                  if (!coupon || coupon.used) {
                    return res.status(409).json({ ok: false });
                  }
                  await chargeDiscount(req.params.code);
                  coupon.used = true;
                  res.json({ ok: true });
                });

                async function chargeDiscount(code: string): Promise<void> {
                  await auditLog.write(code);
                }
                """
            ),
            fixed=snippet(
                """
                import express from "express";

                const app = express();
                const coupons = new Map<string, { used: boolean }>([["WELCOME", { used: false }]]);

                app.post("/redeem/:code", async (req, res) => {
                  const coupon = coupons.get(req.params.code);
                  if (!coupon || coupon.used) {
                    return res.status(409).json({ ok: false });
                  }
                  coupon.used = true; // claimed before the first await: no other request can pass the check
                  await chargeDiscount(req.params.code);
                  res.json({ ok: true });
                });

                async function chargeDiscount(code: string): Promise<void> {
                  await auditLog.write(code);
                }
                """
            ),
        ),
        "rust": LanguageExamples(
            not_applicable=(
                "Tokio runs tasks on several worker threads, so a Rust handler's read and write of shared "
                "state race whether or not an `.await` separates them: that is RC102, reported for every "
                "async handler."
            ),
        ),
    },
    "RC102": {
        "javascript": LanguageExamples(
            not_applicable=(
                "Node runs every handler on one event-loop thread, so in-process state changes hands only "
                "at an `await`: that race is RC101. Worker threads share no ordinary objects."
            ),
        ),
        "rust": LanguageExamples(
            filename="stock.rs",
            fix=(
                "Hold one guard across the read and the write (`let mut stock = "
                "state.stock.lock().unwrap();`, then check and write through it), or make the change one "
                "atomic operation (`DashMap::entry`, `fetch_update`/`compare_exchange` on an atomic); this "
                "protects one process only, so state shared by several instances belongs in a database or "
                "Redis with an atomic update."
            ),
            racy=snippet(
                """
                use axum::extract::{Path, State};
                use axum::http::StatusCode;
                use axum::routing::post;
                use axum::Router;
                use std::collections::HashMap;
                use std::sync::{Arc, Mutex};

                struct AppState {
                    stock: Mutex<HashMap<String, u32>>,
                }

                async fn buy(State(state): State<Arc<AppState>>, Path(item): Path<String>) -> StatusCode {
                    let left = state.stock.lock().unwrap().get(&item).copied().unwrap_or(0);
                    if left == 0 {
                        return StatusCode::CONFLICT;
                    }
                    state.stock.lock().unwrap().insert(item, left - 1);
                    StatusCode::OK
                }

                pub fn app(state: Arc<AppState>) -> Router {
                    Router::new().route("/items/:item/buy", post(buy)).with_state(state)
                }
                """
            ),
            fixed=snippet(
                """
                use axum::extract::{Path, State};
                use axum::http::StatusCode;
                use axum::routing::post;
                use axum::Router;
                use std::collections::HashMap;
                use std::sync::{Arc, Mutex};

                struct AppState {
                    stock: Mutex<HashMap<String, u32>>,
                }

                async fn buy(State(state): State<Arc<AppState>>, Path(item): Path<String>) -> StatusCode {
                    // One guard from the check to the write.
                    let mut stock = state.stock.lock().unwrap();
                    let left = stock.get(&item).copied().unwrap_or(0);
                    if left == 0 {
                        return StatusCode::CONFLICT;
                    }
                    stock.insert(item, left - 1);
                    StatusCode::OK
                }

                pub fn app(state: Arc<AppState>) -> Router {
                    Router::new().route("/items/:item/buy", post(buy)).with_state(state)
                }
                """
            ),
        ),
    },
}
