"""RC602 over the program model, for every language: an event handed to its handler without the
claim the same module takes before it elsewhere.

`if event.mark_as_taken(): on_event(event)` in one place (Python), `if (await job.claim())
await handle(job)` (JavaScript) or `if job.claim().await { handle(&job) }` (Rust) shows that the
handler must run once per item; a loop elsewhere in the module that calls it for every item of a
batch without the claim runs it twice when two workers (or the live listener and a retry loop) pick
up the same item. Read off the module's shape, not a path through it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from . import model
from .state import Direct, Step
from .walk import expressions, statements

__all__ = ["CLAIMS", "mentions_claims", "unclaimed_handlers"]

# Methods that claim an item for one worker and answer whether this one got it (snake_case and
# camelCase spellings).
CLAIMS = re.compile(
    r"mark_?(?:as_?)?taken|mark_?(?:as_?)?processing|(?:try_?)?claim\w*|(?:try_?)?acquire\w*|(?:try_?)?take|"
    r"(?:try_?)?reserve|(?:try_?)?lock|start_?processing|begin_?processing",
    re.IGNORECASE,
)


# Every spelling CLAIMS accepts contains one of these (lower-case) stems.
_CLAIM_STEMS = ("take", "processing", "claim", "acquire", "reserve", "lock")


def mentions_claims(source: str) -> bool:
    """Cheap pre-filter: without a claim-like stem, RC602 cannot fire. Substring tests, not
    `CLAIMS.search`: the case-insensitive alternation scanned at every position cost 5% of a
    Django analysis; `_claim_of` still matches each method name exactly."""
    lowered = source.lower()
    return any(stem in lowered for stem in _CLAIM_STEMS)


def unclaimed_handlers(module: model.ModuleModel) -> list[Direct]:
    """RC602 directs: a loop that hands each item to a handler the module elsewhere calls only
    behind a claim on the item."""
    if not mentions_claims(module.source):
        return []
    functions = list(module.functions.values())
    claimed: dict[str, str] = {}  # handler name -> the claim method that guards it
    guarded: set[int] = set()
    for function in functions:
        for statement in statements(function.body):
            if isinstance(statement, model.If) and (item := _claim_of(statement.test)) is not None:
                method = getattr(_unawaited(statement.test), "method", "") or ""
                for call, name in _handler_calls(statement.body, item):
                    claimed.setdefault(name, method)
                    guarded.add(id(call))
    if not claimed:
        return []
    directs = []
    for function in functions:
        for statement in statements(function.body):
            if not (isinstance(statement, model.Loop) and isinstance(statement.target, model.Name)):
                continue
            if _claims_in(statement.body, statement.target.id):
                continue  # `if not job.claim(): continue` before the handler
            for call, name in _handler_calls(statement.body, statement.target.id):
                if name in claimed and id(call) not in guarded:
                    detail = (
                        f"`{name}` runs for every item of the batch looped over at line "
                        f"{statement.span.line} without first calling `{claimed[name]}()` on it, which "
                        f"this module does before calling `{name}` elsewhere: two workers that pick up "
                        "the same item both handle it."
                    )
                    directs.append(Direct("RC602", "event", (Step(call, "handler", 0),), detail))
    return directs


def _claim_of(test: model.Expr) -> str | None:
    """`event.mark_as_taken()` (or awaited) as an `if` test: the claimed local's name."""
    test = _unawaited(test)
    if (
        isinstance(test, model.Call)
        and test.method is not None
        and CLAIMS.fullmatch(test.method)
        and isinstance(test.receiver, model.Name)
    ):
        return test.receiver.id
    return None


def _item(expr: model.Expr) -> str | None:
    """The local an argument hands over: `job`, or Rust's `&job` (a reference the lowering keeps as
    an opaque node carrying its operand)."""
    if isinstance(expr, model.Name):
        return expr.id
    inner = expr.children[0] if isinstance(expr, model.Opaque) and len(expr.children) == 1 else None
    return inner.id if isinstance(inner, model.Name) else None


def _handler_calls(block: Iterable[model.Statement], item: str) -> list[tuple[model.Call, str]]:
    """Calls in `block` that hand the local `item` to a function: (call, the callee's name)."""
    found = []
    for statement in statements(tuple(block)):
        for node in expressions(statement):
            if not isinstance(node, model.Call) or node.receiver is not None:
                continue
            if isinstance(node.func, model.Name) and any(_item(arg.value) == item for arg in node.args):
                found.append((node, node.func.id))
    return found


def _claims_in(block: model.Block, item: str) -> bool:
    """A claim on the local `item` is tested somewhere in `block` (`if not job.claim(): continue`)."""
    for statement in statements(block):
        if isinstance(statement, model.If) and any(
            _claim_of(node) == item for node in expressions(statement.test)
        ):
            return True
    return False


def _unawaited(expr: model.Expr) -> model.Expr:
    return expr.value if isinstance(expr, model.Await) else expr
