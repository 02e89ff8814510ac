"""TypeORM: repositories (`this.accounts.findOneBy({ id })` with `@InjectRepository(Account)
private accounts: Repository<Account>`, `dataSource.getRepository(Account)`), the EntityManager
(`manager.findOne(Account, {...})`) and query builders, on `orm:Account`.

- Reads: `findOne(By)`, `findOne(By)OrFail`, `find(By)`, `count(By)`, `exist(s)(By)`; with
  `lock: { mode: "pessimistic_write" }` inside a transaction, or a query builder's
  `setLock("pessimistic_write")`, they hold a row lock.
- `save(row)` of a row read and changed: RC301 (a change computed from the read, or after a
  decision on it); `save` of a new object and `insert` after an absence check: RC303 unless the
  field is declared unique (`@Column({ unique: true })`, `@Unique([...])`) or the duplicate-key
  error is caught (`QueryFailedError` code 23505).
- `update(criteria, partial)`, `increment` / `decrement(criteria, column, n)`: guarded when the
  criteria re-check the written column or a version and `affected` is read.
- `dataSource.transaction(async (manager) => ...)` runs its callback in one transaction; a query
  runner's `startTransaction()` / `commitTransaction()` open and close one.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ...core import model
from ...core.effects import ALL, CallContext, Effect
from ...python.stores._common import chain, dotted
from ._calls import local_value
from ._orm import Filter, bare_fields, insert, items, read, row_lock, row_save, update

__all__ = ["typeorm_effects"]

_READS = frozenset(
    {
        "find",
        "findBy",
        "findOne",
        "findOneBy",
        "findOneOrFail",
        "findOneByOrFail",
        "findAndCount",
        "findAndCountBy",
        "count",
        "countBy",
        "exist",
        "exists",
        "existsBy",
    }
)
_WRITES = frozenset({"save", "insert", "update", "increment", "decrement", "upsert", "delete", "remove"})
_QUERY_READS = frozenset(
    {"getOne", "getOneOrFail", "getMany", "getRawOne", "getRawMany", "getCount", "getExists"}
)
_ENTITY = re.compile(r"^(?:Repository|MongoRepository|TreeRepository)<\s*(\w+)\s*>$")
_REPOSITORY_NAME = re.compile(r"_?([A-Za-z]\w*?)(?:Repository|Repo)_?")
# `dataSource.getRepository(Wallet)`, `manager.withRepository(this.walletRepository_)`.
_REPOSITORY_GETTERS = frozenset({"getRepository", "withRepository", "getCustomRepository"})
_MANAGER = re.compile(r"(?i)manager|^em$")
_PESSIMISTIC = re.compile(r"pessimistic_(?:write|read)|for_?update")
_WHERE_COLUMN = re.compile(r"(?:\w+\.)?(\w+)\s*(?:>=|<=|<>|!=|=|>|<|\bIS\b)", re.IGNORECASE)


def _class_entity(class_name: str | None, attr: str, ctx: CallContext) -> str | None:
    """`this.accounts` typed `Repository<Account>` by the constructor."""
    info = ctx.module().classes.get(class_name) if class_name else None
    constructor = info.methods.get("constructor") if info is not None else None
    annotation = constructor.annotations.get(attr, "") if constructor is not None else ""
    match = _ENTITY.match(annotation)
    return match.group(1) if match else None


def _named_entity(name: str) -> str | None:
    """`walletRepository`, `this.walletRepo`, `productVariantRepository_` -> the entity they name
    (untyped JavaScript and compiled TypeScript keep no `Repository<Wallet>` annotation)."""
    match = _REPOSITORY_NAME.fullmatch(name)
    if match is None or not match.group(1):
        return None
    return match.group(1)[:1].upper() + match.group(1)[1:]


def _repository(receiver: model.Expr | None, ctx: CallContext) -> str | None:
    """The entity a repository receiver stands for."""
    bound = local_value(receiver, ctx)
    if isinstance(bound, model.Call) and bound.method in _REPOSITORY_GETTERS:
        first = bound.positional(0)
        if isinstance(first, model.Name):
            return first.id if first.id[:1].isupper() else _named_entity(first.id)
        return _named_entity(first.attr) if isinstance(first, model.Attribute) else None
    if (
        isinstance(receiver, model.Attribute)
        and isinstance(receiver.value, model.Name)
        and receiver.value.id == "self"
    ):
        return _class_entity(ctx.self_class(), receiver.attr, ctx) or _named_entity(receiver.attr)
    if isinstance(receiver, model.Name):
        match = _ENTITY.match(ctx.function().annotations.get(receiver.id, ""))
        return match.group(1) if match else _named_entity(receiver.id)
    return None


def _manager_call(call: model.Call) -> tuple[str, tuple[model.Arg, ...]] | None:
    """`manager.findOne(Account, opts)` -> ("Account", (opts,))."""
    name = dotted(call.receiver) or ""
    first = call.positional(0)
    if _MANAGER.search(name.rsplit(".", 1)[-1]) and isinstance(first, model.Name) and first.id[:1].isupper():
        return first.id, call.args[1:]
    return None


def _row_argument(ctx: CallContext, index: int) -> str | None:
    if index < len(ctx.arguments):
        for access in ctx.arguments[index]:
            if access.key.startswith("orm:"):
                return str(access.key)
    return None


def typeorm_effects(
    call: model.Call, ctx: CallContext, unique_of: Callable[[str], set[str]]
) -> list[Effect] | None:
    method = call.method or ""
    if method == "startTransaction":
        return [Effect("begin")]
    if method in ("commitTransaction", "rollbackTransaction"):
        return [Effect("commit")]
    if method in _QUERY_READS or method == "execute":
        return _query_builder(call, ctx, unique_of)
    if method not in _READS and method not in _WRITES:
        return None
    if method == "save" and (row := _row_argument(ctx, 0) or _row_argument(ctx, 1)) is not None:
        return row_save(row, ctx)  # `repo.save(row)`, `manager.save(row)` of a row read earlier
    args = call.args
    entity = _repository(call.receiver, ctx)
    offset = 0
    if entity is None and (managed := _manager_call(call)) is not None:
        entity, args, offset = managed[0], managed[1], 1
    if entity is None:
        return None
    key = f"orm:{entity}"
    first = args[0].value if args else None
    if method in _READS:
        options = items(first)
        by = method.endswith(("By", "ByOrFail"))
        fields = set(options) if by else Filter(options.get("where")).fields
        lock = items(options.get("lock")).get("mode")
        locked = isinstance(lock, model.Literal) and bool(_PESSIMISTIC.search(str(lock.value)))
        return read(key, fields, ctx, locked=locked and not by)
    return _write(method, key, call, args, offset, ctx, unique_of(entity))


def _criteria(expr: model.Expr | None) -> Filter:
    """`update(id, ...)` or `update({ id, version }, ...)`."""
    found = Filter(expr)
    if not found.fields and expr is not None:
        found.fields.add("id")
    return found


def _write(
    method: str,
    key: str,
    call: model.Call,
    args: tuple[model.Arg, ...],
    offset: int,
    ctx: CallContext,
    unique: set[str],
) -> list[Effect]:
    first = args[0].value if args else None
    if method == "save":
        row = _row_argument(ctx, offset)
        return row_save(row, ctx) if row is not None else insert(key, unique, ctx)
    if method == "insert":
        return insert(key, unique, ctx)
    if method == "update":
        data = args[1].value if len(args) > 1 else None
        return update(key, _criteria(first), data, bare_fields(data), ctx, checked=ctx.result_used(call))
    if method in ("increment", "decrement"):
        column = args[1].value if len(args) > 1 else None
        written = (
            {column.value} if isinstance(column, model.Literal) and isinstance(column.value, str) else set()
        )
        return update(key, _criteria(first), None, written, ctx, checked=ctx.result_used(call))
    return [Effect("write", key, "RC301", ALL)]  # upsert, delete, remove: atomic


def _query_builder(
    call: model.Call, ctx: CallContext, unique_of: Callable[[str], set[str]]
) -> list[Effect] | None:
    """`repo.createQueryBuilder("a").setLock("pessimistic_write").where(...).getOne()`, and
    `createQueryBuilder().update(Account).set({...}).where("... AND balance >= :n").execute()`."""
    base, calls = chain(call)
    methods = {name: inner for name, inner in calls}
    start = methods.get("createQueryBuilder")
    if start is None:
        return None
    entity = _builder_entity(base, calls, ctx)
    if entity is None:
        return None
    key = f"orm:{entity}"
    where_text = " ".join(ctx.string(c.positional(0)) or "" for name, c in calls if "here" in name)
    columns = set(_WHERE_COLUMN.findall(where_text))
    if call.method != "execute":
        lock = methods.get("setLock")
        mode = ctx.string(lock.positional(0)) if lock is not None else None
        return read(key, columns, ctx, locked=bool(mode and _PESSIMISTIC.search(mode)))
    if "insert" in methods:
        ignores = "orIgnore" in methods or "orUpdate" in methods
        return insert(key, unique_of(entity), ctx, ignores_duplicates=ignores)
    setter = methods.get("set")
    data = setter.positional(0) if setter is not None else None
    where = Filter(None)
    where.fields = columns
    ctx.receiver.clear()
    locked = [row_lock(key)] if "setLock" in methods and ctx.state.in_transaction else []
    return [*locked, *update(key, where, data, bare_fields(data), ctx, checked=ctx.result_used(call))]


def _builder_entity(base: model.Expr, calls: list[tuple[str, model.Call]], ctx: CallContext) -> str | None:
    for name, inner in calls:
        first = inner.positional(0)
        named = name in ("getRepository", "createQueryBuilder", "update", "from", "into")
        if named and isinstance(first, model.Name) and first.id[:1].isupper():
            return first.id
    return _repository(base, ctx)
