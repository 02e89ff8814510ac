"""What the JavaScript ORM recognizers (Prisma, Sequelize, TypeORM) share: object-literal filters
read as fields, and the effects each kind of ORM call has on `orm:<Model>` keys.

The rules are the ORM family's: a row read and then written from what was read (or decided on) is
RC301 unless the write re-checks what the decision looked at (a filter on the column it sets, or a
version) and its result is looked at, or the read holds a row lock inside a transaction; an insert
after an absence check is RC303 unless the looked-up fields are unique or the duplicate-key error is
caught. A write computed by the database (`{ decrement: n }`, `increment()`) loses no update, but
after a decision on the old value it still overruns the limit the decision enforced.
"""

from __future__ import annotations

import re

from ...core import model
from ...core.effects import ALL, TRANSACTION_LOCK, CallContext, Effect
from ..callbacks import serializable_callback
from ._row_checks import copies_checked_rows, same_value_check

__all__ = [
    "COMPARISONS",
    "INTEGRITY_ERRORS",
    "VERSION_FIELDS",
    "Filter",
    "bare_fields",
    "declared_unique",
    "insert",
    "items",
    "key_text",
    "model_unique",
    "read",
    "row_lock",
    "row_save",
    "serializable",
    "unique_fields",
    "update",
]

INTEGRITY_ERRORS = ("IntegrityError", "UniqueViolation")
# Operators that compare (Prisma's `gte`, Sequelize's `[Op.gte]`, TypeORM's `MoreThanOrEqual()`).
COMPARISONS = frozenset(
    {
        "gte",
        "gt",
        "lte",
        "lt",
        "not",
        "ne",
        "equals",
        "in",
        "notIn",
        "is",
        "MoreThan",
        "MoreThanOrEqual",
        "LessThan",
        "LessThanOrEqual",
        "Not",
        "IsNull",
        "In",
        "Equal",
    }
)
VERSION_FIELDS = frozenset({"version", "lock_version", "lockVersion", "updatedAt", "updated_at", "revision"})
# Unique fields declared in the module: `email: { ..., unique: true }` (Sequelize attributes),
# `@Column({ unique: true }) email` and `@Index({ unique: true }) email` (TypeORM), `@Unique(["a"])`.
_ATTRIBUTE_UNIQUE = re.compile(r"([A-Za-z_$][\w$]*)\s*:\s*\{[^{}]*?\bunique\s*:\s*(?:true|['\"])")
_DECORATOR_UNIQUE = re.compile(
    r"@(?:Column|Index)\(\s*\{[^{}]*\bunique\s*:\s*true[^{}]*\}\s*\)\s*(?:(?:public|private|readonly)\s+)*"
    r"([A-Za-z_$][\w$]*)"
)
_PRIMARY = re.compile(
    r"@Primary(?:Generated)?Column\([^)]*\)\s*(?:(?:public|private|readonly)\s+)*([A-Za-z_$][\w$]*)"
)
# sequelize-typescript: `@Unique @Column email: string`, `@Unique @AllowNull(false) @Column(...) email`.
_UNIQUE_DECORATOR = re.compile(
    r"@Unique(?:\(\s*\))?\s+(?:@\w+(?:\([^()]*\))?\s+)*(?:(?:public|private|readonly|declare)\s+)*"
    r"([A-Za-z_$][\w$]*)"
)
_CLASS_UNIQUE = re.compile(r"@Unique\(\s*(?:['\"][^'\"]*['\"]\s*,\s*)?\[([^\]]*)\]")


def key_text(key: model.Expr) -> str | None:
    """An object key: `balance`, `"balance"`, `[Op.gte]` -> `gte`."""
    if isinstance(key, model.Literal) and isinstance(key.value, str):
        return key.value
    if isinstance(key, model.Attribute):
        return key.attr
    if isinstance(key, model.Name):
        return key.id
    return None


