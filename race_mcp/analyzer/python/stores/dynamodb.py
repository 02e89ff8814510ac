"""DynamoDB (RC4xx), boto3 resource and client, aioboto3: get_item -> decide -> put_item/update_item
without a ConditionExpression that guards what was read; unguarded decrements; multi-item writes.
"""

from __future__ import annotations

import re
from typing import Any

from ...core import model
from ...core.effects import ALL, CallContext, Effect
from ...core.stores import StoreSpec, register
from ._common import StoreRecognizer, dict_items, keywords, positional

__all__ = ["DynamoRecognizer", "condition_guard"]

_READS = {"get_item", "query", "scan", "batch_get_item", "transact_get_items"}
_WRITES = {"put_item", "update_item", "delete_item"}
_TRANSACT_WRITES = {"Put": "put_item", "Update": "update_item", "Delete": "delete_item"}
_VERSION_ATTRIBUTES = {"version", "ver", "revision", "lock_version", "etag", "updated_at", "row_version"}
# Expressions are untrusted text and `re` backtracks, so each pattern is linear: a name
# (`[#\w.]`) is matched only from where its run starts (the lookbehind) and never gives characters
# back (`++`), instead of being re-scanned from every offset of a long run (a 40 KB
# `ConditionExpression` took 83 s). tests/test_analyzer_budgets.py feeds each its worst case.
_COMPARISON = re.compile(
    r"(?<![#\w.])([#\w.]++)\s*+(?:=|<>|<=|>=|<|>)\s*+[:#\w]|"
    r"(?<![:\w])[:\w]++\s*+(?:=|<>|<=|>=|<|>)\s*+([#\w.]++)|"
    r"(?<![#\w.])([#\w.]++)\s++between\b|(?<![#\w.])([#\w.]++)\s++in\s*+\(|"
    r"(?:begins_with|contains)\s*+\(\s*+([#\w.]++)",
    re.IGNORECASE,
)
_DECREMENT = re.compile(r"(?<![#\w.])([#\w.]++)\s*+=\s*+([#\w.]++)\s*+-\s*+:", re.IGNORECASE)
_INCREMENT = re.compile(r"(?<![#\w.])([#\w.]++)\s*+=\s*+([#\w.]++)\s*+\+\s*+(:\w++)", re.IGNORECASE)
_ADD_CLAUSE = re.compile(r"\bADD\s+(.*?)(?=\b(?:SET|REMOVE|DELETE)\b|$)", re.IGNORECASE | re.DOTALL)
_ADD_ACTION = re.compile(r"(?<![#\w.])([#\w.]++)\s++(:\w++)")
# An unclosed `attribute_exists(` runs to the end: a thousand of them cost one scan, not a thousand.
_ATTRIBUTE_EXISTS = re.compile(r"attribute_exists\s*+\([^)]*+(?:\)|\Z)")
_NUMBER_WRAPPERS = {"str", "int", "float", "Decimal"}
_ATTR_CALL = re.compile(r"Attr\(\s*['\"]([\w.]+)['\"]\s*\)\s*\.\s*(\w+)")


def _names(call: model.Call, ctx: CallContext) -> dict[str, str]:
    """`ExpressionAttributeNames={"#v": "version"}` as a dict."""
    names = {}
    for key, value in dict_items(keywords(call).get("ExpressionAttributeNames")):
        placeholder, name = ctx.string(key), ctx.string(value)
        if placeholder and name:
            names[placeholder] = name
    return names


def condition_guard(text: str, names: dict[str, str]) -> frozenset[str]:
    """The attributes a ConditionExpression compares; ALL for create-if-absent or a version check.

    `attribute_exists(pk)` alone guards nothing that was read: the item exists either way.
    """
    if "attribute_not_exists" in text:
        return ALL
    cleaned = _ATTRIBUTE_EXISTS.sub(" ", text)
    attributes = set()
    for match in _COMPARISON.finditer(cleaned):
        for group in match.groups():
            if group and not group.startswith(":") and group.lower() not in ("and", "or", "not"):
                attributes.add(names.get(group, group).split(".")[-1])
    if attributes & _VERSION_ATTRIBUTES:
        return ALL
    return frozenset(attributes)


def _guarded(access: Any, guard: frozenset[str]) -> bool:
    """The store checks at the write what this read looked at (or we cannot tell what it did)."""
    return bool(guard) and (not access.detail or bool(access.detail & guard))


