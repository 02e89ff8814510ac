"""Prisma: `prisma.account.findUnique(...)` then `prisma.account.update(...)` on `orm:Account`.

- Reads: `findUnique(OrThrow)`, `findFirst(OrThrow)`, `findMany`, `count`, `aggregate`, `groupBy`.
- `update` / `updateMany`: RC301 after a decision on (or with data computed from) the row read,
  unless the `where` re-checks a column the `data` sets (`balance: { gte: n }`) or a version, and
  the outcome is seen (`update` throws P2025 when nothing matches; `updateMany`'s `count` must be
  read). `{ decrement: n }` is computed by the database: no lost update, but a decision before it
  is still stale.
- `create` after an absence check: RC303 unless the field was looked up with `findUnique` (Prisma
  only allows unique fields there), P2002 is caught, or `createMany({ skipDuplicates: true })`.
- `upsert`, `delete` (P2025 for the loser) are atomic.
- Raw SQL (`$queryRaw`, `$executeRaw`, their `Unsafe` forms) on the model's table: a read, a row
  lock with `FOR UPDATE` inside an interactive `$transaction`, a guarded `UPDATE` whose count is read.
- `$transaction(async (tx) => ...)` runs its callback in one transaction (`callbacks`).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ...core import model
from ...core.effects import ALL, CallContext, Effect
from ...python.stores._sql_text import SqlStatement, parse_sql
from ._orm import Filter, bare_fields, insert, items, read, row_lock, update

__all__ = ["prisma_effects"]

_READS = frozenset(
    {
        "findUnique",
        "findUniqueOrThrow",
        "findFirst",
        "findFirstOrThrow",
        "findMany",
        "count",
        "aggregate",
        "groupBy",
    }
)
_RAW = frozenset({"$queryRaw", "$executeRaw", "$queryRawUnsafe", "$executeRawUnsafe"})
_CLIENT = re.compile(r"(?i)prisma|^(db|tx|trx|client|transaction|database|orm)$")


def _model_key(name: str) -> str:
    return f"orm:{name[:1].upper()}{name[1:]}"


def _client(expr: model.Expr | None) -> bool:
    """`prisma`, `this.prisma`, `tx` (an interactive transaction's client), `db`."""
    last = expr.attr if isinstance(expr, model.Attribute) else expr.id if isinstance(expr, model.Name) else ""
    return bool(_CLIENT.search(last))


def prisma_effects(
    call: model.Call,
    ctx: CallContext,
    looked_up_unique: dict[str, set[str]],
    unique: set[str],
    schema_unique: Callable[[str], set[str]] | None = None,
) -> list[Effect] | None:
    """`looked_up_unique`: per delegate (`user`), the fields the module looks up with `findUnique`;
    `schema_unique`: per delegate, the unique fields the project's `schema.prisma` declares."""
    method, receiver = call.method or "", call.receiver
    if method == "$transaction":
        # The array form's statements were evaluated as its arguments; the callback form is run as
        # the call's callee (`callbacks`), so the call itself does nothing more.
        return [] if not any(isinstance(a.value, model.Opaque) for a in call.args) else None
    if method in _RAW and _client(receiver):
        return _raw(call, ctx)
    if not (isinstance(receiver, model.Attribute) and _client(receiver.value)):
        return None
    table = receiver.attr
    if not table or table.startswith("$") or not table[:1].islower():
        return None
    key = _model_key(table)
    args = items(call.positional(0))
    where = Filter(args.get("where"))
    if method in _READS:
        return read(key, where.fields, ctx)
    if method in ("update", "updateMany"):
        data = args.get("data")
        written = bare_fields(data)
        checked = method == "update" or ctx.result_used(call)
        return update(key, where, data, written, ctx, checked=checked)
    if method in ("create", "createMany", "createManyAndReturn"):
        skip = args.get("skipDuplicates")
        ignores = isinstance(skip, model.Literal) and skip.value is True
        declared = schema_unique(table) if schema_unique is not None else set()
        unique_here = looked_up_unique.get(table, unique) | declared
        return insert(key, unique_here, ctx, ignores_duplicates=ignores, data=args.get("data"))
    if method in ("upsert", "delete"):
        return [Effect("write", key, "RC301", ALL)]
    if method == "deleteMany":
        guard = ALL if ctx.result_used(call) else frozenset()
        return [Effect("write", key, "RC301", guard)]
    return None


def _raw(call: model.Call, ctx: CallContext) -> list[Effect] | None:
    """`` tx.$queryRaw`SELECT ... FROM "Account" ... FOR UPDATE` ``: SQL on a model's table."""
    text = ctx.string(call.positional(0))
    statement = parse_sql(text) if text is not None else None
    if statement is None:
        return None
    keys = [_model_key(table) for table in statement.tables]
    if statement.kind == "select":
        effects: list[Effect] = []
        for key in keys:
            effects += read(key, set(statement.where_columns), ctx, locked=statement.for_update)
        return effects
    if statement.kind in ("update", "delete"):
        return _raw_write(statement, keys, call, ctx)
    if statement.kind == "insert":
        return [e for key in keys for e in insert(key, set(), ctx, ignores_duplicates=statement.on_conflict)]
    return [row_lock(key) for key in keys] if statement.locking else []


def _raw_write(statement: SqlStatement, keys: list[str], call: model.Call, ctx: CallContext) -> list[Effect]:
    claims = statement.guarded or statement.kind == "delete"
    guard = ALL if claims and ctx.result_used(call) else frozenset()
    return [
        Effect("write", key, "RC301", guard, columns=statement.set_columns, compares=statement.compared)
        for key in keys
    ]
