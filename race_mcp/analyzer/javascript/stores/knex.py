"""knex query builders on the SQL store: `knex("accounts").where({ id }).first()`,
`trx("accounts").where("balance", ">=", n).decrement("balance", n)`, `.insert(...).onConflict().ignore()`.

A chain is read whole at its outer call (the interpreter does not evaluate its inside for us:
`owns_chain`) and turned into the `SqlStatement` it runs, which the SQL store judges as it judges
text: a `where` on a column the UPDATE sets is a compare-and-set when the affected count is read,
`forUpdate()` inside a transaction locks, `increment`/`decrement` are computed by the database.
`knex.transaction(async (trx) => ...)` runs its callback in one transaction; a `trx` taken with
`await knex.transaction()` begins one and `trx.commit()` ends it.
"""

from __future__ import annotations

import re

from ...core import model
from ...core.effects import CallContext, Effect
from ...core.walk import expressions, statements
from ...python.stores._common import dotted
from ...python.stores._sql_text import SqlStatement
from ._orm import items

__all__ = ["KNEX_METHODS", "begin_effects", "knex_chain", "knex_statement", "reselects_claim"]

_WRITES = frozenset({"update", "increment", "decrement", "del", "delete", "insert", "upsert"})
_READS = frozenset({"first", "select", "pluck", "count", "max", "min", "sum", "then"})
_WHERE = frozenset(
    {
        "where",
        "andWhere",
        "orWhere",
        "whereIn",
        "whereNotIn",
        "whereNull",
        "whereNotNull",
        "orWhereNull",
        "whereNot",
        "whereBetween",
        "whereExists",
        "whereRaw",
    }
)
KNEX_METHODS = frozenset(
    {
        *_WRITES,
        *_READS,
        *_WHERE,
        "forUpdate",
        "forShare",
        "forNoKeyUpdate",
        "onConflict",
        "ignore",
        "merge",
        "returning",
        "from",
        "into",
        "table",
        "transacting",
        "limit",
        "offset",
        "orderBy",
        "groupBy",
        "having",
        "distinct",
        "join",
        "innerJoin",
        "leftJoin",
        "rightJoin",
        "columns",
        "modify",
    }
)
# Columns a nested `where((builder) => builder.whereNull("locked_by").orWhere(...))` names.
_NESTED_WHERE = re.compile(r"\b(?:or|and)?[wW]here\w*\(\s*['\"]([\w.]+)['\"]")
_HEADS = frozenset({"knex", "db", "trx", "tx", "transaction", "database", "pg", "k"})


def _head(call: model.Call) -> tuple[str | None, bool]:
    """(table, is_knex) of a chain's innermost call: `knex("t")`, `this.knex("t")`, `db.from("t")`."""
    name = (dotted(call.func) or "").rsplit(".", 1)[-1]
    first = call.positional(0)
    table = first.value if isinstance(first, model.Literal) and isinstance(first.value, str) else None
    if name.lower() in _HEADS or "knex" in name.lower():
        return table, True
    receiver = (dotted(call.receiver) or "").rsplit(".", 1)[-1]
    if call.method in ("from", "table", "into", "select", "insert") and (
        receiver.lower() in _HEADS or "knex" in receiver.lower()
    ):
        return (table if call.method != "select" else None), True
    return None, False


def knex_chain(call: model.Call) -> list[tuple[str, model.Call]] | None:
    """The calls of a knex chain from its head (`knex("t")` first), or None if `call` is none."""
    calls: list[tuple[str, model.Call]] = []
    node: model.Expr = call
    while isinstance(node, model.Call):
        calls.append((node.method or "", node))
        if not isinstance(node.func, model.Attribute) or node.method not in KNEX_METHODS:
            break
        node = node.func.value
    calls.reverse()
    if len(calls) < 2 or calls[-1][0] not in KNEX_METHODS:
        return None
    _, is_knex = _head(calls[0][1])
    if not is_knex and len(calls) > 1:
        _, is_knex = _head(calls[1][1])
    return calls if is_knex else None


