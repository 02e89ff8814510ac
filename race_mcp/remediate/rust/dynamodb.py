"""DynamoDB fixers for Rust (`aws_sdk_dynamodb` fluent builders).

- RC401 (`get_item` → decide → `put_item`/`update_item`): the write's builder gets a
  `.condition_expression(..)` on what was read, with its `.expression_attribute_names(..)` and
  `.expression_attribute_values(..)`, inserted before `.send()`. A "not there yet" check (a rejection
  when `out.item()` is some) over a put becomes `attribute_not_exists(#pk)`; otherwise a
  compare-and-set on every attribute the decision read (`.get("balance")`) or the write derives
  from the read (the seed's `version + 1`): `(attribute_not_exists(#a) OR #a = :a)` with the value
  as read (`out.item().and_then(|item| item.get("a")).cloned()`). A failed condition is the SDK's
  `ConditionalCheckFailedException`, returned by the `?` already there.
- RC402 (`SET a = a - :n` alone): `.condition_expression("a >= :n")`.
- RC403/RC404, and reads other than `get_item` (a query decides on many items): guidance in Rust.
"""

from __future__ import annotations

import re

from ...analyzer.rust._syntax import Node
from ...findings import Finding
from .._fixers import Fixed, Guidance, register_text
from ._source import Edit, RustSource, apply_edits, free_name

__all__ = ["fix_read_then_write", "fix_unguarded_decrement", "guidance_only"]

_KEY = re.compile(r'\.key\(\s*"([^"]+)"')
_ITEM_GET = re.compile(r'\.get\(\s*"([\w.-]+)"\s*\)')
_NAME_PAIR = re.compile(r'expression_attribute_names\(\s*"(#\w+)"\s*,\s*"([\w.-]+)"\s*\)')
_SET_TARGET = re.compile(r"(?:\bSET\b|,)\s*([#\w.]+)\s*=", re.IGNORECASE)
# `use aws_sdk_dynamodb::types::AttributeValue;` or the name in a `{..}` list (bounded: untrusted text).
_IMPORTED_VALUE = re.compile(
    r"use\s+aws_sdk_dynamodb::(?:types::)?(?:AttributeValue\b|\{[^};]{0,2000}\bAttributeValue\b)"
)
_DECREMENT = re.compile(r"\bSET\s+(?P<attr>[#\w.]+)\s*=\s*(?P=attr)\s*-\s*(?P<value>:\w+)", re.IGNORECASE)

_RC401_GUIDANCE = """Make the write conditional on what the decision read, and answer a failed condition:

    client.update_item()
        .table_name("accounts")
        .key("id", AttributeValue::S(id))
        .update_expression("SET balance = balance - :amt")
        .condition_expression("balance >= :amt")
        .expression_attribute_values(":amt", AttributeValue::N(amount.to_string()))
        .send()
        .await
        .map_err(|e| match e.into_service_error() {
            UpdateItemError::ConditionalCheckFailedException(_) => AppError::Conflict,
            other => AppError::from(other),
        })?;

For a create after "not found", `.condition_expression("attribute_not_exists(#pk)")` on the put."""

_RC403_GUIDANCE = """Write the items that change together in one `transact_write_items` call:

    client.transact_write_items()
        .transact_items(TransactWriteItem::builder().update(
            Update::builder().table_name("accounts").key("id", AttributeValue::S(from))
                .update_expression("SET balance = balance - :amt")
                .condition_expression("balance >= :amt")
                .expression_attribute_values(":amt", AttributeValue::N(amount.to_string()))
                .build()?).build())
        .transact_items(TransactWriteItem::builder().update(
            Update::builder().table_name("accounts").key("id", AttributeValue::S(to))
                .update_expression("SET balance = balance + :amt")
                .expression_attribute_values(":amt", AttributeValue::N(amount.to_string()))
                .build()?).build())
        .send()
        .await?;

`batch_write_item` is not atomic: items succeed or fail one by one (`unprocessed_items`)."""

