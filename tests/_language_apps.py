"""Small applications of our own in JavaScript/TypeScript and Rust with the OpenAPI specs that
describe them, for the tests that link spec operations to handlers (`openapi --source`, MCP
`check_openapi` with `source`) and drive the MCP tools on other languages.

The Node shop: an Express app (a pg SELECT then UPDATE behind `:walletId(\\d+)`, a Map checked then
set across an await; both money routes take an idempotency key, so what is found is their races),
a Fastify route (ioredis GET then SET) and a Next.js `pages/api` handler with a `[cartId]` segment
(MongoDB find then update; it answers every method), and an app-router `route.ts` under a `(shop)`
route group (pg SELECT then UPDATE). The Rust shop: Axum routes nested under `/v1`
(sqlx SELECT then UPDATE at `{id}` behind an idempotency-key layer, a Mutex guard dropped between check and
insert at `:show/:seat`) and an actix-web route macro with a `{id:\\d+}` regex segment (redis-rs GET
then SET)."""

from __future__ import annotations

from pathlib import Path

JS_SHOP = r"""
const express = require("express");
const { Pool } = require("pg");

const app = express();
const pool = new Pool();
const coupons = new Map();

app.post("/wallets/:walletId(\\d+)/withdraw", requireIdempotencyKey, async (req, res) => {
  const { rows } = await pool.query("SELECT balance FROM wallets WHERE id = $1", [req.params.walletId]);
  if (rows[0].balance < req.body.amount) {
    return res.status(409).end();
  }
  await pool.query("UPDATE wallets SET balance = $1 WHERE id = $2", [rows[0].balance - req.body.amount, req.params.walletId]);
  res.json({ ok: true });
});

app.post("/coupons/:code/redeem", requireIdempotencyKey, async (req, res) => {
  if (coupons.get(req.params.code)) {
    return res.status(409).end();
  }
  await audit(req.params.code);
  coupons.set(req.params.code, true);
  res.json({ ok: true });
});

app.get("/health", (req, res) => res.json({ ok: true }));

async function audit(code) {
  await pool.query("INSERT INTO audit (code) VALUES ($1)", [code]);
}

// Retries carry an Idempotency-Key (stored and replayed here); concurrent different requests still race.
function requireIdempotencyKey(req, res, next) {
  next();
}
"""  # noqa: E501 (the shape of real code in another language)

JS_STOCK = r"""
import Fastify from "fastify";
import Redis from "ioredis";

const app = Fastify();
const redis = new Redis();

app.put("/items/:sku", async (request, reply) => {
  const { sku } = request.params as { sku: string };
  const left = Number(await redis.get(`stock:${sku}`));
  if (left <= 0) {
    return reply.code(409).send();
  }
  await redis.set(`stock:${sku}`, left - 1);
  return { left: left - 1 };
});
"""

JS_CART = r"""
import { MongoClient } from "mongodb";

const carts = new MongoClient(process.env.MONGO_URL).db("shop").collection("carts");

export default async function handler(req, res) {
  const cart = await carts.findOne({ _id: req.query.cartId });
  if (cart.items.length >= 50) {
    return res.status(409).end();
  }
  await carts.updateOne({ _id: req.query.cartId }, { $set: { items: [...cart.items, req.body.item] } });
  res.json({ ok: true });
}
"""

JS_ORDER = r"""
import { Pool } from "pg";

const pool = new Pool();

export async function POST(request: Request, { params }: { params: { orderId: string } }) {
  const { rows } = await pool.query("SELECT status FROM orders WHERE id = $1", [params.orderId]);
  if (rows[0].status !== "open") {
    return Response.json({ error: "not open" }, { status: 409 });
  }
  await pool.query("UPDATE orders SET status = 'paid' WHERE id = $1", [params.orderId]);
  return Response.json({ ok: true });
}
"""

