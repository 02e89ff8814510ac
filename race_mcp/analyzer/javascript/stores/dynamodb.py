"""DynamoDB from JavaScript: AWS SDK v3 commands sent with `client.send(new XCommand({...}))`
(`@aws-sdk/client-dynamodb` and the `@aws-sdk/lib-dynamodb` document client), and the v2
`DocumentClient` / `DynamoDB` methods (`doc.update(params).promise()`).

Each call is rewritten as the boto3 call it is (`UpdateItemCommand` -> `update_item` with the
params as keywords) and judged by the DynamoDB recognizer: ConditionExpression guards, unguarded
decrements (RC402), batch writes (RC403), transactions.
"""

from __future__ import annotations

from ...core import model
from ...core.effects import CallContext, Effect
from ...core.stores import add_recognizer
from ...python.stores._common import keywords
from ...python.stores.dynamodb import DynamoRecognizer
from ._calls import JsModuleFacts, as_keywords, local_value, rewritten

__all__ = ["JsDynamoRecognizer", "passed_in"]

_COMMANDS = {
    "GetItem": "get_item",
    "Get": "get_item",
    "PutItem": "put_item",
    "Put": "put_item",
    "UpdateItem": "update_item",
    "Update": "update_item",
    "DeleteItem": "delete_item",
    "Delete": "delete_item",
    "Query": "query",
    "Scan": "scan",
    "TransactWriteItems": "transact_write_items",
    "TransactWrite": "transact_write_items",
    "TransactGetItems": "transact_get_items",
    "TransactGet": "transact_get_items",
    "BatchWriteItem": "batch_write_item",
    "BatchWrite": "batch_write_item",
    "BatchGetItem": "batch_get_item",
    "BatchGet": "batch_get_item",
}
# v2 SDK methods: DocumentClient (`get`, `update`...) and the low-level client (`getItem`...).
_V2_METHODS = {
    "get": "get_item",
    "put": "put_item",
    "update": "update_item",
    "delete": "delete_item",
    "query": "query",
    "scan": "scan",
    "transactWrite": "transact_write_items",
    "batchWrite": "batch_write_item",
    "getItem": "get_item",
    "putItem": "put_item",
    "updateItem": "update_item",
    "deleteItem": "delete_item",
    "transactWriteItems": "transact_write_items",
    "batchWriteItem": "batch_write_item",
}
_SDK = ("@aws-sdk/client-dynamodb", "@aws-sdk/lib-dynamodb", "aws-sdk")


def _command(expr: model.Expr | None) -> tuple[str, model.Expr | None] | None:
    """`new UpdateItemCommand(params)` -> ("update_item", params)."""
    if not isinstance(expr, model.Call) or not (expr.name or "").startswith(_SDK):
        return None
    last = (expr.name or "").rsplit(".", 1)[-1]
    if not last.endswith("Command"):
        return None
    method = _COMMANDS.get(last.removesuffix("Command"))
    return (method, expr.positional(0)) if method else None


class JsDynamoRecognizer(DynamoRecognizer):
    facts_type = JsModuleFacts
    markers = ("dynamodb", "DynamoDB", "aws-sdk")

    def table_key(self, call: model.Call, ctx: CallContext) -> str:
        """The table the params name: its string, else the expression's text (`process.env.TABLE`,
        `TABLE`: one table wherever it is written). A client is no table (boto3's `Table("t")`
        receiver is): when the params, or their TableName, come from a helper's parameter (`const
        getItem = (params) => client.send(new GetItemCommand(params))`), the call is keyed by its
        own place, so one wrapper's read and another's write are not taken for one table's."""
        table = keywords(call).get("TableName")
        name = ctx.string(table) if table is not None else None
        if name:
            return f"dynamodb:{name}"
        if table is not None and not passed_in(table, ctx):
            return "dynamodb:" + " ".join(self.facts(ctx).code(table).split())
        return f"dynamodb:<the table passed at line {call.span.line}>"

    def effects(self, call: model.Call, ctx: CallContext) -> list[Effect] | None:
        translated = self.translate(call, ctx)
        return super().effects(translated, ctx) if translated is not None else None

    def translate(self, call: model.Call, ctx: CallContext) -> model.Call | None:
        receiver = call.receiver
        if receiver is None:
            return None
        if call.method == "send":
            command = _command(local_value(call.positional(0), ctx))
            if command is None:
                return None
            method, params = command
        elif call.method in _V2_METHODS and call.positional(0) is not None:
            method, params = _V2_METHODS[call.method or ""], call.positional(0)
        else:
            return None
        keywords = as_keywords(local_value(params, ctx))
        if call.method != "send" and not any(
            arg.keyword in ("TableName", "TransactItems") for arg in keywords
        ):
            return None  # `cache.get(key)` is no v2 DocumentClient call: its params name a table
        return rewritten(call, receiver, method, keywords)


def passed_in(expr: model.Expr, ctx: CallContext) -> bool:
    """`expr` is a parameter of a helper the handler called: its value is each caller's."""
    function = ctx.function()
    return isinstance(expr, model.Name) and expr.id in function.params and function is not ctx.root()


add_recognizer("dynamodb", "javascript", JsDynamoRecognizer)
