"""RC4xx JavaScript/TypeScript fixers: before/after text (ES modules, CommonJS, TypeScript; SDK v3
client and document client, v2 DocumentClient), each rewrite re-analysed and applied with git apply."""

from __future__ import annotations

from pathlib import Path

import pytest

from race_mcp.analyzer import analyze_source
from race_mcp.remediate import propose_patches
from tests._remediate_helpers import dedent
from tests._remediate_js_helpers import fix_and_verify, guidance_for

FIXTURE = Path(__file__).parent / "fixtures" / "analyzer" / "js" / "RC4xx_dynamodb.mjs"

GIFT_CARD_ESM = dedent(
    """
    import { DynamoDBClient, GetItemCommand, PutItemCommand } from "@aws-sdk/client-dynamodb";
    import express from "express";

    const client = new DynamoDBClient({});
    const app = express();

    app.post("/cards/:id/spend", async (req, res) => {
      const key = { id: { S: req.params.id } };
      const { Item } = await client.send(new GetItemCommand({ TableName: "Cards", Key: key }));
      if (Number(Item.balance.N) < req.body.amount) return res.status(400).send({ error: "insufficient" });
      const next = Number(Item.balance.N) - req.body.amount;
      await client.send(new PutItemCommand({
        TableName: "Cards",
        Item: { id: { S: req.params.id }, balance: { N: String(next) } },
      }));
      res.send({ balance: next });
    });
    """
)

GIFT_CARD_ESM_FIXED = dedent(
    """
    import { DynamoDBClient, GetItemCommand, PutItemCommand } from "@aws-sdk/client-dynamodb";
    import express from "express";

    const client = new DynamoDBClient({});
    const app = express();

    app.post("/cards/:id/spend", async (req, res) => {
      const key = { id: { S: req.params.id } };
      const { Item } = await client.send(new GetItemCommand({ TableName: "Cards", Key: key }));
      if (Number(Item.balance.N) < req.body.amount) return res.status(400).send({ error: "insufficient" });
      const next = Number(Item.balance.N) - req.body.amount;
      try {
        await client.send(new PutItemCommand({
          TableName: "Cards",
          Item: { id: { S: req.params.id }, balance: { N: String(next) } },
          ConditionExpression: "#balance = :expected_balance",
          ExpressionAttributeNames: { "#balance": "balance" },
          ExpressionAttributeValues: { ":expected_balance": Item.balance },
        }));
      } catch (error) {
        if (error.name !== "ConditionalCheckFailedException") throw error;
        return res.status(409).send({ error: "changed concurrently; retry" });
      }
      res.send({ balance: next });
    });
    """
)


def test_rc401_esm_put_gets_a_compare_and_set_and_a_409(tmp_path: Path) -> None:
    patched = fix_and_verify(GIFT_CARD_ESM, "cards.mjs", "RC401", None, tmp_path)
    assert patched == GIFT_CARD_ESM_FIXED


SIGNUP_CJS = dedent(
    """
    const { DynamoDBDocumentClient, GetCommand, PutCommand } = require("@aws-sdk/lib-dynamodb");
    const { DynamoDBClient } = require("@aws-sdk/client-dynamodb");

    const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}));

    async function register(email, name) {
      const { Item } = await doc.send(new GetCommand({ TableName: "Users", Key: { email } }));
      if (Item) throw new Error("email taken");
      await doc.send(new PutCommand({ TableName: "Users", Item: { email, name } }));
    }

    module.exports = { register };
    """
)


def test_rc401_commonjs_create_if_absent_gets_attribute_not_exists(tmp_path: Path) -> None:
    patched = fix_and_verify(SIGNUP_CJS, "users.js", "RC401", "register", tmp_path)
    assert (
        '  try {\n    await doc.send(new PutCommand({ TableName: "Users", Item: { email, name }, '
        'ConditionExpression: "attribute_not_exists(#email)", '
        'ExpressionAttributeNames: { "#email": "email" } }));\n'
        "  } catch (error) {\n"
        '    if (error.name !== "ConditionalCheckFailedException") throw error;\n'
        '    throw new Error("email taken");\n  }\n'
    ) in patched


CLAIM_TS = dedent(
    """
    import { DynamoDBDocumentClient, GetCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
    import { DynamoDBClient } from "@aws-sdk/client-dynamodb";

    const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}));

    export async function claim(orderId: string): Promise<boolean> {
      const response = await doc.send(new GetCommand({ TableName: "Orders", Key: { id: orderId } }));
      const order = response.Item;
      if (order?.status !== "pending") return false;
      const params = {
        TableName: "Orders",
        Key: { id: orderId },
        UpdateExpression: "SET #st = :paid",
        ExpressionAttributeNames: { "#st": "status" },
        ExpressionAttributeValues: { ":paid": "paid" },
      };
      await doc.send(new UpdateCommand(params));
      return true;
    }
    """
)


def test_rc401_typescript_params_object_merges_names_and_values(tmp_path: Path) -> None:
    patched = fix_and_verify(CLAIM_TS, "orders.ts", "RC401", "claim", tmp_path)
    assert '    ExpressionAttributeNames: { "#st": "status", "#status": "status" },\n' in patched
    values = '    ExpressionAttributeValues: { ":paid": "paid", ":expected_status": order.status },\n'
    assert values in patched
    assert '    ConditionExpression: "#status = :expected_status",\n  };\n' in patched
    # TypeScript's catch variable is `unknown`: the test narrows it before reading `name`.
    assert "  } catch (error: unknown) {\n" in patched
    assert "(error as { name?: string; code?: string }).name" in patched
    assert "    return false;\n  }\n  return true;" in patched


