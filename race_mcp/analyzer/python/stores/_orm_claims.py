"""Rows this run claimed: a work item taken under a row lock before the work is done.

A worker or request that locks a row (`select_for_update()` inside `atomic()`), tests its state
against constants and moves it to another state in the same transaction (`if job.status !=
QUEUED: return; job.status = RUNNING; job.save()`) has claimed it: every other run of the same
code waits on the lock, then finds the new state and leaves. After the commit the row is this
run's until it hands it back, so what it tests and saves on the row later (the outcome, a retry
count, a failure) races no other run of that code (pretix's outgoing mail, exports, webhooks;
issue 11's review of an unseen app). The local is then bound to the row as this run's own
(`orm:<Model>#own`, as rows inserted in an open transaction are): its tests decide inserts only.

A counter moved under the lock (`if q.used < q.limit: q.used += 1`) is no claim: the row stays
shared, and a later stale test of it still races.
"""

from __future__ import annotations

from ...core import model
from ...core.effects import TRANSACTION_LOCK, CallContext, Effect
from ...core.state import Access
from ...core.walk import expressions, statements
from ._orm_changes import STATE_COMPARISONS, compared_with_constant, state_constant
from ._orm_own_rows import OWN_ROW

__all__ = ["claimed_row"]


def claimed_row(key: str, alias: str | None, change: Access | None, ctx: CallContext) -> list[Effect]:
    """The effect that binds `alias` to the row as this run's own, when this save claims it."""
    check = ctx.state.checks.get(key)
    if alias is None or change is None or check is None or not check.decision:
        return []
    if not ctx.region_held(f"{TRANSACTION_LOCK}:{key}") or not check.locks & ctx.state.locks:
        return []  # tested, or saved, without the row lock held all along
    moved = change.written & check.detail & _state_moves(ctx.function(), alias)
    if not moved:
        return []
    return [Effect("read", f"{key.partition('#')[0]}{OWN_ROW}", bind_receiver=True, inserts_only=True)]


def _state_moves(function: model.Function, alias: str) -> set[str]:
    """The attributes of `alias` the function both tests (compared with a state constant, or a flag
    by its truth) and sets to a constant (`job.status != QUEUED` ... `job.status = RUNNING`;
    `if job.busy: continue` ... `job.busy = True`)."""
    compared: set[str] = set()
    assigned: set[str] = set()
    for statement in statements(function.body):
        if isinstance(statement, model.Assign) and statement.op is None and state_constant(statement.value):
            assigned |= {attr for target in statement.targets if (attr := _attribute_of(target, alias))}
        if isinstance(statement, model.If):
            compared |= _flags_tested(statement.test, alias)
        for node in expressions(statement):
            if isinstance(node, model.Operation) and node.op in STATE_COMPARISONS:
                compared |= {attr for _, attr in compared_with_constant(node, {alias})}
    return compared & assigned


def _flags_tested(test: model.Expr, alias: str) -> set[str]:
    """`if job.busy:`, `if not job.busy:` (and either in an `and`/`or`) -> {"busy"}."""
    if isinstance(test, model.Operation) and test.op in ("not", "and", "or"):
        return set().union(*(_flags_tested(operand, alias) for operand in test.operands))
    attr = _attribute_of(test, alias)
    return {attr} if attr else set()


def _attribute_of(expr: model.Expr, alias: str) -> str | None:
    """`job.status` -> "status" when `job` is `alias`."""
    if isinstance(expr, model.Attribute) and isinstance(expr.value, model.Name) and expr.value.id == alias:
        return expr.attr
    return None
