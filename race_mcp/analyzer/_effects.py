"""What a call does to shared state, as the store recognizers (SQL, ORM, DynamoDB, Redis, files) see it.

A recognizer looks at one call and answers with effects, or `None` when the call is not its business:

- `read`: the call reads `key`; its result carries the read (so `row = cur.fetchone()` aliases it).
- `write`: the call writes `key`. The race it completes is reported as `rule`. `guard` says what the
  store itself checks atomically at the write (a `WHERE x >= ?`, a `ConditionExpression`, `SET NX`):
  `ALL` guards everything, a set of names guards reads that looked at those columns or attributes.
  `needs_check`: only a *decision* read makes the write racy (an INSERT after a lookup, an INCR after
  a comparison), a value read alone does not.
- `lock` / `unlock`: a lock region opens or closes (a row lock from `FOR UPDATE` until the commit).
- `begin` / `commit`: a transaction opens or ends (a commit also writes pending ORM changes).
- `direct`: the call is a problem by itself (an unguarded DynamoDB decrement, `select_for_update`
  outside `atomic()`), reported as `rule`.
- `store_write`: counts toward the multi-write rules (RC202, RC403) without a race of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

import libcst as cst

if TYPE_CHECKING:
    from ._engine import Interpreter
    from ._state import Access, State

__all__ = ["ALL", "TRANSACTION_LOCK", "CallContext", "Effect", "Recognizer", "string_value"]

ALL: frozenset[str] = frozenset({"*"})
TRANSACTION_LOCK = "transaction"

Kind = Literal["read", "write", "lock", "unlock", "begin", "commit", "direct", "store_write"]


@dataclass(frozen=True)
class Effect:
    kind: Kind
    key: str = ""
    rule: str = ""
    guard: frozenset[str] = frozenset()
    needs_check: bool = False
    detail: frozenset[str] = frozenset()
    region: str = TRANSACTION_LOCK
    node: cst.CSTNode | None = None
    # `cur.execute("SELECT ...")`: the rows are fetched later from `cur`, so `cur` holds the read.
    bind_receiver: bool = False
    # For `store_write`: the driver commits each statement on its own (asyncpg, `databases`).
    autocommit: bool = False
    # For `write`: the columns an UPDATE sets, and whether it is a guarded state transition.
    columns: frozenset[str] = frozenset()
    claim: bool = False


@dataclass
class CallContext:
    """What a recognizer may look at: the interpreter, the path's state, the evaluated arguments."""

    interpreter: Interpreter
    state: State
    args: list[Access]
    receiver: list[Access]
    test: bool

    def string(self, expr: cst.BaseExpression | None) -> str | None:
        return string_value(expr, self.interpreter) if expr is not None else None


class Recognizer(Protocol):
    def effects(self, call: cst.Call, ctx: CallContext) -> list[Effect] | None: ...


def string_value(expr: cst.BaseExpression, interpreter: Interpreter) -> str | None:
    """The text of a string expression: literals, f-strings (holes as `?`), `+` and `%` of them,
    `text("...")`, and names bound to string constants in the function or the module."""
    if isinstance(expr, cst.SimpleString | cst.ConcatenatedString):
        value = expr.evaluated_value
        return value if isinstance(value, str) else None
    if isinstance(expr, cst.FormattedString):
        parts = [p.value if isinstance(p, cst.FormattedStringText) else "?" for p in expr.parts]
        return "".join(parts)
    if isinstance(expr, cst.BinaryOperation):
        left = string_value(expr.left, interpreter)
        if isinstance(expr.operator, cst.Modulo):
            return left
        if isinstance(expr.operator, cst.Add):
            right = string_value(expr.right, interpreter)
            return left + right if left is not None and right is not None else left or right
        return None
    if isinstance(expr, cst.Call) and expr.args:
        name = interpreter.index.qualify(expr.func) or ""
        if name.split(".")[-1] in ("text", "dedent", "literal_column", "SQL", "sql"):
            return string_value(expr.args[0].value, interpreter)
        return None
    if isinstance(expr, cst.Name):
        local = interpreter.frame.strings.get(expr.value) if interpreter.frames else None
        if local is not None:
            return local
        constant = interpreter.index.assignments.get(expr.value)
        if constant is not None and not isinstance(constant, cst.Name):
            return string_value(constant, interpreter)
    if isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name):
        # Class-level SQL constants: `Queries.SELECT_BALANCE` or `self.SELECT_BALANCE`.
        owner = expr.value.value
        if owner == "self" and interpreter.frames:
            owner = interpreter.frame.self_class or owner
        info = interpreter.index.classes.get(owner)
        attribute = info.attributes.get(expr.attr.value) if info else None
        if attribute is not None:
            return string_value(attribute, interpreter)
    return None