@pytest.mark.parametrize("function", ["redeemRacy", "reserveSeat", "claimV2"])
def test_rc401_fixture_handlers_are_fixed(function: str, tmp_path: Path) -> None:
    source = FIXTURE.read_text()
    patched = fix_and_verify(source, "RC4xx_dynamodb.mjs", "RC401", function, tmp_path)
    if function == "claimV2":  # no check answers and no route: the failed condition propagates
        assert '      ConditionExpression: "#status = :expected_status",\n    }).promise();' in patched
        assert "catch" not in patched.split("async function claimV2")[1].split("async function")[0]


def test_rc402_decrement_gets_its_floor(tmp_path: Path) -> None:
    source = FIXTURE.read_text()
    patched = fix_and_verify(source, "RC4xx_dynamodb.mjs", "RC402", "debit", tmp_path)
    assert (
        '    ExpressionAttributeValues: { ":amt": { N: String(amount) } },\n'
        '    ConditionExpression: "balance >= :amt",\n  }));'
    ) in patched


def test_whole_fixture_patches_every_race_and_the_diff_applies() -> None:
    source = FIXTURE.read_text()
    racy = sorted((f.rule_id, f.line) for f in analyze_source(source, "RC4xx_dynamodb.mjs"))
    report = propose_patches(source, "RC4xx_dynamodb.mjs")
    assert sorted((p.rule_id, p.line) for p in report.patches) == racy
    assert [rule for rule, _ in racy] == ["RC401", "RC401", "RC401", "RC402"]
    assert report.unpatched == [] and report.errors == []
    assert report.patched_source is not None
    after = analyze_source(report.patched_source, "RC4xx_dynamodb.mjs")
    assert not [f for f in after if f.rule_id.startswith("RC4")]


RECORDS = dedent(
    """
    const { DynamoDBClient, UpdateItemCommand } = require("@aws-sdk/client-dynamodb");
    const client = new DynamoDBClient({});

    exports.handler = async (event) => {
      for (const record of event.Records) {
        const body = JSON.parse(record.body);
        await client.send(new UpdateItemCommand({
          TableName: "Totals",
          Key: { id: { S: body.id } },
          UpdateExpression: "ADD total :n",
          ExpressionAttributeValues: { ":n": { N: String(body.n) } },
        }));
      }
    };
    """
)


def test_rc404_stream_consumer_gets_guidance_with_javascript_code() -> None:
    message = guidance_for(RECORDS, "consumer.js", "RC404")
    assert 'ConditionExpression: "attribute_not_exists(id)"' in message
    assert "new PutItemCommand(" in message
    # A failed claim is a duplicate delivery: the example skips it rather than failing the batch.
    assert 'if (error.name === "ConditionalCheckFailedException") continue;' in message


V2_ROUTE = dedent(
    """
    const AWS = require("aws-sdk");
    const express = require("express");

    const docs = new AWS.DynamoDB.DocumentClient();
    const router = express.Router();

    router.post("/orders/:id/pay", async (req, res) => {
      const { Item } = await docs.get({ TableName: "Orders", Key: { id: req.params.id } }).promise();
      if (Item.status !== "pending") return res.status(409).send({ error: "not pending" });
      const { Attributes } = await docs.update({
        TableName: "Orders",
        Key: { id: req.params.id },
        UpdateExpression: "SET paid = :yes",
        ExpressionAttributeValues: { ":yes": true },
        ReturnValues: "ALL_NEW",
      }).promise();
      res.send(Attributes);
    });
    """
)


def test_rc401_v2_route_tests_the_error_code_and_keeps_a_destructured_result_as_guidance() -> None:
    # The write's result is destructured and used after it: wrapping it in try would hide it.
    message = guidance_for(V2_ROUTE, "orders.js", "RC401")
    assert "ConditionExpression" in message


def test_rc401_v2_route_with_a_plain_result_answers_409(tmp_path: Path) -> None:
    source = V2_ROUTE.replace("const { Attributes } = await", "const result = await").replace(
        "res.send(Attributes)", "res.send(result.Attributes)"
    )
    patched = fix_and_verify(source, "orders.js", "RC401", None, tmp_path)
    assert "  let result;\n  try {\n    result = await docs.update({\n" in patched
    assert '    if (error.code !== "ConditionalCheckFailedException") throw error;\n' in patched
    assert '    return res.status(409).send({ error: "changed concurrently; retry" });\n' in patched


SEAT_ROUTE = dedent(
    """
    const { DynamoDBDocumentClient, GetCommand, UpdateCommand } = require("@aws-sdk/lib-dynamodb");
    const { DynamoDBClient } = require("@aws-sdk/client-dynamodb");
    const express = require("express");

    const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}));
    const app = express();

    app.post("/seats/:id/hold", async (req, res) => {
      const { Item } = await doc.send(new GetCommand({ TableName: "Seats", Key: { id: req.params.id } }));
      if (Item.holder && Item.holder !== req.user.id) return res.status(409).send({ error: "taken" });
      await doc.send(new UpdateCommand({
        TableName: "Seats",
        Key: { id: req.params.id },
        UpdateExpression: "SET holder = :me",
        ExpressionAttributeValues: { ":me": req.user.id },
      }));
      res.send({ ok: true });
    });
    """
)


def test_rc401_attribute_the_check_allows_missing_is_guarded_by_not_exists_or_equal(tmp_path: Path) -> None:
    patched = fix_and_verify(SEAT_ROUTE, "seats.js", "RC401", None, tmp_path)
    assert (
        '      ConditionExpression: "attribute_not_exists(#holder) OR #holder = :expected_holder",\n'
        in patched
    )
    # The document client's value for "was missing": null (the low-level client's is { NULL: true }).
    assert '":expected_holder": Item.holder ?? null' in patched