JS_SPEC = r"""
openapi: 3.0.3
info: {title: node shop, version: '1'}
servers: [{url: https://shop.example.com/api}]
paths:
  /wallets/{walletId}/withdraw:
    post:
      operationId: withdraw
      parameters: [{name: walletId, in: path, required: true, schema: {type: integer}}]
      responses: {'200': {description: withdrawn}}
  /coupons/{code}/redeem:
    post:
      operationId: redeemCoupon
      parameters: [{name: code, in: path, required: true, schema: {type: string}}]
      responses: {'200': {description: redeemed}}
  /items/{sku}:
    put:
      operationId: replaceItem
      parameters: [{name: sku, in: path, required: true, schema: {type: string}}]
      requestBody: {content: {application/json: {schema: {type: object}}}}
      responses: {'200': {description: replaced}}
  /carts/{cartId}:
    get:
      operationId: getCart
      parameters: [{name: cartId, in: path, required: true, schema: {type: string}}]
      responses: {'200': {description: the cart}}
    patch:
      operationId: addToCart
      parameters: [{name: cartId, in: path, required: true, schema: {type: string}}]
      requestBody: {content: {application/json: {schema: {type: object}}}}
      responses: {'200': {description: added}}
  /orders/{orderId}:
    post:
      operationId: payOrder
      parameters: [{name: orderId, in: path, required: true, schema: {type: string}}]
      responses: {'200': {description: paid}}
  /health:
    get:
      responses: {'200': {description: ok}}
"""

RUST_MAIN = r"""
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::idempotency::require_idempotency_key;

struct AppState {
    pool: PgPool,
    seats: Mutex<HashMap<String, u32>>,
}

async fn withdraw(State(state): State<Arc<AppState>>, Path(id): Path<i64>) -> Result<StatusCode, AppError> {
    let balance: i64 = sqlx::query_scalar("SELECT balance FROM wallets WHERE id = $1").bind(id).fetch_one(&state.pool).await?;
    if balance < 10 {
        return Ok(StatusCode::CONFLICT);
    }
    sqlx::query("UPDATE wallets SET balance = $1 WHERE id = $2").bind(balance - 10).bind(id).execute(&state.pool).await?;
    Ok(StatusCode::OK)
}

async fn reserve(State(state): State<Arc<AppState>>, Path((show, seat)): Path<(String, String)>) -> StatusCode {
    let taken = state.seats.lock().unwrap().contains_key(&seat);
    if taken {
        return StatusCode::CONFLICT;
    }
    state.seats.lock().unwrap().insert(seat, 1);
    StatusCode::OK
}

async fn health() -> &'static str {
    "ok"
}

fn api() -> Router<Arc<AppState>> {
    Router::new()
        .route("/wallets/{id}/withdraw", post(withdraw).route_layer(axum::middleware::from_fn(require_idempotency_key)))
        .route("/shows/:show/seats/:seat", post(reserve))
}

pub fn app(state: Arc<AppState>) -> Router {
    Router::new().nest("/v1", api()).route("/health", get(health)).with_state(state)
}
"""  # noqa: E501 (the shape of real code in another language)

RUST_ADMIN = r"""
use actix_web::{delete, web, HttpResponse};
use redis::AsyncCommands;

#[delete("/users/{id:\\d+}/sessions")]
async fn drop_sessions(client: web::Data<redis::Client>, id: web::Path<u64>) -> Result<HttpResponse, AppError> {
    let mut con = client.get_multiplexed_async_connection().await?;
    let count: Option<i64> = con.get(format!("sessions:{}", id)).await?;
    if count.is_none() {
        return Ok(HttpResponse::NotFound().finish());
    }
    con.set(format!("sessions:{}", id), 0).await?;
    Ok(HttpResponse::NoContent().finish())
}
"""  # noqa: E501 (the shape of real code in another language)

RUST_SPEC = r"""
openapi: 3.1.0
info: {title: rust shop, version: '1'}
paths:
  /v1/wallets/{walletId}/withdraw:
    post:
      operationId: withdraw
      parameters: [{name: walletId, in: path, required: true, schema: {type: integer}}]
      responses: {'200': {description: withdrawn}}
  /shows/{showId}/seats/{seatId}:
    post:
      operationId: reserveSeat
      parameters:
        - {name: showId, in: path, required: true, schema: {type: string}}
        - {name: seatId, in: path, required: true, schema: {type: string}}
      responses: {'200': {description: reserved}}
  /users/{userId}/sessions:
    delete:
      operationId: dropSessions
      parameters: [{name: userId, in: path, required: true, schema: {type: integer}}]
      responses: {'204': {description: dropped}}
  /health:
    get:
      responses: {'200': {description: ok}}
"""


