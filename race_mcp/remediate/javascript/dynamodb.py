"""DynamoDB fixers for JavaScript/TypeScript (AWS SDK v3 commands, lib-dynamodb, v2 DocumentClient).

- RC401 (GetItem → decide → PutItem/UpdateItem): the write's params object gets a
  `ConditionExpression` on what the decision read. A "not there yet" check over a put becomes
  `attribute_not_exists(#key)`; otherwise a compare-and-set on every attribute of the item the
  checks and the written values read (`#balance = :expected_balance` with `Item.balance` as the
  value: the low-level client's AttributeValue or the document client's plain value, as read).
  Names and values are merged into the params' `ExpressionAttributeNames`/`Values`. A failed
  condition (`ConditionalCheckFailedException`) answers 409 on a route, else what the check
  answers, else it propagates.
- RC402 (unguarded `SET x = x - :n`): `ConditionExpression: "x >= :n"`.
- RC403/RC404: guidance with the `TransactWriteItemsCommand` / dedup-table code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ...findings import Finding
from .._fixers import Fixed, Guidance, register_text
from ._common import (
    Rejection,
    add_properties,
    check_exits,
    conflict_answer,
    free_name,
    property_node,
    property_value,
    refusal,
    resolve_local,
    wrap_in_catch,
)
from ._dynamodb_item import (
    ABSENT_NOTE,
    ItemRead,
    absence_checked,
    attributes_in,
    item_read,
    locals_reading,
    maybe_absent,
)
from ._examples import with_example
from ._source import Edit, JsSource, Node, descendants, unquote

__all__ = ["fix_read_then_write", "fix_unguarded_decrement", "guidance_only"]

_WRITE_COMMANDS = {"PutItemCommand", "PutCommand", "UpdateItemCommand", "UpdateCommand"}
_V2_WRITES = {"put", "update", "putItem", "updateItem"}
_DECREMENT = re.compile(
    r"^\s*SET\s+(?P<attr>[\w#]+)\s*=\s*(?P=attr)\s*-\s*(?P<value>:\w+)\s*$", re.IGNORECASE
)
_RC401_GUIDANCE = with_example(
    "Make the write conditional on what the decision read, and answer a failed condition:", "RC401"
)


@dataclass(frozen=True)
class WriteCall:
    statement: Node
    params: Node  # the object literal the command is built from
    kind: str  # "put" or "update"
    v2: bool  # v2 SDK: errors carry `code`, v3: `name`
    typed: bool  # the low-level client: values are AttributeValues (`{ N: "3" }`), not plain


def _write_call(source: JsSource, statement: Node, function: Node) -> WriteCall | None:
    for call in source.calls(statement):
        method = source.method_of(call)
        args = source.arguments(call)
        if method == "send" and args:
            command = resolve_local(source, args[0], function)
            if command is None or command.type != "new_expression":
                continue
            constructor = command.child_by_field_name("constructor")
            name = source.code(constructor).rsplit(".", 1)[-1] if constructor is not None else ""
            params = resolve_local(source, (source.arguments(command) or [None])[0], function)
            if name in _WRITE_COMMANDS and params is not None and params.type == "object":
                kind = "put" if name.startswith("Put") else "update"
                return WriteCall(statement, params, kind, v2=False, typed="Item" in name)
        elif method in _V2_WRITES and args:
            params = resolve_local(source, args[0], function)
            if params is not None and params.type == "object" and property_node(params, source, "TableName"):
                kind = "put" if method.startswith("put") else "update"
                return WriteCall(statement, params, kind, v2=True, typed=method.endswith("Item"))
    return None


def _placeholder(prefix: str, attribute: str, taken: set[str]) -> str:
    safe = re.sub(r"\W", "_", attribute) or "attr"
    return free_name(f"{prefix}{safe}", taken)


def _merge(
    source: JsSource, params: Node, field: str, pairs: list[tuple[str, str]], new: list[tuple[str, str]]
) -> Edit | None:
    """Add `pairs` to the params' `field` object: an edit of the literal (spread when it is no
    literal), or, when the params have no such field, a new property appended to `new`."""
    quoted = [(f'"{k}"', v) for k, v in pairs]
    inner = ", ".join(f"{k}: {v}" for k, v in quoted)
    value = property_value(params, source, field)
    if value is None:
        new.append((field, "{ " + inner + " }"))
        return None
    if value.type == "object":
        return add_properties(source, value, quoted)
    return source.replace(value, f"{{ ...{source.code(value)}, {inner} }}")


def _existing_keys(source: JsSource, params: Node, field: str) -> set[str]:
    value = property_value(params, source, field)
    return set(re.findall(r"[#:]\w+", source.code(value))) if value is not None else set()


def _condition_edits(
    source: JsSource,
    write: WriteCall,
    condition: str,
    names: list[tuple[str, str]],
    values: list[tuple[str, str]],
) -> list[Edit] | None:
    """The condition (with an existing one: both), its names and values, in the params object."""
    edits: list[Edit] = []
    new: list[tuple[str, str]] = []
    existing = property_value(write.params, source, "ConditionExpression")
    if existing is not None:
        old = unquote(source.code(existing))
        if old is None:
            return None
        edits.append(source.replace(existing, f'"({old}) AND {condition}"'))
    else:
        new.append(("ConditionExpression", f'"{condition}"'))
    for field, pairs in (("ExpressionAttributeNames", names), ("ExpressionAttributeValues", values)):
        if pairs and (edit := _merge(source, write.params, field, pairs, new)) is not None:
            edits.append(edit)
    if new:
        edits.append(add_properties(source, write.params, new))
    return edits


def _error_test(write: WriteCall) -> str:
    attribute = "code" if write.v2 else "name"
    return f'{{error}}.{attribute} === "ConditionalCheckFailedException"'


@register_text("javascript", "RC401")
def fix_read_then_write(text: str, finding: Finding) -> Fixed | Guidance:
    """RC401: a ConditionExpression on what the decision read (see the module docstring)."""
    source = JsSource(text, finding.path)
    function = source.function_for(finding)
    reads = [s.line for s in finding.evidence if s.role == "read"]
    writes = [s.line for s in finding.evidence if s.role == "write"]
    if function is None or not reads or not writes:
        return Guidance(_RC401_GUIDANCE)
    read_statement = source.statement_at(function, reads[0])
    write_statement = source.statement_at(function, writes[-1])
    if read_statement is None or write_statement is None:
        return Guidance(_RC401_GUIDANCE)
    write = _write_call(source, write_statement, function)
    read = item_read(source, read_statement, function)
    if write is None or read is None:
        return Guidance("The read and the write are not plain SDK calls in one function. " + _RC401_GUIDANCE)
    checks = _checks(source, function, read_statement, write_statement)
    rejections = check_exits(source, function, reads[0], writes[-1])
    attributes = _decided_attributes(source, function, checks, write, read)
    taken = _existing_keys(source, write.params, "ExpressionAttributeNames") | _existing_keys(
        source, write.params, "ExpressionAttributeValues"
    )
    if not attributes and absence_checked(source, checks, read) and read.key_attribute:
        key = _placeholder("#", read.key_attribute, taken)
        names: list[tuple[str, str]] = [(key, f'"{read.key_attribute}"')]
        values: list[tuple[str, str]] = []
        condition = f"attribute_not_exists({key})"
        absent_note = ""
        described = f"attribute_not_exists({read.key_attribute})"
    elif attributes:
        names, values, parts = [], [], []
        absent_note = ""
        for attribute in sorted(attributes):
            name, value = _placeholder("#", attribute, taken), _placeholder(":expected_", attribute, taken)
            taken |= {name, value}
            names.append((name, f'"{attribute}"'))
            item = sorted(read.names, key=len)[0]
            if maybe_absent(source, checks, read, attribute):
                # Absent when read: it must still be absent (a value cannot be `undefined`).
                missing = "{ NULL: true }" if write.typed else "null"
                values.append((value, f"{item}.{attribute} ?? {missing}"))
                parts.append(f"(attribute_not_exists({name}) OR {name} = {value})")
                absent_note = ABSENT_NOTE
            else:
                values.append((value, f"{item}.{attribute}"))
                parts.append(f"{name} = {value}")
        condition = " AND ".join(parts) if len(parts) > 1 else parts[0].removeprefix("(").removesuffix(")")
        described = " AND ".join(f"{a} unchanged since the read" for a in sorted(attributes))
    else:
        return Guidance(_RC401_GUIDANCE)
    edits = _condition_edits(source, write, condition, names, values)
    if edits is None:
        return Guidance(
            "The write's ConditionExpression is not a plain string; extend it. " + _RC401_GUIDANCE
        )
    answer = conflict_answer(source, function, finding) or _check_answer(source, rejections)
    note = absent_note
    if answer is not None:
        wrapped = wrap_in_catch(source, write_statement, function, _error_test(write), answer, edits)
        if wrapped is None:
            return Guidance(_RC401_GUIDANCE)
        edits = wrapped
    else:
        thrown = "A failed condition throws ConditionalCheckFailedException; callers must handle it."
        note = f"{thrown} {note}".strip()
    return Fixed(
        source.apply(edits),
        f"Made the {write.kind} conditional ({described})"
        + ("" if answer is None else " and answered a failed condition: " + answer.split("\n")[0]),
        note=note,
    )


def _checks(source: JsSource, function: Node, read_statement: Node, write_statement: Node) -> list[Node]:
    """The `if`s between the read and the write, and those around the write."""
    found = [
        n
        for n in descendants(function)
        if n.type == "if_statement" and read_statement.end_byte <= n.start_byte < write_statement.start_byte
    ]
    return [n for n in found if n.start_byte < write_statement.start_byte]


def _decided_attributes(
    source: JsSource, function: Node, checks: list[Node], write: WriteCall, read: ItemRead
) -> set[str]:
    attributes: set[str] = set()
    for check in checks:
        condition = check.child_by_field_name("condition")
        attributes |= attributes_in(source, condition, read) or set() if condition is not None else set()
    attributes |= attributes_in(source, write.params, read) or set()
    derived = locals_reading(source, function, read)
    used = source.names_used(write.params)
    for check in checks:
        condition = check.child_by_field_name("condition")
        used |= source.names_used(condition) if condition is not None else set()
    for name, attrs in derived.items():
        if name in used:
            attributes |= attrs
    return attributes


def _check_answer(source: JsSource, rejections: list[Rejection]) -> str | None:
    return refusal(source, rejections)


@register_text("javascript", "RC402")
def fix_unguarded_decrement(text: str, finding: Finding) -> Fixed | Guidance:
    """RC402: `SET x = x - :n` only while `x >= :n`."""
    guidance = Guidance(
        with_example(
            'Add `ConditionExpression: "x >= :n"` to the decrement\'s params and turn '
            "`ConditionalCheckFailedException` (`error.name`) into a 409:",
            "RC402",
        )
    )
    source = JsSource(text, finding.path)
    function = source.function_for(finding)
    statement = source.statement_at(function, finding.line) if function is not None else None
    write = _write_call(source, statement, function) if statement is not None else None
    if write is None or write.kind != "update" or property_node(write.params, source, "ConditionExpression"):
        return guidance
    expression = property_value(write.params, source, "UpdateExpression")
    value = unquote(source.code(expression)) if expression is not None else None
    match = _DECREMENT.match(value) if value is not None else None
    if match is None:
        return guidance
    condition = f"{match.group('attr')} >= {match.group('value')}"
    edits = [add_properties(source, write.params, [("ConditionExpression", f'"{condition}"')])]
    answer = conflict_answer(source, function, finding)
    if answer is not None:
        wrapped = wrap_in_catch(source, write.statement, function, _error_test(write), answer, edits)
        if wrapped is None:
            return guidance
        edits = wrapped
    return Fixed(
        source.apply(edits),
        f"Guarded the decrement of `{match.group('attr')}` with `{condition}`.",
        safety="unsafe",
        note="A decrement that would go below the amount now fails (ConditionalCheckFailedException)"
        + (" and answers 409." if answer is not None else "; callers must handle it."),
    )


@register_text("javascript", "RC404")
def guidance_only(text: str, finding: Finding) -> Fixed | Guidance:
    """RC403/RC404: which items belong together, or what makes a record a duplicate, needs a person."""
    if finding.rule_id == "RC403":
        message = (
            "Write the items of one business change in one transaction (all or nothing, up to 100 "
            "items), each conditional on what it depends on, and answer `TransactionCanceledException` "
            "with 409:"
        )
    else:
        message = (
            "Stream and queue consumers see each record at least once: claim the record's id with a "
            "conditional put before the side effect, and skip it when the claim fails:"
        )
    return Guidance(with_example(message, finding.rule_id))
