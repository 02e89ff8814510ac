"""Which project functions return a value drawn at random on every path (`core/fresh.py`).

A helper such as `generate_code(length)` (letters from `get_random_string`, grouped with dashes)
touches no store, so the interpreter never runs it and cannot see that its result is unique to the
request that drew it. The index records it from the syntax tree: every `return` gives a value built
from a random draw (a `secrets`/`uuid`/`random` call, a helper named for one, or a call of another
project function), through locals assigned only such values, text conversions and comprehensions.
Calls of project functions are kept by name and decided when the index is asked (`ProjectIndex.
returns_draw`): the helper's helper must be one too.
"""

from __future__ import annotations

import ast
from collections.abc import Callable

from ..python._expressions import dotted
from ..python.randomness import is_random_name

__all__ = ["DIRECT_DRAW", "return_draws"]

# The entry of `FunctionFacts.draws` for a function that draws at random itself.
DIRECT_DRAW = ""
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
# Calls that reshape their arguments into text or sequences: the result is as unique as they are.
_SHAPING = frozenset(
    {
        "str", "bytes", "format", "join", "hex", "encode", "decode", "b64encode", "urlsafe_b64encode",
        "filter", "map", "zip", "zip_longest", "list", "tuple", "reversed", "upper", "lower", "replace",
        "strip", "hexdigest",
    }
)  # fmt: skip
_MAX_NODES = 400  # a long function is no small helper that draws a code


def return_draws(
    node: ast.FunctionDef | ast.AsyncFunctionDef, qualify: Callable[[str], str | None]
) -> list[str]:
    """What makes every return of `node` a random draw: `[DIRECT_DRAW]` and/or the project
    functions (qualified) the returned values are built from; [] when some return is not one."""
    body = node.body
    statements = list(_own_statements(body))
    if len(statements) > _MAX_NODES or not _never_falls_through(body):
        return []
    assigned: dict[str, list[ast.expr]] = {}
    for statement in statements:
        if isinstance(statement, ast.Assign):
            for target in statement.targets:
                _bind(target, statement.value, assigned)
        elif isinstance(statement, ast.AnnAssign | ast.AugAssign) and statement.value is not None:
            _bind(statement.target, statement.value, assigned)
        elif isinstance(statement, ast.For | ast.AsyncFor | ast.With | ast.AsyncWith):
            # Loop variables and `as` targets hold values of other kinds.
            targets = [statement.target] if isinstance(statement, ast.For | ast.AsyncFor) else []
            targets += [i.optional_vars for i in getattr(statement, "items", []) if i.optional_vars]
            for target in targets:
                for bound in ast.walk(target):
                    if isinstance(bound, ast.Name):
                        assigned.setdefault(bound.id, []).append(ast.Constant(None))
    returns = [s.value for s in statements if isinstance(s, ast.Return)]
    if not returns or any(value is None for value in returns):
        return []
    # Locals holding a draw: every assignment is one (a fixed point, as order does not matter).
    drawn = set(assigned)
    changed = True
    while changed:
        changed = False
        for name in list(drawn):
            if not all(_drawn(value, drawn, qualify, set(), set()) for value in assigned[name]):
                drawn.discard(name)
                changed = True
    # What the returned values rely on: their helpers, and those of the locals they read.
    sources: set[str] = set()
    used: set[str] = set()
    for value in returns:
        if value is None or not _drawn(value, drawn, qualify, sources, used):
            return []
    done: set[str] = set()
    while used - done:
        name = (used - done).pop()
        done.add(name)
        for value in assigned.get(name, []):
            _drawn(value, drawn, qualify, sources, used)
    return sorted(sources)


def _bind(target: ast.expr, value: ast.expr, assigned: dict[str, list[ast.expr]]) -> None:
    if isinstance(target, ast.Name):
        assigned.setdefault(target.id, []).append(value)
    else:  # unpacking: each name gets a part we do not follow
        for name in ast.walk(target):
            if isinstance(name, ast.Name):
                assigned.setdefault(name.id, []).append(ast.Constant(None))


def _own_statements(body: list[ast.stmt]) -> list[ast.stmt]:
    """The function's statements, nested blocks included, nested definitions not."""
    found: list[ast.stmt] = []
    pending = list(body)
    while pending and len(found) <= _MAX_NODES:
        statement = pending.pop()
        found.append(statement)
        if isinstance(statement, _FUNCTIONS):
            continue
        for child in ast.iter_child_nodes(statement):
            if isinstance(child, ast.stmt):
                pending.append(child)
            elif isinstance(child, ast.ExceptHandler | ast.match_case):
                pending.extend(child.body)
    return found


def _never_falls_through(body: list[ast.stmt]) -> bool:
    """The body ends in a return, a raise, or a `while True:` loop (a draw-until-unused loop)."""
    if not body:
        return False
    last = body[-1]
    if isinstance(last, ast.Return | ast.Raise):
        return True
    if isinstance(last, ast.While):
        return isinstance(last.test, ast.Constant) and bool(last.test.value) and not last.orelse
    if isinstance(last, ast.If):
        return _never_falls_through(last.body) and _never_falls_through(last.orelse)
    return False


def _drawn(
    expr: ast.expr, drawn: set[str], qualify: Callable[[str], str | None], sources: set[str], used: set[str]
) -> bool:
    """`expr` is built from a random draw, not compared with one (adding the project helpers it
    relies on to `sources`, the locals it reads to `used`)."""

    def part(child: ast.expr) -> bool:
        return _drawn(child, drawn, qualify, sources, used)

    if isinstance(expr, ast.Name):
        if expr.id in drawn:
            used.add(expr.id)
            return True
        return False
    if isinstance(expr, ast.Call):
        name = dotted(expr.func)
        func = expr.func
        own = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        shaping = own in _SHAPING
        if name is not None and not shaping:
            qualified = qualify(name) or name
            if is_random_name(qualified):
                sources.add(DIRECT_DRAW)
                return True
            if qualified != name and "." in qualified:
                # A function imported or defined in the module: the index decides whether it is a
                # project helper that draws (anything else is no draw).
                sources.add(qualified)
                return True
        if isinstance(expr.func, ast.Attribute) and part(expr.func.value):
            return True  # `uuid4().hex.upper()`, `token.lower()`
        return shaping and any(part(a.value if isinstance(a, ast.Starred) else a) for a in expr.args)
    if isinstance(expr, ast.Attribute | ast.Subscript | ast.Starred | ast.Await):
        return part(expr.value)
    if isinstance(expr, ast.BinOp):
        return part(expr.left) or part(expr.right)
    if isinstance(expr, ast.JoinedStr):
        return any(part(v.value) for v in expr.values if isinstance(v, ast.FormattedValue))
    if isinstance(expr, ast.List | ast.Tuple | ast.Set):
        return any(part(e) for e in expr.elts)
    if isinstance(expr, ast.GeneratorExp | ast.ListComp | ast.SetComp):
        inner = drawn | {n.id for g in expr.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)}
        if any(part(g.iter) for g in expr.generators):
            return _drawn(expr.elt, inner, qualify, sources, used) or True
        return part(expr.elt)
    if isinstance(expr, ast.IfExp):
        return part(expr.body) and part(expr.orelse)
    return False
