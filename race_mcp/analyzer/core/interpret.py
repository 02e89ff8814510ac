"""The one interpreter: runs a root function of the program model abstractly and collects its racy
sequences, for every language the front-ends lower.

It walks statements in execution order. The state of a path (`state.State`) records, per key, the
last *check* on it (a read inside an `if`/`while`/`assert` test) and the locals that hold a value or
a reference read from it (aliases), each with the locks held at the read and the first `await`
after it. Branches are interpreted separately and joined; calls to functions of the project are
interpreted in place (depth 5, never re-entering a function on the stack), so a read in one helper
and a write in another form one sequence.

A write then completes a race when a read it depends on (the check, or the value it writes) is not
protected: no lock held at the read is still held, and

- in-process state in an `async` function: an `await` came in between (RC101);
- in-process state in a handler run on a thread pool: always (RC102), threads interleave anywhere;
- a store: always, because other workers, processes and hosts interleave between any two
  statements, unless the store guards the write itself (the effect's `guard`).

Store calls are classified by the recognizers registered in `core/stores.py` (their `Effect`s);
in-process state by the front-end's `LanguageProfile`. Nothing here knows a parser or a store.
"""

from __future__ import annotations

from collections.abc import Sequence as Seq
from dataclasses import replace
from typing import Any

from .._limits import check_deadline
from . import model
from .compared import compares_stored_and_written
from .effects import Effect, Recognizer
from .fresh import pins_fresh_value
from .idempotent import Branch, one_way, pure_call, refreshes, same_for_every_racer
from .inline_memo import MAX_CALL_DEPTH, InlineMemo
from .profile import Callee, Context, LanguageProfile, Resolver
from .specialize import BINDER, binds_class
from .state import (
    ATTRIBUTE_METHOD,
    EXISTENCE,
    OWN_METHOD,
    Access,
    Frame,
    Mode,
    State,
    Step,
    is_memory_key,
    join,
)
from .stores import spec, store_of
from .walk import existence_subjects, looked_at, own_attributes_read
from .writes import Writes

__all__ = ["MAX_CALL_DEPTH", "Interpreter"]

# Methods that change a list, set or dict in place (`local_collection_call`).
_COLLECTION_METHODS = frozenset(
    {"append", "extend", "add", "update", "setdefault", "insert", "pop", "remove", "discard", "clear", "sort"}
)


