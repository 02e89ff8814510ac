"""What a run of the interpreter records: steps, lock regions, writes and the races they complete,
the effects recognizers report, transactions committed.

A write completes a race when a read it depends on (the path's check of the key, or a value it
writes) is not protected: no lock held at the read is still held, and for in-process state an
`await` came in between (event loop) or the runtime is a thread pool; stores race always, unless
the store checks at the write what the read looked at (`Effect.guard`).
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence as Seq
from dataclasses import replace
from itertools import count
from typing import Any

from . import model
from .effects import ALL, TRANSACTION_LOCK, Effect
from .fresh import is_fresh
from .idempotent import Branch, settled, single_assignments
from .profile import LanguageProfile
from .state import (
    ANY_COLUMN,
    EXISTENCE,
    MEMORY_RULES,
    OWN_METHOD,
    ROWS_DELETED,
    Access,
    Direct,
    Frame,
    Mode,
    Sequence,
    State,
    Step,
    is_memory_key,
)
from .stores import MEMORY, spec, store_of, stores
from .walk import looked_at

__all__ = ["Writes"]


class Writes:
    """The part of a run that records what happened: steps, lock regions, writes and the races
    they complete, effects applied, commits. `Interpreter` walks the model and calls into it."""

    def __init__(self, profile: LanguageProfile, mode: Mode, module: model.ModuleModel, facts: Any) -> None:
        self.profile = profile
        self.mode = mode
        self.module = module
        self.facts = facts
        self.frames: list[Frame] = []
        self.sequences: dict[tuple[str, str], Sequence] = {}
        self.directs: list[Direct] = []
        self.call_sites: list[model.Call] = []
        self.caught: list[set[str]] = []
        # The handlers of the `try` statements being run, innermost last (beside `caught`).
        self.catchers: list[tuple[model.Handler, ...]] = []
        self.unguarded_writes = 0
        self.persisted_writes = 0  # unguarded writes to stores (not in-process state)
        # The stores' keys those writes inserted into (`orm:Order`, `sql:payments`; any write of a
        # store without inserts): RC601 asks whether a handler named after an order created one.
        self.inserted: set[str] = set()
        # Guarded state transitions (`SET redeemed_by = ? WHERE redeemed_by IS NULL`): a retry of the
        # request fails the transition instead of repeating its effects.
        self.claims = 0
        self.discarded: model.Expr | None = None
        self.outer_calls: list[model.Call] = []
        # Effects of kind "atomic" seen while an assigned value was evaluated (`F("n") - 1`).
        self.atomic_values = 0
        # Scratch space for recognizers, fresh for every root (e.g. Redis counters awaiting EXPIRE).
        self.notes: dict[str, Any] = {}
        self._regions: dict[str, int] = {}
        self._region_names: dict[int, str] = {}
        self._lock_ids = count(1)
        self._order = count()
        # Idempotent check-then-writes (`idempotent.py`): the `if` statements run, the step orders
        # of possible actions, and the sequences whose write stored values every racer stores.
        self.branches: list[Branch] = []
        self.acted: list[int] = []
        self.same_value_sequences: set[tuple[str, str]] = set()
        self._assignments: dict[int, dict[str, model.Expr | None]] = {}  # see `bound_once`
        # The tests of the `if` bodies being run (with the call depth they run at), innermost last.
        self.tests: list[tuple[int, model.Expr]] = []
        # The branches being run, at any call depth: (the `if` statement's id, body or else), and
        # those each loose write ran under, by step order (`split_units`).
        self.conditions: list[tuple[int, bool]] = []
        self.write_conditions: dict[int, frozenset[tuple[int, bool]]] = {}
        self.commit_conditions: list[tuple[int, frozenset[tuple[int, bool]]]] = []
        # The call of this module that led into a function of another module, while it runs, and
        # the orders of the steps taken there.
        self.away: model.Call | None = None
        self.foreign_orders: set[int] = set()
        # Calls of project helpers whose every return gave a value unique to the request.
        self.fresh_calls: set[model.Node] = set()

    # -- small helpers ------------------------------------------------------------------------------
    @property
    def frame(self) -> Frame:
        return self.frames[-1]

    def step(self, node: model.Node, role: str) -> Step:
        # Inside a function of another module, evidence shows the call that led out of this one,
        # so a finding's lines are this module's (project index).
        order = next(self._order)
        if self.away is None:
            return Step(node, role, order)
        self.foreign_orders.add(order)
        return Step(self.away, role, order)

    def await_step(self, node: model.Node) -> Step:
        """An await; inside a called helper, shown at the call that led into the awaiting function."""
        return self.step(self.call_sites[-1] if self.call_sites else node, "await")

    def region(self, name: str) -> int:
        """A stable lock id for a named region, such as the transaction's row locks."""
        if name not in self._regions:
            self._regions[name] = next(self._lock_ids)
            self._region_names[self._regions[name]] = name
        return self._regions[name]

    def catching(self, names: Seq[str]) -> bool:
        """True inside a `try` whose handlers catch one of `names` (e.g. IntegrityError)."""
        wanted = set(names)
        return any(caught & wanted for caught in self.caught)

    def handlers(self, names: Seq[str]) -> list[model.Handler]:
        """The handlers of the enclosing `try` statements that catch one of `names`, innermost first."""
        wanted = set(names)
        return [h for found in reversed(self.catchers) for h in found if wanted & set(h.types)]

    def is_local(self, name: str) -> bool:
        return bool(self.frames) and name in self.frame.locals

    def fresh_value(self, expr: model.Expr, state: State) -> bool:
        """`expr`'s value is unique to this request (`core/fresh.py`)."""
        source = getattr(self.profile, "is_random_source", None)
        if source is None:
            return False
        project = getattr(self.facts, "draws_at_random", None)
        if callable(project):
            # A project helper of another module that draws (the interpreter does not run it).
            module, own = (self.frame.module if self.frames else None), source

            def source(call: model.Call) -> bool:
                return own(call) or bool(project(call, module))

        return is_fresh(expr, state.fresh, self.fresh_calls, source)

    def inserted_columns(self, node: model.Node, state: State) -> tuple[frozenset[str], frozenset[str]]:
        """The columns an insert gives values (`create(user_id=u, token=tok)`, `add(Model(...))`,
        or a class method's call site that leads to it), and those given values unique to the
        request. No columns when they are not written out (`create(**data)`, `add(row)`)."""
        given, fresh = set(self.frame.given_columns), set(self.frame.fresh_columns)
        calls: list[model.Call] = []
        if isinstance(node, model.Call):
            # `create(token=t)` names its columns; `session.add(Device(token=t))`, its argument's.
            nested = [a.value for a in node.args if isinstance(a.value, model.Call)]
            calls = [node] if any(a.keyword for a in node.args) else nested
        for call in calls:
            if any(arg.star == "**" for arg in call.args):
                return frozenset(), frozenset(fresh)  # `create(**data)`: which columns, unknown
            for arg in call.args:
                if arg.keyword is not None:
                    given.add(arg.keyword)
                    if self.fresh_value(arg.value, state):
                        fresh.add(arg.keyword)
        return frozenset(given), frozenset(fresh)

    def finish(self, final: State | None) -> None:
        """At the end of the root: several writes outside a transaction on one path (RC202, RC403).
        A `store_write` names its store (`sql`) or a key of it (`sql:orders`); writes are counted
        per store, since two tables written in two units of work are the race."""
        if self.foreign_orders:
            self.drop_foreign()
        self.drop_settled()
        if final is None:
            return
        per_store: dict[str, list[tuple[Step, int]]] = {}
        for key, writes in final.loose_writes.items():
            store = key if key in stores() else store_of(key)
            if store != MEMORY:
                per_store.setdefault(store, []).extend(writes)
        for store, found in per_store.items():
            rule = spec(store).multi_write_rule
            if rule is not None and self.split_units(found):
                ordered = sorted(found, key=lambda write: write[0].order)
                self.directs.append(Direct(rule, store, tuple(step for step, _ in ordered)))

    def split_units(self, found: list[tuple[Step, int]]) -> bool:
        """Two writes that belong together are in different units of work. Writes that each ran
        under a branch the other did not (`if "email" in data: request_change()` and `if "cancel"
        in data: cancel_change()`, the `if` and `else` of one test) are independent actions, not
        parts of one change: a failure between them leaves what a request taking only the first
        branch leaves. A write under no branch the other lacks (`create_order()` then `if coupon:
        mark_used(coupon)`) is done whenever the other is: the two belong together. So does a later
        write whose own branch committed before it (a helper deleting files and committing, then
        the rows deleted: that branch's work is split, whatever the writes it committed were)."""
        if len({unit for _, unit in found}) < 2:
            return False
        if len(found) > _MAX_PAIRED_WRITES:
            return True  # too many to pair up: any two units count, as before branches were told apart
        for at, (first, unit) in enumerate(found):
            for second, other_unit in found[at + 1 :]:
                if unit != other_unit and not self.independent(first, second):
                    return True
        return False

    def independent(self, first: Step, second: Step) -> bool:
        ran = self.write_conditions.get(first.order, frozenset())
        other = self.write_conditions.get(second.order, frozenset())
        own = other - ran  # the branches the second write took and the first did not
        if not own or not ran - other:
            return False
        return not any(
            first.order < at < second.order and own <= conditions for at, conditions in self.commit_conditions
        )

    def bound_once(self, name: str, body: model.Block) -> model.Expr | None:
        """The only value local `name` is given in `body` (one walk of each body per root)."""
        found = self._assignments.get(id(body))
        if found is None:
            found = self._assignments[id(body)] = single_assignments(body)
        return found.get(name)

    def act(self) -> None:
        """Something another request could notice happened here (a write, a call that may act)."""
        self.acted.append(next(self._order))

    def drop_settled(self) -> None:
        """Check-then-writes whose writes store what every racer stores, with nothing else done on
        the strength of the check: run twice, they end as one run would (`idempotent.py`)."""
        if not self.same_value_sequences:
            return
        end = next(self._order)
        for slot in self.same_value_sequences & self.sequences.keys():
            candidate = self.sequences[slot].candidate
            checks = [step.order for step in candidate.steps if step.role == "check"]
            if candidate.decision and checks and settled(checks[-1], self.branches, self.acted, end):
                del self.sequences[slot]

    def drop_foreign(self) -> None:
        """Sequences and findings wholly inside functions of other modules belong to those modules'
        own analysis (which runs them as roots): reported here they would repeat it at a call line."""
        foreign = self.foreign_orders

        def away(steps: Iterable[Step]) -> bool:
            return all(step.order in foreign for step in steps)

        self.sequences = {
            key: found
            for key, found in self.sequences.items()
            if not away([*found.candidate.steps, found.write, *([found.awaited] if found.awaited else [])])
        }
        self.directs = [direct for direct in self.directs if not away(direct.steps)]

    # -- changes to rows read earlier ------------------------------------------------------
    def mark_dirty(
        self,
        key: str,
        alias: str | None,
        target: model.Expr,
        state: State,
        *,
        derived: bool,
        atomic: bool = False,
        same_value: bool = False,
    ) -> None:
        """`account.balance -= amount` on a row read earlier: an in-memory change, saved later.

        A change computed from what was read (`derived`) is a lost update when saved; a blind
        overwrite (`profile.bio = new_bio`) is recorded as role "overwrite": only a decision races it.
        A value the store computes itself (`atomic`, Django's `F()`) makes the save atomic.
        """
        origin = state.aliases.get(alias) if alias else None
        if origin is None:
            return
        previous = state.dirty.get(key)
        derived = derived or (previous is not None and previous.steps[-1].role == "change")
        change = origin.with_step(
            self.step(target, "change" if derived else "overwrite"),
            decision=False,
            detail=looked_at(target),
        )
        written = frozenset(looked_at(target)) | (previous.written if previous is not None else frozenset())
        # `same_value`: every attribute set so far got a value every racer sets (`idempotent.py`).
        same_value = same_value and (previous is None or previous.same_value)
        state.dirty[key] = replace(change, written=written, same_value=same_value)
        if alias is not None and atomic:
            state.atomic_aliases = state.atomic_aliases | {alias}

    # -- writes ---------------------------------------------------------------------------------
    def write(
        self,
        key: str,
        node: model.Node,
        values: list[Access],
        state: State,
        *,
        rule: str | None = None,
        guard: frozenset[str] = frozenset(),
        needs_check: bool = False,
        columns: frozenset[str] = frozenset(),
        claim: bool = False,
        overwrites: frozenset[str] = frozenset(),
        compares: frozenset[str] = frozenset(),
        refused: bool = False,
        same_value: bool = False,
        drawn: frozenset[str] = frozenset(),
    ) -> None:
        memory = is_memory_key(key)
        # An insert the store deduplicates (ON CONFLICT, a unique key whose error is handled) is
        # done once however many requests try it: no action a check decided twice (`idempotent.py`).
        if not memory and not same_value and not (guard >= ALL and needs_check):
            self.act()
        # Inside a mixin's class method, or saving a row a mixin lookup loaded: counted neither as
        # the caller's persisted effect (RC601) nor as a unit of work (see `Access.inserts_only`).
        mixin = any(frame.bound_class for frame in self.frames) or any(a.inserts_only for a in values)
        insert_rules = None if memory else spec(store_of(key)).insert_rules
        inserting = insert_rules is not None and (rule or "") in insert_rules
        if not memory and not (guard >= ALL and needs_check) and not mixin:
            # Persisted side effects for the idempotency rule: a guarded UPDATE still applies once per
            # request, only an insert the store deduplicates (ON CONFLICT, unique key) does not.
            self.persisted_writes += 1
            if inserting or insert_rules == frozenset():
                # A store that tells no insert from an update (a DynamoDB put, a Redis SET) may
                # have created what it wrote.
                self.inserted.add(key)
        if guard >= ALL:
            # The store re-checked the condition atomically (and the caller reads the rowcount): what
            # follows depends on that compare-and-set, not on the earlier, stale check.
            state.checks.pop(key, None)
            self.claims += claim
            return
        if not memory:
            self.unguarded_writes += 1
        candidates = [] if needs_check else [a for a in values if a.key == key]
        check = state.checks.get(key)
        if memory and check is not None and check.locks & state.locks:
            # Re-checked under the lock the write holds (compute outside, validate and write inside):
            # the values computed before are accepted by that check (fishtest's update_nps_gpm).
            candidates = []
        unverified = compares - guard  # re-checked by the write, its outcome never read
        if check is not None and not _unrelated(check, columns, overwrites, compares, unverified):
            # A check of the row's identity alone cannot go stale (inserts keep it: `_identity_check`).
            stale = inserting or not _identity_check(check, overwrites or columns, statement=not needs_check)
            candidates += [check] if stale else []
        if needs_check:
            candidates = [a for a in candidates if a.decision]
        if not memory and not inserting:
            candidates = [a for a in candidates if not a.inserts_only]
        absent = needs_check and inserting
        given: frozenset[str] = frozenset()
        if absent:
            # A row looked up by a value unique to this request, or a new row whose looked-up column
            # gets such a value, is no row another request looks for or inserts (`core/fresh.py`).
            given, fresh = self.inserted_columns(node, state)
            fresh |= drawn
            candidates = [a for a in candidates if not a.fresh and not fresh & _lookup_columns(a)]
        unprotected = [a for a in candidates if self.unprotected(a, state, absent=absent)]
        racy = [a for a in unprotected if not _guarded(a, guard)]
        store = None if memory else spec(store_of(key))
        rule_id = rule or (store.default_rule if store else None) or MEMORY_RULES[self.mode]
        per_row = bool(store and store.per_row)
        self.record_racy(rule_id, key, racy, node, per_row=per_row, same_value=same_value and not memory)
        if refused:
            # The unique key refuses the duplicate of what the check looked for, and nothing handles
            # the error: issue 11's "unique constraint but no IntegrityError handling" (low).
            # A primary key the insert leaves to the database is a new one: it duplicates no row
            # looked up by its key (`File.get_by(id=old_id)` then `File.create(path=p)`).
            generated = _PRIMARY_KEYS - given if given else frozenset()
            duplicated = [
                a for a in unprotected if a not in racy and a.detail & (guard - _NOT_A_KEY - generated)
            ]
            self.record_racy(rule_id, key, duplicated, node, per_row=per_row, refused=True)

    def record_racy(
        self,
        rule_id: str,
        key: str,
        racy: list[Access],
        node: model.Node,
        *,
        per_row: bool,
        refused: bool = False,
        same_value: bool = False,
    ) -> None:
        if per_row:
            # Rows read as objects: two rows of one model (a transfer's source and target) are two
            # races, one per read.
            for read in sorted({a.steps[0].order for a in racy}):
                same = [a for a in racy if a.steps[0].order == read]
                self.record_sequence(
                    rule_id, key, f"{key}#{read}", same, node, refused=refused, same_value=same_value
                )
        else:
            self.record_sequence(rule_id, key, key, racy, node, refused=refused, same_value=same_value)

    def record_sequence(
        self,
        rule_id: str,
        key: str,
        slot: str,
        racy: list[Access],
        node: model.Node,
        *,
        refused: bool = False,
        same_value: bool = False,
    ) -> None:
        recorded = self.sequences.get((rule_id, slot))
        # A race the store lets through outranks one it only turns into an unhandled error.
        if racy and (recorded is None or (recorded.refused and not refused)):
            if same_value:
                self.same_value_sequences.add((rule_id, slot))
            else:
                self.same_value_sequences.discard((rule_id, slot))
            # Report the decision (check-then-act) over a plain read-modify-write, the earliest first.
            worst = min(racy, key=lambda a: (not a.decision, a.steps[0].order))
            self.sequences[(rule_id, slot)] = Sequence(
                rule_id, key, worst, self.step(node, "write"), worst.awaited, refused
            )

    def unprotected(self, access: Access, state: State, *, absent: bool = False) -> bool:
        """No lock held at the read is still held now; for async code, an await came in between.
        `absent`: the write inserts after a check that found nothing, and a row lock (`FOR UPDATE`)
        locks no row that does not exist yet, so only other locks protect that check (outline's
        memberships, issue 12 review; Django's `select_for_update().exists()` then `create()` is
        racy in the Python corpus for the same reason)."""
        held = access.locks & state.locks
        if absent:
            prefix = TRANSACTION_LOCK + ":"
            held = held - {lock for lock, name in self._region_names.items() if name.startswith(prefix)}
        if any(self.protects(lock, access.key) for lock in held):
            return False
        if not is_memory_key(access.key):
            return True
        if self.mode == "async":
            return access.awaited is not None
        return self.mode == "threaded"

    def protects(self, lock: int, key: str) -> bool:
        """A row lock (region `transaction:<key>`) protects reads of that key only; other locks, all."""
        name = self._region_names.get(lock, "")
        return not name.startswith(TRANSACTION_LOCK + ":") or name == f"{TRANSACTION_LOCK}:{key}"

    # -- effects --------------------------------------------------------------------------------
    def apply(
        self,
        effects: list[Effect],
        call: model.Node,
        state: State,
        values: list[Access],
        *,
        test: bool = False,
        fresh: bool = False,
    ) -> list[Access]:
        results: list[Access] = []
        call = self.executing(call)
        for effect in effects:
            node = effect.node or call
            kind = effect.kind
            if kind == "read":
                # A read that raises on the outcome it looked for (`full_clean()`) decides as a test does.
                deciding = test or effect.decides
                access = Access(
                    effect.key,
                    (self.step(node, "check" if deciding else "read"),),
                    state.locks,
                    None,
                    deciding,
                    effect.detail,
                    selected=effect.selected,
                    inserts_only=effect.inserts_only,
                    fresh=fresh,
                )
                if deciding:
                    state.checks[effect.key] = access
                results.append(access)
                receiver = call.receiver if isinstance(call, model.Call) else None
                if effect.bind_receiver and isinstance(receiver, model.Name) and self.is_local(receiver.id):
                    state.aliases[receiver.id] = access
            elif kind == "write":
                self.write(
                    effect.key,
                    node,
                    values,
                    state,
                    rule=effect.rule,
                    guard=effect.guard,
                    needs_check=effect.needs_check,
                    columns=effect.columns,
                    claim=effect.claim,
                    overwrites=effect.overwrites,
                    compares=effect.compares,
                    refused=effect.refused,
                    same_value=effect.same_value,
                    drawn=effect.drawn,
                )
            elif kind == "store_write":
                # A mixin's create/delete committing by itself is not one of the caller's units of
                # work (the class is reported for inserts only: see `Access.inserts_only`).
                if state.in_transaction == 0 and not any(f.bound_class for f in self.frames):
                    step = self.step(node, "write")
                    self.write_conditions[step.order] = frozenset(self.conditions)
                    unit = -step.order if effect.autocommit else state.unit
                    state.loose_writes[effect.key] = (*state.loose_writes.get(effect.key, ()), (step, unit))
            elif kind == "lock":
                state.locks = state.locks | {self.region(effect.region)}
            elif kind == "unlock":
                state.locks = state.locks - {self.region(effect.region)}
            elif kind == "begin":
                state.in_transaction += 1
            elif kind == "commit":
                self.commit(node, state, effect.rule)
            elif kind == "direct":
                self.act()
                step = self.step(node, "write")
                self.directs.append(Direct(effect.rule, effect.key, (step,), effect.message))
            elif kind == "atomic":
                self.atomic_values += 1
            elif kind == "fresh":
                self.fresh_calls.add(call)
        return results

    def executing(self, node: model.Node) -> model.Node:
        """A statement built as an argument (`conn.execute(update(t)...)`) happens at the call running it."""
        executing = self.profile.executing_methods
        for outer in reversed(self.outer_calls):
            runs = outer.method in executing
            if not (runs and any(arg.value is node for arg in outer.args)):
                break
            node = outer
        return node

    def result_used(self, call: model.Call) -> bool:
        """The call's result is kept or tested (not a bare expression statement)."""
        return self.discarded is not call and self.executing(call) is not self.discarded

    def commit(self, node: model.Node, state: State, rule: str) -> None:
        """The end of a transaction: pending changes the store flushes on commit are written, row
        locks released. `notes["flush-on-commit"]` (set by a recognizer) maps each such key to the
        rule its lost update is reported as (a set: the commit's own rule). A block nested in
        another transaction (`atomic()` in `atomic()`, a helper decorated with one) ends in a
        savepoint: the outer transaction keeps its locks and pending changes until it commits."""
        if state.in_transaction > 1:
            state.in_transaction -= 1
            return
        flushed = self.notes.get("flush-on-commit", ())
        for key, change in list(state.dirty.items()):
            if key in flushed:
                blind = change.steps[-1].role != "change"
                key_rule = (flushed[key] if isinstance(flushed, dict) else "") or rule
                written = change.written if blind else frozenset()
                self.write(
                    key,
                    node,
                    [change],
                    state,
                    rule=key_rule or None,
                    needs_check=blind,
                    overwrites=written,
                    same_value=blind and change.same_value,
                )
                del state.dirty[key]
        state.locks = state.locks - self.transaction_regions()
        state.in_transaction = max(0, state.in_transaction - 1)
        state.unit += 1
        self.commit_conditions.append((next(self._order), frozenset(self.conditions)))

    def transaction_regions(self) -> set[int]:
        """The transaction's lock and its row locks (`transaction:<key>`): a commit releases them all."""
        regions = {
            lock
            for name, lock in self._regions.items()
            if name == TRANSACTION_LOCK or name.startswith(TRANSACTION_LOCK + ":")
        }
        return regions | {self.region(TRANSACTION_LOCK)}