def items(expr: model.Expr | None) -> dict[str, model.Expr]:
    """An object literal as {key: value} (spread entries and computed keys it cannot name left out)."""
    if not isinstance(expr, model.Collection) or expr.kind != "dict":
        return {}
    found: dict[str, model.Expr] = {}
    for key, value in zip(expr.elements[::2], expr.elements[1::2], strict=False):
        name = key_text(key)
        if name is not None:
            found[name] = value
    return found


def _operators(value: model.Expr) -> set[str]:
    if isinstance(value, model.Call):  # TypeORM's `MoreThanOrEqual(n)`
        return {(value.name or "").rsplit(".", 1)[-1]}
    return set(items(value))


# Keys of a filter whose value is more filters (Prisma `OR: [{ email }, { teamId }]`, Sequelize
# `[Op.or]: [...]`): their branches' fields are looked up too. `NOT` looks for the rows that differ.
_BRANCHES = frozenset({"AND", "OR", "and", "or"})


class Filter:
    """A `where` object: the fields it names, and those it compares (`balance: { gte: n }`). The
    fields of `OR`/`AND` branches count: `findFirst({ where: { OR: [{ email }, { teamId }] } })`
    looks up both, and an insert after it is refused by a unique key on either."""

    def __init__(self, where: model.Expr | None, depth: int = 0) -> None:
        self.fields: set[str] = set()
        self.compared: set[str] = set()
        for name, value in items(where).items():
            if name in _BRANCHES:
                for branch in _branches(value) if depth < 4 else ():
                    inner = Filter(branch, depth + 1)
                    self.fields |= inner.fields
                    self.compared |= inner.compared
                continue
            self.fields.add(name)
            if _operators(value) & COMPARISONS:
                self.compared.add(name)

    def guards(self, written: set[str]) -> bool:
        """The filter re-checks what the write changes (or a version): a compare-and-set."""
        return bool(self.fields & (written | VERSION_FIELDS))


def _branches(value: model.Expr) -> list[model.Expr]:
    """`[{ a }, { b }]` or `{ a, b }`: the filter objects of a branch key."""
    if isinstance(value, model.Collection) and value.kind in ("list", "tuple"):
        return list(value.elements)
    return [value]


def bare_fields(expr: model.Expr | None) -> set[str]:
    """Field names of a `data`/`values` object."""
    return set(items(expr))


def unique_fields(source: str) -> set[str]:
    """Fields declared unique (or primary) anywhere in the module's text."""
    found = set(_ATTRIBUTE_UNIQUE.findall(source)) | set(_DECORATOR_UNIQUE.findall(source))
    found |= set(_PRIMARY.findall(source)) | set(_UNIQUE_DECORATOR.findall(source)) | {"id"}
    for names in _CLASS_UNIQUE.findall(source):
        found.update(part.strip().strip("'\"") for part in names.split(",") if part.strip())
    return found


def _attributes_unique(attributes: model.Expr | None) -> set[str]:
    """`{ email: { type: DataTypes.STRING, unique: true } }` -> {"email"}."""
    found = set()
    for name, value in items(attributes).items():
        unique = items(value).get("unique")
        if unique is not None and not (isinstance(unique, model.Literal) and unique.value in (False, None)):
            found.add(name)
    return found


def model_unique(module: model.ModuleModel) -> dict[str, set[str]]:
    """Unique fields per model declared in the module: Sequelize `sequelize.define("Member", {...})`
    and `Member.init({...})`, and classes (TypeORM entities, sequelize-typescript models) whose
    text declares unique columns."""
    per_model: dict[str, set[str]] = {}
    for call in module.calls:
        if call.method == "define" and isinstance(label := call.positional(0), model.Literal):
            per_model[str(label.value)] = _attributes_unique(call.positional(1)) | {"id"}
        elif call.method == "init" and isinstance(call.receiver, model.Name):
            per_model[call.receiver.id] = _attributes_unique(call.positional(0)) | {"id"}
    lines = module.source.splitlines()
    for class_name, info in module.classes.items():
        if info.decorators or info.bases:
            text = "\n".join(lines[info.span.line - 1 : info.span.end_line])
            per_model.setdefault(class_name, unique_fields(text))
    return per_model


