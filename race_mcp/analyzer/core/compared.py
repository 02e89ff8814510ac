"""Tests that compare what a column holds with what the path is about to write to it.

`if target.owner_id != check.project.owner_id: <validate target>` then `check.project = target`:
the test reads the written attribute (`check.project`) only to ask whether the value written
differs from the stored one, through the same attribute of each (`owner_id`). A racer's write of
the same kind makes the stored value the one written, so a stale answer only skips or repeats
what the test guards; the write itself ends as the unconditional overwrite would, either
request's value winning. It is settled as `refreshes` is (`core/idempotent.py`): a race only when
the guarded branch does something a serial second run would not.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator

from . import model
from .walk import same_reference

__all__ = ["compares_stored_and_written", "comparisons"]


def compares_stored_and_written(target: model.Expr, value: model.Expr, tests: Iterable[model.Expr]) -> bool:
    """One of `tests` compares (`==`, `!=`) the attribute `target` with the value written to it,
    the same attribute path read off each (`a.fk.x != b.x` for `a.fk = b`; `a.n != n` for `a.n = n`)."""
    return any(
        _same_path_off(left, target, right, value) or _same_path_off(right, target, left, value)
        for left, right in comparisons(tests, ("==", "!="))
    )


def comparisons(tests: Iterable[model.Expr], ops: Collection[str]) -> Iterator[tuple[model.Expr, model.Expr]]:
    """The two sides of every comparison by one of `ops` that `tests` make, through `and`, `or`
    and `not` (what a branch's tests say about two values, whichever way it was taken)."""
    for test in tests:
        stack = [test]
        while stack:
            node = stack.pop()
            if not isinstance(node, model.Operation):
                continue
            if node.op in ("and", "or", "not"):
                stack.extend(node.operands)
            elif node.op in ops and len(node.operands) == 2:
                yield node.operands[0], node.operands[1]


def _same_path_off(stored: model.Expr, target: model.Expr, written: model.Expr, value: model.Expr) -> bool:
    """`stored` is `target` followed by the attributes that follow `value` in `written`."""
    while True:
        if same_reference(stored, target) and same_reference(written, value):
            return True
        if not (isinstance(stored, model.Attribute) and isinstance(written, model.Attribute)):
            return False
        if stored.attr != written.attr:
            return False
        stored, written = stored.value, written.value
