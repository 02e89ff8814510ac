"""RC5xx JavaScript/TypeScript fixers (ioredis, node-redis): SET NX for a claim, INCRBY/DECRBY whose
reply decides for a counter; before/after text, re-analysis, git apply; guidance in JavaScript."""

from __future__ import annotations

from pathlib import Path

from race_mcp.analyzer import analyze_source
from race_mcp.remediate import propose_patches
from tests._remediate_helpers import dedent
from tests._remediate_js_helpers import fix_and_verify, guidance_for

FIXTURE = Path(__file__).parent / "fixtures" / "analyzer" / "js" / "RC5xx_ioredis.mjs"

CLAIM_CJS = dedent(
    """
    const Redis = require("ioredis");
    const express = require("express");

    const redis = new Redis();
    const app = express();

    app.post("/coupons/:code/redeem", async (req, res) => {
      const key = `coupon:${req.params.code}`;
      const used = await redis.get(key);
      if (used) return res.status(409).send({ error: "already used" });
      await grantDiscount(req.user);
      await redis.set(key, req.user.id, "EX", 86400);
      res.send({ ok: true });
    });

    async function grantDiscount(user) {
      return user;
    }
    """
)

CLAIM_CJS_FIXED = CLAIM_CJS.replace(
    '  if (used) return res.status(409).send({ error: "already used" });\n',
    '  if (!(await redis.set(key, req.user.id, "EX", 86400, "NX"))) '
    'return res.status(409).send({ error: "already used" });\n',
).replace('  await redis.set(key, req.user.id, "EX", 86400);\n', "")


def test_rc501_commonjs_claim_moves_into_the_check_as_set_nx(tmp_path: Path) -> None:
    assert fix_and_verify(CLAIM_CJS, "coupons.js", "RC501", None, tmp_path) == CLAIM_CJS_FIXED


STOCK_TS = dedent(
    """
    import { createClient } from "redis";

    const client = createClient();

    export async function take(sku: string, quantity: number): Promise<boolean> {
      const stock = Number(await client.get(`stock:${sku}`));
      if (stock < quantity) return false;
      await client.set(`stock:${sku}`, stock - quantity);
      return true;
    }
    """
)

STOCK_TS_FIXED = dedent(
    """
    import { createClient } from "redis";

    const client = createClient();

    export async function take(sku: string, quantity: number): Promise<boolean> {
      const stock = Number((await client.decrBy(`stock:${sku}`, quantity)) + quantity);
      if (stock < quantity) {
        await client.incrBy(`stock:${sku}`, quantity);
        return false;
      }
      return true;
    }
    """
)


def test_rc501_typescript_node_redis_stock_becomes_decrby_with_compensation(tmp_path: Path) -> None:
    assert fix_and_verify(STOCK_TS, "stock.ts", "RC501", "take", tmp_path) == STOCK_TS_FIXED


def test_rc501_fixture_routes_are_patched(tmp_path: Path) -> None:
    source = FIXTURE.read_text(encoding="utf-8")
    racy = [f for f in analyze_source(source, "RC5xx_ioredis.mjs") if f.rule_id == "RC501"]
    report = propose_patches(source, "RC5xx_ioredis.mjs")
    assert [(p.rule_id, p.line) for p in report.patches] == [("RC501", f.line) for f in racy]
    assert [f.route for f in racy] == ["POST /login", "POST /redeem"]
    # both redemptions take no idempotency key (RC601): guidance, no patch
    assert [(u.rule_id, u.line) for u in report.unpatched] == [("RC601", 45), ("RC601", 54)]
    assert not report.errors
    patched = report.patched_source
    assert patched is not None
    assert '  await redis.set(key, 0, "EX", 900, "NX");\n' in patched
    assert "  const attempts = Number((await redis.incrby(key, 1)) - 1) || 0;\n" in patched
    assert "    await redis.decrby(key, 1);\n    return res.status(429).end();\n" in patched
    # nothing else depended on the check: the claim alone, unconditional
    assert '  await client.set(`coupon:${req.body.code}`, "1", { NX: true });\n  res.end();' in patched
    # the login patch alone, checked like every fixer's rewrite
    fix_and_verify(source, "RC5xx_ioredis.mjs", "RC501", racy[0].function, tmp_path)


def test_rc501_value_computed_in_the_block_is_guidance() -> None:
    source = dedent(
        """
        import { createClient } from "redis";
        const client = createClient();

        export async function reserve(seat) {
          const holder = await client.get(`seat:${seat}`);
          if (!holder) {
            const token = crypto.randomUUID();
            await client.set(`seat:${seat}`, token);
            return token;
          }
          return null;
        }
        """
    )
    message = guidance_for(source, "seats.mjs", "RC501")
    assert "redis.incr(key)" in message and '"NX"' in message


def test_rc501_work_inside_the_check_runs_only_for_the_request_that_claimed(tmp_path: Path) -> None:
    source = dedent(
        """
        import { createClient } from "redis";
        const client = createClient();

        export async function sendWelcome(user) {
          const sent = await client.get(`welcome:${user.id}`);
          if (!sent) {
            await client.set(`welcome:${user.id}`, "1");
            await mail(user);
          }
        }

        async function mail(user) {
          return user;
        }
        """
    )
    patched = fix_and_verify(source, "welcome.mjs", "RC501", "sendWelcome", tmp_path)
    assert (
        '  if (await client.set(`welcome:${user.id}`, "1", { NX: true })) {\n    await mail(user);\n  }\n'
    ) in patched
