"""Transactions whose body is a closure: diesel's `conn.transaction(|conn| { .. })` and
`conn.build_transaction().run(|conn| ..)`, sea-orm's `db.transaction::<_, _, DbErr>(|txn|
Box::pin(async move { .. }))`, diesel-async's `conn.transaction(|c| async move { .. }.scope_boxed())`.

Closures are otherwise opaque (they run when called); these run once, right there, inside a
transaction the call opens and commits. The statement lowering turns them into a `With` over the
call (`enter` of the SQL recognizer opens the transaction) whose body is the closure's block.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._syntax import Node, text
from ._syntax import field as child

__all__ = ["TransactionClosure", "transaction_closure"]

_TRANSACTIONS = frozenset({"transaction", "run"})
# Calls around the transaction that only pass its result on: `.map_err(..)?`, `.await`, `.unwrap()`.
_PASS_THROUGH = frozenset({"map_err", "unwrap", "expect", "context", "with_context", "into"})
_UNWRAPPED = ("try_expression", "await_expression", "parenthesized_expression")


@dataclass(frozen=True)
class TransactionClosure:
    call: Node  # `conn.transaction(..)`
    receiver: Node  # `conn`
    parameters: Node | None  # the closure's `|conn|`
    body: Node  # the block that runs inside the transaction


def _method(call: Node) -> tuple[str, Node] | None:
    function = child(call, "function")
    if function is not None and function.type == "generic_function":  # `transaction::<_, _, DbErr>`
        function = child(function, "function")
    if function is None or function.type != "field_expression":
        return None
    name, value = child(function, "field"), child(function, "value")
    return (text(name), value) if name is not None and value is not None else None


def _outer_call(node: Node) -> Node | None:
    """The call a statement's expression ends in, through `?`, `.await` and pass-through calls."""
    current: Node | None = node
    for _ in range(8):  # a handful of wrappers; never a walk over untrusted depth
        if current is None:
            return None
        if current.type in _UNWRAPPED:
            current = current.named_children[0] if current.named_children else None
            continue
        if current.type != "call_expression":
            return None
        called = _method(current)
        if called is not None and called[0] in _PASS_THROUGH:
            current = called[1]
            continue
        return current
    return None


def _block_of(body: Node) -> Node | None:
    """The block a closure runs: its own, or the one inside `Box::pin(async move { .. })` or
    `async move { .. }.scope_boxed()`."""
    current: Node | None = body
    for _ in range(6):
        if current is None:
            return None
        named = [c for c in current.named_children if c.type not in ("line_comment", "block_comment")]
        if (
            current.type == "block"
            and len(named) == 1
            and named[0].type in ("call_expression", "async_block")
        ):
            current = named[0]
        elif current.type == "block":
            return current
        elif current.type == "async_block":
            current = next((c for c in current.named_children if c.type == "block"), None)
        elif current.type == "call_expression":
            called = _method(current)
            arguments = child(current, "arguments")
            function = text(child(current, "function"))
            if called is not None and called[0] in ("scope_boxed", "boxed"):
                current = called[1]
            elif function.endswith("pin") and arguments is not None and arguments.named_children:
                current = arguments.named_children[0]
            else:
                return None
        else:
            return None
    return None


def transaction_closure(statement: Node) -> TransactionClosure | None:
    """`conn.transaction(|conn| { .. })` as a statement, a `let` value or a block's tail."""
    node = statement
    if node.type == "expression_statement":
        node = node.named_children[0] if node.named_children else None
    elif node.type == "let_declaration":
        node = child(node, "value")
    call = _outer_call(node) if node is not None else None
    called = _method(call) if call is not None else None
    arguments = child(call, "arguments") if call is not None else None
    if called is None or called[0] not in _TRANSACTIONS or arguments is None:
        return None
    closures = [a for a in arguments.named_children if a.type == "closure_expression"]
    if len(closures) != 1:
        return None
    closure = closures[0]
    body = _block_of(child(closure, "body"))
    if body is None:
        return None
    return TransactionClosure(call, called[1], child(closure, "parameters"), body)