# Loose writes of one store in one root beyond which `split_units` no longer compares every pair.
_MAX_PAIRED_WRITES = 64
# Guard entries that name no column a unique key covers (see `insert` in python/stores/orm.py).
_NOT_A_KEY = frozenset({"<row handed in>"})
# The default name of a model's generated primary key (`pk` may stand for a key of another name,
# `Handle.name`, which an insert gives itself).
_PRIMARY_KEYS = frozenset({"id"})


def _lookup_columns(access: Access) -> frozenset[str]:
    """The columns a lookup pinned (its filter), not those a decision on the row looked at after."""
    return access.detail - access.checked - EXISTENCE


def _guarded(access: Access, guard: frozenset[str]) -> bool:
    """The store checks at the write what this read looked at (or we cannot tell what it did)."""
    return bool(guard) and (not access.detail or bool(access.detail & guard))


# Attributes naming a row itself, which no update changes: a check of these alone is never stale
# (MongoDB's `_id` is immutable too).
_IDENTITY = frozenset({"pk", "id", "_id"})


def _identity_check(check: Access, written: frozenset[str], *, statement: bool) -> bool:
    """The check looked at the row's primary key only (`if (kind, obj.pk) in deleting: continue`,
    `if row.id in seen:`): no concurrent update changes a primary key, so the decision cannot go
    stale and the save after it is no check-then-act (netbox's FK clears on delete, issue 11
    review). The lookup's other filter columns still count when the write sets one of them (rows
    picked by `status=OPEN` and then closed), or when what is written is not known. An UPDATE
    statement (`statement`: not a save of the copy) after a test that rows with these keys exist
    (`if not pks: break; qs.filter(pk__in=pks).update(...)`) re-applies the key filter itself: a
    row deleted meanwhile is simply not updated."""
    if statement and not check.checked and check.detail & EXISTENCE:
        return bool(check.detail & _IDENTITY) and not check.detail - EXISTENCE - _IDENTITY
    if not check.checked or not check.checked <= _IDENTITY or check.detail & EXISTENCE:
        return False
    filters = check.detail - _IDENTITY
    return not filters & written if written else not filters


