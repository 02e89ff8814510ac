"""Check-then-write sequences every racer ends the same way (issue 11 review: idempotent writes).

Two requests that both pass a stale check and both write race only if the outcome differs from
running them one after the other. When every value written is the clock (`last_used = now()`,
refreshed at most once a minute), every writer of that column stores "now" as well, so the row
ends as a serial run would leave it; what a serial second request would not have done is the
rest of the branch the check guarded. Such a sequence is a race only when something else is
done on the strength of the check: another write, a direct finding, or a call that may act
(`if not user.trial_started: user.trial_started = now(); grant_credits(user)` keeps its finding).
A literal or a state constant is not such a value: the check also guards against other writers
of the column (`if board.phase == "draft": board.phase = "published"` may publish a board a
concurrent request just archived; clearing `device.oob_ip = None` may erase an address another
request just set), so those transitions stay reported.

A refresh is settled the same way: `if rel.order != order: rel.order = order` stores the value its
test compared, so it ends as the unconditional overwrite `rel.order = order` would (either
request's value may win, as in a serial run); only the rest of its branch could be done twice.

The interpreter reports the pieces: `Branch` (which steps an `if` test made and which the branch
it guards ran), `acted` (the step orders of possible actions), and each sequence whose write
stored such values. `settled` decides at the end of the root.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from . import model
from .walk import same_reference, statements

__all__ = [
    "Branch",
    "bound_once",
    "pure_call",
    "refreshes",
    "same_for_every_racer",
    "settled",
    "single_assignments",
]

# Calls that only read the clock: two requests a moment apart store the same instant for this
# purpose (`last_used = now()`).
_CLOCK = frozenset({"now", "utcnow", "today", "time", "monotonic"})
# Calls that act on nothing outside the request: builtins, logging, the clock, translations.
_PURE = _CLOCK | frozenset(
    {
        "len", "str", "int", "float", "bool", "repr", "isinstance", "getattr", "hasattr", "list",
        "dict", "set", "tuple", "min", "max", "sum", "abs", "round", "sorted", "format", "timedelta",
        "total_seconds", "debug", "info", "warning", "warn", "error", "exception", "critical",
        "getLogger", "gettext", "gettext_lazy", "_",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Branch:
    """An `if`: its test ran at step orders [tested_from, tested_to]; the branches it guards ran up
    to `ran_to`; `exits` when a branch left the block (`if used: return`), so what follows the
    statement is guarded by the test as well."""

    tested_from: int
    tested_to: int
    ran_to: int
    exits: bool


def same_for_every_racer(value: model.Expr | None, bound: Callable[[str], model.Expr | None]) -> bool:
    """A value every writer of the column stores alike: the clock (`timezone.now()`), or a local
    bound once to it (`now = timezone.now()`)."""
    if isinstance(value, model.Name):
        value = bound(value.id)
    if isinstance(value, model.Call):
        name = value.method or (value.func.id if isinstance(value.func, model.Name) else "")
        return name in _CLOCK and not value.args
    return False


def refreshes(target: model.Expr, value: model.Expr, tests: Iterable[model.Expr]) -> bool:
    """`if rel.order != order: rel.order = order`: an enclosing test compares the attribute set
    with the very value stored (the write only skips storing what is already there)."""
    for test in tests:
        stack = [test]
        while stack:
            node = stack.pop()
            if not isinstance(node, model.Operation):
                continue
            if node.op in ("and", "or", "not"):
                stack.extend(node.operands)
            elif node.op == "!=" and len(node.operands) == 2:
                left, right = node.operands
                pairs = ((left, right), (right, left))
                if any(same_reference(a, target) and same_reference(b, value) for a, b in pairs):
                    return True
    return False


def bound_once(name: str, body: model.Block) -> model.Expr | None:
    """The value of the only assignment to local `name` in a function body (None if rebound)."""
    return single_assignments(body).get(name)


def single_assignments(body: model.Block) -> dict[str, model.Expr | None]:
    """Every local a function body assigns: the value of its only assignment, None if rebound."""
    found: dict[str, model.Expr | None] = {}
    for node in statements(body):
        if isinstance(node, model.Assign):
            for target in node.targets:
                if isinstance(target, model.Name):
                    found[target.id] = None if target.id in found else node.value
    return found


def pure_call(call: model.Call) -> bool:
    """A call that does nothing another request could notice (see `_PURE`), or builds an object
    (`Config()`, `PermissionDenied(...)`): what acts is a method called on it later."""
    func = call.func
    name = func.attr if isinstance(func, model.Attribute) else func.id if isinstance(func, model.Name) else ""
    return name in _PURE or name[:1].isupper()


def settled(decided_at: int, branches: Iterable[Branch], acted: Iterable[int], end: int) -> bool:
    """Nothing but the same-value writes happened on the strength of the check decided at step
    order `decided_at`: no action in the branches its `if` guarded (after the statement too, when
    a branch exits). A check made by no `if` (a loop's test, a helper's verdict) is never settled."""
    found = [b for b in branches if b.tested_from <= decided_at <= b.tested_to]
    if not found:
        return False
    branch = min(found, key=lambda b: b.tested_to - b.tested_from)  # the innermost test
    until = end if branch.exits else branch.ran_to
    return not any(branch.tested_to < order <= until for order in acted)
