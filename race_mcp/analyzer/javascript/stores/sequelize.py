"""Sequelize: models (`Account.findByPk(id)`, `db.Account.findOne({ where })`) and their rows
(`account.save()`, `account.update({...})`, `account.decrement("balance", { by })`) on `orm:Account`.

- Reads: `findByPk`, `findOne`, `findAll`, `findAndCountAll`, `count`, and a row's `reload()`; with
  `lock: t.LOCK.UPDATE` (or `lock: true`) inside a transaction they hold a row lock.
- A row changed in memory and saved, or updated with values computed from what was read: RC301.
- `Model.update(values, { where })`, `Model.increment/decrement(..., { where })`: guarded when the
  `where` re-checks a column written (`balance: { [Op.gte]: n }`) and the affected count is read.
- `create` / `bulkCreate` after an absence check: RC303 unless the fields are declared unique in
  the module or, in a project, by the model's definition or a migration's unique index on its
  table (`project/_js_models.py`), `UniqueConstraintError` is caught or `ignoreDuplicates` is
  set; `findOrCreate` on fields with no unique constraint is RC303 by itself. In a create hook, a
  lookup on the new row's id decides nothing another request can change.
- `sequelize.transaction(async (t) => ...)` (managed) runs the callback in one transaction;
  `const t = await sequelize.transaction()` begins one, `t.commit()` ends it.
"""

from __future__ import annotations

from collections.abc import Callable

from ...core import model
from ...core.effects import ALL, CallContext, Effect
from ...python.stores._common import dotted, literal_string
from ._orm import Filter, bare_fields, declared_unique, insert, items, read, row_save, update

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
        if method != "findByPk" and _keyed_by_new_row(options.get("where"), ctx.function()):
            return []
        fields = {"id"} if method == "findByPk" else Filter(options.get("where")).fields
        return read(key, fields, ctx, locked=_locks(options))
    unique = unique_of(name) | declared_unique("sequelize", name, ctx)
    return _static_write(method, key, call, options, ctx, unique)


# sequelize-typescript's hooks given the row being created (`@AfterCreate static f(model, options)`).
_CREATE_HOOKS = frozenset({"AfterCreate", "BeforeCreate"})


def _keyed_by_new_row(where: model.Expr | None, function: model.Function) -> bool:
    """In a create hook, a lookup on the new row's id (`{ collectionId: model.id }`): only this
    request knows that row yet (it is not committed before the hook's transaction is), so what the
    lookup finds, or does not, no other request changes (issue 12 review: outline's creator
    membership made right after its collection)."""
    hooks = {dotted(d.func if isinstance(d, model.Call) else d) for d in function.decorators}
    if not hooks & _CREATE_HOOKS or not function.params:
        return False
    created = function.params[0]
    return any(
        isinstance(value, model.Attribute)
        and value.attr == "id"
        and isinstance(value.value, model.Name)
        and value.value.id == created
        for value in items(where).values()
    )


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
        return insert(key, unique, ctx, ignores_duplicates=ignores, data=call.positional(0))
    if method == "findOrCreate":
        looked_up = where.fields
        effects = read(key, looked_up, ctx)
        declared = getattr(ctx.facts(), "sequelize_unique", None)
        keys = declared(key.removeprefix("orm:")) if declared is not None else set()
        covered = looked_up and (looked_up <= unique or any(k <= looked_up for k in keys))
        if not covered and not ctx.catching(("IntegrityError",)):
            effects.append(Effect("direct", key, "RC303"))
        return effects
    if method == "upsert":
        return [Effect("write", key, "RC301", ALL)]
    guard = ALL if ctx.result_used(call) else frozenset()  # destroy
    return [Effect("write", key, "RC301", guard)]
