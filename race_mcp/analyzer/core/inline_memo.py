"""A memo of inlined helper runs that leave no trace: the interpreter skips running a helper again
in a context where it ran before and changed nothing.

Most calls the interpreter follows into project helpers add nothing to the path (on the Django
corpus, four of five): the helper reads nothing the caller's path keeps, writes nothing racy,
returns nothing new. The same helper is often reached again in the same context, from another
root of the module or from another helper. Such a run is recorded once and replayed.

Exactly, or not at all. The key holds everything a helper's run reads: the helper and its frame
(class, module, literal arguments, columns given), the whole entry state (checks, aliases, locks,
transaction depth, pending changes, loose writes; each step by its order number and its node),
the run's mode and call depth, the exception handlers around the call, and what the run reads of
the interpreter's own records (recognizers' notes, sequences found, named lock regions, calls
known to return fresh values). What a run reads of the caller's stack is logged while it runs
and kept with it as conditions: which functions it found on the stack (a call never re-enters a
function being run), the root function (some recognizers ask for it), what the stack's frames
returned so far. One memo serves every root of a module (`Interpreter(memo_store=...)`): the
module, its profile, recognizers and project facts are the same for all of them.

A run is kept only when it leaves no new step anywhere: its end state equals its entry state in
everything the caller adopts, what it returned was all read before it started, and it recorded no
sequence, finding, note or lock region. What it did leave, replaying restores: the step orders
and lock ids it used (so later steps keep their numbers), an action among them (`acted`, see
`idempotent.settled`), the functions it reached (`visited`: they are not run again as roots),
helpers found to return fresh values, the write counters, and the interpreter fields it set
(`existence_tests`, `discarded`). Its own `if` branches and foreign step orders are not replayed:
they only ever concern steps of the run itself, and none of those survive it.

`RACE_MCP_INLINE_MEMO=off` turns the memo off; `=check` runs every remembered helper anyway and
raises `AssertionError` where the run differs from what was remembered (for tests and audits).
"""

from __future__ import annotations

import os
import weakref
from dataclasses import dataclass, fields
from itertools import count
from typing import TYPE_CHECKING, Any

from .state import Access, Frame, State, Step

MAX_CALL_DEPTH = 5  # calls followed from a root (`Interpreter.inline`)

if TYPE_CHECKING:
    from .interpret import Interpreter

__all__ = ["MAX_CALL_DEPTH", "InlineMemo", "Mark"]

_ENV = "RACE_MCP_INLINE_MEMO"
_MAX_DEPTH = MAX_CALL_DEPTH
_FRAME_FIELDS = frozenset(f.name for f in fields(Frame))
_UNSET: Any = object()


class _TestsUnset(frozenset[Any]):
    """`existence_tests` while a remembered helper runs, until it sets them (an object of its own:
    the empty frozenset is shared)."""


_TESTS_UNSET: Any = _TestsUnset()
# What the stack log holds besides the functions probed on the stack.
_ROOT, _RETURNED = "<root>", "<returned>"


@dataclass(frozen=True)
class _Trace:
    """What a remembered run read of the caller's stack and left behind, replayed in its place."""

    on_stack: tuple[Any, ...]  # functions it looked for on the stack, and whether each was there
    depth: int  # the call depth it ran at
    deepest: int  # how many calls deeper it tried to go (-1: none)
    limited: bool  # the call depth limit stopped one of those calls
    root: Any  # the root function when it asked for it, else _UNSET
    returned_before: Any  # the stack's returned values when it read them, else _UNSET
    orders: int  # step orders used
    lock_ids: int
    acted: bool
    visited: frozenset[str]
    fresh_calls: frozenset[Any]
    counters: tuple[int, int, int, int]  # unguarded, persisted, claims, atomic values
    inserted: frozenset[str]  # the stores' keys its persisted writes inserted into
    existence_tests: Any  # the set it left, or _UNSET when it set none
    discarded: Any  # the node it left, or _UNSET
    returned: tuple[Access, ...]
    returns_fresh: bool | None


