"""NestJS entry points and the Node ORM/query-builder/filesystem stores, end to end through
`analyze_source` (the per-family fixture corpus is scored in `test_js_analyzer.py`)."""

from __future__ import annotations

from race_mcp import analyze_source

NEST_PRISMA = """\
import { Controller, Injectable, Post, Param, Body, Scope, UseInterceptors } from "@nestjs/common";
import { PrismaClient } from "@prisma/client";
import { IdempotencyInterceptor } from "./idempotency";

@Injectable()
export class WalletService {
  constructor(private readonly prisma: PrismaClient) {}

  async withdraw(id: string, amount: number) {
    const account = await this.prisma.account.findUnique({ where: { id } });
    if (account.balance >= amount) {
      await this.prisma.account.update({ where: { id }, data: { balance: { decrement: amount } } });
    }
  }
}

@Controller("wallet")
export class WalletController {
  constructor(private readonly wallet: WalletService) {}

  @Post(":id/withdraw")
  @UseInterceptors(IdempotencyInterceptor) // a retry replays its answer (RC601); the race stays
  async withdraw(@Param("id") id: string, @Body() body: { amount: number }) {
    return this.wallet.withdraw(id, body.amount);
  }
}
"""


def test_nest_route_reaches_the_race_in_its_injected_service() -> None:
    findings = analyze_source(NEST_PRISMA, "wallet.ts")
    assert [(f.rule_id, f.line, f.reached_by, f.confidence) for f in findings] == [
        ("RC301", 10, "NestJS route POST /wallet/:id/withdraw", "high")
    ]
    assert "updateMany" in findings[0].fix and "ORM row" in findings[0].title


def test_a_route_that_returns_its_service_promise_without_async_carries_the_route() -> None:
    # Nest awaits what a handler returns: `withdraw() { return this.wallet.withdraw(..) }` runs the
    # service's race under the route as the async spelling does.
    plain = NEST_PRISMA.replace("  async withdraw(@Param", "  withdraw(@Param")
    assert plain != NEST_PRISMA
    findings = analyze_source(plain, "wallet.ts")
    assert [(f.rule_id, f.line, f.reached_by) for f in findings] == [
        ("RC301", 10, "NestJS route POST /wallet/:id/withdraw")
    ]


def test_locked_row_in_an_interactive_transaction_is_safe() -> None:
    locked = NEST_PRISMA.replace(
        "    const account = await this.prisma.account.findUnique({ where: { id } });\n"
        "    if (account.balance >= amount) {\n"
        "      await this.prisma.account.update(",
        "    await this.prisma.$transaction(async (tx) => {\n"
        '    const [account] = await tx.$queryRaw`SELECT * FROM "Account" WHERE id = ${id} FOR UPDATE`;\n'
        "    if (account.balance >= amount) {\n"
        "      await tx.account.update(",
    ).replace("    }\n  }\n}\n\n@Controller", "    }\n    });\n  }\n}\n\n@Controller", 1)
    assert "$transaction" in locked
    assert analyze_source(locked, "wallet.ts") == []
    unlocked = locked.replace(" FOR UPDATE", "")
    assert [f.rule_id for f in analyze_source(unlocked, "wallet.ts")] == ["RC301"]


SINGLETON = """\
import { Controller, Injectable, Post, Body, Scope } from "@nestjs/common";

@Injectable(OPTIONS)
export class SeenService {
  private readonly seen = new Set<string>();

  async once(id: string) {
    if (this.seen.has(id)) return false;
    await fetch("https://audit.example/" + id);
    this.seen.add(id);
    return true;
  }
}
"""


def test_provider_fields_are_shared_unless_the_provider_is_request_scoped() -> None:
    singleton = SINGLETON.replace("OPTIONS", "")
    assert [(f.rule_id, f.line) for f in analyze_source(singleton, "seen.ts")] == [("RC101", 8)]
    per_request = SINGLETON.replace("OPTIONS", "{ scope: Scope.REQUEST }")
    assert analyze_source(per_request, "seen.ts") == []