# operation -> (handler, code rule, the route as the front-end spelled it): what linking must find.
JS_LINKS = {
    "POST /wallets/{walletId}/withdraw": (
        "POST /wallets/:walletId(\\\\d+)/withdraw handler",
        "RC201",
        "POST /wallets/:walletId(\\\\d+)/withdraw",
    ),
    "POST /coupons/{code}/redeem": (
        "POST /coupons/:code/redeem handler",
        "RC101",
        "POST /coupons/:code/redeem",
    ),
    "PUT /items/{sku}": ("PUT /items/:sku handler", "RC501", "PUT /items/:sku"),
    "PATCH /carts/{cartId}": ("handler", "RC801", "/api/carts/[cartId]"),
    "POST /orders/{orderId}": ("POST", "RC201", "POST /(shop)/api/orders/[orderId]"),
}
RUST_LINKS = {
    "POST /v1/wallets/{walletId}/withdraw": ("withdraw", "RC201", "POST /v1/wallets/{id}/withdraw"),
    "POST /shows/{showId}/seats/{seatId}": ("reserve", "RC102", "POST /v1/shows/:show/seats/:seat"),
    "DELETE /users/{userId}/sessions": ("drop_sessions", "RC501", "DELETE /users/{id:\\d+}/sessions"),
}


def write_js_shop(root: Path) -> tuple[Path, Path]:
    """(spec, source directory) of the Node shop under `root`."""
    source = root / "node-shop"
    (source / "pages" / "api" / "carts").mkdir(parents=True)
    (source / "shop.js").write_text(JS_SHOP.lstrip("\n"), encoding="utf-8")
    (source / "stock.ts").write_text(JS_STOCK.lstrip("\n"), encoding="utf-8")
    (source / "pages" / "api" / "carts" / "[cartId].js").write_text(JS_CART.lstrip("\n"), encoding="utf-8")
    order = source / "app" / "(shop)" / "api" / "orders" / "[orderId]"
    order.mkdir(parents=True)
    (order / "route.ts").write_text(JS_ORDER.lstrip("\n"), encoding="utf-8")
    spec = root / "node-shop.yaml"
    spec.write_text(JS_SPEC.lstrip("\n"), encoding="utf-8")
    return spec, source


def write_rust_shop(root: Path) -> tuple[Path, Path]:
    """(spec, source directory) of the Rust shop under `root`."""
    source = root / "rust-shop"
    (source / "src").mkdir(parents=True)
    (source / "Cargo.toml").write_text('[package]\nname = "shop"\nversion = "0.1.0"\n', encoding="utf-8")
    (source / "src" / "main.rs").write_text(RUST_MAIN.lstrip("\n"), encoding="utf-8")
    (source / "src" / "admin.rs").write_text(RUST_ADMIN.lstrip("\n"), encoding="utf-8")
    spec = root / "rust-shop.yaml"
    spec.write_text(RUST_SPEC.lstrip("\n"), encoding="utf-8")
    return spec, source


# AWS Lambda handlers (ESM and CommonJS) routed by API Gateway, with an AWS SAM template and a
# Serverless Framework file that give them the same routes.
LAMBDA_ORDERS = r"""
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";

const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}));

export const cancelOrder = async (event) => {
  const id = event.pathParameters.id;
  const { Item } = await doc.send(new GetCommand({ TableName: "Orders", Key: { id } }));
  if (Item.status !== "open") {
    return { statusCode: 409 };
  }
  await doc.send(new PutCommand({ TableName: "Orders", Item: { ...Item, status: "cancelled" } }));
  return { statusCode: 200 };
};

export async function handler(event) {
  const id = event.pathParameters.id;
  const { Item } = await doc.send(new GetCommand({ TableName: "Orders", Key: { id } }));
  if (Item.paid) {
    return { statusCode: 409 };
  }
  await doc.send(new PutCommand({ TableName: "Orders", Item: { ...Item, paid: true } }));
  return { statusCode: 200 };
}
"""