def serializable(effects: list[Effect] | None, ctx: CallContext) -> list[Effect] | None:
    """Inside a SERIALIZABLE transaction's callback the store aborts one of two transactions that
    read and write the same rows: the first store call takes the transaction's lock (released at
    the commit), so what the callback reads is protected until then."""
    if not effects or ctx.region_held(TRANSACTION_LOCK) or not serializable_callback(ctx.function()):
        return effects
    return [Effect("lock"), *effects]


def row_lock(key: str) -> Effect:
    """`FOR UPDATE` on rows of `key`, until the transaction commits."""
    return Effect("lock", region=f"{TRANSACTION_LOCK}:{key}")


def read(key: str, fields: set[str], ctx: CallContext, *, locked: bool = False) -> list[Effect]:
    """A query of `key`'s rows filtered on `fields`; `locked`: it asked for a row lock, which holds
    only inside a transaction."""
    lock = [row_lock(key)] if locked and ctx.state.in_transaction else []
    return [*lock, Effect("read", key, detail=frozenset(fields))]


def update(
    key: str,
    where: Filter,
    data: model.Expr | None,
    written: set[str],
    ctx: CallContext,
    *,
    checked: bool,
) -> list[Effect]:
    """An UPDATE by filter: what flows into the write is the data's reads only (the filter's say
    which row); a filter that re-checks the written columns guards it when its outcome is seen."""
    check = ctx.state.checks.get(key)
    if check is not None and data is not None and same_value_check(check, data, ctx):
        # `if (row.name === name) return;` then `name` written: the check only says whether the
        # write changes anything, and a stale answer sets the same value (`_row_checks.py`).
        del ctx.state.checks[key]
    ctx.args.clear()
    if data is not None:
        ctx.args.extend(ctx.evaluate(data))
    guard = ALL if checked and where.guards(written) else frozenset()
    compares = frozenset(where.fields & written)
    return [Effect("write", key, "RC301", guard, columns=frozenset(written), compares=compares)]


def declared_unique(kind: str, name: str, ctx: CallContext) -> set[str]:
    """The columns of the unique keys other files of the project declare for the model (`kind`:
    `sequelize`, `typeorm`; `project/_js_models.py`) that the decision's lookup covers whole: a
    lookup on (readerId, articleId) under a unique key on the two finds the one row a second
    insert would duplicate; one on articleId alone does not."""
    declared = getattr(ctx.facts(), f"{kind}_unique", None)
    check = ctx.state.checks.get(f"orm:{name}")
    if declared is None or check is None:
        return set()
    return {column for key in declared(name) if key <= check.detail for column in key}


def insert(
    key: str,
    unique: set[str],
    ctx: CallContext,
    *,
    ignores_duplicates: bool = False,
    data: model.Expr | None = None,
) -> list[Effect]:
    """A create: racy after an absence check on fields no unique constraint covers (the check's
    own detail says which fields it looked at; the interpreter compares them with `unique`).

    An insert whose values (`data`) are taken from the rows the check read (a template copied into
    a new document, the template's attachments onto it) was decided on rows that exist: it fills no
    absence, so it duplicates nothing the lookup looked for (issue 12 review: documenso's copies;
    Python's inserts after a check of a row handed in are the same rule)."""
    guard = ALL if ignores_duplicates or ctx.catching(INTEGRITY_ERRORS) else frozenset(unique)
    check = ctx.state.checks.get(key)
    if guard != ALL and check is not None and copies_checked_rows(check, key, ctx, data):
        guard = guard | check.detail | {"<copied row>"}
    return [Effect("write", key, "RC303", guard, needs_check=True)]


def row_save(key: str, ctx: CallContext) -> list[Effect]:
    """`row.save()` of a row read earlier: racy when the saved change was computed from the read or
    decided on it (the change pending on `ctx.state.dirty`)."""
    state = ctx.state
    change = state.dirty.pop(key, None)
    derived = change is not None and change.steps[-1].role == "change"
    if derived:
        ctx.args.append(change)
    written = change.written if change is not None and not derived else frozenset()
    return [Effect("write", key, "RC301", needs_check=not derived, overwrites=written)]