class Interpreter(Writes):
    """Interprets one root function and collects its racy sequences and direct findings."""

    def __init__(
        self,
        profile: LanguageProfile,
        recognizers: Seq[Recognizer],
        mode: Mode,
        *,
        module: model.ModuleModel,
        facts: Any = None,
        resolver: Resolver | None = None,
        memo_store: dict[Any, Any] | None = None,
    ) -> None:
        super().__init__(profile, mode, module, facts)
        self.recognizers = recognizers
        self.resolver = resolver
        self.visited: set[str] = set()
        self.existence_tests: set[model.Node] = set()
        # Each `if` test run, with the step orders it was evaluated between (`compared_before`).
        self.test_spans: list[tuple[int, int, model.Expr]] = []
        self._chain_owners = [r for r in recognizers if hasattr(r, "owns_chain")]
        self._transactional = [r for r in recognizers if hasattr(r, "transactional")]
        self._enterers = [r for r in recognizers if hasattr(r, "enter")]
        # Helper runs that left no trace, shared by the roots of a module (`inline_memo.py`).
        self.memo = InlineMemo(self, memo_store)

    def resolve(self, call: model.Call) -> Callee | None:
        """The project function `call` runs: the module's own first, then the project's resolver."""
        if not self.frames:
            return None
        callee = self.profile.resolve_callee(call, self.frame)
        if callee is None and self.resolver is not None:
            callee = self.resolver(call, self.frame)
        return callee

    # -- functions ------------------------------------------------------------------------------
    def run(self, frame: Frame, state: State) -> State | None:
        self.frames.append(frame)
        function = frame.function
        transactional = any(r.transactional(function) for r in self._transactional)
        transactional = transactional or self.project_transaction(frame)
        if transactional:
            state.in_transaction += 1
        if self.project_caller_lock(frame):
            state.locks = state.locks | {self.region("<held by every caller>")}
        # `@advisory_lock(KEY)`, `@with_lock("name")`: a lock decorator holds its lock over the body.
        held = {
            next(self._lock_ids)
            for d in function.decorators
            if isinstance(d, model.Call) and self.profile.is_lock(d)
        }
        state.locks = state.locks | held
        entry_locks = state.locks
        try:
            end = self.exec_block(function.body, state)
            final = join([*frame.returns, end])
            if final is not None:
                final.locks = final.locks | _taken_past_guards(frame, end, entry_locks)
            if final is not None and held:
                final.locks = final.locks - held
            if transactional and final is not None:
                self.apply([Effect("commit", node=function)], function, final, [])
            return final
        finally:
            self.frames.pop()

    # -- statements -----------------------------------------------------------------------------
    def exec_block(self, statements: Seq[model.Statement], state: State | None) -> State | None:
        for statement in statements:
            if state is None:
                return None
            state = self.exec_statement(statement, state)
        return state

    def exec_statement(self, node: model.Statement, state: State) -> State | None:
        check_deadline()  # hostile code can make paths and inlined calls multiply; stop in time
        if isinstance(node, model.Eval):
            # Its value is thrown away: a guarded UPDATE whose rowcount nobody reads guards nothing.
            value = node.value
            self.discarded = value.value if isinstance(value, model.Await) else value
            self.eval(value, state)
        elif isinstance(node, model.Assign):
            self.exec_assign(node, state)
        elif isinstance(node, model.Delete):
            for target in node.targets:
                self.delete(target, state)
        elif isinstance(node, model.Assert):
            self.eval(node.test, state, test=True)
        elif isinstance(node, model.Return):
            if node.value is not None:
                self.frame.returned.extend(self.eval(node.value, state))
            fresh = node.value is not None and self.fresh_value(node.value, state)
            self.frame.returns_fresh = fresh and self.frame.returns_fresh is not False
            self.frame.returns.append(state)
            if node.value is None or (isinstance(node.value, model.Literal) and node.value.value is None):
                self.frame.bare_returns.append(state)
            return None
        elif isinstance(node, model.Raise):
            if node.value is not None:
                self.eval(node.value, state)
            return None
        elif isinstance(node, model.Jump):
            return None
        elif isinstance(node, model.If):
            return self.exec_if(node, state)
        elif isinstance(node, model.Loop):
            return self.exec_loop(node, state)
        elif isinstance(node, model.Branch):
            self.eval(node.subject, state, test=True)
            arms = [self.exec_block(arm, state.copy()) for arm in node.arms]
            return join([state, *arms])
        elif isinstance(node, model.With):
            return self.exec_with(node, state)
        elif isinstance(node, model.Try):
            return self.exec_try(node, state)
        elif isinstance(node, model.OpaqueStatement):
            for child in node.children:
                self.eval(child, state)
        return state

    def compared_before(self, key: str, target: model.Expr, value: model.Expr, state: State) -> bool:
        """The check of the row asked whether `value` differs from what `target` holds
        (`core/compared.py`): the write ends as an unconditional overwrite would."""
        check = state.checks.get(key)
        if check is None:
            return False
        made = check.steps[-1].order
        tests = [test for start, end, test in self.test_spans if start <= made <= end]
        return compares_stored_and_written(target, value, tests)

    def exec_if(self, node: model.If, state: State) -> State | None:
        decided = self.decided_test(node.test)
        if decided is not None:
            return self.exec_block(node.body if decided else node.orelse, state)
        self.existence_tests = existence_subjects(node.test)
        tested_from = next(self._order)
        self.eval(node.test, state, test=True)
        tested_to = next(self._order)
        self.test_spans.append((tested_from, tested_to, node.test))
        self.existence_tests = set()
        self.tests.append((len(self.frames), node.test))
        self.conditions.append((id(node), True))
        try:
            taken = self.exec_block(node.body, state.copy())
        finally:
            self.tests.pop()
            self.conditions.pop()
        other: State | None = state
        if node.orelse:
            self.conditions.append((id(node), False))
            try:
                other = self.exec_block(node.orelse, state.copy())
            finally:
                self.conditions.pop()
        exits = taken is None or other is None
        self.branches.append(Branch(tested_from, tested_to, next(self._order), exits))
        return join([taken, other])

    def decided_test(self, test: model.Expr) -> bool | None:
        """`if for_update:` / `if not commit:` on a parameter the call site passed a literal."""
        if isinstance(test, model.Operation) and test.op == "not" and len(test.operands) == 1:
            inner = self.decided_test(test.operands[0])
            return None if inner is None else not inner
        if isinstance(test, model.Name) and self.frames and test.id in self.frame.constants:
            return bool(self.frame.constants[test.id])
        return None

    def exec_loop(self, node: model.Loop, state: State) -> State | None:
        if node.iterable is None:
            if node.test is not None:
                self.eval(node.test, state, test=True)
        else:
            values = self.eval(node.iterable, state)
            if node.is_async:
                state.mark_await(self.await_step(node))
            if node.target is not None:
                self.assign(node.target, node.iterable, values, state)
        looped = self.exec_block(node.body, state.copy())
        joined = join([state, looped])
        if joined is not None and looped is not None and node.iterable is not None:
            # `for key in keys: lock(key)`: a loop taking locks takes them on the elements it was
            # given, and the code after it relies on them; the zero-iteration path had none to take.
            joined.locks = joined.locks | (looped.locks - state.locks)
        if node.orelse and joined is not None:
            return self.exec_block(node.orelse, joined)
        return joined

    def exec_with(self, node: model.With, state: State) -> State | None:
        acquired: list[int] = []
        contexts: list[Effect] = []
        for item in node.items:
            # The project index first: a wrapper named `atomic_block` is a transaction, not a lock.
            project = self.project_context(item.context)
            if project is None and (self.profile.is_lock(item.context) or self.project_lock(item.context)):
                lock_id = next(self._lock_ids)
                acquired.append(lock_id)
                state.locks = state.locks | {lock_id}
                continue
            entered = project if project is not None else self.enter_context(item.context, state)
            if entered is not None:
                contexts.extend(entered)
                self.apply(entered, item.context, state, [])
            else:
                values = self.eval(item.context, state)
                if item.target is not None:
                    self.assign(item.target, item.context, values, state)
            if node.is_async:
                state.mark_await(self.await_step(item))
        returned = len(self.frame.returns)
        end = self.exec_block(node.body, state)
        # A `return` inside the block leaves it too: the caller goes on without the lock.
        for leaving in self.frame.returns[returned:]:
            leaving.locks = leaving.locks - set(acquired)
        if end is None:
            return None
        end.locks = end.locks - set(acquired)
        for effect in contexts:
            if effect.kind == "begin":
                self.apply([Effect("commit", node=node)], node, end, [])
        if node.is_async and len(acquired) < len(node.items):
            end.mark_await(self.await_step(node))
        return end

    def enter_context(self, expr: model.Expr, state: State) -> list[Effect] | None:
        for recognizer in self._enterers:
            effects: list[Effect] | None = recognizer.enter(expr, Context(self, state, [], [], False))
            if effects is not None:
                return effects
        return None

    def project_context(self, expr: model.Expr) -> list[Effect] | None:
        """A context manager of the project the index knows opens a transaction (`with
        audited_block():`, through any number of wrappers)."""
        opens = getattr(self.facts, "opens_transaction", None)
        if callable(opens) and opens(expr, self.current_module()):
            return [Effect("begin")]
        return None

    def current_module(self) -> model.ModuleModel:
        return (self.frames[-1].module if self.frames else None) or self.module

    def project_lock(self, expr: model.Expr) -> bool:
        """A project context manager the index knows holds a lock (`with order_lock(pk):` around
        `cache.lock(...)` or `Lock.acquire()`)."""
        opens = getattr(self.facts, "opens_lock", None)
        return callable(opens) and bool(opens(expr, self.current_module()))

    def project_transaction(self, frame: Frame) -> bool:
        """The project index says the function runs in a transaction: a project decorator opens
        one, or (for the root only: a callee has its caller's state) every caller holds one."""
        holds = getattr(self.facts, "holds_transaction", None)
        if not callable(holds):
            return False
        return bool(holds(frame.function, frame.module or self.module, callers=not self.frames[:-1]))

    def project_caller_lock(self, frame: Frame) -> bool:
        """For the root only (a callee has its caller's state): the project index says every
        caller holds a lock around the call, so the whole body runs under one."""
        if self.frames[:-1]:
            return False
        holds = getattr(self.facts, "holds_lock", None)
        return callable(holds) and bool(holds(frame.function, frame.module or self.module))

    def exec_try(self, node: model.Try, state: State) -> State | None:
        self.caught.append({name for handler in node.handlers for name in handler.types})
        self.catchers.append(node.handlers)
        try:
            body = self.exec_block(node.body, state.copy())
        finally:
            self.caught.pop()
            self.catchers.pop()
        if node.orelse:
            body = self.exec_block(node.orelse, body)
        entry = join([state, body]) or state
        handlers = [self.exec_block(h.body, entry.copy()) for h in node.handlers]
        end = join([body, *handlers])
        if node.final:
            end = self.exec_block(node.final, end or entry.copy())
        return end

    # -- assignments ----------------------------------------------------------------------------
    def exec_assign(self, node: model.Assign, state: State) -> None:
        if node.value is None:
            return  # an annotation alone binds nothing
        if node.op is not None:
            for target in node.targets:
                self.aug_assign(target, node.value, state)
            return
        before = self.atomic_values
        values = self.eval(node.value, state)
        atomic = self.atomic_values > before
        for target in node.targets:
            self.assign(target, node.value, values, state, atomic=atomic)

    def assign(
        self,
        target: model.Expr,
        value: model.Expr,
        values: list[Access],
        state: State,
        *,
        atomic: bool = False,
    ) -> None:
        if isinstance(target, model.Name) and self.is_local(target.id):
            self.frame.constants.pop(target.id, None)  # rebound: no longer the caller's literal
            if self.fresh_value(value, state):
                state.fresh, state.plain = state.fresh | {target.id}, state.plain - {target.id}
            else:
                state.fresh, state.plain = state.fresh - {target.id}, state.plain | {target.id}
            if values and not _new_object_of_memory(value, values[0]):
                state.aliases[target.id] = _combined_read(value, values)
            else:
                state.aliases.pop(target.id, None)
            if isinstance(value, model.Literal | model.Template):
                text = self.profile.string(value, self.frame)
                if text is not None:
                    self.frame.strings[target.id] = text
            return
        if isinstance(target, model.Collection):
            if values and values[0].selected:
                values = [replace(values[0], column_value=True), *values[1:]]  # a SQL row's columns
            elements = target.elements
            if _counts_positions(value) and len(elements) == 2:
                # `for i, row in enumerate(rows)`: `i` is where the row came in the sequence, no value
                # of the row (`row.order = i` renumbers the rows blindly, nothing of theirs is lost);
                # it still says how many rows came first (`if i >= limit:` decides on the rows).
                counted = [replace(a, steps=(self.step(value, "read"),)) for a in values]
                self.assign(elements[0], value, counted, state)
                elements = elements[1:]
            for element in elements:
                self.assign(element, value, values, state)
            return
        if isinstance(target, model.Opaque):  # `*rest` in an unpacking
            for child in target.children:
                self.assign(child, value, values, state)
            return
        target_key = self.write_key(target, state)
        if target_key is None:
            return
        key, alias = target_key
        if is_memory_key(key):
            stored = _references(value, state)
            # Storing again the object a check looked at acts on nothing the check decided (the
            # object's own fields, set elsewhere, are writes of their own).
            check = state.checks.get(key)
            restored = check is not None and any(check.steps[0].order == a.steps[0].order for a in stored)
            if restored:
                del state.checks[key]
            self.write(key, target, [a for a in values if a not in stored], state)
            if restored and check is not None:
                state.checks[key] = check
        elif not _item_of_derived_value(key, target):
            origin = state.aliases.get(alias) if alias else None
            # `user.team_id = team.id`: a primary key, which no concurrent update changes, is
            # copied, not computed from the row's state (the new team was built from the user row).
            derived = not _primary_key_of(value) and any(
                _computed_from(a, origin, target) for a in values if a.key == key
            )
            body = self.frame.function.body
            same = not derived and (
                same_for_every_racer(value, lambda name: self.bound_once(name, body))
                or refreshes(target, value, [t for depth, t in self.tests if depth == len(self.frames)])
                or (isinstance(target, model.Attribute) and one_way(self.facts, key, target.attr, value))
                or self.compared_before(key, target, value, state)
            )
            self.mark_dirty(key, alias, target, state, derived=derived, atomic=atomic, same_value=same)

    def aug_assign(self, target: model.Expr, value: model.Expr, state: State) -> None:
        # The target's current value is loaded before the right side runs (Python and JavaScript):
        # `x[k] += await price()` reads x[k], yields, then writes what it read plus the price.
        read = self.step(target, "read")
        locks_at_read, await_before = state.locks, state.last_await
        before = self.atomic_values
        values = self.eval(value, state)
        atomic = self.atomic_values > before
        if isinstance(target, model.Name) and self.is_local(target.id):
            previous = state.aliases.get(target.id)
            if previous is not None or values:
                state.aliases[target.id] = previous or values[0]
            return
        target_key = self.write_key(target, state)
        if target_key is None:
            return
        key, through = target_key
        if not is_memory_key(key):
            if not _item_of_derived_value(key, target):
                self.mark_dirty(key, through, target, state, derived=True, atomic=atomic)
            return
        # `x += n` reads the current value in the same statement: atomic for async code unless the
        # right side awaits, a read-modify-write for threads.
        awaited = state.last_await if state.last_await is not await_before else None
        fresh = Access(key, (read,), locks_at_read, awaited)
        self.write(key, target, [*values, fresh], state)

    def delete(self, target: model.Expr, state: State) -> None:
        targets = target.elements if isinstance(target, model.Collection) else (target,)
        for item in targets:
            target_key = self.write_key(item, state)
            if target_key is not None and not isinstance(item, model.Name) and is_memory_key(target_key[0]):
                self.write(target_key[0], item, [], state)

    def write_key(self, target: model.Expr, state: State) -> tuple[str, str | None] | None:
        """The state a store to `target` writes, and the alias it goes through (if any)."""
        if isinstance(target, model.Name):
            shared = target.id in self.frame.globals and self.profile.is_shared_global(
                target.id, rebinding=True
            )
            return (target.id, None) if shared else None
        if not isinstance(target, model.Subscript | model.Attribute):
            return None
        if isinstance(target, model.Subscript):
            self.eval(target.index, state)
        key = self.profile.shared_key(target, self.frame)
        if key is not None:
            return key, None
        base = _chain_base(target)
        if isinstance(base, model.Name) and base.id in state.aliases and self.is_local(base.id):
            return state.aliases[base.id].key, base.id
        return None

    # -- expressions ----------------------------------------------------------------------------
    def eval(self, expr: model.Expr, state: State, *, test: bool = False) -> list[Access]:
        """Interpret `expr` for its effects; return the reads of shared state its value carries."""
        if isinstance(expr, model.Name):
            return self.read_name(expr, state, test=test)
        if isinstance(expr, model.Attribute | model.Subscript):
            return self.read_chain(expr, state, test=test)
        if isinstance(expr, model.Call):
            return self.eval_call(expr, state, awaited=False, test=test)
        if isinstance(expr, model.Await):
            return self.eval_await(expr, state, test=test)
        if isinstance(expr, model.Literal):
            return []
        if isinstance(expr, model.Operation):
            return [a for operand in expr.operands for a in self.eval(operand, state, test=test)]
        if isinstance(expr, model.Walrus):
            values = self.eval(expr.value, state, test=test)
            self.assign(expr.target, expr.value, values, state)
            return values
        if isinstance(expr, model.Conditional):
            # `user.name if user.name else user.email` picks a value, it decides no action: its test
            # is a read the value depends on, not the check of a check-then-act.
            chosen = self.eval(expr.test, state, test=False)
            return chosen + self.eval(expr.body, state) + self.eval(expr.orelse, state)
        if isinstance(expr, model.Template):
            return [
                a
                for part in expr.parts
                if not isinstance(part, str)
                for a in self.eval(part, state, test=test)
            ]
        if isinstance(expr, model.Collection):
            # A comprehension's iterables run first; what it reads from them flows into its value.
            values = [a for source in expr.sources for a in self.eval(source, state, test=test)]
            values += [a for element in expr.elements for a in self.eval(element, state, test=test)]
            for condition in expr.conditions:
                self.eval(condition, state, test=True)
            return values
        if isinstance(expr, model.Opaque):
            if expr.kind == "lambda":
                return []  # its body runs when it is called, which this path does not show
            values = [a for child in expr.children for a in self.eval(child, state, test=test)]
            return values if expr.carries else []
        return []

    def read_name(self, expr: model.Name, state: State, *, test: bool) -> list[Access]:
        alias = state.aliases.get(expr.id)
        if alias is not None and self.is_local(expr.id):
            # The bare value of a local read earlier: stale if anything happened since.
            if test:
                check = alias.with_step(self.step(expr, "check"), decision=True)
                if expr in self.existence_tests and not is_memory_key(alias.key) and not alias.column_value:
                    check = replace(check, detail=check.detail | EXISTENCE)  # `if row is None:`
                elif alias.selected:
                    # `(n,) = cur.fetchone(); if n <= 0:` tests the columns the SELECT returned.
                    check = replace(check, checked=check.checked | alias.selected)
                state.checks[alias.key] = check
            return [alias]
        key = self.profile.shared_key(expr, self.frame)
        if key is None:
            return []
        return [self.record_read(key, expr, state, test=test, origin=())]

    def read_chain(
        self, expr: model.Attribute | model.Subscript, state: State, *, test: bool
    ) -> list[Access]:
        if isinstance(expr, model.Subscript):
            self.eval(expr.index, state)
        key = self.profile.shared_key(expr, self.frame)
        if key is not None:
            return [self.record_read(key, expr, state, test=test, origin=())]
        base: model.Expr = expr.value
        while isinstance(base, model.Subscript | model.Attribute):
            if isinstance(base, model.Subscript):
                self.eval(base.index, state)
            base = base.value
        if isinstance(base, model.Name) and base.id in state.aliases and self.is_local(base.id):
            alias = state.aliases[base.id]
            if is_memory_key(alias.key):
                # `coupon["used"]` through a reference taken earlier: a live read of the shared state.
                return [self.record_read(alias.key, expr, state, test=test, origin=alias.steps[:1])]
            if _own_value(state, alias, expr):
                return []  # `doc.modified = now()` earlier on this path: the code's value, not the row's
            if _bookkeeping(expr):
                return []  # `row._state.adding`: whether the object is new, no stored column
            # `row["balance"]` of a row fetched earlier: the value as it was at the fetch.
            seen = alias.with_step(self.step(expr, "check" if test else "read"), decision=test)
            seen = replace(seen, detail=seen.detail | looked_at(expr))
            if test:
                # `row[0]` names no column: it is one of those the SQL read selected.
                named = frozenset(looked_at(expr)) or alias.selected
                seen = replace(seen, checked=named | _checked_before(state, seen))
                state.checks[alias.key] = seen
            return [seen]
        return self.eval(base, state, test=test)

    def record_read(
        self, key: str, node: model.Node, state: State, *, test: bool, origin: tuple[Step, ...]
    ) -> Access:
        access = Access(key, (*origin, self.step(node, "check" if test else "read")), state.locks, None, test)
        if test:
            state.checks[key] = access
        return access

    def eval_await(self, expr: model.Await, state: State, *, test: bool = False) -> list[Access]:
        # `if await r.get(k) is not None:` decides on what the awaited call read.
        inner = expr.value
        if isinstance(inner, model.Call):
            if self.is_lock_call(inner, "acquire", state):
                return []
            callee = self.resolve(inner)
            if callee is not None and callee[0].is_async:
                # Awaiting a coroutine of the project: it yields only where its own body awaits.
                return self.eval_call(inner, state, awaited=True, test=test)
            values = self.eval_call(inner, state, awaited=True, test=test)
        else:
            values = self.eval(inner, state, test=test)
        state.mark_await(self.await_step(expr))
        return values

    def eval_call(self, call: model.Call, state: State, *, awaited: bool, test: bool) -> list[Access]:
        check_deadline()
        if self.is_lock_call(call, "acquire", state) or self.is_lock_call(call, "release", state):
            return []
        receiver_values: list[Access] = []
        method = call.method
        receiver = call.receiver
        receiver_key: str | None = None
        if receiver is not None:
            if method in self.profile.container_methods:
                receiver_key = self.memory_receiver(receiver, state)
            if receiver_key is None and not self.is_chain_start(call):
                receiver_values = self.eval(receiver, state, test=test)
        # `if len(cart) >= 10:` decides on `cart` just as `if cart:` does.
        self.outer_calls.append(call)
        try:
            per_argument = [self.eval(arg.value, state, test=test) for arg in call.args]
        finally:
            self.outer_calls.pop()
        args = [access for values in per_argument for access in values]
        if receiver_key is None and method in self.profile.mutating_methods:
            self.change_in_place(call, state)
        if receiver_key is not None and method is not None:
            if method in self.profile.mutating_methods:
                self.write(receiver_key, call, args, state)
                return []
            return [self.record_read(receiver_key, call, state, test=test, origin=())]
        if self.recognizers:
            context = Context(self, state, args, receiver_values, test, per_argument)
            for recognizer in self.recognizers:
                effects = recognizer.effects(call, context)
                if effects is not None:
                    fresh = self.fresh_lookup(call, state)
                    return self.apply(effects, call, state, [*receiver_values, *args], test=test, fresh=fresh)
        callee = self.resolve(call)
        row = None if callee is not None else self.row_method(call, state)
        if row is not None:
            callee = row[0]
        if callee is not None and (not callee[0].is_async or awaited):
            inlined = self.inline(callee, call, state, per_argument, receiver=row[1] if row else None)
            if callee[1].bound_class is not None and self.fresh_lookup(call, state):
                # `Client.get_by(client_id=new_id)`: the class method's lookup by the keywords given.
                inlined = [replace(a, fresh=True) for a in inlined]
            if test:
                inlined = [self.decide_on(access, call, state) for access in inlined]
                self.own_method_test(call, state)
            if any(access.inserts_only for access in inlined):
                # `sub = Plan.get_by(owner_id=user.id)` holds a Plan row, not the user row its
                # argument was read from. (Other helpers keep the arguments first: a helper that
                # computes from a row it was given still hands back a value of that row.) A helper
                # returning a row it built on one path and a loaded one on another holds the new row.
                built = [access for access in inlined if access.inserts_only]
                return [*built, *[access for access in inlined if not access.inserts_only], *args]
            return [*args, *inlined]
        if test:
            self.own_method_test(call, state)
        if not pure_call(call) and not self.local_collection_call(call):
            self.act()  # nothing here says what it does: it may act (idempotent.py)
        return [*receiver_values, *args]

    def local_collection_call(self, call: model.Call) -> bool:
        """`conditions.append(x)`, `seen.add(k)` on a list, set or dict the function built itself:
        it changes nothing outside the request (`idempotent.py`: no action)."""
        receiver = call.receiver
        if call.method not in _COLLECTION_METHODS or not isinstance(receiver, model.Name):
            return False
        if not self.is_local(receiver.id):
            return False
        bound = self.bound_once(receiver.id, self.frame.function.body)
        if isinstance(bound, model.Call) and isinstance(bound.func, model.Name):
            return bound.func.id in ("list", "set", "dict") and not bound.args
        return isinstance(bound, model.Collection)

    def fresh_lookup(self, call: model.Call, state: State) -> bool:
        """The query `call` ends is pinned to a value unique to this request (`core/fresh.py`)."""
        return pins_fresh_value(call, lambda expr: self.fresh_value(expr, state))

    def change_in_place(self, call: model.Call, state: State) -> None:
        """`row.metadata.update(items)`, `row.settings.pop(key)`: a JSON field of a row read earlier
        changed in place, so the value saved is computed from the stored one (a save writes the
        whole field back over concurrent changes to its other keys). A keyword-only `update` is a
        related manager's queryset update (`order.lines.update(status=s)`), not a dict's."""
        receiver = call.receiver
        if call.method not in _IN_PLACE or not isinstance(receiver, model.Attribute):
            return
        if call.method == "update" and not any(arg.keyword is None for arg in call.args):
            return
        base = receiver.value
        if not (isinstance(base, model.Name) and base.id in state.aliases and self.is_local(base.id)):
            return
        alias = state.aliases[base.id]
        if not is_memory_key(alias.key) and not _own_value(state, alias, receiver):
            self.mark_dirty(alias.key, base.id, receiver, state, derived=True)

    def own_method_test(self, call: model.Call, state: State) -> None:
        """`if board.is_open():` tested the row through its own method: which attributes it read is
        not known here, so the check may be on what the path writes (not an unrelated check). A
        model method whose body is at hand and that only reads columns the lookup matched the row
        on (`get_object_or_404(Channel, code=code)`, then `make_token()` of `self.code`) tested no
        more than the lookup did (`walk.own_attributes_read`)."""
        receiver = call.receiver
        if isinstance(receiver, model.Attribute | model.Subscript) and call.method:
            self.attribute_method_test(receiver, state)
            return
        if not (isinstance(receiver, model.Name) and call.method and self.is_local(receiver.id)):
            return
        alias = state.aliases.get(receiver.id)
        if alias is None:
            return
        check = state.checks.get(alias.key)
        if check is not None and check.steps[0].order == alias.steps[0].order:
            row = self.row_method(call, state)
            tested = own_attributes_read(row[0][0]) if row is not None else None
            if tested is None or not tested <= alias.detail - alias.checked - EXISTENCE:
                tested = frozenset({OWN_METHOD})
            state.checks[alias.key] = replace(check, checked=check.checked | tested)

    def attribute_method_test(self, receiver: model.Attribute | model.Subscript, state: State) -> None:
        """`if form.instance.describe():` asked a method of an attribute of a value read earlier;
        noted on the check that attribute made (`ATTRIBUTE_METHOD`), so the attribute is not taken
        for all the test looked at (`python/stores/_orm_members.py`)."""
        base = _chain_base(receiver)
        if not (isinstance(base, model.Name) and self.is_local(base.id)):
            return
        alias = state.aliases.get(base.id)
        check = state.checks.get(alias.key) if alias is not None else None
        if check is not None and check.steps[-1].node is receiver:
            state.checks[check.key] = replace(check, checked=check.checked | {ATTRIBUTE_METHOD})

    def decide_on(self, access: Access, call: model.Call, state: State) -> Access:
        """`if Alias.get_by(email=e):` / `if not find_order(pk):`: the caller's test decides on
        what the helper read and returned, as `row = helper(); if row:` does."""
        if is_memory_key(access.key):
            return access
        check = access.with_step(self.step(call, "check"), decision=True)
        if call in self.existence_tests:
            check = replace(check, detail=check.detail | EXISTENCE)
        state.checks[access.key] = check
        return check

    def row_method(self, call: model.Call, state: State) -> tuple[Callee, Access] | None:
        """`card.add_points(n)` on a row read earlier: the model's method runs with `self` as that row."""
        receiver, method = call.receiver, call.method
        if not (isinstance(receiver, model.Name) and method is not None and self.is_local(receiver.id)):
            return None
        alias = state.aliases.get(receiver.id)
        if alias is None or is_memory_key(alias.key):
            return None
        callee = self.profile.row_method(alias.key, method)
        if callee is None:  # a model declared in another module (project index)
            project = getattr(self.facts, "row_method", None)
            callee = project(alias.key, method) if callable(project) else None
        return (callee, alias) if callee is not None else None

    def is_chain_start(self, call: model.Call) -> bool:
        """Recognizers that read a whole query chain at its outer call evaluate the inside themselves."""
        return any(r.owns_chain(call) for r in self._chain_owners)

    def memory_receiver(self, receiver: model.Expr, state: State) -> str | None:
        """The in-process state a method is called on: `coupons.get(...)`, `self.items.append(...)`."""
        key = self.profile.shared_key(receiver, self.frame)
        if key is not None:
            if isinstance(receiver, model.Subscript):
                self.eval(receiver.index, state)
            return key
        base = _chain_base(receiver)
        if isinstance(base, model.Name) and base.id in state.aliases and self.is_local(base.id):
            alias_key = state.aliases[base.id].key
            return alias_key if is_memory_key(alias_key) else None
        return None

    def is_lock_call(self, call: model.Call, method: str, state: State) -> bool:
        """`lock.acquire()` / `lock.release()` outside a `with`: open or close a lock region."""
        receiver = call.receiver
        if call.method != method or receiver is None or not self.profile.is_lock(receiver):
            return False
        region = self.region("manual:" + self.profile.text(receiver))
        state.locks = state.locks | {region} if method == "acquire" else state.locks - {region}
        return True

    # -- calls into the project -------------------------------------------------------------------
    def inline(
        self,
        callee: Callee,
        call: model.Call,
        state: State,
        per_argument: list[list[Access]],
        *,
        receiver: Access | None = None,
    ) -> list[Access]:
        function, frame = callee
        self.memo.deepened(len(self.frames))
        if len(self.frames) >= MAX_CALL_DEPTH:
            return []
        self.memo.probed(function)
        if any(f.function is function for f in self.frames):
            return []
        bound = self.class_of_call(call, function, frame)
        forwarded = BINDER.forwarded(function, call)
        if bound is not None or forwarded:
            function, frame.module = BINDER.bind(function, bound, frame.module, forwarded)
            frame.function, frame.bound_class = function, bound
        qualname = self.profile.qualname(function, frame.self_class)
        foreign = frame.module is not None and frame.module is not self.module
        # A function of another module is not one of this module's roots, whatever its name.
        self.memo.reach(f"{frame.module.path}:{qualname}" if foreign and frame.module else qualname)
        if not foreign:
            # A base class's method run for a subclass (`self.helper()`) is reached under its own name too.
            self.memo.reach(function.qualname)
        entry = state.copy()
        entry.aliases = {}
        entry.last_await = None
        entry.fresh = entry.plain = frozenset()
        self.bind_arguments(function, call, entry, state, per_argument, frame)
        if binds_class(function) and isinstance(call.receiver, model.Name):
            # A class method called on a class (`Browser.create(token=tok)`): its insert's columns.
            caller = self.frame if binds_class(self.frame.function) else None
            given = {a.keyword for a in call.args if a.keyword is not None}
            fresh = {
                a.keyword for a in call.args if a.keyword is not None and self.fresh_value(a.value, state)
            }
            if not any(a.star == "**" for a in call.args):
                frame.given_columns = frozenset(given) | (caller.given_columns if caller else frozenset())
            frame.fresh_columns = frozenset(fresh) | (caller.fresh_columns if caller else frozenset())
        if receiver is not None:
            entry.aliases["self"] = receiver
        replayed, mark = self.memo.replayed(frame, entry)
        end = entry if replayed else self.run_inlined(call, frame, entry, foreign=foreign)
        if end is None:
            # Every path of the callee raised: nothing flows on from here in the caller.
            end = entry
        if mark is not None:
            self.memo.record(mark, frame, end)
        if frame.returns_fresh:
            self.fresh_calls.add(call)
        state.adopt(end)
        if end.last_await is not None:
            # An await inside the callee also separates the caller's earlier reads from later writes.
            state.mark_await(end.last_await)
        if frame.bound_class is not None:
            return [replace(a, inserts_only=True) for a in frame.returned]
        return frame.returned

    def run_inlined(self, call: model.Call, frame: Frame, entry: State, *, foreign: bool) -> State | None:
        self.call_sites.append(call)
        away = self.away
        if foreign and away is None:
            self.away = call
        try:
            return self.run(frame, entry)
        finally:
            self.call_sites.pop()
            self.away = away

    def class_of_call(self, call: model.Call, function: model.Function, callee: Frame) -> str | None:
        """The class an inherited class method is called on: `Alias.get_by(...)` (a class name, not
        a local) running a mixin's `get_by`, or `cls.create(...)` inside one already run for a
        class. A class's own method keeps its `cls` (its class attributes are in-process state)."""
        receiver = call.receiver
        if not (binds_class(function) and isinstance(receiver, model.Name)):
            return None
        if receiver.id == "cls":
            return self.frame.bound_class
        inherited = callee.self_class != receiver.id
        if inherited and receiver.id[:1].isupper() and not self.is_local(receiver.id):
            return receiver.id
        return None

    def bind_arguments(
        self,
        function: model.Function,
        call: model.Call,
        entry: State,
        state: State,
        per_argument: list[list[Access]],
        callee: Frame,
    ) -> None:
        """Parameters stand for what the arguments carried: a row, a value derived from a read."""
        names = [n for n in function.params if n not in ("self", "cls")]
        positional = [i for i, arg in enumerate(call.args) if arg.keyword is None and not arg.star]
        bound = dict(zip(names, positional, strict=False))
        for i, arg in enumerate(call.args):
            if arg.keyword is not None and arg.keyword in names:
                bound[arg.keyword] = i
        for name, i in bound.items():
            value = call.args[i].value
            if self.fresh_value(value, state):
                entry.fresh = entry.fresh | {name}
            if isinstance(value, model.Literal) and isinstance(value.value, bool | int | None):
                callee.constants[name] = value.value
            if isinstance(value, model.Name) and value.id in state.aliases:
                entry.aliases[name] = state.aliases[value.id]
            elif per_argument[i]:
                entry.aliases[name] = per_argument[i][0]
            elif (key := self.profile.shared_key(value, self.frame)) is not None:
                entry.aliases[name] = Access(key, (self.step(value, "read"),), state.locks)