LAMBDA_LEGACY = r"""
const { DynamoDBClient } = require("@aws-sdk/client-dynamodb");
const { DynamoDBDocumentClient, GetCommand, PutCommand } = require("@aws-sdk/lib-dynamodb");
const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}));

exports.refund = async (event) => {
  const { Item } = await doc.send(new GetCommand({ TableName: "Orders", Key: { id: event.pathParameters.id } }));
  if (Item.refunded) return { statusCode: 409 };
  await doc.send(new PutCommand({ TableName: "Orders", Item: { ...Item, refunded: true } }));
  return { statusCode: 200 };
};
"""  # noqa: E501 (the shape of real code in another language)

SAM_TEMPLATE = r"""
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: nodejs20.x
    CodeUri: src/
Resources:
  OrdersTable:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "${AWS::StackName}-orders"
  PayOrder:
    Type: AWS::Serverless::Function
    Properties:
      Handler: handlers/orders.handler
      Policies:
        - DynamoDBCrudPolicy: {TableName: !Ref OrdersTable}
      Events:
        Pay:
          Type: Api
          Properties:
            Path: /orders/{id}/pay
            Method: post
  CancelOrder:
    Type: AWS::Serverless::Function
    Properties:
      Handler: handlers/orders.cancelOrder
      Events:
        Cancel:
          Type: HttpApi
          Properties:
            Path: /orders/{id}
            Method: DELETE
  Refund:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: ./src/handlers
      Handler: legacy.refund
      Events:
        Refund:
          Type: Api
          Properties:
            Path: /orders/{id}/refund
            Method: any
"""

SERVERLESS = r"""
service: orders
provider: {name: aws, runtime: nodejs20.x}
functions:
  pay:
    handler: src/handlers/orders.handler
    events:
      - http:
          path: orders/{id}/pay
          method: post
  cancel:
    handler: src/handlers/orders.cancelOrder
    events:
      - httpApi: 'DELETE /orders/{id}'
  refund:
    handler: src/handlers/legacy.refund
    events:
      - httpApi:
          path: /orders/{id}/refund
          method: '*'
      - schedule: rate(1 hour)
"""

LAMBDA_SPEC = r"""
openapi: 3.0.3
info: {title: orders, version: '1'}
paths:
  /orders/{orderId}/pay:
    post: {responses: {'200': {description: paid}}}
  /orders/{orderId}:
    delete: {responses: {'204': {description: cancelled}}}
  /orders/{orderId}/refund:
    get: {responses: {'200': {description: refund status}}}
    post: {responses: {'200': {description: refunded}}}
"""

# What the spec's operations must meet: (handler, the route the descriptor gave it).
LAMBDA_LINKS = {
    "POST /orders/{orderId}/pay": ("handler", "POST /orders/{id}/pay"),
    "DELETE /orders/{orderId}": ("cancelOrder", "DELETE /orders/{id}"),
    "POST /orders/{orderId}/refund": ("refund", "ALL /orders/{id}/refund"),
}


def write_lambda_app(root: Path, descriptor: str, text: str) -> tuple[Path, Path]:
    """(spec, source directory) of the Lambda orders app, with `text` as its `descriptor` file."""
    source = root / "orders-app"
    (source / "src" / "handlers").mkdir(parents=True)
    (source / "src" / "handlers" / "orders.mjs").write_text(LAMBDA_ORDERS.lstrip("\n"), encoding="utf-8")
    (source / "src" / "handlers" / "legacy.js").write_text(LAMBDA_LEGACY.lstrip("\n"), encoding="utf-8")
    (source / descriptor).write_text(text.lstrip("\n"), encoding="utf-8")
    spec = root / "openapi.yaml"
    spec.write_text(LAMBDA_SPEC.lstrip("\n"), encoding="utf-8")
    return spec, source
