"""Sequelize: models (`Account.findByPk(id)`, `db.Account.findOne({ where })`) and their rows
(`account.save()`, `account.update({...})`, `account.decrement("balance", { by })`) on `orm:Account`.

- Reads: `findByPk`, `findOne`, `findAll`, `findAndCountAll`, `count`, and a row's `reload()`; with
  `lock: t.LOCK.UPDATE` (or `lock: true`) inside a transaction they hold a row lock.
- A row changed in memory and saved, or updated with values computed from what was read: RC301.
- `Model.update(values, { where })`, `Model.increment/decrement(..., { where })`: guarded when the
  `where` re-checks a column written (`balance: { [Op.gte]: n }`) and the affected count is read.
- `create` / `bulkCreate` after an absence check: RC303 unless the fields are declared unique in
  the module, `UniqueConstraintError` is caught or `ignoreDuplicates` is set; `findOrCreate` on
  fields with no unique constraint is RC303 by itself.
- `sequelize.transaction(async (t) => ...)` (managed) runs the callback in one transaction;
  `const t = await sequelize.transaction()` begins one, `t.commit()` ends it.
"""

from __future__ import annotations

from collections.abc import Callable

from ...core import model
from ...core.effects import ALL, CallContext, Effect
from ...python.stores._common import dotted, literal_string
from ._orm import Filter, bare_fields, insert, items, read, row_save, update

__all__ = ["sequelize_effects"]

# (`max`/`min`/`sum` are left out: `Math.max(...)` is no model.)
_READS = frozenset({"findByPk", "findOne", "findAll", "findAndCountAll", "count"})
_STATIC_WRITES = frozenset(
    {"update", "increment", "decrement", "create", "bulkCreate", "findOrCreate", "upsert", "destroy"}
)
_ROW_METHODS = frozenset({"save", "update", "increment", "decrement", "destroy", "reload"})


def _model(receiver: model.Expr | None) -> str | None:
    """`Account`, `db.Account`, `models.Account`: a capitalised model name."""
    name = dotted(receiver)
    last = name.rsplit(".", 1)[-1] if name else ""
    return last if last[:1].isupper() else None


def _options(call: model.Call) -> dict[str, model.Expr]:
    """The options object: the last object literal argument."""
    for arg in reversed(call.args):
        found = items(arg.value)
        if found or (isinstance(arg.value, model.Collection) and arg.value.kind == "dict"):
            return found
    return {}


def _locks(options: dict[str, model.Expr]) -> bool:
    lock = options.get("lock")
    return lock is not None and not (isinstance(lock, model.Literal) and lock.value in (False, None))


def _row_key(ctx: CallContext) -> str | None:
    for access in ctx.receiver:
        if access.key.startswith("orm:"):
            return str(access.key)
    return None


def sequelize_effects(
    call: model.Call, ctx: CallContext, unique_of: Callable[[str], set[str]]
) -> list[Effect] | None:
    method = call.method or ""
    if method == "transaction" and not any(isinstance(a.value, model.Opaque) for a in call.args):
        return [Effect("begin")]  # unmanaged: `const t = await sequelize.transaction()`
    if method in ("commit", "rollback") and not call.args:
        return [Effect("commit")]
    if method in _ROW_METHODS and (row := _row_key(ctx)) is not None:
        return _row(method, row, call, ctx)
    name = _model(call.receiver)
    if name is None or not (method in _READS or method in _STATIC_WRITES):
        return None
    key = f"orm:{name}"
    options = _options(call)
    if method in _READS:
        fields = {"id"} if method == "findByPk" else Filter(options.get("where")).fields
        return read(key, fields, ctx, locked=_locks(options))
    return _static_write(method, key, call, options, ctx, unique_of(name))


def _row(method: str, key: str, call: model.Call, ctx: CallContext) -> list[Effect]:
    if method == "save":
        return row_save(key, ctx)
    if method == "reload":
        return read(key, {"id"}, ctx, locked=_locks(_options(call)))
    if method == "update":  # `row.update({ balance: row.balance - n })`: the values carry the read
        columns = bare_fields(call.positional(0))
        return [Effect("write", key, "RC301", columns=frozenset(columns))]
    if method == "destroy":
        return [Effect("write", key, "RC301", ALL)]
    # `row.decrement("balance", { by: n })`: computed by the database, stale only after a decision
    # on that column (an existence check decides nothing about it).
    first = call.positional(0)
    columns = bare_fields(first) or ({text} if (text := literal_string(first)) else set())
    ctx.args.clear()
    return [Effect("write", key, "RC301", needs_check=True, columns=frozenset(columns))]


def _static_write(
    method: str,
    key: str,
    call: model.Call,
    options: dict[str, model.Expr],
    ctx: CallContext,
    unique: set[str],
) -> list[Effect]:
    where = Filter(options.get("where"))
    if method == "update":
        data = call.positional(0)
        return update(key, where, data, bare_fields(data), ctx, checked=ctx.result_used(call))
    if method in ("increment", "decrement"):
        first = call.positional(0)
        written = bare_fields(first) or ({text} if (text := literal_string(first)) else set())
        return update(key, where, None, written, ctx, checked=ctx.result_used(call))
    if method in ("create", "bulkCreate"):
        ignores = (
            any(k in options for k in ("ignoreDuplicates", "updateOnDuplicate")) and method == "bulkCreate"
        )
        return insert(key, unique, ctx, ignores_duplicates=ignores)
    if method == "findOrCreate":
        looked_up = where.fields
        effects = read(key, looked_up, ctx)
        if not (looked_up and looked_up <= unique) and not ctx.catching(("IntegrityError",)):
            effects.append(Effect("direct", key, "RC303"))
        return effects
    if method == "upsert":
        return [Effect("write", key, "RC301", ALL)]
    guard = ALL if ctx.result_used(call) else frozenset()  # destroy
    return [Effect("write", key, "RC301", guard)]