def _combined_read(value: model.Expr, values: list[Access]) -> Access:
    """The read a local computed from several stored reads stands for: the newest one. `free =
    pool_range - taken` (the parent row's range less the children a query found) is decided on
    when tested, and what can go stale is the children found last, which a concurrent request
    adds to (netbox's free addresses, issue 11); the first operand, the parent loaded to scope
    that query, changes nothing the decision depends on."""
    first = values[0]
    if not isinstance(value, model.Operation) or len(values) < 2 or is_memory_key(first.key):
        return first
    stored = [a for a in values if a.steps and not is_memory_key(a.key)]
    return max(stored, key=lambda a: a.steps[0].order, default=first)


# A mapping's in-place changes. Not a list's: on an ORM row a list attribute is as often a
# relationship collection (SQLAlchemy's `team.members.append(user)` inserts a link, it rewrites
# no column), nor a set's: Django's related managers `add`/`remove`/`set` write at once.
_IN_PLACE = frozenset({"update", "setdefault", "pop", "popitem"})


def _new_object_of_memory(value: model.Expr, read: Access) -> bool:
    """`oauth = OAuth2Session(scope=_SCOPE)`, `snapshot = dict(STATE)`: a function or constructor
    given shared in-process state returns a new object; writing to it changes nothing shared.
    (A method on the shared object, `CACHE.get(k)`, may hand back a part of it: still an alias.)
    A literal built from it (`{...options, id}`, `[DEFAULTS.a]`, `{"k": CONFIG["k"]}`) is a new
    object as well: setting its fields later writes nothing shared (Ghost, issue 12 review)."""
    if not is_memory_key(read.key):
        return False
    if isinstance(value, model.Collection) and value.kind == "comprehension":
        # `[self.get_run(i) for i in ids]` gathers the shared objects themselves: a loop over the
        # list reaches them (fishtest's update_nps_gpm); a comprehension building new items does not.
        return any(
            isinstance(e, model.Collection | model.Literal | model.Template)
            or (isinstance(e, model.Call) and e.receiver is None)
            for e in value.elements
        )
    return isinstance(value, model.Collection) or (isinstance(value, model.Call) and value.receiver is None)