@dataclass
class Mark:
    """The interpreter's records as a run starts, to tell what it read and changed."""

    key: tuple[Any, ...]
    adopted: tuple[Any, ...]  # the entry state's fields a caller adopts
    notes: Any
    order: int
    lock_id: int
    acted: int
    visited: frozenset[str]
    logged: int  # where the run's entries in the stack log, the depth log and the reached log start
    depths: int
    reached: int
    fresh_calls: frozenset[Any]
    counters: tuple[int, int, int, int]
    inserted: frozenset[str]
    existence_tests: Any
    discarded: Any
    records: tuple[int, int]  # sequences and direct findings recorded
    expected: _Trace | None = None  # the remembered trace, run again to check it


class InlineMemo:
    """The memo of one root's interpreter (`Interpreter.memo`), over a store its module's roots share."""

    def __init__(self, interpreter: Interpreter, store: dict[Any, list[_Trace]] | None = None) -> None:
        # A weak reference: the interpreter holds its memo, and a cycle between the two would keep
        # the interpreter's module model alive until the next cyclic collection.
        self._owner = weakref.ref(interpreter)
        mode = os.environ.get(_ENV, "").strip().lower()
        self.enabled = mode not in ("off", "0", "false")
        self.checking = mode == "check"
        self._traces: dict[Any, list[_Trace]] = {} if store is None else store
        # What runs read of the stack (functions probed, _ROOT, _RETURNED) and the qualnames
        # `inline` reached, in order: a run's own entries follow its mark's positions.
        self.stack_log: list[Any] = []
        self.depths: list[int] = []  # the call depths `inline` was asked to go to
        self.reached: list[str] = []

    @property
    def _interpreter(self) -> Interpreter:
        interpreter = self._owner()
        assert interpreter is not None, "the memo outlived its interpreter"
        return interpreter

    def replayed(self, frame: Frame, entry: State) -> tuple[bool, Mark | None]:
        """Replay a remembered run of `frame` from `entry` (True), or the mark to take before
        running it (None when the memo is off or the context cannot be keyed)."""
        if not self.enabled:
            return False, None
        notes = _frozen(self._interpreter.notes)
        adopted = _adopted(entry)
        key = self._key(frame, entry, adopted, notes)
        try:
            traces = self._traces.get(key, ())
        except TypeError:  # something unhashable in the notes
            return False, None
        trace = next((t for t in traces if self._holds(t)), None)
        if trace is not None and not self.checking:
            self._replay(trace, frame)
            return True, None
        mark = self._mark(key, adopted, notes)
        mark.expected = trace
        return False, mark

    def record(self, mark: Mark, frame: Frame, end: State) -> None:
        """After the run: remember it when it left no new step (and check a remembered one)."""
        it = self._interpreter
        tests, discarded = it.existence_tests, it.discarded
        if tests is _TESTS_UNSET:
            it.existence_tests = mark.existence_tests
        if discarded is _UNSET:
            it.discarded = mark.discarded
        left = (_UNSET if tests is _TESTS_UNSET else frozenset(tests), discarded)
        trace = self._trace(mark, frame, end, left)
        if mark.expected is not None and not self._replays(mark.expected, mark, trace):
            raise AssertionError(
                f"inline memo: {frame.function.qualname} ran differently from the run remembered:"
                f" {trace} != {mark.expected}"
            )
        if trace is not None and mark.expected is None:
            self._traces.setdefault(mark.key, []).append(trace)

    def deepened(self, depth: int) -> None:
        """`inline` was asked for a call at `depth` (the stack's length before it)."""
        self.depths.append(depth)

    def probed(self, function: Any) -> None:
        """`inline` looked for `function` on the stack."""
        self.stack_log.append(function)

    def read_root(self) -> None:
        self.stack_log.append(_ROOT)

    def read_returned(self) -> None:
        self.stack_log.append(_RETURNED)

    def reach(self, qualname: str) -> None:
        """`inline` reached a function (`Interpreter.visited`)."""
        self._interpreter.visited.add(qualname)
        self.reached.append(qualname)

    # -- the key and the stack conditions ------------------------------------------------------------
    def _key(self, frame: Frame, entry: State, adopted: tuple[Any, ...], notes: Any) -> tuple[Any, ...]:
        it = self._interpreter
        extras = tuple(sorted((k, v) for k, v in vars(frame).items() if k not in _FRAME_FIELDS))
        constants = tuple((name, type(value), value) for name, value in frame.constants.items())
        return (
            frame.function,
            frame.module,
            frame.self_class,
            frame.self_instance,
            frame.bound_class,
            frame.locals,
            frame.globals,
            constants,
            frame.given_columns,
            frame.fresh_columns,
            extras,
            _accesses(entry.aliases),
            entry.fresh,
            entry.plain,
            adopted,
            it.mode,
            any(f.bound_class for f in it.frames),
            tuple(frozenset(names) for names in it.caught),
            tuple(it.catchers),
            notes,
            tuple((slot, found.refused) for slot, found in it.sequences.items()),
            tuple(it._regions.items()),
            frozenset(it.fresh_calls),
        )

    def _holds(self, trace: _Trace) -> bool:
        """What the remembered run read of the stack is the same on this one."""
        it = self._interpreter
        depth = len(it.frames)
        if trace.limited and depth != trace.depth:
            return False
        if trace.deepest >= 0 and depth + trace.deepest >= _MAX_DEPTH:
            return False
        if trace.on_stack:
            functions = {id(f.function) for f in it.frames}
            if any((id(function) in functions) != there for function, there in trace.on_stack):
                return False
        if trace.root is not _UNSET and it.frames[0].function is not trace.root:
            return False
        return trace.returned_before is _UNSET or trace.returned_before == _stack_returned(it.frames)

    # -- what a run changed ------------------------------------------------------------------------
    def _mark(self, key: tuple[Any, ...], adopted: tuple[Any, ...], notes: Any) -> Mark:
        """The records before the run; the two fields a run may set are swapped for stand-ins,
        so that what the run sets is told from what it left alone (the caller's own values, which
        the helper's nodes never are, so it reads the stand-ins as it would read them)."""
        it = self._interpreter
        mark = Mark(
            key,
            adopted,
            notes,
            _peek_order(it),
            _peek_lock_id(it),
            len(it.acted),
            frozenset(it.visited),
            len(self.stack_log),
            len(self.depths),
            len(self.reached),
            frozenset(it.fresh_calls),
            _counters(it),
            frozenset(it.inserted),
            it.existence_tests,
            it.discarded,
            (len(it.sequences), len(it.directs)),
        )
        it.existence_tests, it.discarded = _TESTS_UNSET, _UNSET
        return mark

    def _trace(self, mark: Mark, frame: Frame, end: State, left: tuple[Any, Any]) -> _Trace | None:
        """What the run read and left, or None when it left a new step (or a record) behind."""
        it = self._interpreter
        start = mark.order
        returned = tuple(frame.returned)
        if (
            (len(it.sequences), len(it.directs)) != mark.records
            or tuple((slot, found.refused) for slot, found in it.sequences.items()) != mark.key[-3]
            or tuple(it._regions.items()) != mark.key[-2]
            or _adopted(end) != mark.adopted
            or not all(_before(access, start) for access in returned)
            or _frozen(it.notes) != mark.notes
        ):
            return None
        logged = self.stack_log[mark.logged :]
        functions = {id(f.function) for f in it.frames}
        probed = {id(f): f for f in logged if f is not _ROOT and f is not _RETURNED}
        counters = _counters(it)
        depth, depths = len(it.frames), self.depths[mark.depths :]
        return _Trace(
            on_stack=tuple((function, key in functions) for key, function in probed.items()),
            depth=depth,
            deepest=max(depths, default=depth - 1) - depth,
            limited=any(d >= _MAX_DEPTH for d in depths),
            root=it.frames[0].function if _ROOT in logged else _UNSET,
            returned_before=_stack_returned(it.frames) if _RETURNED in logged else _UNSET,
            orders=_peek_order(it) - start,
            lock_ids=_peek_lock_id(it) - mark.lock_id,
            acted=len(it.acted) > mark.acted,
            visited=frozenset(self.reached[mark.reached :]),
            fresh_calls=frozenset(it.fresh_calls) - mark.fresh_calls,
            counters=(
                counters[0] - mark.counters[0],
                counters[1] - mark.counters[1],
                counters[2] - mark.counters[2],
                counters[3] - mark.counters[3],
            ),
            inserted=frozenset(it.inserted) - mark.inserted,
            existence_tests=left[0],
            discarded=left[1],
            returned=returned,
            returns_fresh=frame.returns_fresh,
        )

    def _replays(self, expected: _Trace, mark: Mark, trace: _Trace | None) -> bool:
        """Replaying `expected` from `mark` leaves what the run just made (`trace`) left."""
        it = self._interpreter
        tests = mark.existence_tests if expected.existence_tests is _UNSET else expected.existence_tests
        discarded = mark.discarded if expected.discarded is _UNSET else expected.discarded
        return (
            trace is not None
            and (trace.orders, trace.lock_ids, trace.acted, trace.counters)
            == (expected.orders, expected.lock_ids, expected.acted, expected.counters)
            and (trace.returned, trace.returns_fresh) == (expected.returned, expected.returns_fresh)
            and it.visited == mark.visited | expected.visited
            and it.fresh_calls == mark.fresh_calls | expected.fresh_calls
            and it.inserted == mark.inserted | expected.inserted
            and set(it.existence_tests) == set(tests)
            and it.discarded is discarded
        )

    def _replay(self, trace: _Trace, frame: Frame) -> None:
        it = self._interpreter
        start = _peek_order(it)
        it._order = count(start + trace.orders)
        it._lock_ids = count(_peek_lock_id(it) + trace.lock_ids)
        if trace.acted:
            it.acted.append(start)  # any order of the run's range tells `settled` the same
        # A run around this one depends on the stack as this one did.
        if trace.limited:
            self.depths.append(_MAX_DEPTH)
        if trace.deepest >= 0:
            self.depths.append(len(it.frames) + trace.deepest)
        self.stack_log.extend(function for function, _ in trace.on_stack)
        if trace.root is not _UNSET:
            self.stack_log.append(_ROOT)
        if trace.returned_before is not _UNSET:
            self.stack_log.append(_RETURNED)
        it.visited |= trace.visited
        self.reached.extend(trace.visited)
        it.fresh_calls |= trace.fresh_calls
        it.unguarded_writes += trace.counters[0]
        it.persisted_writes += trace.counters[1]
        it.claims += trace.counters[2]
        it.atomic_values += trace.counters[3]
        it.inserted |= trace.inserted
        if trace.existence_tests is not _UNSET:
            it.existence_tests = set(trace.existence_tests)
        if trace.discarded is not _UNSET:
            it.discarded = trace.discarded
        frame.returned = list(trace.returned)
        frame.returns_fresh = trace.returns_fresh