def test_nest_message_and_schedule_handlers_are_entry_points() -> None:
    source = SINGLETON.replace("OPTIONS", "").replace(
        "  async once(", '  @EventPattern("order.created")\n  async once('
    )
    source = source.replace(
        "import { Controller", 'import { EventPattern } from "@nestjs/microservices";\nimport { Controller'
    )
    findings = analyze_source(source, "seen.ts")
    assert [f.reached_by for f in findings] == ["NestJS consumer order.created"]


def test_knex_transaction_callback_with_for_update_is_safe_and_without_it_racy() -> None:
    source = """\
const knex = require("knex")({ client: "pg" });
async function withdraw(id, amount) {
  await knex.transaction(async (trx) => {
    const row = await trx("accounts").where({ id }).forUpdate().first();
    if (row.balance >= amount) await trx("accounts").where({ id }).decrement("balance", amount);
  });
}
"""
    assert analyze_source(source, "withdraw.js") == []
    racy = source.replace(".forUpdate()", "")
    assert [(f.rule_id, f.line) for f in analyze_source(racy, "withdraw.js")] == [("RC201", 4)]


def test_fs_json_read_modify_write_is_a_lost_update_and_wx_create_is_not() -> None:
    source = """\
const fsp = require("fs/promises");
async function bump(page) {
  const counts = JSON.parse(await fsp.readFile("counts.json", "utf8"));
  counts[page] = (counts[page] || 0) + 1;
  await fsp.writeFile("counts.json", JSON.stringify(counts));
}
async function create(file, body) {
  await fsp.writeFile(file, body, { flag: "wx" });
}
"""
    findings = analyze_source(source, "counts.js")
    assert [(f.rule_id, f.line) for f in findings] == [("RC701", 3)]
    assert "wx" in findings[0].fix


CLAIM_STEPS = """\
async function claimSteps(trx, lockId) {
  const candidates = await trx("steps").select("id").where("status", "pending");
  if (candidates.length === 0) return [];
  await trx("steps")
    .update({ locked_by: lockId })
    .whereIn("id", candidates.map((c) => c.id))
    .where((builder) => builder.whereNull("locked_by"));
  return trx("steps").where("locked_by", lockId);
}
"""


def test_a_helper_handed_a_transaction_is_one_unit_of_work() -> None:
    transfer = """\
async function move(trx, from, to, amount) {
  await trx("accounts").where({ id: from }).decrement("balance", amount);
  await trx("accounts").where({ id: to }).increment("balance", amount);
}
"""
    assert analyze_source(transfer, "ledger.js") == []
    loose = transfer.replace("(trx, from", "(db, from").replace("await trx(", "await db(")
    assert [f.rule_id for f in analyze_source(loose, "ledger.js")] == ["RC202"]


def test_nested_where_builders_name_the_columns_they_re_check() -> None:
    # The UPDATE re-checks `locked_by` (a compare-and-set), and the rows queried next are those it took.
    assert analyze_source(CLAIM_STEPS, "steps.js") == []
    unclaimed = CLAIM_STEPS.replace(
        '  return trx("steps").where("locked_by", lockId);', "  return candidates;"
    )
    assert [(f.rule_id, f.line) for f in analyze_source(unclaimed, "steps.js")] == [("RC201", 2)]
    checked = unclaimed.replace(
        '  await trx("steps")\n    .update', '  const taken = await trx("steps")\n    .update'
    )
    checked = checked.replace("  return candidates;", "  if (taken === 0) return [];\n  return candidates;")
    assert analyze_source(checked, "steps.js") == []


def test_development_seeders_report_with_low_confidence() -> None:
    source = (
        CLAIM_STEPS.replace("trx, lockId", "db, lockId")
        .replace("trx(", "db(")
        .replace('.where("locked_by", lockId)', "")
    )
    assert {f.confidence for f in analyze_source(source, "src/services/steps.js")} == {"medium"}
    assert {f.confidence for f in analyze_source(source, "data/seeders/steps.js")} == {"low"}
    assert {f.confidence for f in analyze_source(source, "scripts/data-generator.js")} == {"low"}


