"""SQL for Rust: sqlx (`sqlx::query("...")`, `query!`/`query_as!` macros, `.bind(..)`, run by
`fetch_one`/`fetch_optional`/`fetch_all`/`execute`; `pool.begin()` ... `tx.commit()`) and
tokio-postgres (`client.query("...", &[..])`, `query_one`, `query_opt`, `execute`;
`client.transaction()` ... `commit()`).

The SQL text is read by the language-neutral parser the Python front-end uses
(`python/stores/_sql_text.py`): a SELECT reads its tables (`FOR UPDATE` locks inside a
transaction), an UPDATE/DELETE writes them (RC201), guarded when its WHERE re-checks what it sets
and the row count is looked at, an INSERT is RC203 unless `ON CONFLICT` dedups it.
"""

from __future__ import annotations

import re

from ...core import model
from ...core.effects import ALL, CallContext, Effect
from ...python.stores._sql_text import SqlStatement, parse_sql, row_writes
from .._expressions import string_value
from ._chain import chain_calls

__all__ = ["RustSqlRecognizer"]

# sqlx's runners, and diesel's for a raw `diesel::sql_query("...")` (`get_result`, `load`...).
_SQLX_RUNS = frozenset(
    {"fetch_one", "fetch_optional", "fetch_all", "fetch", "execute", "get_result", "get_results", "load"}
)
_SQLX_BUILDERS = frozenset({"query", "query_as", "query_scalar", "query_with", "query_as_with", "sql_query"})
# A duplicate-key error answered where the insert runs: sqlx `e.is_unique_violation()`, diesel
# `DatabaseErrorKind::UniqueViolation`, tokio-postgres `SqlState::UNIQUE_VIOLATION`.
_UNIQUE_VIOLATION = (b"is_unique_violation", b"UniqueViolation", b"UNIQUE_VIOLATION")
_POSTGRES_RUNS = frozenset({"query", "query_one", "query_opt", "execute", "query_raw", "execute_raw"})
_BEGINS = frozenset({"begin", "transaction", "build_transaction"})
# One statement is one unit of work however many tables it names (a CTE that inserts and joins):
# the multi-write rule (RC202) counts statements, not tables.
_ONE_STATEMENT = Effect("store_write", "sql", autocommit=True)
_DATABASE = re.compile(r"(pool|db|database|conn|connection|client|pg|postgres|tx|txn|transaction)", re.I)


class RustSqlRecognizer:
    def __init__(self, lowered: object) -> None:
        self.lowered = lowered

    def effects(self, call: model.Call, ctx: CallContext) -> list[Effect] | None:
        method = call.method
        receiver = call.receiver
        if method in _BEGINS and not call.args and receiver is not None and _DATABASE.search(_text(receiver)):
            return [Effect("begin")]
        if method in ("commit", "rollback") and not call.args:
            return [Effect("commit")]
        statement = self.statement(call, ctx)
        if statement is None:
            return None
        effects = [Effect("lock")] if statement.locking else []
        if statement.kind == "select":
            if statement.for_update and ctx.state.in_transaction:
                effects.append(Effect("lock"))
            return effects + [
                Effect("read", f"sql:{t}", detail=statement.where_columns) for t in statement.tables
            ]
        if statement.kind in ("update", "delete"):
            return [*effects, *row_writes(statement, ctx.result_used(call)), _ONE_STATEMENT]
        if statement.kind == "insert":
            guard = ALL if statement.on_conflict or _answers_duplicates(call, ctx) else frozenset()
            effects += [
                Effect("write", f"sql:{table}", "RC203", guard, needs_check=True)
                for table in statement.tables
            ]
            return [*effects, _ONE_STATEMENT]
        if statement.kind == "begin":
            effects.append(Effect("begin"))
        elif statement.kind == "commit":
            effects.append(Effect("commit"))
        return effects

    def enter(self, context: model.Expr, ctx: CallContext) -> list[Effect] | None:
        """`conn.transaction(|conn| { .. })` lowered as a `With` over the call: the closure's block
        runs inside the transaction the call opens (and commits at its end)."""
        if isinstance(context, model.Call) and context.method == "transaction" and not context.args:
            return [Effect("begin")]
        return None

    def statement(self, call: model.Call, ctx: CallContext) -> SqlStatement | None:
        """The SQL a call runs: the start of a sqlx chain, or tokio-postgres' first argument."""
        method = call.method
        if method in _SQLX_RUNS:
            *_, first = chain_calls(call)
            text = _sqlx_text(first, ctx)
            if text is not None:
                return parse_sql(text)
        if method in _POSTGRES_RUNS and call.args:
            text = ctx.string(call.args[0].value)
            return parse_sql(text) if text is not None else None
        return None


def _answers_duplicates(call: model.Call, ctx: CallContext) -> bool:
    """The insert's result is kept and the function answers a unique violation: the unique index
    is the check, and the lookup before it only a fast path."""
    origin = ctx.function().origin
    return (
        ctx.result_used(call)
        and origin is not None
        and any(name in origin.text for name in _UNIQUE_VIOLATION)
    )


def _sqlx_text(first: model.Call, ctx: CallContext) -> str | None:
    """`sqlx::query("...")` / `query_as::<_, T>("...")` starting the chain, or the `query!("...")`
    macro the chain's first call runs on."""
    for candidate in (first.receiver, first):
        if isinstance(candidate, model.Opaque) and candidate.kind.startswith("macro:query"):
            return _macro_string(candidate)
        if isinstance(candidate, model.Call):
            name = (candidate.name or "").rsplit("::", 1)[-1].rsplit(".", 1)[-1]
            if name in _SQLX_BUILDERS and candidate.receiver is None and candidate.args:
                return ctx.string(candidate.args[0].value)
    return None


def _macro_string(macro: model.Opaque) -> str | None:
    """The first string literal of a macro's token tree (`query_as!(User, "SELECT ...", id)`)."""
    node = macro.origin
    tokens = (
        next((c for c in node.named_children if c.type == "token_tree"), None) if node is not None else None
    )
    if tokens is None:
        return None
    literal = next(
        (c for c in tokens.named_children if c.type in ("string_literal", "raw_string_literal")), None
    )
    return string_value(literal) if literal is not None else None


def _text(expr: model.Expr) -> str:
    if isinstance(expr, model.Name):
        return expr.id
    if isinstance(expr, model.Attribute):
        return f"{_text(expr.value)}.{expr.attr}"
    return ""
