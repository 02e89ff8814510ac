"""Module state whose every write is settled the same way by every request (real-world review, issue 12).

Three JavaScript idioms write module state after a check without losing anything to a concurrent
request, and the review found them on real applications (Ghost, crates.io's front end, mCaptcha):

- lazy memoisation: `client = client || new Client()`, `cfg ??= await load()`, `if (!tile) tile =
  await render()` or `if (tile !== undefined) return tile; tile = await render()`. The value is
  computed from nothing the request brings, so two requests that both initialise store equal
  values; a reset to `null`/`undefined` (invalidation) is no race either.
- a synchronous claim: `if (busy) return; busy = true; try { await work() } finally { busy = false }`.
  Node runs the test and the claim without yielding, so no second request passes the test.
- cache-aside on a `Map`: `const hit = cache.get(k); if (hit) return hit; const v = await load(k);
  cache.set(k, v)`: the hit path hands back what it read and the fill stores a value not computed
  from it; concurrent misses fill the same entry with equal values.

A name qualifies only when every write to it in the module has one of those shapes. A counter
(`n = n + 1`, `m.set(k, (m.get(k) || 0) + 1)`), a check-then-act whose hit path refuses
(`if (seen.has(id)) return res.status(409)...; await ...; seen.set(id, true)`), a claim set after
an `await`, a value built from the request's parameters, or a cached object changed in place keep
the state racy.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..core import model
from ..core.walk import expressions, nested_blocks, same_reference

__all__ = ["settled_state"]

_OR = frozenset({"or", "??", "||"})
_FILL = frozenset({"set"})
_INVALIDATE = frozenset({"delete", "clear"})
_LOOKUP = frozenset({"get", "has"})
# What a write does to the state (see the module's docstring).
FILL, RESET, CLAIM, RELEASE, RACY = "fill", "reset", "claim", "release", "racy"


def settled_state(module: model.ModuleModel, mutating: frozenset[str]) -> frozenset[str]:
    """Module-level names and `Class.attr` fields whose every write is an idempotent fill, an
    invalidation or a synchronous claim."""
    kinds: dict[str, set[str]] = {}
    for function in module.functions.values():
        for subject, kind in _writes(function, module, mutating):
            kinds.setdefault(subject, set()).add(kind)
    return frozenset(subject for subject, found in kinds.items() if _settles(found))


def _settles(kinds: set[str]) -> bool:
    """Fills with their invalidations, or claims with their releases. A reset alone consumes
    (`if (offer) { await pay(); offer = null }`), and so does a `false` written without a claim."""
    return ("fill" in kinds and kinds <= {FILL, RESET}) or ("claim" in kinds and kinds <= {CLAIM, RELEASE})


def _subject(expr: model.Expr, function: model.Function, module: model.ModuleModel) -> str | None:
    """`X` for a module-level name the function does not shadow, `Class.attr` for `this.attr`."""
    if isinstance(expr, model.Name):
        shadowed = expr.id in function.locals and expr.id not in function.globals
        return expr.id if expr.id in module.assignments and not shadowed else None
    if (
        isinstance(expr, model.Attribute)
        and isinstance(expr.value, model.Name)
        and expr.value.id == "self"
        and function.owner_class is not None
    ):
        return f"{function.owner_class}.{expr.attr}"
    return None


# A statement with what the code before it decided: the tests of the `if`s around it and the
# early-exit `if`s before it in its blocks, and the statement right before it (for claims).
_Place = tuple[model.Statement, tuple[model.Expr, ...], model.Statement | None]


def _places(block: model.Block, guards: tuple[model.Expr, ...] = ()) -> Iterator[_Place]:
    previous: model.Statement | None = None
    for statement in block:
        yield statement, guards, previous
        inner = (*guards, statement.test) if isinstance(statement, model.If) else guards
        for nested in nested_blocks(statement):
            first = nested[0] if nested else None
            for place in _places(nested, inner):
                # the first statement of a `try` right after an early exit follows that exit
                yield (place[0], place[1], previous if place[0] is first and _is_try(statement) else place[2])
        if isinstance(statement, model.If) and _exits(statement.body):
            guards = (*guards, statement.test)
        previous = statement


def _is_try(statement: model.Statement) -> bool:
    return isinstance(statement, model.Try)


def _exits(block: model.Block) -> bool:
    return bool(block) and isinstance(block[-1], model.Return | model.Raise)


def _writes(
    function: model.Function, module: model.ModuleModel, mutating: frozenset[str]
) -> Iterator[tuple[str, str]]:
    """(subject, kind) for every write of module state in the function's own body."""
    params = set(function.params)
    lookups = _lookup_locals(function, module)
    for statement, guards, previous in _places(function.body):
        if isinstance(statement, model.Assign):
            yield from _assignment(statement, guards, previous, function, module, params, lookups)
        for expr in _own_expressions(statement):
            if isinstance(expr, model.Call) and expr.method in mutating and expr.receiver is not None:
                subject = _subject(expr.receiver, function, module)
                if subject is not None:
                    yield subject, _map_write(expr, guards, function, module, lookups)


