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

A one-way column is settled the same way: when the project index shows that every live writer of
the column stores the one value this write stores (`alert.status = CLOSED` where nothing ever sets
a StockAlert's status to anything else after creation; an `is_active = False` no code sets back to
True), the check guards against no other writer's value, and two requests that both store it end
as one would (`one_way`; the facts are `project/_one_way.py`'s). What else the branch does on the
strength of the check (credits, sends, inserts) still races, as for the clock: only the write's
own lost update is settled.

A refresh is settled the same way: `if rel.order != order: rel.order = order` stores the value its
test compared, so it ends as the unconditional overwrite `rel.order = order` would (either
request's value may win, as in a serial run); only the rest of its branch could be done twice.

The interpreter reports the pieces: `Branch` (which steps an `if` test made and which the branch
it guards ran), `acted` (the step orders of possible actions), and each sequence whose write
stored such values. `settled` decides at the end of the root.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from . import model
from .compared import comparisons
from .walk import same_reference, statements

__all__ = [
    "ANY_VALUE",
    "Branch",
    "attribute_value_text",
    "bound_once",
    "name_value_text",
    "one_way",
    "pure_call",
    "refreshes",
    "same_for_every_racer",
    "settled",
    "single_assignments",
    "stored_value_text",
]

# Calls that only read the clock: two requests a moment apart store the same instant for this
# purpose (`last_used = now()`).
_CLOCK = frozenset({"now", "utcnow", "utc_now", "today", "time", "monotonic"})
# Calls that act on nothing outside the request: builtins, logging, the clock, translations.
_PURE = _CLOCK | frozenset(
    {
        "len", "str", "int", "float", "bool", "repr", "isinstance", "getattr", "hasattr", "list",
        "dict", "set", "tuple", "min", "max", "sum", "abs", "round", "sorted", "format", "timedelta",
        "total_seconds", "debug", "info", "warning", "warn", "error", "exception", "critical",
        "getLogger", "gettext", "gettext_lazy", "_",
    }
)  # fmt: skip


# Calls that build a query or read a result a store handed back (SQLAlchemy's column operators and
# conjunctions, a result's rows): no write, nothing sent.
_READS = frozenset(
    {
        "is_", "is_not", "isnot", "in_", "not_in", "notin_", "like", "ilike", "and_", "or_", "not_",
        "select", "where", "filter_by", "order_by", "desc", "asc", "label", "scalar_one_or_none",
        "scalar_one", "one_or_none", "fetchone", "fetchall", "fetchmany", "mappings",
    }
)  # fmt: skip
# Methods of text, patterns and times, and JSON: they return a new value.
_TEXT = frozenset(
    {
        "sub", "subn", "match", "search", "fullmatch", "findall", "strip", "lstrip", "rstrip",
        "lower", "upper", "casefold", "split", "rsplit", "startswith", "endswith", "encode",
        "decode", "isoformat", "astimezone", "strftime", "strptime", "fromisoformat", "dumps",
        "loads",
    }
)  # fmt: skip
_SESSION = re.compile(r"(?:session|sess|db)$", re.IGNORECASE)
# How a stored value is spelt, here and by the index (`project/_columns.value_text`): a
# constant's name, a class's attribute, else ANY_VALUE.
_CONSTANT = re.compile(r"[A-Z][A-Z0-9_]*")
_CLASS = re.compile(r"_?[A-Z]\w*[a-z]\w*")
ANY_VALUE = "*"


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


def one_way(facts: Any, key: str, column: str, value: model.Expr | None) -> bool:
    """`row.column = value` (or `update(column=value)`) stores the only value live code of the
    project ever stores in that column of the rows' model (`key` `orm:<Model>`): every racer
    stores it alike. Needs the project index (`facts.one_way_value`)."""
    ask = getattr(facts, "one_way_value", None)
    if not callable(ask) or not key.startswith("orm:"):
        return False
    text = stored_value_text(value)
    return text != ANY_VALUE and ask(key[4:].partition("#")[0], column) == text


def stored_value_text(value: model.Expr | None) -> str:
    """A stored value as text, spelt as `project/_columns.value_text` spells the syntax tree's: a
    literal's `repr`, a constant's name (`CLOSED`, `self.CLOSED`, `Status.closed`), else "*"."""
    if isinstance(value, model.Literal):
        return repr(value.value)
    if isinstance(value, model.Name):
        return name_value_text(value.id)
    if isinstance(value, model.Attribute):
        head: model.Expr = value
        while isinstance(head, model.Attribute):
            head = head.value
        if isinstance(head, model.Name):
            return attribute_value_text(head.id, value.attr)
    return ANY_VALUE


def name_value_text(name: str) -> str:
    """A bare name stored: its text when it is a constant's (`CLOSED`), else ANY_VALUE."""
    return name if _CONSTANT.fullmatch(name) else ANY_VALUE


def attribute_value_text(head: str, attr: str) -> str:
    """`head. ... .attr` stored: `attr` when it is a constant's name (`self.CLOSED`) or a class's
    attribute (`Status.closed`), else ANY_VALUE."""
    return attr if _CONSTANT.fullmatch(attr) or (_CLASS.fullmatch(head) and head != attr) else ANY_VALUE


def refreshes(target: model.Expr, value: model.Expr, tests: Iterable[model.Expr]) -> bool:
    """`if rel.order != order: rel.order = order`: an enclosing test compares the attribute set
    with the very value stored (the write only skips storing what is already there)."""
    return any(
        same_reference(a, target) and same_reference(b, value)
        for left, right in comparisons(tests, ("!=",))
        for a, b in ((left, right), (right, left))
    )


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
    """A call that does nothing another request could notice (see `_PURE`), builds an object
    (`Config()`, `PermissionDenied(...)`: what acts is a method called on it later), builds a
    query or reads a result (`_READS`: `Model.col.is_(None)`, `and_(..)`, `result.first()`), works
    on text (`_TEXT`: `re.sub`, `name.strip()`, `text.replace("\\n", " ")`, `dt.replace(tzinfo=..)`),
    or re-reads a row in a session (`db.refresh(row)`)."""
    func = call.func
    name = func.attr if isinstance(func, model.Attribute) else func.id if isinstance(func, model.Name) else ""
    if name in _PURE or name in _READS or name in _TEXT or name[:1].isupper():
        return True
    receiver = _last_name(func.value) if isinstance(func, model.Attribute) else ""
    if name == "replace":
        # `str.replace(old, new)`, `datetime.replace(tzinfo=..)`; not `os.replace(src, dst)` nor
        # `path.replace(target)` (a file moved)
        positional = [arg for arg in call.args if arg.keyword is None]
        return receiver not in ("os", "shutil") and (len(positional) >= 2 or not positional)
    return name == "refresh" and _SESSION.search(receiver) is not None


def _last_name(node: model.Expr) -> str:
    if isinstance(node, model.Attribute):
        return node.attr
    return node.id if isinstance(node, model.Name) else ""


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