def _references(value: model.Expr, state: State) -> list[Access]:
    """In-process objects the value stores as they are (`cache[k] = {"run": run}` for a `run` read
    as `cache[k]["run"]`): a reference kept again is not computed from what the object held, so
    it is no read-modify-write (a check on the object still is). A reference fetched with a default
    (`lst = d.get(k, [])`) may be a new object and stays a value."""
    names = [value] if isinstance(value, model.Name) else []
    if isinstance(value, model.Collection) and value.kind != "comprehension":
        names = [e for e in value.elements if isinstance(e, model.Name)]
    found = []
    for name in names:
        alias = state.aliases.get(name.id) if isinstance(name, model.Name) else None
        if alias is not None and is_memory_key(alias.key):
            origin = alias.steps[0].node
            if isinstance(origin, model.Subscript | model.Attribute):
                found.append(alias)
    return found


def _item_of_derived_value(key: str, target: model.Expr) -> bool:
    """`response["solves"] = n` where `response = serializer.read(row)`: the local is subscripted
    directly, so it holds a dict derived from the row, and a store whose rows are objects
    (`StoreSpec.attribute_rows`) has no row changed. `row.metadata["k"] = v` still changes one."""
    return (
        isinstance(target, model.Subscript)
        and isinstance(target.value, model.Name)
        and spec(store_of(key)).attribute_rows
    )


