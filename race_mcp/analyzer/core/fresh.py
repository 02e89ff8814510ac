"""Values unique to one request: a random token, a code drawn at random, a value built from one.

A check for absence of a row looked up by such a value (`code = random_code(); if not
Voucher.objects.filter(code=code).exists(): return code`) cannot race another request: no other
request looks up, or inserts, that value (two draws colliding is the chance the code's own retry
loop covers, not a race between requests). Likewise a new row whose looked-up column the insert
fills with such a value (`if not get_by(token=cookie): create(token=random_string())`) is never
the row the check looked for. The front-end says which calls draw at random
(`LanguageProfile.is_random_source`); the interpreter follows the value through locals (on each
path), parameters, helpers that return it, and expressions built from it (`prefix + "-" + tok`,
`uuid4().hex`, `f"{tok}.png"`).
"""

from __future__ import annotations

from collections.abc import Callable, Container

from . import model

__all__ = ["COMPARISONS", "is_fresh", "pins_fresh_value"]

# Operators whose result is a truth value, not a value built from the operands.
COMPARISONS = frozenset(
    {"==", "!=", "<", "<=", ">", ">=", "is", "is-not", "in", "not-in", "and", "or", "not"}
)
_MAX_DEPTH = 12
# Keywords of a lookup that set values of a row it may create, not what it looks for.
_NOT_FILTERS = frozenset({"defaults", "create_defaults"})
# Calls that turn their argument into text or bytes (the value stays as unique as its argument).
_CONVERSIONS = frozenset(
    {"str", "bytes", "repr", "format", "join", "hex", "encode", "decode", "b64encode", "urlsafe_b64encode"}
    # A path whose text holds the draw (`os.path.join(root, token)`, `Path(f"{root}/{token}")`).
    | {"Path", "PurePath", "PosixPath", "joinpath"}
)


def is_fresh(
    expr: model.Expr,
    fresh_locals: Container[str],
    fresh_calls: Container[model.Node],
    random_source: Callable[[model.Call], bool],
    depth: int = 0,
) -> bool:
    """`expr`'s value is unique to this request: it contains a random draw (or a local, or a
    helper's result, holding one) and is built from it, not compared with it."""
    if depth > _MAX_DEPTH:
        return False

    def fresh(child: model.Expr) -> bool:
        return is_fresh(child, fresh_locals, fresh_calls, random_source, depth + 1)

    if isinstance(expr, model.Name):
        return expr.id in fresh_locals
    if isinstance(expr, model.Call):
        if expr in fresh_calls or random_source(expr):
            return True
        # `uuid4().hex.upper()`, `str(uuid4())`, `"".join(choice(chars) for _ in range(n))`: the
        # draw made into text. Other calls given a draw (`get_by(token=tok)`) return other values.
        receiver = expr.receiver
        if receiver is not None and fresh(receiver):
            return True
        name = expr.method or (expr.func.id if isinstance(expr.func, model.Name) else "")
        return name in _CONVERSIONS and any(fresh(arg.value) for arg in expr.args)
    if isinstance(expr, model.Attribute):
        return fresh(expr.value)
    if isinstance(expr, model.Subscript):
        return fresh(expr.value)  # `token[:8]`: a slice of a random draw is still one
    if isinstance(expr, model.Await):
        return fresh(expr.value)
    if isinstance(expr, model.Operation):
        return expr.op not in COMPARISONS and any(fresh(operand) for operand in expr.operands)
    if isinstance(expr, model.Template):
        return any(fresh(part) for part in expr.parts if not isinstance(part, str))
    if isinstance(expr, model.Collection):
        return any(fresh(e) for e in (*expr.elements, *expr.sources))
    if isinstance(expr, model.Conditional):
        return fresh(expr.body) and fresh(expr.orelse)
    return False


def pins_fresh_value(call: model.Call, fresh: Callable[[model.Expr], bool]) -> bool:
    """A query whose filter pins a value unique to this request (`filter(code=code).exists()`
    after `code = random_code()`): a keyword of the call or of the chain it ends."""
    node: model.Expr = call
    while isinstance(node, model.Call | model.Attribute):
        if isinstance(node, model.Call):
            if any(
                a.keyword is not None and a.keyword not in _NOT_FILTERS and fresh(a.value) for a in node.args
            ):
                return True
            node = node.func
        else:
            node = node.value
    return False
