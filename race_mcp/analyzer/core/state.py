"""The abstract state of the interpreter: reads (accesses), locks, transactions, per path.

A *key* names one piece of state that concurrent requests share. Keys without a registered store
prefix are in-process state (`coupons`, `Ledger.balances`, `app.state.hits`); store keys carry the
store (`sql:accounts`, `orm:Account`, `redis:rate:?`), see `core/stores.py`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from typing import Literal

from . import model
from .stores import MEMORY, store_of

__all__ = [
    "EXISTENCE",
    "MEMORY_RULES",
    "OWN_METHOD",
    "Access",
    "Direct",
    "Frame",
    "Mode",
    "Sequence",
    "State",
    "Step",
    "is_memory_key",
    "join",
]

Mode = Literal["async", "threaded", "sequential"]

# In-process state races by how the runtime interleaves requests: at awaits on one event loop
# (RC101), anywhere on a thread pool (RC102). Stores name their own rules in their effects.
MEMORY_RULES: dict[str, str] = {"async": "RC101", "threaded": "RC102", "sequential": "RC102"}

# The detail of a check that only tested whether a row was found (`if row is None:`).
EXISTENCE = frozenset({"<exists>"})
# What a check looked at when it called a method of the row (`if board.is_open():`): attributes
# this path cannot name, so it may be the state the write changes (see `Access.checked`).
OWN_METHOD = "<own method>"
# A check whose tested attribute's value was then asked a method (`if form.instance.describe():`):
# the object it names (the row itself, a related row) decides in ways this path cannot see.
ATTRIBUTE_METHOD = "<attribute's method>"
# The columns of a raw SQL row that `SELECT *` or an expression returned: any may be the one written.
ANY_COLUMN = "<any column>"
# What a DELETE statement writes (`Effect.columns`): the rows themselves, not some of their columns.
ROWS_DELETED = "<rows deleted>"


def is_memory_key(key: str) -> bool:
    return store_of(key) == MEMORY


@dataclass(frozen=True)
class Step:
    """One step of a sequence: the model node it happened at, its role, and its order."""

    node: model.Node = field(compare=False)
    role: str
    order: int

    @property
    def line(self) -> int:
        return self.node.span.line


@dataclass(frozen=True)
class Access:
    """A read of `key`: where it happened, the locks held then, the first await after it.

    `detail` names the columns or attributes involved (the WHERE columns of a SELECT, the item
    attributes a decision looked at), so a guard can be matched against what was read.
    """

    key: str
    steps: tuple[Step, ...]
    locks: frozenset[int]
    awaited: Step | None = None
    decision: bool = False
    detail: frozenset[str] = frozenset()
    # Kept apart from `detail` (which also holds the lookup's filter columns): the attributes of the
    # row a decision on it looked at (`note.user_id` in `if note.user_id != me:`), and the attributes
    # a pending in-memory change set (`note.read = True`). A check disjoint from what is written
    # decides nothing about a blind overwrite.
    checked: frozenset[str] = frozenset()
    written: frozenset[str] = frozenset()
    # The columns a raw SQL read returned (its SELECT list; ANY_COLUMN for `*`). A check of the bare
    # value (`(n,) = cur.fetchone(); if n <= 0:`) or of a position (`row[0]`) names no column
    # itself: it looked at these.
    selected: frozenset[str] = frozenset()
    # One column of such a row, unpacked (`(claimed_by,) = cur.fetchone()`): `if claimed_by is None:`
    # tests that column's value, not whether the row was found.
    column_value: bool = False
    # Loaded through a model mixin's generic class-method lookup (`Alias.get_by(email=e)` running
    # `ModelMixin.get_by` for Alias): such a row decides inserts (check-then-create), but its
    # read-modify-writes are not reported. Apps that route every lookup through the mixin (most of
    # simple-login's 119 extra findings) are mostly blind overwrites after a permission check.
    inserts_only: bool = False
    # A pending change whose every attribute was set to a value every request sets alike (the
    # clock) or to the value its test compared (a refresh): see `core/idempotent.py`.
    same_value: bool = False
    # Looked up by a value unique to this request (`filter(code=random_code())`, `core/fresh.py`):
    # no other request looks for, or inserts, that row, so its absence decides no race.
    fresh: bool = False

    def with_step(self, step: Step, *, decision: bool, detail: Iterable[str] = ()) -> Access:
        return replace(
            self,
            steps=(*self.steps, step),
            decision=self.decision or decision,
            detail=self.detail | frozenset(detail),
        )


@dataclass
class State:
    """The abstract state on one path through a function."""

    checks: dict[str, Access] = field(default_factory=dict)
    aliases: dict[str, Access] = field(default_factory=dict)
    locks: frozenset[int] = frozenset()
    last_await: Step | None = None
    in_transaction: int = 0
    # Store objects changed in memory and not yet saved or committed: key -> the alias's access.
    dirty: dict[str, Access] = field(default_factory=dict)
    # Aliases whose pending change the store computes itself (Django's `F()`): saving is atomic.
    atomic_aliases: frozenset[str] = frozenset()
    # Writes outside any explicit transaction on this path, per store key, with the unit of work
    # each committed in (an implicit transaction ends at each commit; autocommit makes every write
    # its own unit).
    loose_writes: dict[str, tuple[tuple[Step, int], ...]] = field(default_factory=dict)
    unit: int = 0
    # Locals of the running function holding a value unique to this request on this path, and
    # those assigned another value (a path that never assigned a local has no say at a join: the
    # loop `while not found: token = random_string()` leaves `token` fresh).
    fresh: frozenset[str] = frozenset()
    plain: frozenset[str] = frozenset()

    def copy(self) -> State:
        return State(
            dict(self.checks),
            dict(self.aliases),
            self.locks,
            self.last_await,
            self.in_transaction,
            dict(self.dirty),
            self.atomic_aliases,
            dict(self.loose_writes),
            self.unit,
            self.fresh,
            self.plain,
        )

    def adopt(self, callee_end: State) -> None:
        """Continue in the caller from where a called function ended; the caller keeps its locals."""
        other = callee_end.copy()
        for item in fields(self):
            if item.name not in ("aliases", "fresh", "plain"):
                setattr(self, item.name, getattr(other, item.name))

    def mark_await(self, step: Step) -> None:
        self.last_await = step
        self.checks = {k: a if a.awaited else replace(a, awaited=step) for k, a in self.checks.items()}
        self.aliases = {k: a if a.awaited else replace(a, awaited=step) for k, a in self.aliases.items()}


def _prefer(a: Access, b: Access) -> Access:
    """At a join, keep the access that leaves the wider race window."""
    if (a.awaited is None) != (b.awaited is None):
        return a if a.awaited is not None else b
    return a if a.steps[0].order <= b.steps[0].order else b


def _merge_changes(a: Access, b: Access) -> Access:
    """Pending changes of one row from two paths: the attributes either set (a save after the join
    writes whichever path ran), derived if either path computed its change from the read."""
    derived_a, derived_b = a.steps[-1].role == "change", b.steps[-1].role == "change"
    chosen = a if derived_a and not derived_b else b if derived_b and not derived_a else _prefer(a, b)
    return replace(chosen, written=a.written | b.written)


def join(states: Iterable[State | None]) -> State | None:
    """Merge the states of paths that meet again; `None` stands for a path that ended."""
    live = [s for s in states if s is not None]
    if not live:
        return None
    merged = live[0].copy()
    for other in live[1:]:
        for attr in ("checks", "aliases", "dirty"):
            mine: dict[str, Access] = getattr(merged, attr)
            for key, access in getattr(other, attr).items():
                if key not in mine:
                    mine[key] = access
                elif attr == "dirty":
                    mine[key] = _merge_changes(mine[key], access)
                else:
                    mine[key] = _prefer(mine[key], access)
        merged.locks = merged.locks & other.locks
        merged.last_await = merged.last_await or other.last_await
        merged.in_transaction = min(merged.in_transaction, other.in_transaction)
        merged.atomic_aliases = merged.atomic_aliases & other.atomic_aliases
        for store, steps in other.loose_writes.items():
            if len(steps) > len(merged.loose_writes.get(store, ())):
                merged.loose_writes[store] = steps
        merged.unit = max(merged.unit, other.unit)
        merged.plain = merged.plain | other.plain
        merged.fresh = (merged.fresh | other.fresh) - merged.plain
    return merged


@dataclass
class Frame:
    """One function being interpreted (the root, or a function it calls).

    `self_class` / `self_instance` say what `self` stands for: a method run on a class of the
    module, or on a module-level instance (`ledger = Ledger()`), whose attributes are then shared.
    `module` is the module the function belongs to (a helper resolved in another file runs with
    its own module's facts)."""

    function: model.Function
    locals: frozenset[str]
    globals: frozenset[str]
    self_class: str | None = None
    self_instance: str | None = None
    module: model.ModuleModel | None = None
    returns: list[State] = field(default_factory=list)
    # Those of `returns` that left by a bare `return` (or `return None`): a guard clause's way out.
    bare_returns: list[State] = field(default_factory=list)
    returned: list[Access] = field(default_factory=list)
    strings: dict[str, str] = field(default_factory=dict)
    # Parameters the call site gave a literal (`lookup(pk, for_update=True)`): a test on one of
    # them is decided, so the helper's other branch (the unlocked query) is not this call's path.
    constants: dict[str, object] = field(default_factory=dict)
    # The class a class method runs for (`Alias.get_by(...)` runs the mixin's `get_by` for Alias).
    bound_class: str | None = None
    # Every `return` so far gave a value unique to the request (None: no return yet).
    returns_fresh: bool | None = None
    # Keywords a class method run for a class was given (`Browser.create(user_id=u, token=tok)`),
    # and those given a value unique to the request: the columns of the row it inserts.
    given_columns: frozenset[str] = frozenset()
    fresh_columns: frozenset[str] = frozenset()


@dataclass
class Sequence:
    """A racy sequence: a read (and decision) of `key`, then a write the read does not protect."""

    rule_id: str
    key: str
    candidate: Access
    write: Step
    awaited: Step | None
    # The store's unique key refuses the duplicate; the losing request fails unhandled (low).
    refused: bool = False


@dataclass
class Direct:
    """A finding that needs no read before it: one call or one statement is the problem."""

    rule_id: str
    key: str
    steps: tuple[Step, ...]
    detail: str = ""