_RC404_GUIDANCE = """Record each record's id with a conditional put before applying it, in one transaction:

    client.transact_write_items()
        .transact_items(TransactWriteItem::builder().put(
            Put::builder().table_name("processed_events")
                .item("event_id", AttributeValue::S(record.event_id.clone()))
                .condition_expression("attribute_not_exists(event_id)")
                .build()?).build())
        .transact_items(/* the record's own write */)
        .send()
        .await?;

A `TransactionCanceledException` whose first reason is `ConditionalCheckFailed` is a duplicate: skip it."""


def _attribute_value(text: str) -> str:
    """`AttributeValue` where the file imports it, its full path where it does not."""
    imported = re.search(
        r"use\s+aws_sdk_dynamodb::(?:types::)?(?:AttributeValue\b|\{[^}]*\bAttributeValue\b)", text
    )
    return "AttributeValue" if imported else "aws_sdk_dynamodb::types::AttributeValue"


def _step_line(finding: Finding, role: str) -> int | None:
    return next((e.line for e in finding.evidence if e.role == role), None)


def _send_call(source: RustSource, statement: Node) -> Node | None:
    calls = source.calls_named(statement, "send")
    return calls[-1] if calls else None


def _insertion(source: RustSource, send: Node, setters: list[str]) -> Edit:
    """The setters before `.send()`: inline, or one per line when the chain is laid out that way."""
    function = send.child_by_field_name("function")
    receiver = function.child_by_field_name("value")
    between = source.data[receiver.end_byte : function.child_by_field_name("field").start_byte].decode()
    if "\n" in between:
        indent = between[between.rindex("\n") + 1 :].rstrip(".")
        return Edit(receiver.end_byte, receiver.end_byte, "".join(f"\n{indent}{s}" for s in setters))
    return Edit(receiver.end_byte, receiver.end_byte, "".join(setters))


@register_text("rust", "RC401")
def fix_read_then_write(text: str, finding: Finding) -> Fixed | Guidance:
    source = RustSource(text)
    function = source.function(finding)
    write_line = _step_line(finding, "write")
    if function is None or write_line is None:
        return Guidance(_RC401_GUIDANCE)
    read = source.statement_at(function, finding.line)
    write = source.statement_at(function, write_line)
    if read is None or write is None or ".get_item()" not in source.code(read):
        return Guidance(_RC401_GUIDANCE)
    out = source.bound_name(read)
    send = _send_call(source, write)
    write_text = source.code(write)
    put = ".put_item()" in write_text
    if out is None or send is None or ".condition_expression(" in write_text:
        return Guidance(_RC401_GUIDANCE)
    if not put and ".update_item()" not in write_text:
        return Guidance(_RC401_GUIDANCE)
    keys = _KEY.findall(source.code(read))
    taken = set(re.findall(r"[#:]\w+", text))
    if put and keys and _absence_checked(source, function, read, write, out):
        name = free_name("#pk", taken)
        setters = [
            '.condition_expression("attribute_not_exists(' + name + ')")',
            f'.expression_attribute_names("{name}", "{keys[0]}")',
        ]
        fixed = apply_edits(text, [_insertion(source, send, setters)])
        return Fixed(
            fixed,
            f"Made the put of `{out}`'s item conditional on attribute_not_exists({keys[0]}): "
            "a second create of the same key fails instead of overwriting the first.",
            note="A lost race returns ConditionalCheckFailedException through the existing `?`; "
            "map it to a 409 where the handler answers errors.",
        )
    attributes = _compared_attributes(source, function, read, write, out) - set(keys)
    if not attributes:
        return Guidance(_RC401_GUIDANCE)
    value_type = _attribute_value(text)
    conditions, setters = [], []
    for attribute in sorted(attributes):
        stem = re.sub(r"\W", "_", attribute)
        name, value = free_name(f"#cas_{stem}", taken), free_name(f":cas_{stem}", taken)
        taken |= {name, value}
        conditions.append(f"(attribute_not_exists({name}) OR {name} = {value})")
        setters.append(f'.expression_attribute_names("{name}", "{attribute}")')
        setters.append(
            f'.expression_attribute_values("{value}", {out}.item().and_then(|item| item.get("{attribute}"))'
            f".cloned().unwrap_or({value_type}::Null(true)))"
        )
    setters.insert(0, '.condition_expression("' + " AND ".join(conditions) + '")')
    fixed = apply_edits(text, [_insertion(source, send, setters)])
    listed = ", ".join(sorted(attributes))
    return Fixed(
        fixed,
        f"Made the write conditional on {listed} still being what `{out}` read (a compare-and-set): "
        "a concurrent change fails the write instead of being overwritten.",
        note="A lost race returns ConditionalCheckFailedException through the existing `?`; map it to a "
        "409 (or retry the read) where the handler answers errors. An attribute deleted between the read "
        "and the write is not detected.",
    )