def test_sequelize_typescript_unique_columns_make_check_then_create_safe() -> None:
    source = """\
import { Column, Model, Sequelize, Table, Unique } from "sequelize-typescript";

@Table
class Member extends Model {
  @Unique @Column declare email: string;
  @Column declare nickname: string;
}

export async function join(email: string, nickname: string) {
  const byEmail = await Member.findOne({ where: { email } });
  if (!byEmail) await Member.create({ email, nickname });
  const byNick = await Member.findOne({ where: { nickname } });
  if (!byNick) await Member.create({ email, nickname });
}
"""
    findings = analyze_source(source, "members.ts")
    assert [(f.rule_id, f.line, f.title) for f in findings] == [
        ("RC303", 12, "Lookup then create on fields with no unique constraint")
    ]


def test_declaration_files_hold_no_code_and_are_not_parsed() -> None:
    # tree-sitter refuses `import("x").T` types; a .d.ts is declarations only either way.
    declaration = 'export declare const handler: import("express").RequestHandler<import("qs").ParsedQs>;\n'
    assert analyze_source(declaration, "routes/index.d.ts") == []
    assert analyze_source(NEST_PRISMA, "wallet.d.ts") == []


def test_untyped_typeorm_repositories_are_known_by_their_names() -> None:
    source = """\
const { DataSource } = require("typeorm");
class WalletService {
  constructor(walletRepository, dataSource) {
    this.walletRepository = walletRepository;
    this.dataSource = dataSource;
  }
  async withdraw(id, amount) {
    const wallet = await this.walletRepository.findOneBy({ id });
    if (wallet.balance < amount) throw new Error("insufficient");
    wallet.balance -= amount;
    await this.walletRepository.save(wallet);
  }
  async withdrawLocked(id, amount) {
    await this.dataSource.transaction(async (manager) => {
      const repo = manager.withRepository(this.walletRepository);
      const wallet = await repo.findOne({ where: { id }, lock: { mode: "pessimistic_write" } });
      if (wallet.balance < amount) throw new Error("insufficient");
      wallet.balance -= amount;
      await repo.save(wallet);
    });
  }
}
"""
    findings = analyze_source(source, "wallet.service.js")
    assert [(f.rule_id, f.line, f.message.split(" rows")[0]) for f in findings] == [("RC301", 8, "`Wallet`")]


ROUTE_MODULES = """\
const express = require("express");
const Fastify = require("fastify");
const app = express();
const router = express.Router();
const stock = new Map();
router.post("/buy", async (req, res) => {
  const n = stock.get(req.body.sku) ?? 0;
  if (n > 0) { await req.audit(); stock.set(req.body.sku, n - 1); }
  res.end();
});
app.use("/api/v1", router);
async function plugin(f) {
  f.route({ method: "POST", url: "/take", handler: async (req) => {
    const n = stock.get(req.body.sku) ?? 0;
    if (n > 0) { await req.audit(); stock.set(req.body.sku, n - 1); }
  } });
  f.post("/give", async (req) => {
    const n = stock.get(req.body.sku) ?? 0;
    await req.audit();
    stock.set(req.body.sku, n + 1);
  });
}
const server = Fastify();
server.register(plugin, { prefix: "/shop" });
function poll() {
  axios.get("/remote", async (err, res) => {
    const n = stock.get("x") ?? 0;
    await res.ack();
    stock.set("x", n + 1);
  });
}
"""


def test_routes_registered_inside_plugins_and_under_mount_prefixes() -> None:
    findings = analyze_source(ROUTE_MODULES, "shop.js")
    assert [(f.rule_id, f.line, f.reached_by) for f in findings] == [
        ("RC101", 7, "Express route POST /api/v1/buy"),
        ("RC101", 14, "Fastify route POST /shop/take"),
        ("RC101", 18, "Fastify route POST /shop/give"),
    ]


def test_compiled_modules_keep_their_imports_and_awaited_indirect_calls() -> None:
    # What Babel and tsc emit for `import fs from "fs"` / `import { writeFile } from "fs/promises"`.
    source = """\
"use strict";
var _fs = _interopRequireDefault(require("fs"));
const promises_1 = __importStar(require("fs/promises"));
async function save(file, body) {
  if (_fs.default.existsSync(file)) return false;
  await (0, promises_1.writeFile)(file, body);
  return true;
}
"""
    assert [(f.rule_id, f.line) for f in analyze_source(source, "save.js")] == [("RC701", 5)]
