"""Callbacks a call runs before it returns: the body of an interactive transaction, and the
callback an array method runs per element (`items.map(async (item) => {...})`, `forEach`).

`await prisma.$transaction(async (tx) => {...})`, `knex.transaction(async (trx) => ...)`,
`sequelize.transaction(async (t) => ...)`, `dataSource.transaction(async (manager) => ...)`,
`` sql.begin(async (sql) => ...) `` (postgres.js) and a MongoDB session's `withTransaction`: the
callback's reads and writes happen inside the call, in one transaction. The memory profile runs
the callback as the call's callee (so its effects are the caller's, on the caller's path) and the
store recognizers declare such a callback transactional (the interpreter opens a transaction at its
start and commits at its end). An array method's async callback runs once in the model (one
element stands for all): `await Promise.all(event.Records.map(async (record) => ...))` is read as
its loop.
"""

from __future__ import annotations

import re
from typing import Any

from ..core import model

__all__ = [
    "TRANSACTION_METHODS",
    "immediate_callback",
    "iteration_callback",
    "serializable_callback",
    "takes_transaction",
    "transaction_callback",
]

TRANSACTION_METHODS = frozenset(
    {"$transaction", "transaction", "begin", "withTransaction", "runInTransaction", "startSession"}
)
_FUNCTION_NODES = frozenset({"arrow_function", "function_expression", "function"})
# The names a transaction handle is passed under (`async function debit(trx, id)`).
_TRANSACTION_PARAMS = frozenset({"trx", "tx", "txn", "transaction", "transacting"})
_ROUTE_METHODS = frozenset({"get", "post", "put", "patch", "delete", "del", "all"})
_TRANSACTION_MIDDLEWARE = re.compile(r"^(with)?transaction(al)?(middleware)?$", re.IGNORECASE)


def immediate_callback(call: model.Call) -> model.Opaque | None:
    """The function a transaction call runs at once, if `call` is one."""
    if call.method not in TRANSACTION_METHODS:
        return None
    for arg in call.args:
        value = arg.value
        if isinstance(value, model.Opaque) and value.kind == "function":
            return value
    return None


# Array methods that call their function argument for each element before they return (map's
# promises are awaited by the Promise.all around it, or not at all: their writes happen either way).
_ITERATION_METHODS = frozenset({"map", "forEach", "flatMap", "filter", "some", "every", "find", "reduce"})


def iteration_callback(call: model.Call) -> model.Opaque | model.Name | None:
    """The function `items.map(async (item) => {...})` (or `records.map(handleRecord)`) runs per
    element, if `call` is such a call: the inline function, or the name it passes."""
    if call.method not in _ITERATION_METHODS or call.receiver is None or not call.args:
        return None
    value = call.args[0].value
    if isinstance(value, model.Opaque) and value.kind == "function":
        return value
    return value if isinstance(value, model.Name) else None


def _transaction_call(function: model.Function) -> Any:
    """The tree-sitter call a callback is passed to, when that call is a transaction's."""
    node: Any = function.origin
    if node is None or getattr(node, "type", None) not in _FUNCTION_NODES:
        return None
    arguments = node.parent
    call = arguments.parent if arguments is not None and arguments.type == "arguments" else None
    if call is None or call.type != "call_expression":
        return None
    callee = call.child_by_field_name("function")
    prop = callee.child_by_field_name("property") if callee is not None else None
    return call if prop is not None and prop.text.decode("utf-8", "replace") in TRANSACTION_METHODS else None


def transaction_callback(function: model.Function) -> bool:
    """`function` is written as the callback argument of a transaction call, or as a route handler
    after a middleware that runs the rest of the route in a transaction."""
    return _transaction_call(function) is not None or _after_transaction_middleware(function)


def _after_transaction_middleware(function: model.Function) -> bool:
    """`router.post("users.invite", auth(), transaction(), async (ctx) => {...})`: a middleware
    named for a transaction (`transaction()`, `withTransaction`, `transactional()`) wraps `next()`
    in one and hands it on (`ctx.state.transaction`), so the handler after it runs inside it
    (outline's Koa routes; real-world review, issue 12)."""
    node: Any = function.origin
    if node is None or getattr(node, "type", None) not in _FUNCTION_NODES:
        return False
    arguments = node.parent
    call = arguments.parent if arguments is not None and arguments.type == "arguments" else None
    if call is None or call.type != "call_expression":
        return False
    callee = call.child_by_field_name("function")
    prop = callee.child_by_field_name("property") if callee is not None else None
    if prop is None or prop.text.decode("utf-8", "replace") not in _ROUTE_METHODS:
        return False
    for argument in arguments.named_children:
        if argument.id == node.id:
            return False
        called = argument.type == "call_expression"
        middleware = argument.child_by_field_name("function") if called else argument
        named = middleware is not None and middleware.type == "identifier"
        if named and _TRANSACTION_MIDDLEWARE.search(middleware.text.decode("utf-8", "replace")):
            return True
    return False


def serializable_callback(function: model.Function) -> bool:
    """The transaction runs at SERIALIZABLE isolation (`{ isolationLevel: "serializable" }`,
    `Prisma.TransactionIsolationLevel.Serializable`, `dataSource.transaction("SERIALIZABLE", ...)`):
    of two transactions that read and then write the same rows, one fails to commit."""
    call = _transaction_call(function)
    if call is None:
        return False
    arguments = call.child_by_field_name("arguments")
    return any(
        child is not function.origin and b"serializable" in child.text.lower()
        for child in (arguments.named_children if arguments is not None else ())
    )


def takes_transaction(function: model.Function) -> bool:
    """A helper handed a transaction (`async function debit(trx, id)`) runs inside its caller's
    transaction: analysed on its own, it is judged as inside one (a row lock it takes holds, its
    writes are one unit of work), as its callers' transactions will judge it."""
    return any(param in _TRANSACTION_PARAMS for param in function.params)