class DynamoRecognizer(StoreRecognizer):
    def table_key(self, call: model.Call, ctx: CallContext) -> str:
        name = ctx.string(keywords(call).get("TableName"))
        if name:
            return f"dynamodb:{name}"
        facts = self.facts(ctx)
        receiver = call.receiver or call.func
        if isinstance(receiver, model.Name):
            value = facts.assignments.get(receiver.id)
            args = positional(value) if isinstance(value, model.Call) else []
            if args and (name := ctx.string(args[0])):
                return f"dynamodb:{name}"  # `table = dynamodb.Table("items")`
        return "dynamodb:" + facts.name_text(receiver)

    def condition(self, call: model.Call, ctx: CallContext) -> frozenset[str] | None:
        expression = keywords(call).get("ConditionExpression")
        if expression is None:
            return None
        text = ctx.string(expression)
        if text is not None:
            return condition_guard(text, _names(call, ctx))
        attributes = set()
        for name, method in _ATTR_CALL.findall(self.facts(ctx).code(expression)):
            if method == "not_exists":
                return ALL
            if method != "exists":
                attributes.add(name)
        return ALL if attributes & _VERSION_ATTRIBUTES else frozenset(attributes)

    def recognize(self, call: model.Call, ctx: CallContext) -> list[Effect] | None:
        method = call.method
        if method is None:
            return None
        if method in _READS:
            return [Effect("read", self.table_key(call, ctx))]
        if method == "transact_write_items":
            return self._transaction(call, ctx)
        if method == "batch_write_item":
            # One request of several items that is neither atomic nor all-or-nothing (UnprocessedItems).
            return [Effect("direct", self.table_key(call, ctx), "RC403")]
        if method not in _WRITES:
            return None
        key = self.table_key(call, ctx)
        guard = self.condition(call, ctx) or frozenset()
        effects = [
            Effect("write", key, "RC401", guard, needs_check=_compare_and_set(key, guard, ctx)),
            Effect("store_write", "dynamodb", autocommit=True),
        ]
        if method == "update_item":
            decremented = self.decremented(call, ctx)
            if decremented and not (guard >= ALL or decremented & guard):
                effects.append(Effect("direct", key, "RC402"))
        return effects

    def _transaction(self, call: model.Call, ctx: CallContext) -> list[Effect]:
        """TransactWriteItems is all or nothing, but each item is still written on what an earlier
        read decided: an item with no ConditionExpression on it races like a lone write (RC401,
        RC402). One store write for the whole request (it commits once: no RC403)."""
        effects: list[Effect] = []
        items = keywords(call).get("TransactItems")
        elements = items.elements if isinstance(items, model.Collection) and items.kind == "list" else ()
        for element in elements:
            for kind, params in dict_items(element):
                method = _TRANSACT_WRITES.get(ctx.string(kind) or "")
                if method is None:
                    continue  # ConditionCheck: it only makes the others conditional
                item = model.Call(
                    model.Attribute(
                        call.receiver or call.func, method, span=call.func.span, origin=call.func.origin
                    ),
                    tuple(
                        model.Arg(value, keyword=name, span=value.span, origin=value.origin)
                        for key, value in dict_items(params)
                        if (name := ctx.string(key))
                    ),
                    call.name,
                    span=call.span,
                    origin=call.origin,
                )
                effects.extend(e for e in self.recognize(item, ctx) or () if e.kind != "store_write")
        return [*effects, Effect("store_write", "dynamodb", autocommit=True)] if effects else []

    def decremented(self, call: model.Call, ctx: CallContext) -> set[str]:
        """Attributes the UpdateExpression lowers: `SET a = a - :n`, or `ADD a :n` / `SET a = a + :n`
        with a negative `:n`."""
        text = ctx.string(keywords(call).get("UpdateExpression"))
        if text is None:
            return set()
        names = _names(call, ctx)
        values = _attribute_values(call, ctx)
        lowered = {target for target, source in _DECREMENT.findall(text) if target == source}
        for target, source, placeholder in _INCREMENT.findall(text):
            if target == source and _is_negative(values.get(placeholder)):
                lowered.add(target)
        for clause in _ADD_CLAUSE.findall(text):
            for target, placeholder in _ADD_ACTION.findall(clause):
                if _is_negative(values.get(placeholder)):
                    lowered.add(target)
        return {names.get(target, target) for target in lowered}


def _attribute_values(call: model.Call, ctx: CallContext) -> dict[str, model.Expr]:
    """`ExpressionAttributeValues={":n": -amount}` as placeholder -> value expression."""
    found = {}
    for key, value in dict_items(keywords(call).get("ExpressionAttributeValues")):
        placeholder = ctx.string(key)
        if placeholder:
            found[placeholder] = value
    return found


def _is_negative(value: model.Expr | None) -> bool:
    """`-n`, `"-1"`, `f"-{n}"`, and the same wrapped as `{"N": str(-n)}` or `Decimal(-n)`."""
    if isinstance(value, model.Operation):
        if value.op == "-" and len(value.operands) == 1:
            return True
        if value.op == "*" and len(value.operands) == 2:
            return _is_negative(value.operands[0]) != _is_negative(value.operands[1])
        return False
    if isinstance(value, model.Literal):
        text = value.value
        if isinstance(text, str):
            return text.lstrip().startswith("-")
        return isinstance(text, int | float) and not isinstance(text, bool) and text < 0
    if isinstance(value, model.Template):
        first = value.parts[0] if value.parts else None
        return isinstance(first, str) and first.lstrip().startswith("-")
    if isinstance(value, model.Collection) and value.kind == "dict":  # low-level client: {"N": "..."}
        return any(_is_negative(element) for _, element in dict_items(value))
    if isinstance(value, model.Call) and isinstance(value.func, model.Name):
        args = positional(value)
        return value.func.id in _NUMBER_WRAPPERS and bool(args) and _is_negative(args[0])
    return False


def _compare_and_set(key: str, guard: frozenset[str], ctx: CallContext) -> bool:
    """The condition re-checks what the decision on this item looked at (`balance = :seen`): the
    write is a compare-and-set, so values merely copied from the read item do not make it racy."""
    check = ctx.state.checks.get(key)
    return bool(guard) and check is not None and check.decision and _guarded(check, guard)


register(
    StoreSpec(
        name="dynamodb",
        markers=("_item", "Records", "transact_", "batch_write"),
        label=lambda name: f"DynamoDB table `{name}`",
        outcome="concurrent requests all read the same item and all write it back",
        recognizers={"python": DynamoRecognizer},
        default_rule="RC401",
        multi_write_rule="RC403",
    )
)
