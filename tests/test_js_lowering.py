"""JavaScript/TypeScript lowered to the program model: names, imports, spans, normalisation."""

from __future__ import annotations

from race_mcp.analyzer.core import model
from race_mcp.analyzer.core.walk import statements
from race_mcp.analyzer.javascript.entrypoints import entry_points
from race_mcp.analyzer.javascript.lower import lower_module

SOURCE = """\
import { DynamoDBClient, UpdateItemCommand as Update } from "@aws-sdk/client-dynamodb";
import * as fs from "node:fs/promises";
const { Pool } = require("pg");
const express = require("express");
const app = express();
let hits = 0;
app.post("/pay/:id", auth, async (req, res) => {
  const { amount } = req.body;
  if (!req.user || req.user.id === null) return res.status(401).end();
  await pool.query(`UPDATE a SET b = b - $1 WHERE id = ${req.params.id}`, [amount]);
  hits++;
  try { await fs.readFile("x"); } catch (err) { if (err.code === "23505") throw err; }
  for await (const row of rows) { switch (row.kind) { case "a": break; default: continue; } }
});
export async function handler(event) {
  for (const record of event.Records) { await client.send(new Update({ TableName: "t" })); }
}
class Repo { items = new Map(); async save(x) { return this.items.set(x.id, x); } }
"""


def _module() -> model.ModuleModel:
    return lower_module(SOURCE, "app.ts")


def _calls(function: model.Function) -> list[model.Call]:
    from race_mcp.analyzer.core.walk import expressions

    return [e for s in statements(function.body) for e in expressions(s) if isinstance(e, model.Call)]


def test_imports_and_requires_map_local_names_to_qualified_ones() -> None:
    imports = _module().imports
    assert imports["Update"] == "@aws-sdk/client-dynamodb.UpdateItemCommand"
    assert imports["fs"] == "node:fs/promises"
    assert imports["Pool"] == "pg.Pool"
    assert imports["express"] == "express"


def test_functions_arrows_methods_and_their_scopes() -> None:
    module = _module()
    assert set(module.functions) == {"<anonymous:7>", "handler", "Repo.save"}
    route = module.functions["<anonymous:7>"]
    assert route.is_async and route.params == ("req", "res")
    assert {"amount", "req", "res", "err", "row"} <= route.locals
    assert route.globals == {"hits"}
    assert module.classes["Repo"].methods["save"].owner_class == "Repo"
    assert isinstance(module.classes["Repo"].attributes["items"], model.Call)


def test_calls_carry_qualified_names_and_exact_spans() -> None:
    handler = _module().functions["handler"]
    names = [call.name for call in _calls(handler)]
    assert "@aws-sdk/client-dynamodb.UpdateItemCommand" in names
    assert "client.send" in names
    new = next(c for c in _calls(handler) if c.name and c.name.endswith("UpdateItemCommand"))
    assert new.span == model.Span(16, 58, 16, 88)
    assert SOURCE.splitlines()[15][new.span.column : new.span.end_column] == 'new Update({ TableName: "t" })'
    table = new.args[0].value
    assert isinstance(table, model.Collection) and table.kind == "dict"
    assert isinstance(table.elements[0], model.Literal) and table.elements[0].value == "TableName"


def test_null_tests_negation_and_boolean_operators_are_normalised() -> None:
    route = _module().functions["<anonymous:7>"]
    test = next(s for s in route.body if isinstance(s, model.If)).test
    assert isinstance(test, model.Operation) and test.op == "or"
    negated, compared = test.operands
    assert isinstance(negated, model.Operation) and negated.op == "not"
    assert isinstance(compared, model.Operation) and compared.op == "is"
    assert isinstance(compared.operands[1], model.Literal) and compared.operands[1].value is None


def test_statements_lower_to_their_model_kinds() -> None:
    route = _module().functions["<anonymous:7>"]
    kinds = [type(s).__name__ for s in route.body]
    assert kinds == ["Assign", "If", "Eval", "Assign", "Try", "Loop"]
    update = route.body[3]
    assert isinstance(update, model.Assign) and update.op == "+"
    template = next(c for c in _calls(route) if c.name == "pool.query").args[0].value
    assert isinstance(template, model.Template) and template.text == "UPDATE a SET b = b - $1 WHERE id = ?"
    catch = route.body[4]
    assert isinstance(catch, model.Try) and "IntegrityError" in catch.handlers[0].types
    loop = route.body[5]
    assert isinstance(loop, model.Loop) and loop.is_async
    assert isinstance(loop.body[0], model.Branch) and len(loop.body[0].arms) == 2


def test_async_return_of_a_call_is_awaited() -> None:
    save = _module().functions["Repo.save"]
    returned = save.body[0]
    assert isinstance(returned, model.Return) and isinstance(returned.value, model.Await)


def test_entry_points_routes_and_lambda() -> None:
    entries = {(e.qualname, e.kind, e.route, e.framework, e.runtime) for e in entry_points(_module())}
    assert ("<anonymous:7>", "http", "POST /pay/:id", "express", "event-loop") in entries
    assert ("handler", "consumer", None, "lambda", "event-loop") in entries


def test_nextjs_routes_from_the_file_path() -> None:
    pages = lower_module("export default async function handler(req, res) {}\n", "src/pages/api/pay.ts")
    assert [(e.qualname, e.route) for e in entry_points(pages)] == [("handler", "/api/pay")]
    app_router = lower_module("export async function POST(request) {}\n", "app/api/pay/route.ts")
    assert [(e.qualname, e.route) for e in entry_points(app_router)] == [("POST", "POST /api/pay")]


def test_chained_route_and_koa_router() -> None:
    source = (
        'const Router = require("@koa/router");\nconst router = new Router();\n'
        'router.route("/a").get(async (ctx) => {}).post(async (ctx) => {});\n'
    )
    routes = sorted(e.route or "" for e in entry_points(lower_module(source, "r.js")))
    assert routes == ["GET /a", "POST /a"]


def test_fastify_plugin_written_inline_takes_its_register_prefix() -> None:
    source = (
        'const fastify = require("fastify")();\n'
        "fastify.register(async (instance) => {\n"
        '  instance.post("/like/:id", async (request) => ({}));\n'
        '}, { prefix: "/v1" });\n'
    )
    assert [e.route for e in entry_points(lower_module(source, "app.js"))] == ["POST /v1/like/:id"]
