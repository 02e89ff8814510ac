"""The race interpreter: runs one root function abstractly and collects its racy sequences.

It walks statements in execution order. The state of a path (`_state.State`) records, per key, the
last *check* on it (a read inside an `if`/`while`/`assert` test) and the locals that hold a value or a
reference read from it (aliases), each with the locks held at the read and the first `await` after it.
Branches are interpreted separately and joined; calls to functions and methods of the same file are
interpreted in place, so a read in one helper and a write in another form one sequence.

A write then completes a race when a read it depends on (the check, or the value it writes) is not
protected: no lock held at the read is still held, and

- in-process state in an `async` function: an `await` came in between (RC101);
- in-process state in a handler run on a thread pool: always (RC102), threads interleave anywhere;
- a store (SQL, ORM, DynamoDB, Redis, files): always, because other workers, processes and hosts
  interleave between any two statements, unless the store guards the write itself.

Store calls are classified by the recognizers in `_stores`; in-process state by `_memory`.
"""

from __future__ import annotations

from collections.abc import Sequence as Seq
from dataclasses import replace
from itertools import count
from typing import Any, Literal

import libcst as cst

from ._effects import ALL, TRANSACTION_LOCK, CallContext, Effect, Recognizer, string_value
from ._limits import check_deadline
from ._memory import MemoryModel
from ._scopes import block, params
from ._state import Access, Direct, Frame, Sequence, State, Step, is_memory_key, join, store_of

__all__ = ["Interpreter", "Mode"]

Mode = Literal["async", "threaded", "sequential"]

_MUTATING_METHODS = frozenset(
    {
        "append",
        "extend",
        "insert",
        "add",
        "update",
        "pop",
        "popitem",
        "popleft",
        "appendleft",
        "remove",
        "discard",
        "clear",
        "setdefault",
        "sort",
        "reverse",
        "difference_update",
        "intersection_update",
        "symmetric_difference_update",
        "__setitem__",
        "__delitem__",
    }
)
# Methods of containers (dict, list, set, deque): on shared state they read or write it in place.
_CONTAINER_METHODS = _MUTATING_METHODS | {
    "get",
    "keys",
    "values",
    "items",
    "copy",
    "count",
    "index",
    "__contains__",
}
_EXECUTING_METHODS = frozenset(
    {
        "execute",
        "exec_driver_sql",
        "scalar",
        "scalars",
        "fetch",
        "fetchrow",
        "fetchval",
        "fetch_one",
        "fetch_all",
        "fetch_val",
        "executemany",
    }
)
_MAX_CALL_DEPTH = 5
_MULTI_WRITE_RULES = {"sql": "RC202", "dynamodb": "RC403"}


def _handler_names(handler: cst.ExceptHandler | cst.ExceptStarHandler) -> set[str]:
    kinds = handler.type
    elements = kinds.elements if isinstance(kinds, cst.Tuple) else [kinds] if kinds else []
    names: set[str] = set()
    for element in elements:
        expr = element.value if isinstance(element, cst.Element) else element
        if isinstance(expr, cst.Name):
            names.add(expr.value)
        elif isinstance(expr, cst.Attribute):
            names.add(expr.attr.value)
    return names or {"Exception"}


EXISTENCE = frozenset({"<exists>"})


def _existence_subjects(test: cst.BaseExpression) -> set[cst.CSTNode]:
    """The names an `if` only tests for presence: `row is None`, `not row`, `row`, `a and b`."""
    if isinstance(test, cst.Name):
        return {test}
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        return _existence_subjects(test.expression)
    if isinstance(test, cst.BooleanOperation):
        return _existence_subjects(test.left) | _existence_subjects(test.right)
    if (
        isinstance(test, cst.Comparison)
        and len(test.comparisons) == 1
        and isinstance(test.comparisons[0].operator, cst.Is | cst.IsNot)
        and isinstance(test.comparisons[0].comparator, cst.Name)
        and test.comparisons[0].comparator.value == "None"
        and isinstance(test.left, cst.Name)
    ):
        return {test.left}
    return set()