def _where_columns(calls: list[tuple[str, model.Call]], ctx: CallContext) -> set[str]:
    columns: set[str] = set()
    for name, inner in calls:
        if name not in _WHERE:
            continue
        first = inner.positional(0)
        if isinstance(first, model.Collection):
            columns |= set(items(first))
        elif isinstance(first, model.Opaque) and first.kind == "function" and first.origin is not None:
            nested = first.origin.text.decode("utf-8", "replace")
            columns |= {column.split(".")[-1] for column in _NESTED_WHERE.findall(nested)}
        elif name == "whereRaw":
            text = ctx.string(first) or ""
            columns |= {word.split(".")[-1] for word in text.replace("(", " ").split() if word[:1].isalpha()}
        elif (column := ctx.string(first)) is not None:
            columns.add(column.split(".")[-1])
    return columns


def _table(calls: list[tuple[str, model.Call]]) -> str | None:
    """`knex("t")`, `db.from("t")`, `.into("t")`, `.table("t")`."""
    for index, (name, inner) in enumerate(calls):
        if index == 0:
            table, _ = _head(inner)
        elif name in ("from", "into", "table"):
            first = inner.positional(0)
            table = first.value if isinstance(first, model.Literal) and isinstance(first.value, str) else None
        else:
            table = None
        if table:
            return table.split()[0]  # `knex("steps as step")`
    return None


def knex_statement(
    calls: list[tuple[str, model.Call]], ctx: CallContext
) -> tuple[SqlStatement, model.Expr | None] | None:
    """The statement a chain runs, and the value object an UPDATE or INSERT writes."""
    table = _table(calls)
    if table is None:
        return None
    methods = {name: inner for name, inner in calls}
    where = frozenset(_where_columns(calls, ctx))
    writes = [name for name, _ in calls if name in _WRITES]
    if not writes:
        locking = any(m in methods for m in ("forUpdate", "forShare", "forNoKeyUpdate"))
        return SqlStatement("select", (table,), where_columns=where, for_update=locking), None
    kind, call = writes[-1], methods[writes[-1]]
    first = call.positional(0)
    if kind in ("insert", "upsert"):
        conflict = kind == "upsert" or "ignore" in methods or "merge" in methods
        return SqlStatement("insert", (table,), on_conflict=conflict), first
    if kind in ("del", "delete"):
        return SqlStatement("delete", (table,), where_columns=where), None
    # One UPDATE sets what `update(...)` and `increment(...)`/`decrement(...)` in the chain name.
    set_columns: set[str] = set()
    for name, inner in calls:
        if name in ("update", "increment", "decrement"):
            value = inner.positional(0)
            set_columns |= set(items(value)) or {c for c in [ctx.string(value)] if c}
    values = methods["update"].positional(0) if "update" in methods else None
    arithmetic = kind != "update"  # increment / decrement: computed by the database
    return SqlStatement("update", (table,), frozenset(set_columns), where, arithmetic=arithmetic), values


def begin_effects(call: model.Call) -> list[Effect] | None:
    """`const trx = await knex.transaction()`: a transaction begins (the callback form is run as
    the call's callee instead)."""
    name = (dotted(call.receiver) or "").rsplit(".", 1)[-1].lower()
    if call.method == "transaction" and not call.args and ("knex" in name or name in _HEADS):
        return [Effect("begin")]
    return None


def reselects_claim(call: model.Call, set_columns: frozenset[str], ctx: CallContext) -> bool:
    """A claiming UPDATE whose count nobody reads, followed by a query of the same table filtered
    on a column it set (`update({ locked_by: id })...` then `where("locked_by", id)`): the rows
    the request then works on are exactly those its compare-and-set won."""
    chain = knex_chain(call)
    table = _table(chain) if chain is not None else None
    if table is None or not set_columns:
        return False
    for statement in statements(ctx.function().body):
        if statement.span.line <= call.span.end_line:
            continue
        for expr in expressions(statement):
            later = knex_chain(expr) if isinstance(expr, model.Call) else None
            if (
                later is not None
                and _table(later) == table
                and not any(n in _WRITES for n, _ in later)
                and _where_columns(later, ctx) & set_columns
            ):
                return True
    return False