def _own_expressions(statement: model.Statement) -> Iterator[model.Expr]:
    """The expressions of the statement itself, not of the blocks nested in it."""
    if isinstance(statement, model.Assign):
        roots: list[model.Expr] = [*statement.targets, *([statement.value] if statement.value else [])]
    elif isinstance(statement, model.Eval):
        roots = [statement.value]
    elif isinstance(statement, model.Return | model.Raise):
        roots = [statement.value] if statement.value is not None else []
    elif isinstance(statement, model.If | model.Assert):
        roots = [statement.test]
    elif isinstance(statement, model.OpaqueStatement):
        roots = list(statement.children)
    else:
        roots = []
    for root in roots:
        yield from expressions(root)


def _assignment(
    statement: model.Assign,
    guards: tuple[model.Expr, ...],
    previous: model.Statement | None,
    function: model.Function,
    module: model.ModuleModel,
    params: set[str],
    lookups: dict[str, str],
) -> Iterator[tuple[str, str]]:
    for target in statement.targets:
        subject = _subject(target, function, module)
        if subject is not None:
            yield subject, _settled_assignment(statement, target, guards, previous, params)
            continue
        base = _base(target)
        if base is target:
            continue  # a local bound
        if isinstance(base, model.Name) and base.id in lookups:
            yield lookups[base.id], RACY  # a cached object changed in place
        elif base is not None:
            owner = _subject(base, function, module)
            if owner is not None:
                yield owner, RACY  # `state.count = ...`: a field of the state written


def _settled_assignment(
    statement: model.Assign,
    target: model.Expr,
    guards: tuple[model.Expr, ...],
    previous: model.Statement | None,
    params: set[str],
) -> str:
    value = statement.value
    if value is None:
        return RACY
    if statement.op is not None:
        return FILL if statement.op in _OR and not _names(value) & params else RACY
    if isinstance(value, model.Literal):
        if value.value is None:
            return RESET
        if not value.value:
            return RELEASE
        return CLAIM if _claimed_right_after_test(target, previous) else RACY
    if isinstance(value, model.Operation) and value.op in _OR and same_reference(value.operands[0], target):
        return RACY if _names(value) & params else FILL
    tested = any(_mentions(guard, target) for guard in guards)
    return FILL if tested and not _names(value) & params and not _mentions(value, target) else RACY


def _claimed_right_after_test(target: model.Expr, previous: model.Statement | None) -> bool:
    """`if (busy) return; busy = true;`: the statement before is the test, which exits."""
    return (
        isinstance(previous, model.If)
        and _exits(previous.body)
        and _mentions(previous.test, target)
        and not any(isinstance(e, model.Await) for e in expressions(previous.test))
    )


def _map_write(
    call: model.Call,
    guards: tuple[model.Expr, ...],
    function: model.Function,
    module: model.ModuleModel,
    lookups: dict[str, str],
) -> str:
    """`cache.set(k, v)` on the miss path of a lookup whose hit path returned what it read (the
    key and the value may come from the request: equal keys load equal values)."""
    if call.method in _INVALIDATE:
        return RESET
    if call.method not in _FILL or len(call.args) != 2 or call.receiver is None:
        return RACY
    subject = _subject(call.receiver, function, module)
    value = call.args[1].value
    read_again = any(
        e.receiver is not None and _subject(e.receiver, function, module) == subject for e in _calls(value)
    )
    derived = bool(_names(value) & {name for name, owner in lookups.items() if owner == subject})
    if read_again or derived:
        return RACY  # a counter or a value computed from the entry
    return FILL if any(_returns_hit(function, guard, subject, lookups) for guard in guards) else RACY


def _returns_hit(
    function: model.Function, guard: model.Expr, subject: str | None, lookups: dict[str, str]
) -> bool:
    """The early exit of `guard` hands back the entry it looked up (`if (hit) return hit;`)."""
    hit_names = {name for name, owner in lookups.items() if owner == subject}
    if not _names(guard) & hit_names:
        return False
    for statement in _all_statements(function.body):
        if isinstance(statement, model.If) and statement.test is guard and _exits(statement.body):
            final = statement.body[-1]
            return (
                isinstance(final, model.Return)
                and final.value is not None
                and bool(_names(final.value) & hit_names)
            )
    return False


def _lookup_locals(function: model.Function, module: model.ModuleModel) -> dict[str, str]:
    """Locals bound to `state.get(k)` / `await state.get(k)`: local -> the state's subject."""
    found: dict[str, str] = {}
    for statement in _all_statements(function.body):
        if not isinstance(statement, model.Assign) or statement.value is None or len(statement.targets) != 1:
            continue
        target, value = statement.targets[0], statement.value
        while isinstance(value, model.Await):
            value = value.value
        if isinstance(target, model.Name) and isinstance(value, model.Call) and value.method in _LOOKUP:
            subject = _subject(value.receiver, function, module) if value.receiver is not None else None
            if subject is not None:
                found[target.id] = subject
    return found


def _all_statements(block: model.Block) -> Iterator[model.Statement]:
    for statement, _, _ in _places(block):
        yield statement


def _calls(expr: model.Expr) -> Iterator[model.Call]:
    return (e for e in expressions(expr) if isinstance(e, model.Call) and e.receiver is not None)


def _names(expr: model.Expr) -> set[str]:
    return {e.id for e in expressions(expr) if isinstance(e, model.Name)}


def _base(expr: model.Expr) -> model.Expr | None:
    while isinstance(expr, model.Attribute | model.Subscript):
        expr = expr.value
    return expr


def _mentions(expr: model.Expr, target: model.Expr) -> bool:
    return any(same_reference(e, target) for e in expressions(expr))