def _absence_checked(source: RustSource, function: Node, read: Node, write: Node, out: str) -> bool:
    """A check between the read and the write refuses when the item is there (`out.item().is_some()`)."""
    for rejection in source.rejections(function, read.end_byte, write.start_byte):
        condition = source.code(rejection.check.child_by_field_name("condition"))
        if re.search(rf"\b{re.escape(out)}\s*\.\s*item\b(\(\))?\s*\.\s*is_some\(\)", condition):
            return True
    return False


def _compared_attributes(source: RustSource, function: Node, read: Node, write: Node, out: str) -> set[str]:
    """The item attributes the decision read, and those the write derives from the read."""
    derived = source.derived_locals(function, out)
    found: set[str] = set()
    body = function.child_by_field_name("body")
    for statement in body.named_children if body is not None else ():
        if (
            read.start_byte <= statement.start_byte < write.start_byte
            and source.identifiers(statement) & derived
        ):
            found |= set(_ITEM_GET.findall(source.code(statement)))
    write_text = source.code(write)
    names = dict(_NAME_PAIR.findall(write_text))
    for call in source.calls_named(write, "item"):
        arguments = list(call.child_by_field_name("arguments").named_children)
        named = len(arguments) == 2 and arguments[0].type == "string_literal"
        if named and source.identifiers(arguments[1]) & derived:
            found.add(source.code(arguments[0]).strip('"'))
    update = re.search(r'update_expression\(\s*"([^"]*)"', write_text)
    if update is not None:
        found |= {names.get(target, target) for target in _SET_TARGET.findall(update.group(1))}
    return found


@register_text("rust", "RC402")
def fix_unguarded_decrement(text: str, finding: Finding) -> Fixed | Guidance:
    source = RustSource(text)
    function = source.function(finding)
    write = source.statement_at(function, finding.line) if function is not None else None
    if write is None:
        return Guidance(_RC401_GUIDANCE)
    write_text = source.code(write)
    update = re.search(r'update_expression\(\s*"([^"]*)"', write_text)
    decrement = _DECREMENT.search(update.group(1)) if update is not None else None
    send = _send_call(source, write)
    if decrement is None or send is None or ".condition_expression(" in write_text:
        return Guidance(_RC401_GUIDANCE)
    attribute, amount = decrement.group("attr"), decrement.group("value")
    setter = f'.condition_expression("{attribute} >= {amount}")'
    fixed = apply_edits(text, [_insertion(source, send, [setter])])
    return Fixed(
        fixed,
        f"Made the decrement of `{attribute}` conditional on `{attribute} >= {amount}`: "
        "it never goes below zero.",
        safety="unsafe",
        note="A decrement that would go negative now fails with ConditionalCheckFailedException (through the "
        "existing `?`) where it used to succeed; answer it as the handler answers insufficient funds.",
    )


@register_text("rust", "RC403", "RC404")
def guidance_only(text: str, finding: Finding) -> Fixed | Guidance:
    return Guidance(_RC403_GUIDANCE if finding.rule_id == "RC403" else _RC404_GUIDANCE)
