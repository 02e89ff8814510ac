"""ORMs for Rust: diesel's query DSL and sea-orm, on the shared `orm` store (keys `orm:<table>`).

diesel: `accounts.find(id).first::<Account>(conn)` / `.filter(..).get_result(conn)` / `.load(conn)`
read the table the chain starts from (`accounts`, `accounts::table`, `dsl::accounts`);
`diesel::update(target).set(col.eq(v)).execute(conn)` writes it, guarded when the target's
filter re-checks a column it sets and the row count is looked at; `diesel::insert_into(t)` after a
lookup is RC303 unless `on_conflict*` or a caught `UniqueViolation` dedups it; `row.save_changes(conn)`
writes what was changed on a row read earlier. `.for_update()` locks inside a transaction.

sea-orm: `account::Entity::find_by_id(id).one(db)` / `Account::find().filter(..).one(db)` read
`account`; an `ActiveModel` built from the row and `update(db)`/`save(db)` writes back what was
changed on it; `Entity::update_many().col_expr(..).filter(..).exec(db)` is the atomic form;
`ActiveModel { .. }.insert(db)` / `Entity::insert(am).exec(db)` insert. `.lock_exclusive()` /
`.lock(LockType::Update)` lock inside `db.begin()` ... `commit()`.

The rule of a lost update is RC304 (the ORM family's read-modify-write), of a duplicate RC303.
"""

from __future__ import annotations

import re

from ...core import model
from ...core.effects import ALL, CallContext, Effect
from .._syntax import text
from ._chain import chain_calls

__all__ = ["RustOrmRecognizer"]

_DIESEL_RUNS = frozenset({"first", "get_result", "get_results", "load", "execute"})
_DIESEL_QUERY = frozenset(
    {"filter", "find", "select", "order", "order_by", "limit", "for_update", "inner_join"}
)
_SEA_READS = frozenset({"one", "all"})
_SEA_STARTS = ("find", "find_by_id", "find_related")
_LOCKS = frozenset({"for_update", "lock_exclusive", "lock"})
_CONFLICT = ("on_conflict",)
_UNIQUE_VIOLATION = (
    b"UniqueViolation",
    b"is_unique_violation",
    b"UNIQUE_VIOLATION",
    b"UniqueConstraintViolation",
)
# `balance.eq(..)`, `accounts::balance.eq(..)`, `Column::Balance.gte(..)`: the column a clause names
# (anchored and possessive: argument text is untrusted, and `\w+` re-tried inside a long word is quadratic).
_COLUMN = re.compile(r"(?<!\w)(\w++)\s*+\.\s*+(?:eq|ne|gt|ge|lt|le|gte|lte|is_null|is_not_null|is_in)\s*+\(")
# `col_expr(account::Column::Balance, ..)`: the column is the first argument's last segment.
_COL_EXPR = re.compile(r"^\s*(?:\w+::)*(\w+)")