def _unrelated(
    check: Access,
    columns: frozenset[str],
    overwrites: frozenset[str],
    compares: frozenset[str] = frozenset(),
    unverified: frozenset[str] = frozenset(),
) -> bool:
    """The check decides nothing about the write: an UPDATE of `columns` after a check that only
    tested that the row exists (its filter columns aside), or an UPDATE or a blind overwrite after
    a check that looked at none of the attributes written: at other attributes (an ownership
    check), at no attribute at all (`if not has_perms(user, doc):`, `if config:`). Either request's
    value may win, as with any two edits; a stale check only races a write of what it tested (a
    state transition). A write that derives its value from the read still races through that
    value; an insert names no columns and keeps every check, and so does a method of the row
    (`if board.is_open():` may test what is written). Issue 11 review: most false findings on
    real applications were such overwrites (`modified = now()`, content from the request).
    A compare-and-set whose count nobody reads (`compares`) is no blind overwrite: it is a state
    transition of the rows the check picked (`if (candidates.length === 0) return;` then `SET
    locked_by = ? WHERE id IN (..) AND locked_by IS NULL`), and a request whose transition took
    nothing goes on with its stale rows, so a check of the key before it races it (one that only
    found the row stays unrelated, as above, unless the lookup picked it by other columns than its
    key and nobody reads whether the claim took it (`unverified`): `find_one({"state": "queued"})`,
    `if job is None: return`, then `update_one({"_id": .., "owner": None}, ..)` is every worker
    taking the first waiting job). A check of a raw SQL value looked at the columns its SELECT
    returned (`Access.selected`); of a `SELECT *` row, at any column (ANY_COLUMN)."""
    if ROWS_DELETED in columns:
        # Deleting rows a check only found (or looked at by their keys alone): a concurrent delete
        # leaves this one nothing to do. A check of their columns (`if draft.state == "draft":`)
        # or of how many there are (`if count > limit:`) may have gone stale.
        found = check.detail >= EXISTENCE or check.detail <= _IDENTITY
        return found and check.checked <= _IDENTITY
    if columns and check.detail >= EXISTENCE:
        if unverified & columns and _lookup_columns(check) - _IDENTITY:
            return False
        return not check.detail & columns
    if compares & columns:
        return False
    written = overwrites or columns
    # The lookup's filter columns count as tested: `filter(status=ACTIVE)` then `status = CLOSED`
    # claims the rows it found (two workers both process them), as `if a.status == ACTIVE:` would.
    tested = check.checked | check.detail
    return bool(written) and not tested & {OWN_METHOD, ANY_COLUMN} and not tested & written
