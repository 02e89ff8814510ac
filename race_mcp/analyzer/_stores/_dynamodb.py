"""DynamoDB (RC4xx), boto3 resource and client, aioboto3: get_item → decide → put_item/update_item
without a ConditionExpression that guards what was read; unguarded decrements; multi-item writes.
"""

from __future__ import annotations

import re

import libcst as cst

from .._effects import ALL, CallContext, Effect
from .._module import ModuleIndex

__all__ = ["DynamoRecognizer", "condition_guard"]

_READS = {"get_item", "query", "scan", "batch_get_item", "transact_get_items"}
_WRITES = {"put_item", "update_item", "delete_item"}
_VERSION_ATTRIBUTES = {"version", "ver", "revision", "lock_version", "etag", "updated_at", "row_version"}
_COMPARISON = re.compile(
    r"([#\w.]+)\s*(?:=|<>|<=|>=|<|>)\s*[:#\w]|[:\w]+\s*(?:=|<>|<=|>=|<|>)\s*([#\w.]+)|"
    r"([#\w.]+)\s+between\b|([#\w.]+)\s+in\s*\(|(?:begins_with|contains)\s*\(\s*([#\w.]+)",
    re.IGNORECASE,
)
_DECREMENT = re.compile(r"([#\w.]+)\s*=\s*([#\w.]+)\s*-\s*:", re.IGNORECASE)
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
    cleaned = re.sub(r"attribute_exists\s*\([^)]*\)", " ", text)
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
            ctx.interpreter.notes["dynamodb-read"] = True
            return [Effect("read", self.table_key(call, ctx))]
        if method == "transact_write_items":
            return []
        if method == "batch_write_item":
            if ctx.interpreter.notes.get("dynamodb-read"):
                return [Effect("direct", self.table_key(call, ctx), "RC403")]
            return []
        if method not in _WRITES:
            return None
        key = self.table_key(call, ctx)
        guard = self.condition(call, ctx)
        effects = [Effect("write", key, "RC401", guard or frozenset()), Effect("store_write", "dynamodb")]
        if method == "update_item":
            decremented = self.decremented(call, ctx)
            if decremented and not (guard and (guard >= ALL or decremented & guard)):
                effects.append(Effect("direct", key, "RC402"))
        return effects

    def decremented(self, call: cst.Call, ctx: CallContext) -> set[str]:
        for arg in call.args:
            if arg.keyword and arg.keyword.value == "UpdateExpression":
                text = ctx.string(arg.value) or ""
                names = _names(call, ctx)
                return {
                    names.get(target, target)
                    for target, source in _DECREMENT.findall(text)
                    if target == source
                }
        return set()