def _subscript_names(expr: cst.BaseExpression) -> set[str]:
    """The string keys and attribute names along `a["x"].y["z"]`: what a decision looked at."""
    names: set[str] = set()
    while isinstance(expr, cst.Subscript | cst.Attribute):
        if isinstance(expr, cst.Attribute):
            names.add(expr.attr.value)
        else:
            for element in expr.slice:
                index = element.slice
                if isinstance(index, cst.Index) and isinstance(index.value, cst.SimpleString):
                    value = index.value.evaluated_value
                    if isinstance(value, str):
                        names.add(value)
        expr = expr.value
    return names


def _mentions_f_expression(expr: cst.BaseExpression) -> bool:
    """Django's `F("balance") - amount`: the database computes the new value atomically."""

    class Finder(cst.CSTVisitor):
        found = False

        def visit_Call(self, node: cst.Call) -> None:
            if isinstance(node.func, cst.Name | cst.Attribute):
                name = node.func.value if isinstance(node.func, cst.Name) else node.func.attr.value
                self.found = self.found or name == "F"

    finder = Finder()
    expr.visit(finder)
    return finder.found


class Interpreter:
    """Interprets one root function and collects its racy sequences and direct findings."""

    def __init__(self, model: MemoryModel, recognizers: Seq[Recognizer], mode: Mode) -> None:
        self.model = model
        self.index = model.index
        self.recognizers = recognizers
        self.mode = mode
        self.frames: list[Frame] = []
        self.sequences: dict[tuple[str, str], Sequence] = {}
        self.directs: list[Direct] = []
        self.visited: set[str] = set()
        self.call_sites: list[cst.Call] = []
        self.caught: list[set[str]] = []
        self.unguarded_writes = 0
        self.persisted_writes = 0  # unguarded writes to stores (not in-process state)
        # Guarded state transitions (`SET redeemed_by = ? WHERE redeemed_by IS NULL`): a retry of the
        # request fails the transition instead of repeating its effects.
        self.claims = 0
        self.existence_tests: set[cst.CSTNode] = set()
        self.discarded: cst.BaseExpression | None = None
        self.outer_calls: list[cst.Call] = []
        # Scratch space for recognizers, fresh for every root (e.g. Redis counters awaiting EXPIRE).
        self.notes: dict[str, Any] = {}
        self._regions: dict[str, int] = {}
        self._region_names: dict[int, str] = {}
        self._lock_ids = count(1)
        self._order = count()

    # -- small helpers ------------------------------------------------------------------------------
    @property
    def frame(self) -> Frame:
        return self.frames[-1]

    def step(self, node: cst.CSTNode, role: str) -> Step:
        return Step(node, role, next(self._order))

    def await_step(self, node: cst.CSTNode) -> Step:
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
        return any(caught & set(names) for caught in self.caught)

    def is_local(self, name: str) -> bool:
        return bool(self.frames) and name in self.frame.locals

    # -- functions ------------------------------------------------------------------------------
    def run(self, frame: Frame, state: State) -> State | None:
        self.frames.append(frame)
        transactional = any(
            getattr(r, "transactional", lambda f: False)(frame.function) for r in self.recognizers
        )
        if transactional:
            state.in_transaction += 1
        try:
            end = self.exec_block(block(frame.function.body), state)
            final = join([*frame.returns, end])
            if transactional and final is not None:
                self.apply([Effect("commit", node=frame.function.name)], frame.function.name, final, [])
            return final
        finally:
            self.frames.pop()

    def finish(self, final: State | None) -> None:
        """At the end of the root: several writes outside a transaction on one path (RC202, RC403)."""
        if final is None:
            return
        for store, writes in final.loose_writes.items():
            rule = _MULTI_WRITE_RULES.get(store)
            if rule is not None and len({unit for _, unit in writes}) >= 2:
                self.directs.append(Direct(rule, store, tuple(step for step, _ in writes)))

    # -- statements -----------------------------------------------------------------------------
    def exec_block(
        self, statements: Seq[cst.BaseStatement | cst.BaseSmallStatement], state: State | None
    ) -> State | None:
        for statement in statements:
            if state is None:
                return None
            state = self.exec_statement(statement, state)
        return state

    def exec_statement(self, node: cst.CSTNode, state: State) -> State | None:
        check_deadline()  # hostile code can make paths and inlined calls multiply; stop in time
        if isinstance(node, cst.SimpleStatementLine):
            return self.exec_block(node.body, state)
        if isinstance(node, cst.Expr):
            # Its value is thrown away: a guarded UPDATE whose rowcount nobody reads guards nothing.
            self.discarded = node.value.expression if isinstance(node.value, cst.Await) else node.value
            self.eval(node.value, state)
        elif isinstance(node, cst.Assign):
            values = self.eval(node.value, state)
            for target in node.targets:
                self.assign(target.target, node.value, values, state)
        elif isinstance(node, cst.AnnAssign):
            if node.value is not None:
                self.assign(node.target, node.value, self.eval(node.value, state), state)
        elif isinstance(node, cst.AugAssign):
            self.aug_assign(node, state)
        elif isinstance(node, cst.Del):
            self.delete(node.target, state)
        elif isinstance(node, cst.Assert):
            self.eval(node.test, state, test=True)
        elif isinstance(node, cst.Return):
            if node.value is not None:
                self.frame.returned.extend(self.eval(node.value, state))
            self.frame.returns.append(state)
            return None
        elif isinstance(node, cst.Raise):
            if node.exc is not None:
                self.eval(node.exc, state)
            return None
        elif isinstance(node, cst.Break | cst.Continue):
            return None
        elif isinstance(node, cst.If | cst.While | cst.For | cst.Match):
            return self.exec_branching(node, state)
        elif isinstance(node, cst.With):
            return self.exec_with(node, state)
        elif isinstance(node, cst.Try | cst.TryStar):
            return self.exec_try(node, state)
        return state

    def exec_branching(self, node: cst.If | cst.While | cst.For | cst.Match, state: State) -> State | None:
        if isinstance(node, cst.If):
            self.existence_tests = _existence_subjects(node.test)
            self.eval(node.test, state, test=True)
            self.existence_tests = set()
            taken = self.exec_block(block(node.body), state.copy())
            if isinstance(node.orelse, cst.If):
                other = self.exec_statement(node.orelse, state.copy())
            elif isinstance(node.orelse, cst.Else):
                other = self.exec_block(block(node.orelse.body), state.copy())
            else:
                other = state
            return join([taken, other])
        if isinstance(node, cst.Match):
            self.eval(node.subject, state, test=True)
            arms = [self.exec_block(block(case.body), state.copy()) for case in node.cases]
            return join([state, *arms])
        if isinstance(node, cst.While):
            self.eval(node.test, state, test=True)
        else:
            values = self.eval(node.iter, state)
            if node.asynchronous is not None:
                state.mark_await(self.await_step(node))
            self.assign(node.target, node.iter, values, state)
        looped = self.exec_block(block(node.body), state.copy())
        return join([state, looped])

    def exec_with(self, node: cst.With, state: State) -> State | None:
        acquired: list[int] = []
        contexts: list[Effect] = []
        for item in node.items:
            if self.model.is_lock(item.item):
                lock_id = next(self._lock_ids)
                acquired.append(lock_id)
                state.locks = state.locks | {lock_id}
                continue
            entered = self.enter_context(item.item, state)
            if entered is not None:
                contexts.extend(entered)
                self.apply(entered, item.item, state, [])
            else:
                values = self.eval(item.item, state)
                if item.asname is not None:
                    self.assign(item.asname.name, item.item, values, state)
            if node.asynchronous is not None:
                state.mark_await(self.await_step(item))
        end = self.exec_block(block(node.body), state)
        if end is None:
            return None
        end.locks = end.locks - set(acquired)
        for effect in contexts:
            if effect.kind == "begin":
                self.apply([Effect("commit", node=node)], node, end, [])
        if node.asynchronous is not None and len(acquired) < len(node.items):
            end.mark_await(self.await_step(node))
        return end

    def enter_context(self, expr: cst.BaseExpression, state: State) -> list[Effect] | None:
        for recognizer in self.recognizers:
            enter = getattr(recognizer, "enter", None)
            if enter is None:
                continue
            effects: list[Effect] | None = enter(expr, CallContext(self, state, [], [], False))
            if effects is not None:
                return effects
        return None

    def exec_try(self, node: cst.Try | cst.TryStar, state: State) -> State | None:
        self.caught.append(
            set().union(*(_handler_names(h) for h in node.handlers)) if node.handlers else set()
        )
        try:
            body = self.exec_block(block(node.body), state.copy())
        finally:
            self.caught.pop()
        if node.orelse is not None:
            body = self.exec_block(block(node.orelse.body), body)
        entry = join([state, body]) or state
        handlers = [self.exec_block(block(h.body), entry.copy()) for h in node.handlers]
        end = join([body, *handlers])
        if node.finalbody is not None:
            end = self.exec_block(block(node.finalbody.body), end or entry.copy())
        return end

    # -- assignments ----------------------------------------------------------------------------
    def assign(
        self, target: cst.BaseExpression, value: cst.BaseExpression, values: list[Access], state: State
    ) -> None:
        if isinstance(target, cst.Name) and self.is_local(target.value):
            if values:
                state.aliases[target.value] = values[0]
            else:
                state.aliases.pop(target.value, None)
            text = self.literal_string(value)
            if text is not None:
                self.frame.strings[target.value] = text
            return
        if isinstance(target, cst.Tuple | cst.List):
            for element in target.elements:
                self.assign(element.value, value, values, state)
            return
        target_key = self.write_key(target, state)
        if target_key is None:
            return
        key, alias = target_key
        if is_memory_key(key):
            self.write(key, target, values, state)
        else:
            self.mark_dirty(key, alias, target, value, state, derived=any(a.key == key for a in values))

    def literal_string(self, value: cst.BaseExpression) -> str | None:
        if isinstance(value, cst.SimpleString | cst.ConcatenatedString | cst.FormattedString):
            return string_value(value, self)
        return None

    def mark_dirty(
        self,
        key: str,
        alias: str | None,
        target: cst.BaseExpression,
        value: cst.BaseExpression,
        state: State,
        *,
        derived: bool,
    ) -> None:
        """`account.balance -= amount` on a row read earlier: an in-memory change, saved later.

        A change computed from what was read (`derived`) is a lost update when saved; a blind
        overwrite (`profile.bio = new_bio`) is recorded as role "overwrite": only a decision races it.
        """
        origin = state.aliases.get(alias) if alias else None
        if origin is None:
            return
        previous = state.dirty.get(key)
        derived = derived or (previous is not None and previous.steps[-1].role == "change")
        state.dirty[key] = origin.with_step(
            self.step(target, "change" if derived else "overwrite"),
            decision=False,
            detail=_subscript_names(target),
        )
        if alias is not None and _mentions_f_expression(value):
            state.atomic_aliases = state.atomic_aliases | {alias}

    def aug_assign(self, node: cst.AugAssign, state: State) -> None:
        values = self.eval(node.value, state)
        target = node.target
        if isinstance(target, cst.Name) and self.is_local(target.value):
            previous = state.aliases.get(target.value)
            if previous is not None or values:
                state.aliases[target.value] = previous or values[0]
            return
        target_key = self.write_key(target, state)
        if target_key is None:
            return
        key, through = target_key
        if not is_memory_key(key):
            self.mark_dirty(key, through, target, node.value, state, derived=True)
            return
        # `x += n` reads the current value in the same statement: atomic for async code,
        # a read-modify-write for threads.
        fresh = Access(key, (self.step(target, "read"),), state.locks)
        self.write(key, target, [*values, fresh], state)

    def delete(self, target: cst.BaseExpression, state: State) -> None:
        targets = [e.value for e in target.elements] if isinstance(target, cst.Tuple) else [target]
        for item in targets:
            target_key = self.write_key(item, state)
            if target_key is not None and not isinstance(item, cst.Name) and is_memory_key(target_key[0]):
                self.write(target_key[0], item, [], state)

    def write_key(self, target: cst.BaseExpression, state: State) -> tuple[str, str | None] | None:
        """The state a store to `target` writes, and the alias it goes through (if any)."""
        if isinstance(target, cst.Name):
            shared = target.value in self.frame.globals and self.model.is_shared_global(
                target.value, rebinding=True
            )
            return (target.value, None) if shared else None
        if not isinstance(target, cst.Subscript | cst.Attribute):
            return None
        for element in target.slice if isinstance(target, cst.Subscript) else ():
            self.eval_children(element, state)
        key = self.model.shared_key(target, self.frame)
        if key is not None:
            return key, None
        base = target.value
        while isinstance(base, cst.Subscript | cst.Attribute):
            base = base.value
        if isinstance(base, cst.Name) and base.value in state.aliases and self.is_local(base.value):
            return state.aliases[base.value].key, base.value
        return None

    # -- writes ---------------------------------------------------------------------------------
    def write(
        self,
        key: str,
        node: cst.CSTNode,
        values: list[Access],
        state: State,
        *,
        rule: str | None = None,
        guard: frozenset[str] = frozenset(),
        needs_check: bool = False,
        columns: frozenset[str] = frozenset(),
        claim: bool = False,
    ) -> None:
        if not is_memory_key(key) and not (guard >= ALL and needs_check):
            # Persisted side effects for the idempotency rule: a guarded UPDATE still applies once per
            # request, only an insert the store deduplicates (ON CONFLICT, unique key) does not.
            self.persisted_writes += 1
        if guard >= ALL:
            # The store re-checked the condition atomically (and the caller reads the rowcount): what
            # follows depends on that compare-and-set, not on the earlier, stale check.
            state.checks.pop(key, None)
            self.claims += claim
            return
        if not is_memory_key(key):
            self.unguarded_writes += 1
        candidates = [] if needs_check else [a for a in values if a.key == key]
        check = state.checks.get(key)
        # That the row exists decides nothing about the columns an UPDATE then changes.
        if check is not None and not (columns and check.detail >= EXISTENCE and not check.detail & columns):
            candidates.append(check)
        if needs_check:
            candidates = [a for a in candidates if a.decision]
        racy = [a for a in candidates if self.unprotected(a, state) and not self.guarded(a, guard)]
        rule_id = rule or ("RC101" if self.mode == "async" else "RC102")
        if store_of(key) == "orm":
            # ORM reads are row objects: two rows of one model (a transfer's source and target) are
            # two races, one per read.
            for read in sorted({a.steps[0].order for a in racy}):
                same = [a for a in racy if a.steps[0].order == read]
                self.record_sequence(rule_id, key, f"{key}#{read}", same, node)
        else:
            self.record_sequence(rule_id, key, key, racy, node)

    def record_sequence(
        self, rule_id: str, key: str, slot: str, racy: list[Access], node: cst.CSTNode
    ) -> None:
        if racy and (rule_id, slot) not in self.sequences:
            # Report the decision (check-then-act) over a plain read-modify-write, the earliest first.
            worst = min(racy, key=lambda a: (not a.decision, a.steps[0].order))
            self.sequences[(rule_id, slot)] = Sequence(
                rule_id, key, worst, self.step(node, "write"), worst.awaited
            )

    @staticmethod
    def guarded(access: Access, guard: frozenset[str]) -> bool:
        """The store checks at the write what this read looked at (or we cannot tell what it did)."""
        return bool(guard) and (not access.detail or bool(access.detail & guard))

    def unprotected(self, access: Access, state: State) -> bool:
        """No lock held at the read is still held now; for async code, an await came in between."""
        if any(self.protects(lock, access.key) for lock in access.locks & state.locks):
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

    # -- expressions ----------------------------------------------------------------------------
    def eval(self, expr: cst.BaseExpression, state: State, *, test: bool = False) -> list[Access]:
        """Interpret `expr` for its effects; return the reads of shared state its value carries."""
        if isinstance(expr, cst.Name):
            return self.read_name(expr, state, test=test)
        if isinstance(expr, cst.Attribute | cst.Subscript):
            return self.read_chain(expr, state, test=test)
        if isinstance(expr, cst.Await):
            return self.eval_await(expr, state, test=test)
        if isinstance(expr, cst.Call):
            return self.eval_call(expr, state, awaited=False, test=test)
        if isinstance(expr, cst.NamedExpr):
            values = self.eval(expr.value, state, test=test)
            self.assign(expr.target, expr.value, values, state)
            return values
        if isinstance(expr, cst.IfExp):
            self.eval(expr.test, state, test=True)
            return self.eval(expr.body, state) + self.eval(expr.orelse, state)
        if isinstance(expr, cst.Lambda):
            return []
        return self.eval_children(expr, state, test=test)

    def eval_children(self, node: cst.CSTNode, state: State, *, test: bool = False) -> list[Access]:
        values: list[Access] = []
        for child in node.children:
            if isinstance(child, cst.BaseExpression):
                values.extend(self.eval(child, state, test=test))
            elif isinstance(child, cst.CompIf):
                self.eval(child.test, state, test=True)
            else:
                values.extend(self.eval_children(child, state, test=test))
        return values

    def read_name(self, expr: cst.Name, state: State, *, test: bool) -> list[Access]:
        alias = state.aliases.get(expr.value)
        if alias is not None and self.is_local(expr.value):
            # The bare value of a local read earlier: stale if anything happened since.
            if test:
                check = alias.with_step(self.step(expr, "check"), decision=True)
                if expr in self.existence_tests and not is_memory_key(alias.key):
                    check = replace(check, detail=check.detail | EXISTENCE)  # `if row is None:`
                state.checks[alias.key] = check
            return [alias]
        key = self.model.shared_key(expr, self.frame)
        if key is None:
            return []
        return [self.record_read(key, expr, state, test=test, origin=())]

    def read_chain(self, expr: cst.Attribute | cst.Subscript, state: State, *, test: bool) -> list[Access]:
        if isinstance(expr, cst.Subscript):
            for element in expr.slice:
                self.eval_children(element, state)
        key = self.model.shared_key(expr, self.frame)
        if key is not None:
            return [self.record_read(key, expr, state, test=test, origin=())]
        base = expr.value
        while isinstance(base, cst.Subscript | cst.Attribute):
            if isinstance(base, cst.Subscript):
                for element in base.slice:
                    self.eval_children(element, state)
            base = base.value
        if isinstance(base, cst.Name) and base.value in state.aliases and self.is_local(base.value):
            alias = state.aliases[base.value]
            if is_memory_key(alias.key):
                # `coupon["used"]` through a reference taken earlier: a live read of the shared state.
                return [self.record_read(alias.key, expr, state, test=test, origin=alias.steps[:1])]
            # `row["balance"]` of a row fetched earlier: the value as it was at the fetch.
            seen = alias.with_step(self.step(expr, "check" if test else "read"), decision=test)
            seen = replace(seen, detail=seen.detail | _subscript_names(expr))
            if test:
                state.checks[alias.key] = seen
            return [seen]
        return self.eval(base, state, test=test)

    def record_read(
        self, key: str, node: cst.CSTNode, state: State, *, test: bool, origin: tuple[Step, ...]
    ) -> Access:
        access = Access(key, (*origin, self.step(node, "check" if test else "read")), state.locks, None, test)
        if test:
            state.checks[key] = access
        return access

    def eval_await(self, expr: cst.Await, state: State, *, test: bool = False) -> list[Access]:
        # `if await r.get(k) is not None:` decides on what the awaited call read.
        inner = expr.expression
        if isinstance(inner, cst.Call):
            if self.is_lock_call(inner, "acquire", state):
                return []
            callee = self.model.resolve_callee(inner, self.frame)
            if callee is not None and callee[0].asynchronous is not None:
                # Awaiting a coroutine of this file: it yields only where its own body awaits.
                return self.eval_call(inner, state, awaited=True, test=test)
            values = self.eval_call(inner, state, awaited=True, test=test)
        else:
            values = self.eval(inner, state, test=test)
        state.mark_await(self.await_step(expr))
        return values

    def eval_call(self, call: cst.Call, state: State, *, awaited: bool, test: bool) -> list[Access]:
        check_deadline()
        if self.is_lock_call(call, "acquire", state) or self.is_lock_call(call, "release", state):
            return []
        func = call.func
        receiver_values: list[Access] = []
        method = func.attr.value if isinstance(func, cst.Attribute) else None
        receiver_key: str | None = None
        if isinstance(func, cst.Attribute):
            if method in _CONTAINER_METHODS:
                receiver_key = self.memory_receiver(func.value, state)
            if receiver_key is None and not self.is_chain_start(call):
                receiver_values = self.eval(func.value, state, test=test)
        # `if len(cart) >= 10:` decides on `cart` just as `if cart:` does.
        self.outer_calls.append(call)
        try:
            per_argument = [self.eval(arg.value, state, test=test) for arg in call.args]
        finally:
            self.outer_calls.pop()
        args = [access for values in per_argument for access in values]
        if receiver_key is not None and method is not None:
            if method in _MUTATING_METHODS:
                self.write(receiver_key, call, args, state)
                return []
            return [self.record_read(receiver_key, call, state, test=test, origin=())]
        context = CallContext(self, state, args, receiver_values, test)
        for recognizer in self.recognizers:
            effects = recognizer.effects(call, context)
            if effects is not None:
                return self.apply(effects, call, state, [*receiver_values, *args], test=test)
        callee = self.model.resolve_callee(call, self.frame)
        row = None if callee is not None else self.row_method(call, state)
        if row is not None:
            callee = row[0]
        if callee is not None and (callee[0].asynchronous is None or awaited):
            return [*args, *self.inline(callee, call, state, per_argument, receiver=row[1] if row else None)]
        return [*receiver_values, *args]

    def row_method(self, call: cst.Call, state: State) -> tuple[tuple[cst.FunctionDef, Frame], Access] | None:
        """`card.add_points(n)` on a row read earlier: the model's method runs with `self` as that row."""
        func = call.func
        if not (
            isinstance(func, cst.Attribute)
            and isinstance(func.value, cst.Name)
            and self.is_local(func.value.value)
        ):
            return None
        alias = state.aliases.get(func.value.value)
        if alias is None or store_of(alias.key) != "orm":
            return None
        model = alias.key.partition(":")[2]
        info = self.index.classes.get(model)
        function = info.methods.get(func.attr.value) if info else None
        if function is None:
            return None
        return (function, self.model.frame(function, self_class=model)), alias

    def is_chain_start(self, call: cst.Call) -> bool:
        """Recognizers that read a whole query chain at its outer call evaluate the inside themselves."""
        return any(getattr(r, "owns_chain", lambda c: False)(call) for r in self.recognizers)

    def apply(
        self,
        effects: list[Effect],
        call: cst.CSTNode,
        state: State,
        values: list[Access],
        *,
        test: bool = False,
    ) -> list[Access]:
        results: list[Access] = []
        call = self.executing(call)
        for effect in effects:
            node = effect.node or call
            if effect.kind == "read":
                role = "check" if test else "read"
                access = Access(effect.key, (self.step(node, role),), state.locks, None, test, effect.detail)
                if test:
                    state.checks[effect.key] = access
                results.append(access)
                receiver = (
                    call.func.value
                    if isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)
                    else None
                )
                if effect.bind_receiver and isinstance(receiver, cst.Name) and self.is_local(receiver.value):
                    state.aliases[receiver.value] = access
            elif effect.kind == "write":
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
                )
            elif effect.kind == "store_write":
                if state.in_transaction == 0:
                    loose = state.loose_writes.get(effect.key, ())
                    step = self.step(node, "write")
                    unit = -step.order if effect.autocommit else state.unit
                    state.loose_writes[effect.key] = (*loose, (step, unit))
            elif effect.kind == "lock":
                state.locks = state.locks | {self.region(effect.region)}
            elif effect.kind == "unlock":
                state.locks = state.locks - {self.region(effect.region)}
            elif effect.kind == "begin":
                state.in_transaction += 1
            elif effect.kind == "commit":
                self.commit(node, state, effect.rule or "RC304")
            elif effect.kind == "direct":
                self.directs.append(Direct(effect.rule, effect.key, (self.step(node, "write"),)))
        return results

    def executing(self, node: cst.CSTNode) -> cst.CSTNode:
        """A statement built as an argument (`conn.execute(update(t)...)`) happens at the call running it."""
        for outer in reversed(self.outer_calls):
            runs = isinstance(outer.func, cst.Attribute) and outer.func.attr.value in _EXECUTING_METHODS
            if not (runs and any(arg.value is node for arg in outer.args)):
                break
            node = outer
        return node

    def result_used(self, call: cst.Call) -> bool:
        """The call's result is kept or tested (not a bare expression statement)."""
        return self.discarded is not call and self.executing(call) is not self.discarded

    def commit(self, node: cst.CSTNode, state: State, rule: str) -> None:
        """The end of a transaction: pending ORM changes are written, row locks released."""
        flushed = self.notes.get("flush-on-commit", set())  # SQLAlchemy writes changed objects on commit
        for key, change in list(state.dirty.items()):
            if key in flushed:
                blind = change.steps[-1].role != "change"
                self.write(key, node, [change], state, rule=rule, needs_check=blind)
                del state.dirty[key]
        state.locks = state.locks - self.transaction_regions()
        state.in_transaction = max(0, state.in_transaction - 1)
        state.unit += 1

    def transaction_regions(self) -> set[int]:
        """The transaction's lock and its row locks (`transaction:<key>`): a commit releases them all."""
        return {
            lock
            for name, lock in self._regions.items()
            if name == TRANSACTION_LOCK or name.startswith(TRANSACTION_LOCK + ":")
        } | {self.region(TRANSACTION_LOCK)}

    def memory_receiver(self, receiver: cst.BaseExpression, state: State) -> str | None:
        """The in-process state a method is called on: `coupons.get(...)`, `self.items.append(...)`."""
        key = self.model.shared_key(receiver, self.frame)
        if key is not None:
            if isinstance(receiver, cst.Subscript):
                for element in receiver.slice:
                    self.eval_children(element, state)
            return key
        base = receiver
        while isinstance(base, cst.Subscript | cst.Attribute):
            base = base.value
        if isinstance(base, cst.Name) and base.value in state.aliases and self.is_local(base.value):
            alias_key = state.aliases[base.value].key
            return alias_key if is_memory_key(alias_key) else None
        return None

    def is_lock_call(self, call: cst.Call, method: str, state: State) -> bool:
        """`lock.acquire()` / `lock.release()` outside a `with`: open or close a lock region."""
        func = call.func
        if not (isinstance(func, cst.Attribute) and func.attr.value == method):
            return False
        if not self.model.is_lock(func.value):
            return False
        region = self.region("manual:" + self.index.module.code_for_node(func.value))
        state.locks = state.locks | {region} if method == "acquire" else state.locks - {region}
        return True

    def inline(
        self,
        callee: tuple[cst.FunctionDef, Frame],
        call: cst.Call,
        state: State,
        per_argument: list[list[Access]],
        *,
        receiver: Access | None = None,
    ) -> list[Access]:
        function, frame = callee
        if len(self.frames) >= _MAX_CALL_DEPTH or any(f.function is function for f in self.frames):
            return []
        self.visited.add(self.model.qualname(function, frame.self_class))
        entry = state.copy()
        entry.aliases = {}
        entry.last_await = None
        self.bind_arguments(function, call, entry, state, per_argument)
        if receiver is not None:
            entry.aliases["self"] = receiver
        self.call_sites.append(call)
        try:
            end = self.run(frame, entry)
        finally:
            self.call_sites.pop()
        if end is None:
            # Every path of the callee raised: nothing flows on from here in the caller.
            end = entry
        state.adopt(end)
        if end.last_await is not None:
            # An await inside the callee also separates the caller's earlier reads from later writes.
            state.mark_await(end.last_await)
        return frame.returned

    def bind_arguments(
        self,
        function: cst.FunctionDef,
        call: cst.Call,
        entry: State,
        state: State,
        per_argument: list[list[Access]],
    ) -> None:
        """Parameters stand for what the arguments carried: a row, a value derived from a read."""
        names = [n for n in params(function) if n not in ("self", "cls")]
        positional = [i for i, arg in enumerate(call.args) if arg.keyword is None and not arg.star]
        bound = dict(zip(names, positional, strict=False))
        for i, arg in enumerate(call.args):
            if arg.keyword is not None and arg.keyword.value in names:
                bound[arg.keyword.value] = i
        for name, i in bound.items():
            value = call.args[i].value
            if isinstance(value, cst.Name) and value.value in state.aliases:
                entry.aliases[name] = state.aliases[value.value]
            elif per_argument[i]:
                entry.aliases[name] = per_argument[i][0]
            elif (key := self.model.shared_key(value, self.frame)) is not None:
                entry.aliases[name] = Access(key, (self.step(value, "read"),), state.locks)
