"""DynamoDB (RC4xx), boto3 resource and client, aioboto3: get_item → decide → put_item/update_item
without a ConditionExpression that guards what was read; unguarded decrements; multi-item writes.
"""

from __future__ import annotations

import re

import libcst as cst

from .._effects import ALL, CallContext, Effect
from .._engine import Interpreter
from .._module import ModuleIndex

__all__ = ["DynamoRecognizer", "condition_guard"]

_READS = {"get_item", "query", "scan", "batch_get_item", "transact_get_items"}
_WRITES = {"put_item", "update_item", "delete_item"}
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


def _names(call: cst.Call, ctx: CallContext) -> dict[str, str]:
    """`ExpressionAttributeNames={"#v": "version"}` as a dict."""
    for arg in call.args:
        if (
            arg.keyword
            and arg.keyword.value == "ExpressionAttributeNames"
            and isinstance(arg.value, cst.Dict)
        ):
            names = {}
            for element in arg.value.elements:
                if isinstance(element, cst.DictElement):
                    key, value = ctx.string(element.key), ctx.string(element.value)
                    if key and value:
                        names[key] = value
            return names
    return {}


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


class DynamoRecognizer:
    def __init__(self, index: ModuleIndex) -> None:
        self.index = index

    def table_key(self, call: cst.Call, ctx: CallContext) -> str:
        for arg in call.args:
            if arg.keyword and arg.keyword.value == "TableName" and (name := ctx.string(arg.value)):
                return f"dynamodb:{name}"
        func = call.func
        receiver = func.value if isinstance(func, cst.Attribute) else func
        if isinstance(receiver, cst.Name):
            value = self.index.assignments.get(receiver.value)
            if isinstance(value, cst.Call) and value.args and (name := ctx.string(value.args[0].value)):
                return f"dynamodb:{name}"  # `table = dynamodb.Table("items")`
        return "dynamodb:" + self.index.module.code_for_node(receiver)

    def condition(self, call: cst.Call, ctx: CallContext) -> frozenset[str] | None:
        for arg in call.args:
            if arg.keyword and arg.keyword.value == "ConditionExpression":
                text = ctx.string(arg.value)
                if text is not None:
                    return condition_guard(text, _names(call, ctx))
                code = self.index.module.code_for_node(arg.value)
                attributes = set()
                for name, method in _ATTR_CALL.findall(code):
                    if method == "not_exists":
                        return ALL
                    if method != "exists":
                        attributes.add(name)
                return ALL if attributes & _VERSION_ATTRIBUTES else frozenset(attributes)
        return None

    def effects(self, call: cst.Call, ctx: CallContext) -> list[Effect] | None:
        func = call.func
        method = func.attr.value if isinstance(func, cst.Attribute) else None
        if method is None:
            return None
        if method in _READS:
            return [Effect("read", self.table_key(call, ctx))]
        if method == "transact_write_items":
            return []
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

    def decremented(self, call: cst.Call, ctx: CallContext) -> set[str]:
        """Attributes the UpdateExpression lowers: `SET a = a - :n`, or `ADD a :n` / `SET a = a + :n`
        with a negative `:n`."""
        expression = _keyword(call, "UpdateExpression")
        text = ctx.string(expression) if expression is not None else None
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


def _keyword(call: cst.Call, name: str) -> cst.BaseExpression | None:
    return next((arg.value for arg in call.args if arg.keyword and arg.keyword.value == name), None)


def _attribute_values(call: cst.Call, ctx: CallContext) -> dict[str, cst.BaseExpression]:
    """`ExpressionAttributeValues={":n": -amount}` as placeholder -> value expression."""
    values = _keyword(call, "ExpressionAttributeValues")
    if not isinstance(values, cst.Dict):
        return {}
    found = {}
    for element in values.elements:
        if isinstance(element, cst.DictElement) and (placeholder := ctx.string(element.key)):
            found[placeholder] = element.value
    return found


def _is_negative(value: cst.BaseExpression | None) -> bool:
    """`-n`, `"-1"`, `f"-{n}"`, and the same wrapped as `{"N": str(-n)}` or `Decimal(-n)`."""
    if isinstance(value, cst.UnaryOperation):
        return isinstance(value.operator, cst.Minus)
    if isinstance(value, cst.SimpleString):
        text = value.evaluated_value
        return isinstance(text, str) and text.lstrip().startswith("-")
    if isinstance(value, cst.FormattedString):
        first = value.parts[0] if value.parts else None
        return isinstance(first, cst.FormattedStringText) and first.value.lstrip().startswith("-")
    if isinstance(value, cst.Dict):  # low-level client: {"N": "..."}
        return any(isinstance(e, cst.DictElement) and _is_negative(e.value) for e in value.elements)
    if isinstance(value, cst.Call) and isinstance(value.func, cst.Name) and value.args:
        return value.func.value in _NUMBER_WRAPPERS and _is_negative(value.args[0].value)
    if isinstance(value, cst.BinaryOperation) and isinstance(value.operator, cst.Multiply):
        return _is_negative(value.left) != _is_negative(value.right)
    return False


def _compare_and_set(key: str, guard: frozenset[str], ctx: CallContext) -> bool:
    """The condition re-checks what the decision on this item looked at (`balance = :seen`): the
    write is a compare-and-set, so values merely copied from the read item do not make it racy."""
    check = ctx.state.checks.get(key)
    return bool(guard) and check is not None and check.decision and Interpreter.guarded(check, guard)
