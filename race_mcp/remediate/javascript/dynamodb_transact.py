"""RC403 for JavaScript/TypeScript: items that must change together, written by separate calls,
become one transaction where that is sound:

    await doc.send(new PutCommand({ ... }));
    await doc.send(new UpdateCommand({ ... }));

becomes `await doc.send(new TransactWriteCommand({ TransactItems: [{ Put: {...} }, { Update: {...} }] }))`
(`TransactWriteItemsCommand` for the low-level client, `transactWrite(...)` / `transactWriteItems(...)`
for the v2 SDK), the command imported beside the ones the file already imports.

Sound only when the writes are statements one after the other (comments aside) on one client,
their results unused, their params object literals without `ReturnValues` (a transaction returns
no item), and no `catch` around them waits for `ConditionalCheckFailedException` (a transaction
fails with `TransactionCanceledException` instead). Otherwise (and for BatchWrite): guidance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ...findings import Finding
from .._fixers import Fixed, Guidance, register_text
from ._common import property_node, resolve_local
from ._examples import with_example
from ._source import Edit, JsSource, Node, descendants

__all__ = ["fix_separate_writes"]

# command -> (transaction item kind, the transaction command, the package that exports it)
_V3 = {
    "PutItemCommand": ("Put", "TransactWriteItemsCommand"),
    "UpdateItemCommand": ("Update", "TransactWriteItemsCommand"),
    "DeleteItemCommand": ("Delete", "TransactWriteItemsCommand"),
    "PutCommand": ("Put", "TransactWriteCommand"),
    "UpdateCommand": ("Update", "TransactWriteCommand"),
    "DeleteCommand": ("Delete", "TransactWriteCommand"),
}
_V2 = {
    "put": ("Put", "transactWrite"),
    "update": ("Update", "transactWrite"),
    "delete": ("Delete", "transactWrite"),
    "putItem": ("Put", "transactWriteItems"),
    "updateItem": ("Update", "transactWriteItems"),
    "deleteItem": ("Delete", "transactWriteItems"),
}
_MESSAGE = (
    "Write the items of one business change in one transaction (all or nothing, up to 100 items), "
    "each conditional on what it depends on, and answer `TransactionCanceledException` with 409:"
)


@dataclass(frozen=True)
class SeparateWrite:
    statement: Node
    client: str  # the receiver's code
    kind: str  # Put, Update, Delete
    transaction: str  # the command or v2 method that writes them together
    command: str | None  # the v3 command class the write used (None: v2)
    params: Node


def _write(source: JsSource, statement: Node, function: Node) -> SeparateWrite | None:
    """`await client.send(new XCommand({...}));` or `await doc.x({...}).promise();` as a statement."""
    if statement.type != "expression_statement":
        return None
    for call in source.calls(statement):
        method = source.method_of(call)
        callee = call.child_by_field_name("function")
        receiver = callee.child_by_field_name("object") if callee is not None else None
        args = source.arguments(call)
        if receiver is None or not args:
            continue
        if method == "send":
            command = resolve_local(source, args[0], function)
            constructor = command.child_by_field_name("constructor") if command is not None else None
            name = source.code(constructor).rsplit(".", 1)[-1] if constructor is not None else ""
            if name not in _V3 or command is None:
                return None
            params = resolve_local(source, (source.arguments(command) or [None])[0], function)
            kind, transaction = _V3[name]
            return _checked(
                source, SeparateWrite(statement, source.code(receiver), kind, transaction, name, params)
            )
        if method in _V2:
            params = resolve_local(source, args[0], function)
            kind, transaction = _V2[method]
            return _checked(
                source, SeparateWrite(statement, source.code(receiver), kind, transaction, None, params)
            )
    return None


def _checked(source: JsSource, write: SeparateWrite) -> SeparateWrite | None:
    params = write.params
    if params is None or params.type != "object" or property_node(params, source, "ReturnValues"):
        return None
    if any(child.type == "spread_element" for child in params.named_children):
        return None
    return write


def _adjacent(statements: list[Node]) -> bool:
    """One after the other in one block, nothing but comments between."""
    parent = statements[0].parent
    if any(s.parent != parent for s in statements):
        return False
    siblings = [c for c in parent.named_children if c.type != "comment"]
    positions = [next(i for i, c in enumerate(siblings) if c == s) for s in statements]
    return positions == list(range(positions[0], positions[0] + len(positions)))


def _expects_condition_failure(source: JsSource, statement: Node) -> bool:
    current = statement.parent
    while current is not None:
        if current.type == "try_statement":
            handler = current.child_by_field_name("handler")
            if handler is not None and "ConditionalCheckFailed" in source.code(handler):
                return True
        current = current.parent
    return False


def _transaction_text(source: JsSource, writes: list[SeparateWrite]) -> str:
    first = writes[0]
    indent, unit = source.indent_of(first.statement), source.unit()
    items = []
    item_indent = indent + unit * 2
    for write in writes:
        params = write.params
        if params.start_point[0] == params.end_point[0]:
            items.append(f"{item_indent}{{ {write.kind}: {source.code(params)} }},")
            continue
        moved = source.reindent(source.code(params), source.indent_of(params), item_indent + unit)
        items.append(f"{item_indent}{{\n{item_indent}{unit}{write.kind}: {moved},\n{item_indent}}},")
    listed = "\n".join(items)
    inner = f"{{\n{indent}{unit}TransactItems: [\n{listed}\n{indent}{unit}],\n{indent}}}"
    if first.command is None:
        return f"await {first.client}.{first.transaction}({inner}).promise();"
    return f"await {first.client}.send(new {first.transaction}({inner}));"


def _import_edit(source: JsSource, command: str, transaction: str) -> Edit | None:
    """Add `transaction` to the import (or destructured require) that brings `command`; None when
    it is already imported or no such import is found."""
    if re.search(rf"\b{transaction}\b", source.text):
        return None
    for node in descendants(source.root):
        if node.type not in ("named_imports", "object_pattern"):
            continue
        names = [c for c in node.named_children if c.type != "comment"]
        if not any(re.fullmatch(rf"{command}(\s+as\s+\w+)?", source.code(n)) for n in names):
            continue
        statement = source.statement_of(node)
        if statement is None or statement.parent != source.root:
            continue
        last = names[-1]
        if node.start_point[0] == node.end_point[0]:
            return Edit(last.end_byte, last.end_byte, f", {transaction}")
        tail = source.data[last.end_byte : node.end_byte].decode("utf-8")
        comma = "" if tail.lstrip().startswith(",") else ","
        at = last.end_byte + (tail.index(",") + 1 if not comma else 0)
        return Edit(at, at, f"{comma}\n{source.indent_of(last)}{transaction}" + ("" if comma else ","))
    return None


@register_text("javascript", "RC403")
def fix_separate_writes(text: str, finding: Finding) -> Fixed | Guidance:
    """RC403: adjacent separate writes on one client -> one transaction (module docstring)."""
    guidance = Guidance(with_example(_MESSAGE, "RC403"))
    source = JsSource(text, finding.path)
    function = source.function_for(finding)
    lines = sorted({s.line for s in finding.evidence if s.role == "write"})
    if function is None or len(lines) < 2 or len(lines) > 100:
        return guidance
    statements = [source.statement_at(function, line) for line in lines]
    writes = [_write(source, s, function) if s is not None else None for s in statements]
    if any(w is None for w in writes):
        return guidance
    found = [w for w in writes if w is not None]
    if len({(w.client, w.transaction) for w in found}) != 1 or not _adjacent([w.statement for w in found]):
        return guidance
    if any(_expects_condition_failure(source, w.statement) for w in found):
        return guidance
    first, last = found[0].statement, found[-1].statement
    edits = [Edit(first.start_byte, last.end_byte, _transaction_text(source, found))]
    if found[0].command is not None:
        imported = _import_edit(source, found[0].command, found[0].transaction)
        if imported is None and not re.search(rf"\b{found[0].transaction}\b", source.text):
            return guidance
        edits += [imported] if imported is not None else []
    kinds = ", ".join(w.kind for w in found)
    return Fixed(
        source.apply(edits),
        f"Wrote the {len(found)} items ({kinds}) in one {found[0].transaction}: all or nothing.",
        safety="unsafe",
        note="A failed condition now cancels the whole transaction (TransactionCanceledException, "
        "not ConditionalCheckFailedException) and no item is written.",
    )
