"""What a check on rows read before an ORM write decided about that write (issue 12 review).

- `copies_checked_rows`: an insert whose values are taken from the rows the check read (a template
  copied into a new document, the template's attachments onto it) was decided on rows that exist:
  it fills no absence, so it duplicates nothing the lookup looked for.
- `same_value_check`: a check that compares a column of the row with the very value the write then
  sets it to, from the request (`if (passkey.name === name) return;` then `name` written; the new
  password compared with the stored hash, then its hash written) only says whether the write
  changes anything. A stale answer makes the write set the same value anyway: no check-then-act.
  Still decisions: a value computed from the compared one by arithmetic (`expected - 1` after
  `row.balance === expected`: a compare-and-swap in the application), and a constant state
  (`if (r.readStatus === OPENED) return;` then OPENED written: the first request to move the row
  there does what follows, a claim two requests both win).

Both read the function's code around the interpreter's state: the locals that hold a read (its
`state.aliases`, or the assignments of the function the interpretation started from, since a
transaction callback does not follow the enclosing function's locals), and the `if` whose test
made the check.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ...core import model
from ...core.effects import CallContext
from ...core.state import Access
from ...core.walk import statements

__all__ = ["copies_checked_rows", "same_value_check"]

_MAX_DEPTH = 12
_EQUALITY = frozenset({"==", "!="})
# Calls that test two values for equality (`bcrypt.compare(plain, hash)`, lodash `isEqual`).
_EQUALITY_CALLS = re.compile(r"(?:^|\.)(?:compare|compareSync|isEqual|isDeepEqual|equals|deepEqual)$")
# One-way transforms whose result stands for their input (a password's hash, an encrypted value).
_TRANSFORMS = re.compile(r"(?i)(?:^|\.)(?:hash|hashSync|encrypt|crypt|digest|argon2\.hash)\w*$")


def copies_checked_rows(check: Access, key: str, ctx: CallContext, data: model.Expr | None) -> bool:
    """The insert's values carry the very read the check decided on (`title: template.title`),
    or name a local holding it."""
    first = check.steps[0].order
    if any(a.key == key and a.steps[0].order == first for a in ctx.args):
        return True
    return data is not None and _mentions(data, _holders_of(check, key, ctx, built=True))


def same_value_check(check: Access, data: model.Expr, ctx: CallContext) -> bool:
    """Every comparison of the check's test that reads the row compares a column the write sets
    with the value it sets there, and the test reads the row nowhere else."""
    test = _test_of(check, ctx)
    written = _object_items(data)
    holders = _holders_of(check, check.key, ctx)
    if test is None or not written or not holders:
        return False
    body = ctx.root().body
    expanded = [test, *(_assigned(name, body) for name in _names(test) - holders)]
    tests = [expr for expr in expanded if expr is not None]
    row_reads = sum(len(_row_attributes(expr, holders)) for expr in tests)
    same = 0
    for expr in tests:
        for left, right in _comparisons(expr):
            row, value = (left, right) if _row_attributes(left, holders) else (right, left)
            attributes = _row_attributes(row, holders)
            if not attributes:
                continue
            if _row_attributes(value, holders) or not isinstance(row, model.Attribute):
                return False
            target = written.get(row.attr)
            if target is None or _constant(value, ctx) or not _same_value(value, target, body):
                return False
            same += 1
    return same > 0 and same == row_reads


# -- the check's test ---------------------------------------------------------------------------


def _test_of(check: Access, ctx: CallContext) -> model.Expr | None:
    """The test of the `if` (or `return`ed condition) whose evaluation made the check."""
    step = next((s for s in reversed(check.steps) if s.role == "check"), None)
    if step is None:
        return None
    for function in dict.fromkeys((ctx.function(), ctx.root())):
        for statement in statements(function.body):
            if isinstance(statement, model.If) and _contains(statement.test, step.node):
                return statement.test
    return None


def _comparisons(expr: model.Expr, depth: int = 0) -> Iterator[tuple[model.Expr, model.Expr]]:
    """`a === b`, `a !== b`, `compare(a, b)`, inside `&&`, `||`, `!` and `await`."""
    if depth > _MAX_DEPTH:
        return
    if isinstance(expr, model.Await):
        yield from _comparisons(expr.value, depth + 1)
    elif isinstance(expr, model.Operation):
        if expr.op in _EQUALITY and len(expr.operands) == 2:
            yield expr.operands[0], expr.operands[1]
        elif expr.op in ("and", "or", "not"):
            for operand in expr.operands:
                yield from _comparisons(operand, depth + 1)
    elif isinstance(expr, model.Call) and _EQUALITY_CALLS.search(_callee(expr)):
        values = [arg.value for arg in expr.args]
        if len(values) >= 2:
            yield values[0], values[1]


def _row_attributes(expr: model.Expr, holders: set[str], depth: int = 0) -> list[model.Attribute]:
    """The reads of a holder's attribute in `expr` (`user.password`, `envelope.visibility`)."""
    if depth > _MAX_DEPTH:
        return []
    if isinstance(expr, model.Attribute) and isinstance(expr.value, model.Name):
        return [expr] if expr.value.id in holders else []
    return [a for child in _children(expr) for a in _row_attributes(child, holders, depth + 1)]