def _own_value(state: State, row: Access, expr: model.Expr) -> bool:
    """`doc.modified = timezone.now()` then `update(modified=doc.modified)`: reading back attributes
    this path overwrote with a value of its own reads nothing of the stored row (paperless, issue 11
    review). A change computed from the row (`n = n + 1`) still carries the read."""
    change = state.dirty.get(row.key)
    if change is None or change.steps[0].order != row.steps[0].order or change.steps[-1].role != "overwrite":
        return False
    names = looked_at(expr)
    return bool(names) and names <= change.written


# Attributes an ORM keeps on a row object about the object itself, never a column: Django's
# `_state` (`adding`: built in memory and not saved yet; `db`). Testing one decides nothing about
# stored data (healthchecks saves a new check whole and a loaded one with update_fields).
_BOOKKEEPING = frozenset({"_state"})


def _bookkeeping(expr: model.Expr) -> bool:
    while isinstance(expr, model.Attribute | model.Subscript):
        if isinstance(expr, model.Attribute) and expr.attr in _BOOKKEEPING:
            return True
        expr = expr.value
    return False


def _primary_key_of(value: model.Expr) -> bool:
    """`team.id` / `obj.pk`: the key of a row, fixed when it was inserted."""
    return isinstance(value, model.Attribute) and value.attr in ("id", "pk")


