"""RC601 in Rust beyond the fixture corpus: actix-web resources, keys enforced by a Tower layer or an
actix `wrap`, `if let` header reads, a typed key extractor that is never used, what the finding says,
and functions no route reaches (tokio tasks) left alone."""

from __future__ import annotations

from race_mcp import analyze_source

ACTIX = """\
use actix_web::{web, App, HttpRequest, HttpResponse};
use sqlx::PgPool;

async fn deposit(req: HttpRequest, pool: web::Data<PgPool>, amount: web::Json<i64>) -> HttpResponse {
    sqlx::query("INSERT INTO deposits (amount) VALUES ($1)")
        .bind(amount.into_inner())
        .execute(pool.get_ref())
        .await
        .ok();
    HttpResponse::Created().finish()
}

pub fn app() -> App<()> {
    App::new().service(web::resource("/deposits").route(web::post().to(deposit)))
}
"""


def _rc601(source: str, path: str = "payments.rs") -> list[tuple[int, str | None]]:
    return [(f.line, f.reached_by) for f in analyze_source(source, path) if f.rule_id == "RC601"]


def test_actix_resource_deposit_without_a_key_is_reported() -> None:
    assert _rc601(ACTIX) == [(4, "actix-web route POST /deposits")]


IF_LET = """\
    if let Some(key) = req.headers().get("Idempotency-Key") {
        sqlx::query(INSERT_KEYED)
            .bind(amount.into_inner())
            .bind(key.to_str().unwrap_or_default())
            .execute(pool.get_ref())
            .await
            .ok();
    }
"""
INSERT_KEYED = "INSERT INTO deposits (amount, idempotency_key) VALUES ($1, $2) ON CONFLICT DO NOTHING"


def _with_body(body: str) -> str:
    start = ACTIX.index("    sqlx::query(")
    end = ACTIX.index("    HttpResponse::Created()")
    return ACTIX[:start] + body + ACTIX[end:]


def test_if_let_header_read_stored_with_the_insert_is_safe() -> None:
    keyed = _with_body(IF_LET.replace("INSERT_KEYED", f'"{INSERT_KEYED}"'))
    assert _rc601(keyed) == []
    # Read in the `if let` but left out of a plain insert: the retry with the same key deposits again.
    dropped = _with_body(
        IF_LET.replace("INSERT_KEYED", '"INSERT INTO deposits (amount) VALUES ($1)"').replace(
            "            .bind(key.to_str().unwrap_or_default())\n", ""
        )
    )
    (finding,) = analyze_source(dropped, "payments.rs")
    assert finding.rule_id == "RC601"
    assert "reads an idempotency key (line 5) but never stores it" in finding.message


def test_actix_wrap_naming_a_key_covers_the_app() -> None:
    wrapped = ACTIX.replace(
        "App::new().service(", "App::new().wrap(IdempotencyMiddleware::default()).service("
    )
    assert _rc601(wrapped) == []
    logged = ACTIX.replace("App::new()", "App::new().wrap(Logger::default())")
    assert _rc601(logged) == [(4, "actix-web route POST /deposits")]


AXUM = """\
use axum::extract::State;
use axum::routing::post;
use axum::Router;
use sqlx::PgPool;

async fn refund(State(pool): State<PgPool>, TypedHeader(key): TypedHeader<IdempotencyKey>) -> StatusCode {
    sqlx::query("INSERT INTO refunds (amount) VALUES (10)").execute(&pool).await.ok();
    StatusCode::CREATED
}

pub fn app(pool: PgPool) -> Router {
    Router::new().route("/refunds", post(refund)).with_state(pool)
}
"""


def test_a_typed_key_extractor_whose_key_is_never_used_is_reported() -> None:
    (finding,) = analyze_source(AXUM, "refunds.rs")
    assert (finding.rule_id, finding.line, finding.reached_by) == ("RC601", 6, "Axum route POST /refunds")
    assert "never stores it" in finding.message
    # The fix the Rust finding carries speaks Rust (HeaderMap), not FastAPI.
    assert "HeaderMap" in finding.fix and "Header(" not in finding.fix


def test_the_extracted_key_bound_into_the_insert_is_safe() -> None:
    keyed = AXUM.replace(
        'sqlx::query("INSERT INTO refunds (amount) VALUES (10)")',
        'sqlx::query("INSERT INTO refunds (amount, idempotency_key) VALUES (10, $1) ON CONFLICT DO NOTHING")'
        ".bind(key.0)",
    )
    assert analyze_source(keyed, "refunds.rs") == []


def test_a_tower_layer_naming_a_key_covers_the_router() -> None:
    layered = AXUM.replace(
        '.route("/refunds", post(refund))',
        '.route("/refunds", post(refund)).route_layer(axum::middleware::from_fn(require_idempotency_key))',
    )
    assert _rc601(layered, "refunds.rs") == []


def test_a_function_no_route_reaches_is_not_asked_for_a_key() -> None:
    task = """\
use sqlx::PgPool;

pub async fn settle_payouts(pool: PgPool) {
    sqlx::query("INSERT INTO payouts (amount) VALUES (10)").execute(&pool).await.ok();
}
"""
    assert _rc601(task, "jobs.rs") == []


def test_rc602_in_a_file_that_also_talks_to_a_store() -> None:
    source = """\
use sqlx::PgPool;

async fn settle(pool: &PgPool, id: i64) {
    sqlx::query("UPDATE orders SET settled = true WHERE id = $1").bind(id).execute(pool).await.ok();
}

pub async fn live(pool: PgPool, order: Order) {
    if order.claim().await {
        settle(&pool, order.id).await;
        ship(order);
    }
}

pub async fn sweep(pool: PgPool) {
    for order in Order::unsettled(&pool).await {
        ship(order);
    }
}
"""
    found = [(f.rule_id, f.line) for f in analyze_source(source, "settle.rs") if f.rule_id == "RC602"]
    assert found == [("RC602", 16)]
