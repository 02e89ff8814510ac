"""Update-else-create on Django's ORM (issue 11, django-oscar's analytics counters).

`affected = qs.update(n=F("n") + 1); if not affected: X.objects.create(...)`: the count an UPDATE
returns says whether the row exists, so testing it is the existence check of the create that
follows (two first hits both see 0 and both insert: duplicates without a unique key, an unhandled
duplicate-key error with one). When the UPDATE adds to a column, the create carries that
increment: a handler that catches the loser's duplicate-key error and only logs or passes drops
it for good, although the row now exists. Repeating the UPDATE in the handler, or raising, keeps it.
"""

from __future__ import annotations

from ...core import model
from ...core.effects import CallContext, Effect
from ...core.state import EXISTENCE
from ._common import keywords, walk
from ._sqlalchemy import INTEGRITY_ERRORS

__all__ = ["increment_lost", "update_count"]

# The existence check was the count of an UPDATE adding to a column (`update_count`).
INCREMENT = frozenset({"<increment>"})
# What a duplicate-key handler may do to land the increment anyway: write the row again, or fail.
_RETRIES = frozenset({"update", "save", "get_or_create", "update_or_create", "select_for_update", "execute"})


def update_count(
    key: str, detail: frozenset[str], call: model.Call, guard: frozenset[str], ctx: CallContext
) -> list[Effect]:
    """The read an UPDATE's kept count stands for. A compare-and-set's count (`guard`) is the
    claim itself, not an existence check; a count nobody keeps decides nothing. The count says
    nothing about the row's values, so it decides inserts only (`Access.inserts_only`)."""
    if guard or not ctx.result_used(call):
        return []
    adds = any(_is_f(node) for value in _set_values(call) for node in walk((value,)))
    increment = INCREMENT if adds else frozenset()
    return [Effect("read", key, detail=detail | EXISTENCE | increment, inserts_only=True)]


def increment_lost(key: str, ctx: CallContext) -> list[Effect]:
    """A create after an adding UPDATE found no row, inside a `try` whose duplicate-key handler
    neither writes again nor raises: the losing request's increment is dropped (RC303)."""
    check = ctx.state.checks.get(key)
    if check is None or not (check.detail >= INCREMENT) or not ctx.catching(INTEGRITY_ERRORS):
        return []
    handler = ctx.handlers(INTEGRITY_ERRORS)[0]
    for node in walk(handler.body):
        if isinstance(node, model.Raise) or (isinstance(node, model.Call) and node.method in _RETRIES):
            return []
    message = (
        f"Rows of `{key.partition(':')[2]}` are updated by adding to a column and created when no "
        "row matched; two first hits both create, and the loser's duplicate-key error is caught "
        "and dropped: its increment is lost."
    )
    return [Effect("direct", key, "RC303", message=message)]


def _set_values(call: model.Call) -> list[model.Expr]:
    """The values an `.update(...)` sets, `**{name: F(name) + 1}` spelled as a dict literal too."""
    values = list(keywords(call).values())
    for arg in call.args:
        if arg.star == "**" and isinstance(arg.value, model.Collection) and arg.value.kind == "dict":
            values.extend(arg.value.elements[1::2])
    return values


def _is_f(node: model.Node) -> bool:
    """Django's `F("n")` (or `models.F(...)`): the column's current value, read by the database."""
    if not isinstance(node, model.Call):
        return False
    func = node.func
    return (func.id if isinstance(func, model.Name) else getattr(func, "attr", "")) == "F"
