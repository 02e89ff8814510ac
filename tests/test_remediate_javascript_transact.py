"""RC403 JavaScript/TypeScript fixer: separate writes of items that change together become one
transaction (v3 TransactWriteCommand / TransactWriteItemsCommand imported beside the file's
commands, v2 transactWrite), or guidance where that is not sound."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests._remediate_helpers import dedent
from tests._remediate_js_helpers import fix_and_verify, guidance_for

FIXTURES = Path(__file__).parent / "fixtures" / "analyzer" / "js"

TRANSFER_ESM = dedent(
    """
    import {
      DynamoDBClient,
      UpdateItemCommand,
    } from "@aws-sdk/client-dynamodb";

    const client = new DynamoDBClient({});

    export async function transfer(from, to, amount) {
      const value = { ":a": { N: String(amount) } };
      await client.send(new UpdateItemCommand({
        TableName: "Accounts",
        Key: { id: { S: from } },
        UpdateExpression: "SET balance = balance - :a",
        ConditionExpression: "balance >= :a",
        ExpressionAttributeValues: value,
      }));
      // the receiving side
      await client.send(new UpdateItemCommand({
        TableName: "Accounts",
        Key: { id: { S: to } },
        UpdateExpression: "SET balance = balance + :a",
        ExpressionAttributeValues: value,
      }));
    }
    """
)

TRANSFER_ESM_FIXED = dedent(
    """
    import {
      DynamoDBClient,
      UpdateItemCommand,
      TransactWriteItemsCommand,
    } from "@aws-sdk/client-dynamodb";

    const client = new DynamoDBClient({});

    export async function transfer(from, to, amount) {
      const value = { ":a": { N: String(amount) } };
      await client.send(new TransactWriteItemsCommand({
        TransactItems: [
          {
            Update: {
              TableName: "Accounts",
              Key: { id: { S: from } },
              UpdateExpression: "SET balance = balance - :a",
              ConditionExpression: "balance >= :a",
              ExpressionAttributeValues: value,
            },
          },
          {
            Update: {
              TableName: "Accounts",
              Key: { id: { S: to } },
              UpdateExpression: "SET balance = balance + :a",
              ExpressionAttributeValues: value,
            },
          },
        ],
      }));
    }
    """
)


def test_rc403_esm_low_level_client_gets_transact_write_items_imported(tmp_path: Path) -> None:
    assert fix_and_verify(TRANSFER_ESM, "transfer.mjs", "RC403", "transfer", tmp_path) == TRANSFER_ESM_FIXED


ORDER_CJS = dedent(
    """
    const { DynamoDBDocumentClient, PutCommand, DeleteCommand } = require("@aws-sdk/lib-dynamodb");
    const { DynamoDBClient } = require("@aws-sdk/client-dynamodb");

    const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}));

    async function moveToArchive(order) {
      await doc.send(new PutCommand({ TableName: "Archive", Item: order }));
      await doc.send(new DeleteCommand({ TableName: "Orders", Key: { id: order.id } }));
    }

    module.exports = { moveToArchive };
    """
)


def test_rc403_commonjs_document_client_gets_transact_write_required(tmp_path: Path) -> None:
    patched = fix_and_verify(ORDER_CJS, "archive.js", "RC403", "moveToArchive", tmp_path)
    assert (
        "const { DynamoDBDocumentClient, PutCommand, DeleteCommand, TransactWriteCommand } = "
        'require("@aws-sdk/lib-dynamodb");\n' in patched
    )
    assert (
        "  await doc.send(new TransactWriteCommand({\n    TransactItems: [\n"
        '      { Put: { TableName: "Archive", Item: order } },\n'
        '      { Delete: { TableName: "Orders", Key: { id: order.id } } },\n'
        "    ],\n  }));\n"
    ) in patched


@pytest.mark.parametrize(
    ("fixture", "function"), [("RC4xx_family.js", "moveCredits"), ("RC4xx_family.ts", "placeOrder")]
)
def test_rc403_fixture_writes_become_one_transaction(fixture: str, function: str, tmp_path: Path) -> None:
    source = (FIXTURES / fixture).read_text(encoding="utf-8")
    patched = fix_and_verify(source, fixture, "RC403", function, tmp_path)
    assert ("doc.transactWrite({" if fixture.endswith(".js") else "new TransactWriteCommand({") in patched


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (
            ("await doc.send(new PutCommand", "const put = await doc.send(new PutCommand"),
            "a result used",
        ),
        (
            ("Item: order }));\n", "Item: order }));\n  await notify(order);\n"),
            "something between the writes",
        ),
        (
            ("Item: order }", 'Item: order, ReturnValues: "ALL_OLD" }'),
            "a transaction returns no item",
        ),
    ],
)
def test_rc403_unsound_shapes_get_guidance(change: tuple[str, str], why: str) -> None:
    source = ORDER_CJS.replace(*change).replace(
        "module.exports", "async function notify() {}\nmodule.exports"
    )
    message = guidance_for(source, "archive.js", "RC403", "moveToArchive")
    assert "TransactWriteItemsCommand" in message, why


def test_rc403_batch_write_is_guidance() -> None:
    source = (FIXTURES / "RC4xx_family.ts").read_text(encoding="utf-8")
    message = guidance_for(source, "RC4xx_family.ts", "RC403", "allocateQuota")
    assert "TransactionCanceledException" in message
