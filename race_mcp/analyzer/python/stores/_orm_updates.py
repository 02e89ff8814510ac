"""What a Django `.update(...)` sets: its columns (a spread dict's too) and the reads its values carry.

`fields = {"status": FAILED, "finished": now}` then `fields["duration"] = now - started` and
`Task.objects.filter(task_id=t).update(**fields)`: the statement sets exactly those columns, as
`update(status=FAILED, finished=now, duration=...)` would. Knowing them lets a check of other
columns (`if started and queued:`, the timestamps the duration is computed from) stay unrelated to
the write, as for the keyword form (`core/writes._unrelated`); not knowing them, every check of
the row counted (paperless's task failure handler, issue 11 review).

A value computed from other columns of a row loaded earlier (`update(alert_after=
check.going_down_after())`, a delivery error from the channel's address) overwrites the column as
a value from the request would, just as the same assignment to the row's attribute does
(`core/interpret._computed_from`): only a value that looked at the column it sets (`update(n=row.n
+ 1)`), or at what cannot be told (a method of the row, a row no local holds), loses a concurrent
update (healthchecks's sendalerts and deletion notices, issue 11 review).
"""

from __future__ import annotations

from ...core import model
from ...core.effects import CallContext
from ...core.idempotent import bound_once
from ...core.state import ANY_COLUMN, OWN_METHOD, Access
from ...core.walk import expressions, statements
from ._common import dict_items, literal_string

__all__ = ["spread_columns", "update_values"]

# Methods that read a dict without changing its keys.
_READERS = frozenset({"get", "items", "keys", "values", "copy"})


def spread_columns(call: model.Call, body: model.Block) -> frozenset[str] | None:
    """The keys of every `**name` argument of `call`, when each is a local of `body` bound once to a
    dict literal with string keys and given more only by `name["key"] = value`; None when a key
    is not written out (a key from a variable, `name.update(...)`, a spread inside the literal)."""
    columns: set[str] = set()
    for arg in call.args:
        if arg.star != "**":
            continue
        if not isinstance(arg.value, model.Name):
            return None
        keys = _dict_keys(arg.value.id, body)
        if keys is None:
            return None
        columns |= keys
    return frozenset(columns)


def _dict_keys(name: str, body: model.Block) -> set[str] | None:
    literal = bound_once(name, body)
    if not isinstance(literal, model.Collection) or literal.kind != "dict":
        return None
    pairs = dict_items(literal)
    if 2 * len(pairs) != len(literal.elements):
        return None  # `{**defaults, "k": v}`: keys not written out
    keys: set[str | None] = {literal_string(key) for key, _ in pairs}
    for statement in statements(body):
        if isinstance(statement, model.Assign | model.Delete):
            for target in statement.targets:
                if _item_of(target, name):
                    keys.add(target.key if isinstance(target, model.Subscript) else None)
        for expr in expressions(statement):
            if isinstance(expr, model.Call) and _is_name(expr.receiver, name) and expr.method not in _READERS:
                return None  # `fields.update(extra)`, `fields.pop(k)`, `fields.setdefault(...)`
    if None in keys:
        return None
    return {key for key in keys if key is not None}


def _item_of(target: model.Expr, name: str) -> bool:
    return isinstance(target, model.Subscript) and _is_name(target.value, name)


def _is_name(expr: model.Expr | None, name: str) -> bool:
    return isinstance(expr, model.Name) and expr.id == name


def update_values(call: model.Call, key: str, ctx: CallContext) -> list[Access]:
    """The reads of `call`'s values that make the UPDATE a lost update of `key`'s rows: all of them
    but those of a keyword's value computed from other columns of a row a local holds. Those are
    also taken out of `ctx.args`, which holds the values the interpreter evaluated."""
    overwrites: list[Access] = []
    for arg, values in zip(call.args, ctx.arguments, strict=False):
        if arg.keyword is not None:
            overwrites += [a for a in values if not _derived(a, arg.keyword, key, ctx)]
    ctx.args[:] = [a for a in ctx.args if not any(a is b for b in overwrites)]
    return [
        access
        for arg in call.args
        for access in ctx.evaluate(arg.value)
        if arg.keyword is None or _derived(access, arg.keyword, key, ctx)
    ]


def _derived(value: Access, column: str, key: str, ctx: CallContext) -> bool:
    return value.key != key or _looked_at_column(value, column, ctx)


def _looked_at_column(value: Access, column: str, ctx: CallContext) -> bool:
    """What `value` read beyond the load of its row names `column`, or cannot be told."""
    first = value.steps[0].order if value.steps else None
    row = next(
        (
            a
            for a in ctx.state.aliases.values()
            if a.key == value.key and a.steps and a.steps[0].order == first
        ),
        None,
    )
    if row is None:
        return True
    looked = value.detail - row.detail
    return not looked or bool(looked & {column, OWN_METHOD, ANY_COLUMN})