def _computed_from(value: Access, row: Access | None, target: model.Expr) -> bool:
    """`row.n = row.n + 1` is computed from the row's copy: a concurrent change of `n` is lost.
    A value read from another row of the model (`iface.bridge = Interface.objects.get(...)`), or
    from other attributes of this one only (`task.duration = now - task.started`, a file name built
    from `bundle.slug`), overwrites the attribute as a request value would (issue 11 review: such
    writes after a check on other columns were reported as lost updates of nothing). A value that
    names no attribute of the row (the row handed to a function) may derive from any of them."""
    if row is None or value.steps[0].order != row.steps[0].order:
        return row is None
    looked = value.detail - row.detail
    return not looked or bool(looked & looked_at(target))


def _counts_positions(value: model.Expr) -> bool:
    """`enumerate(rows)`: pairs of a counter and an item, the counter no value of the items."""
    return isinstance(value, model.Call) and value.name == "enumerate"


def _chain_base(expr: model.Expr) -> model.Expr:
    while isinstance(expr, model.Subscript | model.Attribute):
        expr = expr.value
    return expr


def _checked_before(state: State, check: Access) -> frozenset[str]:
    """Attributes earlier checks on the same read of the row looked at (`if a.x and a.y:`)."""
    previous = state.checks.get(check.key)
    if previous is None or previous.steps[0].order != check.steps[0].order:
        return frozenset()
    return previous.checked


def _taken_past_guards(frame: Frame, end: State | None, entry_locks: frozenset[int]) -> frozenset[int]:
    """The locks a helper takes on every path that does its work, when its other paths are guard
    clauses that took none and return nothing (`if not objects: return`, then a lock per object):
    the caller that handed it something to lock holds them."""
    bare = [state for state in frame.bare_returns if state.locks == entry_locks]
    if not bare:
        return frozenset()
    guards = {id(state) for state in bare}
    working = [state for state in [*frame.returns, end] if state is not None and id(state) not in guards]
    if not working:
        return frozenset()
    return frozenset.intersection(*(state.locks - entry_locks for state in working))
