"""DynamoDB for Rust (`aws_sdk_dynamodb`): the fluent builders, recognized at their `.send()`.

`client.get_item().table_name("t").key(..).send().await` reads; `put_item`, `update_item`,
`delete_item` write, guarded by what `.condition_expression(..)` compares (the Python front-end's
`condition_guard`, placeholders resolved through `.expression_attribute_names("#v", "version")` or
`("#v", "version")` pairs written in the function); `transact_write_items` is atomic and
`batch_write_item` is RC403, as for Python. An update that lowers an attribute
(`SET a = a - :n`) without a condition on it is RC402.
"""

from __future__ import annotations

import re

from ...core import model
from ...core.effects import ALL, CallContext, Effect
from ...python.stores.dynamodb import condition_guard
from .._syntax import text
from ._chain import chain_calls, setter

__all__ = ["RustDynamoRecognizer"]

_READS = frozenset({"get_item", "query", "scan", "batch_get_item", "transact_get_items"})
_WRITES = frozenset({"put_item", "update_item", "delete_item"})
_OPERATIONS = _READS | _WRITES | {"transact_write_items", "batch_write_item"}
# `("#ver", "version")` written anywhere in the function: the placeholders' names.
_NAME_PAIR = re.compile(r'"(#\w+)"\s*,\s*"([\w.]+)"')
# `SET a = a - :n`: the attribute is lowered (a linear pattern: names never give characters back).
_DECREMENT = re.compile(r"(?<![#\w.])([#\w.]++)\s*+=\s*+([#\w.]++)\s*+-\s*+:")


class RustDynamoRecognizer:
    def __init__(self, lowered: object) -> None:
        self.lowered = lowered

    def effects(self, call: model.Call, ctx: CallContext) -> list[Effect] | None:
        if call.method != "send":
            return None
        calls = list(chain_calls(call))
        operation = next((c for c in reversed(calls) if c.method in _OPERATIONS), None)
        if operation is None:
            return None
        method = operation.method
        key = self.table_key(calls, ctx)
        if method in _READS:
            return [Effect("read", key)]
        if method == "transact_write_items":
            return []  # all-or-nothing, each item's condition checked together
        if method == "batch_write_item":
            return [Effect("direct", key, "RC403")]
        names = self.names(calls, ctx)
        guard = self.guard(calls, names, ctx)
        check = ctx.state.checks.get(key)
        compare_and_set = (
            bool(guard)
            and check is not None
            and check.decision
            and bool(not check.detail or check.detail & guard)
        )
        effects = [
            Effect("write", key, "RC401", guard, needs_check=compare_and_set),
            Effect("store_write", "dynamodb", autocommit=True),
        ]
        # A decision on the item before an unconditioned write is RC401, whose fix (a condition on
        # what was read) also floors the decrement: one finding for the write, not two.
        decided = check is not None and check.decision and not guard
        if method == "update_item" and not decided:
            lowered = self.decremented(calls, names, ctx)
            if lowered and not (guard >= ALL or lowered & guard):
                effects.append(Effect("direct", key, "RC402"))
        return effects

    @staticmethod
    def table_key(calls: list[model.Call], ctx: CallContext) -> str:
        table = setter(calls, "table_name")
        argument = table.positional(0) if table is not None else None
        name = ctx.string(argument) if argument is not None else None
        if name:
            return f"dynamodb:{name}"
        if argument is not None and not _passed_in(argument, ctx):
            return "dynamodb:" + _code(argument, ctx)
        if argument is not None:
            # A helper's `table: &str` parameter: each caller's table. Keyed by this call's place,
            # so a `get(client, "users")` helper and a `put(client, "orders")` one are no pair.
            return f"dynamodb:<the table passed at line {argument.span.line}>"
        return "dynamodb:?"

    @staticmethod
    def names(calls: list[model.Call], ctx: CallContext) -> dict[str, str]:
        names: dict[str, str] = {}
        for call in calls:
            if call.method == "expression_attribute_names" and len(call.args) == 2:
                placeholder, name = ctx.string(call.args[0].value), ctx.string(call.args[1].value)
                if placeholder and name:
                    names[placeholder] = name
        origin = ctx.function().origin  # the function's tree-sitter node: its own text only
        if origin is not None and b'"#' in origin.text:
            for placeholder, name in _NAME_PAIR.findall(text(origin)):
                names.setdefault(placeholder, name)
        return names

    @staticmethod
    def guard(calls: list[model.Call], names: dict[str, str], ctx: CallContext) -> frozenset[str]:
        condition = setter(calls, "condition_expression")
        if condition is None or not condition.args:
            return frozenset()
        text = ctx.string(condition.args[0].value)
        if text is None:
            return ALL  # a condition we cannot read: assume it guards (no finding rather than a false one)
        return condition_guard(text, names)

    @staticmethod
    def decremented(calls: list[model.Call], names: dict[str, str], ctx: CallContext) -> set[str]:
        update = setter(calls, "update_expression")
        text = ctx.string(update.args[0].value) if update is not None and update.args else None
        if text is None:
            return set()
        return {names.get(target, target) for target, source in _DECREMENT.findall(text) if target == source}


def _passed_in(expr: model.Expr, ctx: CallContext) -> bool:
    """`expr` is a parameter of a helper the handler called: its value is each caller's."""
    function = ctx.function()
    return isinstance(expr, model.Name) and expr.id in function.params and function is not ctx.root()


def _code(expr: model.Expr, ctx: CallContext) -> str:
    if isinstance(expr, model.Name):
        return expr.id
    if isinstance(expr, model.Attribute):
        return f"{_code(expr.value, ctx)}.{expr.attr}"
    return "?"
