"""What a DynamoDB read gave the JavaScript code: the item's names (`Item`, `card`, `r.Item`), its
key attribute, and which of its attributes a decision read or allowed to be missing."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._common import property_value, resolve_local
from ._source import JsSource, Node, descendants, unquote

__all__ = [
    "ABSENT_NOTE",
    "ItemRead",
    "absence_checked",
    "attributes_in",
    "item_read",
    "locals_reading",
    "maybe_absent",
]

_ABSENT = re.compile(r"^!\s*(?P<item>[\w.]+)$|^(?P<item2>[\w.]+)\s*===?\s*(undefined|null)$")


@dataclass(frozen=True)
class ItemRead:
    names: frozenset[str]  # expressions that are the item: `Item`, `card`, `result.Item`
    key_attribute: str | None


def item_read(source: JsSource, statement: Node, function: Node) -> ItemRead | None:
    """The item a `const { Item } = await client.send(new GetItemCommand(...))` (or `const r = ...`)
    statement reads, its aliases in the function, and the first attribute of its `Key`."""
    declarator = source.first(statement, "variable_declarator")
    target = declarator.child_by_field_name("name") if declarator is not None else None
    if target is None:
        return None
    names: set[str] = set()
    if target.type == "identifier":
        names.add(f"{source.code(target)}.Item")
    elif target.type == "object_pattern":
        for member in target.named_children:
            if member.type == "shorthand_property_identifier_pattern" and source.code(member) == "Item":
                names.add("Item")
            elif member.type == "pair_pattern":
                key, value = member.child_by_field_name("key"), member.child_by_field_name("value")
                if (
                    key is not None
                    and value is not None
                    and source.code(key) == "Item"
                    and value.type == "identifier"
                ):
                    names.add(source.code(value))
    if not names:
        return None
    for node in descendants(function):  # `const item = response.Item;`
        if node.type == "variable_declarator":
            value, alias = node.child_by_field_name("value"), node.child_by_field_name("name")
            if (
                value is not None
                and alias is not None
                and alias.type == "identifier"
                and source.code(value) in names
            ):
                names.add(source.code(alias))
    return ItemRead(frozenset(names), _key_attribute(source, statement, function))


def _key_attribute(source: JsSource, statement: Node, function: Node) -> str | None:
    for node in descendants(statement):
        if node.type == "object" and (key := property_value(node, source, "Key")) is not None:
            key = resolve_local(source, key, function)
            members = [] if key is None or key.type != "object" else key.named_children
            for member in members:
                if member.type == "shorthand_property_identifier":
                    return source.code(member)
                if member.type == "pair" and (name := member.child_by_field_name("key")) is not None:
                    text = source.code(name)
                    return unquote(text) if name.type == "string" else text
    return None


def attributes_in(source: JsSource, scope: Node, read: ItemRead) -> set[str] | None:
    """Attributes of the item read in `scope` (`Item.balance`, `Item["balance"]`); None when the
    item is used in a way no condition pins down (passed whole to a function, spread)."""
    found: set[str] = set()
    for node in descendants(scope):
        if node.type == "member_expression":
            obj, prop = node.child_by_field_name("object"), node.child_by_field_name("property")
            if obj is not None and prop is not None and source.code(obj) in read.names:
                found.add(source.code(prop))
        elif node.type == "subscript_expression":
            obj, index = node.child_by_field_name("object"), node.child_by_field_name("index")
            if obj is not None and index is not None and source.code(obj) in read.names:
                key = unquote(source.code(index))
                if key is None:
                    return None
                found.add(key)
    return found


def locals_reading(source: JsSource, function: Node, read: ItemRead) -> dict[str, set[str]]:
    """Locals computed from the item (`const next = Number(Item.balance.N) - amount`)."""
    derived: dict[str, set[str]] = {}
    for node in descendants(function):
        if node.type == "variable_declarator":
            name, value = node.child_by_field_name("name"), node.child_by_field_name("value")
            if name is not None and value is not None and name.type == "identifier":
                attributes = attributes_in(source, value, read) or set()
                for other, attrs in derived.items():
                    if other in source.names_used(value):
                        attributes |= attrs
                if attributes:
                    derived[source.code(name)] = attributes
    return derived


def absence_checked(source: JsSource, checks: list[Node], read: ItemRead) -> bool:
    for check in checks:
        condition = check.child_by_field_name("condition")
        text = source.code(condition).strip("() ") if condition is not None else ""
        match = _ABSENT.match(text)
        if match and (match.group("item") or match.group("item2")) in read.names:
            return True
        if text in read.names:  # `if (Item) return ...`: refuses when it exists
            return True
    return False


ABSENT_NOTE = (
    "An attribute the check allows to be missing is guarded by `attribute_not_exists(...) OR ... = ...`: "
    "a concurrent removal of it is not detected."
)


def maybe_absent(source: JsSource, checks: list[Node], read: ItemRead, attribute: str) -> bool:
    """The checks allow the attribute to be missing (`Item.x && ...`, `!Item.x`, `Item.x?.S`,
    `Item.x === undefined`): the value read may be `undefined`, which no request can carry."""
    for item in read.names:
        at = re.escape(f"{item}.{attribute}")
        pattern = rf"!\s*{at}(?![\w.?\[])|{at}\s*(?:&&|\|\||\?\?|\?\.|[!=]==?\s*(?:undefined|null)\b|\))"
        for check in checks:
            condition = check.child_by_field_name("condition")
            if condition is not None and re.search(pattern, source.code(condition)):
                return True
    return False