def _same_value(value: model.Expr, written: model.Expr, body: model.Block) -> bool:
    """The write stores `value` itself, or a local holding a one-way transform of it
    (`hashed = await hash(password, rounds)`)."""
    if _same_expr(value, written):
        return True
    if isinstance(written, model.Name):
        assigned = _assigned(written.id, body)
        while isinstance(assigned, model.Await):
            assigned = assigned.value
        return (
            isinstance(assigned, model.Call)
            and _TRANSFORMS.search(_callee(assigned)) is not None
            and any(_same_expr(value, arg.value) for arg in assigned.args)
        )
    return False


def _same_expr(a: model.Expr, b: model.Expr) -> bool:
    """The same name, attribute chain or literal."""
    if isinstance(a, model.Name) and isinstance(b, model.Name):
        return a.id == b.id
    if isinstance(a, model.Attribute) and isinstance(b, model.Attribute):
        return a.attr == b.attr and _same_expr(a.value, b.value)
    if isinstance(a, model.Literal) and isinstance(b, model.Literal):
        return a.value == b.value and a.value is not None
    return False


def _constant(expr: model.Expr, ctx: CallContext) -> bool:
    """A literal or a module's constant (`ReadStatus.OPENED`, an imported enum): a state the write
    moves the row to, whose first writer does what follows (a claim), not a value of the request."""
    while isinstance(expr, model.Attribute):
        expr = expr.value
    if isinstance(expr, model.Literal):
        return True
    if not isinstance(expr, model.Name):
        return False
    module = ctx.module()
    return expr.id[:1].isupper() or expr.id in module.imports or expr.id in module.assignments


def _callee(call: model.Call) -> str:
    if call.name:
        return call.name
    func = call.func
    return func.attr if isinstance(func, model.Attribute) else func.id if isinstance(func, model.Name) else ""


def _object_items(expr: model.Expr) -> dict[str, model.Expr]:
    from ._orm import items

    return items(expr)


# -- locals holding a read --------------------------------------------------------------------------


def _holders_of(check: Access, key: str, ctx: CallContext, *, built: bool = False) -> set[str]:
    first = check.steps[0].order
    holders = {
        name
        for name, held in ctx.state.aliases.items()
        if held.key == key and held.steps[0].order == first and (built or held.steps[-1].order == first)
    }
    read = check.steps[0].node
    if isinstance(read, model.Call):
        holders |= _holders(read, ctx.root().body, built=built)
    return holders


def _holders(read: model.Call, body: model.Block, *, built: bool) -> set[str]:
    """The locals that hold the rows `read` returned: bound to it (`const [a, b] = await
    Promise.all([read, ...])` binds both), or to one of them (`const template = a ?? b`), in the
    order the statements come; `built`: also those holding a value built from them."""
    holders: set[str] = set()
    for statement in statements(body):
        if not isinstance(statement, model.Assign) or statement.value is None:
            continue
        value = statement.value
        if _contains(value, read) or (_mentions(value, holders) if built else _one_of(value, holders)):
            holders |= {name for target in statement.targets for name in _target_names(target)}
    return holders


def _one_of(expr: model.Expr, holders: set[str]) -> bool:
    """`a`, `a ?? b`, `a || b`: the value is one of the holders' rows."""
    if isinstance(expr, model.Name):
        return expr.id in holders
    if isinstance(expr, model.Operation) and expr.op in ("or", "??"):
        return all(_one_of(operand, holders) for operand in expr.operands)
    return False


def _assigned(name: str, body: model.Block) -> model.Expr | None:
    """The value a local is bound to, when it is bound once."""
    values = [
        statement.value
        for statement in statements(body)
        if isinstance(statement, model.Assign)
        and any(isinstance(t, model.Name) and t.id == name for t in statement.targets)
    ]
    return values[0] if len(values) == 1 else None


def _target_names(target: model.Expr) -> set[str]:
    if isinstance(target, model.Name):
        return {target.id}
    if isinstance(target, model.Collection):
        return {name for element in target.elements for name in _target_names(element)}
    return set()


def _names(expr: model.Expr, depth: int = 0) -> set[str]:
    if isinstance(expr, model.Name):
        return {expr.id}
    if depth > _MAX_DEPTH:
        return set()
    return {name for child in _children(expr) for name in _names(child, depth + 1)}


def _contains(expr: model.Expr, node: model.Node, depth: int = 0) -> bool:
    if expr is node:
        return True
    return depth <= _MAX_DEPTH and any(_contains(child, node, depth + 1) for child in _children(expr))


def _mentions(expr: model.Expr, names: set[str], depth: int = 0) -> bool:
    """`expr` reads one of the locals `names` (`template.title`, `rows.map((r) => ...)`)."""
    if not names or depth > _MAX_DEPTH:
        return False
    if isinstance(expr, model.Name):
        return expr.id in names
    return any(_mentions(child, names, depth + 1) for child in _children(expr))


def _children(expr: model.Expr) -> tuple[model.Expr, ...]:
    """The sub-expressions `expr` is built from."""
    if isinstance(expr, model.Attribute | model.Await | model.Subscript):
        return (expr.value,)
    if isinstance(expr, model.Call):
        return (expr.func, *(arg.value for arg in expr.args))
    if isinstance(expr, model.Operation):
        return expr.operands
    if isinstance(expr, model.Conditional):
        return (expr.test, expr.body, expr.orelse)
    if isinstance(expr, model.Collection):
        return (*expr.elements, *expr.sources)
    if isinstance(expr, model.Template):
        return tuple(part for part in expr.parts if not isinstance(part, str))
    if isinstance(expr, model.Opaque):
        return expr.children
    return ()
