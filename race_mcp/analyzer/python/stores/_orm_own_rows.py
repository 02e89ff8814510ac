"""Rows this run inserted in the transaction still open: no one else can read or change them yet.

A row inserted inside `transaction.atomic()` is invisible to every other transaction until the
commit, and the database holds its lock until then. A request or worker that creates a row
(`Model.objects.create(...)`, or `Model(...)` built and saved) and, before that transaction
commits, loads it again by its primary key (`Document.objects.get(pk=doc.pk)`), changes it and
saves it, read-modify-writes a row nobody else can see: no lost update, no stale decision
(paperless's consumer stores a document, reloads it by its key and saves its file names, all in
one `atomic()` block; issue 11 review).

The created row and such a reload are bound to a key of their own (`orm:<Model>#own`, inserts
only, as rows built in memory are bound to `#new`): what is read from them decides inserts only,
and their saves race nothing. Each carries the unit of work it was inserted in (`State.unit`,
which a commit advances): after the commit the row is visible to whoever lists the model, and a
lookup by its key is again a read of the model's rows. A row inserted outside a transaction is
committed at once (its key comes from a sequence anyone can guess): its lookups stay plain reads.
"""

from __future__ import annotations

from ...core import model
from ...core.effects import CallContext, Effect
from ...core.state import Access
from ._common import keywords

__all__ = ["OWN_ROW", "inserted_row", "own_row_lookup", "transaction_unit"]

OWN_ROW = "#own"
# The detail marker of a row inserted (or built) inside a transaction: the unit of work it is in.
_UNIT = "<inserted in unit>:"
_PRIMARY_KEYS = frozenset({"pk", "id"})


def transaction_unit(ctx: CallContext) -> frozenset[str]:
    """The marker of the transaction open now (none outside a transaction)."""
    return frozenset({f"{_UNIT}{ctx.state.unit}"}) if ctx.state.in_transaction else frozenset()


def inserted_row(name: str, ctx: CallContext) -> list[Effect]:
    """`doc = Document.objects.create(...)` inside a transaction: the value is the new row."""
    marker = transaction_unit(ctx)
    return [Effect("read", f"orm:{name}{OWN_ROW}", detail=marker, inserts_only=True)] if marker else []


def own_row_lookup(name: str, calls: list[tuple[str, model.Call]], ctx: CallContext, new_row: str) -> bool:
    """The query is pinned by its primary key (`get(pk=doc.pk)`, `filter(id=doc.id)`) to a row of
    the model this run inserted, or built (`new_row`: its key suffix) and saved, in the transaction
    still open."""
    marker = transaction_unit(ctx)
    if not marker:
        return False
    own = {f"orm:{name}{OWN_ROW}", f"orm:{name}{new_row}"}
    for _, call in calls:
        for field, value in keywords(call).items():
            if field not in _PRIMARY_KEYS:
                continue
            access = _row_of(value, ctx)
            if access is not None and access.key in own and marker <= access.detail:
                return True
    return False


def _row_of(value: model.Expr, ctx: CallContext) -> Access | None:
    """The row a local names, `doc` in `doc.pk` or `doc`."""
    if isinstance(value, model.Attribute) and value.attr in _PRIMARY_KEYS:
        value = value.value
    if not isinstance(value, model.Name):
        return None
    found: Access | None = ctx.state.aliases.get(value.id)
    return found