class RustOrmRecognizer:
    def __init__(self, lowered: object) -> None:
        self.lowered = lowered

    def effects(self, call: model.Call, ctx: CallContext) -> list[Effect] | None:
        method = call.method
        if method in ("save_changes", "update", "save") and call.receiver is not None and len(call.args) == 1:
            saved = self.save(call, ctx)
            if saved is not None:
                return saved
        if method == "insert" and len(call.args) == 1 and isinstance(call.receiver, model.Collection):
            table = _active_model_table(call.receiver)
            return self.insert(table, call, [], ctx) if table else None
        if method in _DIESEL_RUNS and len(call.args) == 1:
            return self.diesel(call, ctx)
        if method in _SEA_READS or method == "exec":
            return self.sea(call, ctx)
        return None

    # -- diesel ---------------------------------------------------------------------------------
    def diesel(self, call: model.Call, ctx: CallContext) -> list[Effect] | None:
        calls = list(chain_calls(call))
        start = calls[-1]
        verb = (start.name or "").rsplit("::", 1)[-1].rsplit(".", 1)[-1]
        if verb in ("update", "delete") and start.receiver is None and start.args:
            table = _diesel_table(start.args[0].value)
            if table is None:
                return None
            setter = next((c for c in calls if c.method == "set"), None)
            columns = _columns(setter) if setter is not None else frozenset()
            # `update(t.filter(..))` or `update(t).filter(..)`: both say which rows.
            filters = _columns(start) | frozenset(
                col for c in calls if c.method == "filter" for col in _columns(c)
            )
            values = [a.value for a in setter.args] if setter is not None else []
            return self.update(table, columns, filters, call, ctx, claims=verb == "delete", values=values)
        if verb == "insert_into" and start.receiver is None and start.args:
            table = _diesel_table(start.args[0].value)
            return self.insert(table, call, calls, ctx) if table else None
        if call.method == "execute" or not any(c.method in _DIESEL_QUERY for c in calls):
            return None
        table = _diesel_table(start.receiver) if start.receiver is not None else None
        return self.read(table, calls, ctx) if table else None

    # -- sea-orm --------------------------------------------------------------------------------
    def sea(self, call: model.Call, ctx: CallContext) -> list[Effect] | None:
        calls = list(chain_calls(call))
        start = calls[-1]
        head, _, verb = (start.name or "").replace(".", "::").rpartition("::")
        table = _entity(head)
        if table is None:
            return None
        if call.method in _SEA_READS and verb in _SEA_STARTS:
            return self.read(table, calls, ctx)
        if call.method == "exec" and verb in ("update_many", "delete_many"):
            columns = frozenset(
                _snake(m) for c in calls if c.method == "col_expr" for m in _COL_EXPR.findall(_first(c))
            )
            filters = frozenset(col for c in calls if c.method == "filter" for col in _columns(c))
            values = [a.value for c in calls if c.method == "col_expr" for a in c.args[1:]]
            return self.update(
                table, columns, filters, call, ctx, claims=verb == "delete_many", values=values
            )
        if call.method == "exec" and verb == "update" and len(start.args) == 1:  # `Entity::update(active)`
            filters = frozenset(col for c in calls if c.method == "filter" for col in _columns(c))
            return self.save(call, ctx, start.args[0].value, filters)
        if call.method == "exec" and verb in ("insert", "insert_many"):
            return self.insert(table, call, calls, ctx)
        return None

    # -- effects --------------------------------------------------------------------------------
    def read(self, table: str, calls: list[model.Call], ctx: CallContext) -> list[Effect]:
        key = f"orm:{table}"
        filters = frozenset(col for c in calls if c.method in ("filter", "find") for col in _columns(c))
        locked = any(c.method in _LOCKS for c in calls) and ctx.state.in_transaction
        return [*([Effect("lock")] if locked else []), Effect("read", key, detail=filters)]

    def update(
        self,
        table: str,
        columns: frozenset[str],
        filters: frozenset[str],
        call: model.Call,
        ctx: CallContext,
        *,
        claims: bool,
        values: list[model.Expr],
    ) -> list[Effect]:
        """One UPDATE/DELETE statement: guarded when its filter re-checks what it sets (or it
        deletes) and the row count decides. What it writes is what its SET evaluates: the
        target and filters only say which rows (ids collected by an earlier read are no lost
        update), so their reads are dropped and the SET's values are the write's."""
        ctx.receiver.clear()
        ctx.args.clear()
        for value in values:
            ctx.args.extend(ctx.evaluate(value))
        guarded = (claims or bool(columns & filters)) and ctx.result_used(call)
        return [Effect("write", f"orm:{table}", "RC304", ALL if guarded else frozenset(), columns=columns)]

    def insert(self, table: str, call: model.Call, calls: list[model.Call], ctx: CallContext) -> list[Effect]:
        conflict = any((c.method or "").startswith(_CONFLICT) for c in calls)
        origin = ctx.function().origin
        caught = (
            ctx.result_used(call)
            and origin is not None
            and any(name in origin.text for name in _UNIQUE_VIOLATION)
        )
        guard = ALL if conflict or caught else frozenset()
        return [Effect("write", f"orm:{table}", "RC303", guard, needs_check=True)]

    def save(
        self,
        call: model.Call,
        ctx: CallContext,
        saved: model.Expr | None = None,
        filters: frozenset[str] = ALL,
    ) -> list[Effect] | None:
        """`row.save_changes(conn)` (diesel) / `active.update(db)` (sea-orm) on a local carrying a
        row read earlier: racy when the saved change was computed from the read or decided on it.
        sea-orm's `Entity::update(active).filter(..).exec(db)` passes the model and its filter
        columns: a filter on a column the change sets is a compare-and-set (no row matched is
        `DbErr::RecordNotUpdated`, an error whatever the caller does with the result)."""
        receiver = saved if saved is not None else call.receiver
        if not isinstance(receiver, model.Name):
            return None
        origin = ctx.state.aliases.get(receiver.id)
        if origin is None or not origin.key.startswith("orm:"):
            return None
        key = origin.key
        change = ctx.state.dirty.pop(key, None)
        if change is not None and filters is not ALL and change.written & filters:
            return [Effect("write", key, "RC304", ALL)]
        derived = change is not None and change.steps[-1].role == "change"
        if derived:
            ctx.args.append(change)
        written = change.written if change is not None and not derived else frozenset()
        return [Effect("write", key, "RC304", needs_check=not derived, overwrites=written)]


def _diesel_table(expr: model.Expr | None) -> str | None:
    """`accounts`, `accounts::table`, `accounts::dsl::accounts`, `schema::accounts::table`, and
    the same at the start of a chain (`accounts.find(id)` passed to `diesel::update`)."""
    while isinstance(expr, model.Call) and expr.receiver is not None:
        expr = expr.receiver
    if not isinstance(expr, model.Name):
        return None
    parts = [p for p in expr.id.split("::") if p not in ("table", "dsl", "schema", "crate", "self")]
    return parts[-1].lower() if parts and parts[-1].isidentifier() and parts[-1].islower() else None


def _entity(head: str) -> str | None:
    """`account::Entity` -> account; `entity::account::Entity` -> account; `Account` -> account."""
    parts = [p for p in head.split("::") if p]
    if not parts:
        return None
    if parts[-1] in ("Entity", "ActiveModel") and len(parts) > 1:
        return parts[-2].lower()
    last = parts[-1]
    return _snake(last) if last[:1].isupper() and last not in ("Entity", "Self") else None


def _active_model_table(expr: model.Collection) -> str | None:
    """`account::ActiveModel { .. }.insert(db)`: the struct expression's type."""
    origin = expr.origin
    name = origin.child_by_field_name("name") if origin is not None else None
    return _entity(text(name)) if name is not None and text(name).endswith("ActiveModel") else None


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _columns(call: model.Call) -> frozenset[str]:
    return frozenset(_snake(c) if c[:1].isupper() else c for c in _COLUMN.findall(_code(call)))


def _first(call: model.Call) -> str:
    origin = call.args[0].origin if call.args else None
    return text(origin) if origin is not None else ""


def _code(call: model.Call) -> str:
    """The text of a call's arguments (the clauses it names columns in)."""
    return " ".join(text(a.origin) for a in call.args if a.origin is not None)
