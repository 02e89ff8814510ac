"""RC601 in JavaScript/TypeScript beyond the fixture corpus: handlers whose route comes from the file's
path (Next.js), keys enforced by app-wide middleware, entry points that answer no client (consumers,
events), what the finding says, and that a suppression comment silences it."""

from __future__ import annotations

import time

from race_mcp import analyze_source
from race_mcp.analyzer.core.idempotency import IDEMPOTENCY_WORDS, MONEY_WORDS, PROVIDER_CALL

NEXT_ROUTE = """\
import { Pool } from "pg";

const pool = new Pool();

export async function POST(request: Request) {
  const body = await request.json();
  await pool.query("INSERT INTO orders (cart_id, total) VALUES ($1, $2)", [body.cartId, body.total]);
  return Response.json({ ok: true }, { status: 201 });
}

export async function GET() {
  const { rows } = await pool.query("SELECT id, total FROM orders");
  return Response.json(rows);
}
"""


def _rc601(source: str, path: str) -> list[tuple[int, str | None]]:
    return [(f.line, f.reached_by) for f in analyze_source(source, path) if f.rule_id == "RC601"]


def test_next_app_router_checkout_without_a_key_is_reported() -> None:
    assert _rc601(NEXT_ROUTE, "app/api/checkout/route.ts") == [(5, "Next.js route POST /api/checkout")]
    # The same handler outside a money route (`/api/tags`) expects no key.
    assert _rc601(NEXT_ROUTE, "app/api/tags/route.ts") == []


def test_next_app_router_key_stored_in_the_unique_column_is_safe() -> None:
    keyed = NEXT_ROUTE.replace(
        "  const body = await request.json();\n",
        '  const key = request.headers.get("idempotency-key");\n  const body = await request.json();\n',
    ).replace(
        '"INSERT INTO orders (cart_id, total) VALUES ($1, $2)", [body.cartId, body.total]',
        '"INSERT INTO orders (cart_id, total, idempotency_key) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",'
        " [body.cartId, body.total, key]",
    )
    assert "idempotency_key" in keyed
    assert _rc601(keyed, "app/api/checkout/route.ts") == []


def test_next_pages_api_handler_answers_every_method_so_it_is_judged() -> None:
    pages = """\
import { Pool } from "pg";

const pool = new Pool();

export default async function handler(req, res) {
  if (req.method !== "POST") return res.status(405).end();
  await pool.query("INSERT INTO payments (amount) VALUES ($1)", [req.body.amount]);
  res.status(201).json({ ok: true });
}
"""
    assert _rc601(pages, "pages/api/payments.js") == [(5, "Next.js route /api/payments")]


APP_WIDE = """\
const express = require("express");
const { Pool } = require("pg");
const idempotency = require("express-idempotency");

const app = express();
const pool = new Pool();
app.use(idempotency.idempotency());

app.post("/payments", async (req, res) => {
  await pool.query("INSERT INTO payments (amount) VALUES ($1)", [req.body.amount]);
  res.status(201).end();
});
"""


def test_app_wide_idempotency_middleware_covers_every_route() -> None:
    assert _rc601(APP_WIDE, "server.js") == []
    # Other middleware (a body parser) stores no key.
    parsed = APP_WIDE.replace("app.use(idempotency.idempotency());", "app.use(express.json());")
    assert _rc601(parsed, "server.js") == [(9, "Express route POST /payments")]


def test_consumers_and_event_handlers_are_not_asked_for_a_key() -> None:
    nest = """\
import { Controller, Post, Body } from "@nestjs/common";
import { EventPattern, MessagePattern } from "@nestjs/microservices";
import { OnEvent } from "@nestjs/event-emitter";
import { PrismaClient } from "@prisma/client";

const prisma = new PrismaClient();

@Controller("payments")
export class PaymentsController {
  @EventPattern("payment.captured")
  async onCaptured(@Body() event: { orderId: string; amount: number }) {
    await prisma.payment.create({ data: { orderId: event.orderId, amount: event.amount } });
  }

  @OnEvent("order.paid")
  async onOrderPaid(event: { orderId: string; amount: number }) {
    await prisma.payment.create({ data: { orderId: event.orderId, amount: event.amount } });
  }

  @Post("capture")
  async capture(@Body() body: { orderId: string; amount: number }) {
    await prisma.payment.create({ data: { orderId: body.orderId, amount: body.amount } });
  }
}
"""
    # Only the HTTP route answers a client that could resend with a key.
    assert _rc601(nest, "payments.controller.ts") == [(21, "NestJS route POST /payments/capture")]


KEY_DROPPED = """\
const express = require("express");
const { Pool } = require("pg");

const app = express();
const pool = new Pool();

app.post("/transfers", async (req, res) => {
  const key = req.get("Idempotency-Key");
  if (!key) return res.status(400).end();
  await pool.query("INSERT INTO transfers (amount) VALUES ($1)", [req.body.amount]);
  res.status(201).end();
});
"""


def test_a_key_read_and_dropped_is_named_in_the_message() -> None:
    (finding,) = analyze_source(KEY_DROPPED, "transfers.js")
    assert finding.rule_id == "RC601" and finding.line == 7 and finding.confidence == "high"
    assert "reads an idempotency key (line 8) but never stores it" in finding.message
    assert "Idempotency-Key" in finding.fix


def test_ignore_comment_on_the_route_line_silences_rc601() -> None:
    ignored = KEY_DROPPED.replace(
        'app.post("/transfers", async (req, res) => {',
        'app.post("/transfers", async (req, res) => { // race-mcp: ignore[RC601]',
    )
    assert analyze_source(ignored, "transfers.js") == []


def test_core_patterns_stay_linear_on_hostile_text() -> None:
    # The shared RC601 patterns run over untrusted code; `re` backtracks, so each must stay linear.
    # ~100,000 characters each: linear takes milliseconds, quadratic would take minutes.
    hostile = {
        PROVIDER_CALL: ["stripe." * 14_000, "stripe::" * 12_000, ".charge" * 14_000, "a." * 50_000],
        MONEY_WORDS: ["unsubscrib" * 10_000],
        IDEMPOTENCY_WORDS: ["request_" * 12_000, "idempo" * 16_000],
    }
    for pattern, texts in hostile.items():
        for text in texts:
            started = time.perf_counter()
            pattern.search(text)
            assert time.perf_counter() - started < 1.0, (pattern.pattern[:40], text[:20])


def test_rc602_in_a_module_that_also_talks_to_a_store() -> None:
    # The claim-versus-loop check runs beside the store analysis too, not only in store-less modules.
    source = """\
const { Pool } = require("pg");
const pool = new Pool();

async function settle(order) {
  await pool.query("UPDATE orders SET settled = true WHERE id = $1", [order.id]);
}

async function live(order) {
  if (await order.claim()) await settle(order);
}

async function sweep() {
  const { rows } = await pool.query("SELECT * FROM orders WHERE settled = false");
  for (const order of rows) {
    await settle(order);
  }
}
"""
    found = [
        (f.rule_id, f.line, f.confidence) for f in analyze_source(source, "settle.js") if f.rule_id == "RC602"
    ]
    assert found == [("RC602", 15, "medium")]
