"""What a function does to its parameters, read off its body: which it changes from their own
values (`p.n += 1`, `p.n = (p.n or 0) + k`) or in a state transition (`if o.status == PAID: ...
o.status = FULFILLED`), which it persists (`p.save()`, `session.add(p)`), whether it commits a
session. `_orm_rows` decides from this which parameters stand for rows loaded by a caller."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeGuard

from ...core import model
from ._common import positional, walk
from ._sqlalchemy import SESSION_NAME

__all__ = ["STATE_COMPARISONS", "Usage", "compared_with_constant", "is_param", "state_constant", "usage_of"]

_DJANGO_PERSIST = frozenset({"save", "asave", "refresh_from_db", "arefresh_from_db"})
_SESSION_PERSIST = frozenset({"add", "merge", "refresh"})


@dataclass
class Usage:
    """What the body does with its parameters: which it changes from their own values or after
    deciding on the same attribute, which it persists, whether it commits a session."""

    changed: set[str]
    django: set[str]
    session: set[str]
    commits: bool


def usage_of(function: model.Function, names: Iterable[str], *, changes_only: bool = False) -> Usage:
    """`changes_only`: the caller reads the rest only for changed parameters, so a body that sets
    no attribute of one is not walked for the rest (most roots: one walk fewer each)."""
    wanted = set(names)
    usage = Usage(set(), set(), set(), False)
    tested: set[tuple[str, str]] = set()  # (parameter, attribute) compared with a state
    assigned: list[tuple[str, str, model.Expr | None]] = []
    _assignments(function.body, wanted, frozenset(), usage.changed, assigned)
    if changes_only and not usage.changed and not assigned:
        return usage  # nothing changed, and no assignment a state test below could make a change
    for node in walk(function.body):
        if isinstance(node, model.Operation) and node.op in STATE_COMPARISONS:
            tested |= compared_with_constant(node, wanted)
        elif isinstance(node, model.Call) and isinstance(node.func, model.Attribute):
            method, receiver = node.func.attr, node.func.value
            if method in _DJANGO_PERSIST and is_param(receiver, wanted) and not positional(node):
                usage.django.add(receiver.id)
            elif _is_session(receiver):
                if method == "commit":
                    usage.commits = True
                elif method in _SESSION_PERSIST:
                    usage.session |= {a.id for a in positional(node) if isinstance(a, model.Name)} & wanted
    # A state transition: the attribute compared with a state is set to another state
    # (`if o.status == PAID: ... o.status = FULFILLED`). Not one: a flag set after testing it
    # (`if not u.verified: u.verified = True`, idempotent), a value set when it is missing or
    # differs from a recomputed one (`if o.total != total: o.total = total`, a refresh).
    for param, attr, value in assigned:
        if (param, attr) in tested and state_constant(value) and not _flag_value(value):
            usage.changed.add(param)
    return usage


STATE_COMPARISONS = frozenset({"==", "!=", "in", "not-in"})


def compared_with_constant(test: model.Operation, wanted: set[str]) -> set[tuple[str, str]]:
    """`p.status == Status.PAID`, `p.state in ("new", "held")`: (p, status) when the other side
    is a state constant."""
    if len(test.operands) != 2:
        return set()
    left, right = test.operands
    found = set()
    for one, other in ((left, right), (right, left)):
        pair = _row_attribute(one, wanted) if isinstance(one, model.Attribute) else None
        if pair is not None and state_constant(other):
            found.add(pair)
    return found


def state_constant(expr: model.Expr | None) -> bool:
    """A literal, a constant's name (`PAID`, `OrderStatus.PAID`, `self.FROZEN`), or a collection
    of them."""
    if isinstance(expr, model.Literal):
        return True
    if isinstance(expr, model.Collection):
        return bool(expr.elements) and all(state_constant(e) for e in expr.elements)
    if isinstance(expr, model.Name | model.Attribute):
        last = expr.id if isinstance(expr, model.Name) else expr.attr
        return last.isupper() and len(last) > 1
    return False


Pairs = frozenset[tuple[str, str]]


def _assignments(
    block: model.Block,
    wanted: set[str],
    set_here: Pairs,
    changed: set[str],
    assigned: list[tuple[str, str, model.Expr | None]],
) -> Pairs:
    """Changes of `p.attr` in execution order. `set_here`: attributes set on every path so far,
    whose later `p.text += "..."` reads the value set here, not the one loaded. Returns what is
    set on every path through the block."""
    for statement in block:
        if isinstance(statement, model.Assign):
            set_here = _assignment(statement, wanted, set_here, changed, assigned)
        elif isinstance(statement, model.If):
            changed |= _acting_transition(statement, wanted)
            body = _assignments(statement.body, wanted, set_here, changed, assigned)
            orelse = _assignments(statement.orelse, wanted, set_here, changed, assigned)
            set_here = body & orelse
        elif isinstance(statement, model.Loop):
            _assignments(statement.body, wanted, set_here, changed, assigned)
            _assignments(statement.orelse, wanted, set_here, changed, assigned)
        elif isinstance(statement, model.With):
            set_here = _assignments(statement.body, wanted, set_here, changed, assigned)
        elif isinstance(statement, model.Try):
            _assignments(statement.body, wanted, set_here, changed, assigned)
            for handler in statement.handlers:
                _assignments(handler.body, wanted, set_here, changed, assigned)
            _assignments(statement.orelse, wanted, set_here, changed, assigned)
            _assignments(statement.final, wanted, set_here, changed, assigned)
        elif isinstance(statement, model.Branch):
            for arm in statement.arms:
                _assignments(arm, wanted, set_here, changed, assigned)
    return set_here


def _assignment(
    node: model.Assign,
    wanted: set[str],
    set_here: Pairs,
    changed: set[str],
    assigned: list[tuple[str, str, model.Expr | None]],
) -> Pairs:
    for target in node.targets:
        pair = _row_attribute(target, wanted)
        if pair is None or pair in set_here:
            continue
        if node.op is not None or pair in _attributes(node.value, wanted):
            changed.add(pair[0])  # `p.n += 1`, `p.n = (p.n or 0) + k`
        else:
            assigned.append((*pair, node.value))
            set_here = set_here | {pair}
    return set_here


# Calls that are no effect of a transition: conversions, arithmetic, building a list of fields.
_PURE_CALLS = frozenset(
    {
        "len",
        "min",
        "max",
        "sum",
        "abs",
        "round",
        "int",
        "float",
        "str",
        "bool",
        "list",
        "dict",
        "set",
        "tuple",
        "sorted",
        "isinstance",
        "getattr",
        "hasattr",
        "now",
        "append",
        "extend",
        "get",
        "format",
        "save",
        "asave",
        "refresh_from_db",
        "add",
        "commit",
        "flush",
    }
)


def _acting_transition(node: model.If, wanted: set[str]) -> set[str]:
    """`if self.status != new_status: self.create_flip(new_status); self.status = new_status`: the
    branch sets the attribute its test compared and also acts (a call on the row, a function of
    the project): run twice, the action is taken twice. A branch that only stores a recomputed
    value (`if o.total != total: o.total = total`) is a refresh, not a transition."""
    compared = {
        pair
        for test in walk((node.test,))
        if isinstance(test, model.Operation) and test.op in STATE_COMPARISONS
        for operand in test.operands
        if (pair := _row_attribute(operand, wanted)) is not None and isinstance(operand, model.Attribute)
    }
    if not compared:
        return set()
    set_in_body = {
        pair
        for statement in walk(node.body)
        if isinstance(statement, model.Assign)
        for target in statement.targets
        if (pair := _row_attribute(target, wanted)) is not None
    }
    transitions = compared & set_in_body
    if not transitions or not any(_acts(call) for call in walk(node.body) if isinstance(call, model.Call)):
        return set()
    return {param for param, _ in transitions}


def _acts(call: model.Call) -> bool:
    func = call.func
    name = func.attr if isinstance(func, model.Attribute) else func.id if isinstance(func, model.Name) else ""
    return bool(name) and name[:1].islower() and name not in _PURE_CALLS


def _row_attribute(target: model.Expr, wanted: set[str]) -> tuple[str, str] | None:
    """`p.attr` or `p.attr[...]` for a parameter `p`: (p, attr)."""
    while isinstance(target, model.Subscript):
        target = target.value
    if (
        isinstance(target, model.Attribute)
        and isinstance(target.value, model.Name)
        and target.value.id in wanted
    ):
        return target.value.id, target.attr
    return None


def _attributes(expr: model.Expr | None, wanted: set[str]) -> set[tuple[str, str]]:
    """Every `p.attr` an expression reads, for the parameters wanted."""
    if expr is None:
        return set()
    found = set()
    for node in walk((expr,)):
        if (
            isinstance(node, model.Attribute)
            and isinstance(node.value, model.Name)
            and node.value.id in wanted
        ):
            found.add((node.value.id, node.attr))
    return found


def is_param(expr: model.Expr, wanted: set[str]) -> TypeGuard[model.Name]:
    return isinstance(expr, model.Name) and expr.id in wanted


def _flag_value(value: model.Expr | None) -> bool:
    return isinstance(value, model.Literal) and (value.value is None or isinstance(value.value, bool))


def _is_session(expr: model.Expr) -> bool:
    parts: list[str] = []
    while isinstance(expr, model.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if isinstance(expr, model.Name):
        parts.append(expr.id)
    return bool(parts) and bool(SESSION_NAME.search(".".join(reversed(parts))))


def _base_name(target: model.Expr) -> str | None:
    while isinstance(target, model.Attribute | model.Subscript):
        target = target.value
    return target.id if isinstance(target, model.Name) else None