def _access(access: Access) -> tuple[Any, ...]:
    """An access with the nodes of its steps (equal accesses compare their steps' orders only)."""
    awaited = access.awaited
    return (access, tuple(step.node for step in access.steps), awaited.node if awaited else None)


def _accesses(found: dict[str, Access]) -> tuple[Any, ...]:
    return tuple((key, _access(access)) for key, access in found.items())


def _steps(steps: tuple[tuple[Step, int], ...]) -> tuple[Any, ...]:
    return tuple((step, step.node, unit) for step, unit in steps)


def _adopted(state: State) -> tuple[Any, ...]:
    """The fields of a helper's end state its caller goes on with (`State.adopt`)."""
    last = state.last_await
    return (
        _accesses(state.checks),
        state.locks,
        (last, last.node) if last is not None else None,
        state.in_transaction,
        _accesses(state.dirty),
        state.atomic_aliases,
        tuple((key, _steps(steps)) for key, steps in state.loose_writes.items()),
        state.unit,
    )


def _stack_returned(frames: list[Frame]) -> tuple[Any, ...]:
    return tuple(_access(access) for frame in frames for access in frame.returned)


def _before(access: Access, order: int) -> bool:
    """Every step of `access` happened before step `order`."""
    return all(step.order < order for step in access.steps) and (
        access.awaited is None or access.awaited.order < order
    )


def _counters(it: Interpreter) -> tuple[int, int, int, int]:
    return (it.unguarded_writes, it.persisted_writes, it.claims, it.atomic_values)


def _frozen(value: Any) -> Any:
    """A hashable copy of the recognizers' notes (dicts, sets and lists of hashable things)."""
    if isinstance(value, dict):
        return tuple((key, _frozen(item)) for key, item in value.items())
    if isinstance(value, set):
        return frozenset(value)
    if isinstance(value, list | tuple):
        return tuple(_frozen(item) for item in value)
    if isinstance(value, Access):
        return _access(value)
    return value


def _peek_order(it: Interpreter) -> int:
    """The order the next step will get (the interpreter's counter left as it was)."""
    following = next(it._order)
    it._order = count(following)
    return following


def _peek_lock_id(it: Interpreter) -> int:
    following = next(it._lock_ids)
    it._lock_ids = count(following)
    return following
