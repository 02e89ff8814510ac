"""RC1xx: in-process shared state read, then written, by concurrently running handlers.

Each handler is interpreted abstractly, statement by statement, in execution order. The state of the
interpretation records, per piece of shared state (a module-level container, a class attribute, an
attribute of a module-level service object, `app.state.x`):

- the last *check* on it (a read inside an `if`/`while`/`assert` test), and
- which local variables hold a value or reference read from it (aliases),

each with the `await` that followed it (if any) and the locks that were held when it was read.
A write to the same state then completes a racy sequence when

- async handler: the check (or the value the write is computed from) was read before an `await`,
  and no lock held at the read is still held at the write (RC101);
- threaded handler: the check or the value was read at all with no lock still held (RC102),
  since threads interleave anywhere.

Branches are interpreted separately and joined; calls to functions and methods of the same file are
interpreted in place, so a read in one helper and a write in another form one sequence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from itertools import count
from typing import Literal

import libcst as cst

from ..findings import Confidence, Evidence, Finding, Severity
from ..rules import RULES
from ._frameworks import Handler, find_handlers
from ._module import ModuleIndex, dotted_name

__all__ = ["check_shared_state"]

Mode = Literal["async", "threaded"]

_MUTABLE_FACTORIES = {
    "dict",
    "list",
    "set",
    "bytearray",
    "collections.defaultdict",
    "collections.OrderedDict",
    "collections.Counter",
    "collections.deque",
    "collections.ChainMap",
    "weakref.WeakValueDictionary",
    "weakref.WeakKeyDictionary",
    "weakref.WeakSet",
    "typing.DefaultDict",
}
_LOCK_FACTORIES = {
    "asyncio.Lock",
    "asyncio.Semaphore",
    "asyncio.BoundedSemaphore",
    "asyncio.Condition",
    "threading.Lock",
    "threading.RLock",
    "threading.Semaphore",
    "threading.BoundedSemaphore",
    "threading.Condition",
    "anyio.Lock",
    "anyio.Semaphore",
    "anyio.CapacityLimiter",
    "multiprocessing.Lock",
    "multiprocessing.RLock",
}
_LOCKISH_NAME = re.compile(r"(lock|mutex|semaphore|_sem\b|^sem\b)", re.IGNORECASE)
_MUTATING_METHODS = {
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
_MUTABLE_CLASS_NAMES = ("defaultdict", "OrderedDict", "Counter", "deque")
_MAX_CALL_DEPTH = 5
_FRAMEWORK_NAMES = {"fastapi": "FastAPI", "starlette": "Starlette", "flask": "Flask", "aiohttp": "aiohttp"}


@dataclass(frozen=True)
class Step:
    """One step of a sequence; positions are resolved only for steps that end up in a finding."""

    node: cst.CSTNode = field(compare=False)
    role: str
    order: int


@dataclass(frozen=True)
class Access:
    """A read of shared state `key`: where it happened, the locks held then, the first await after."""

    key: str
    steps: tuple[Step, ...]
    locks: frozenset[int]
    awaited: Step | None = None
    decision: bool = False

    def with_step(self, step: Step, *, decision: bool) -> Access:
        return replace(self, steps=(*self.steps, step), decision=self.decision or decision)


@dataclass
class State:
    """The abstract state on one path through the function."""

    checks: dict[str, Access] = field(default_factory=dict)
    aliases: dict[str, Access] = field(default_factory=dict)
    locks: frozenset[int] = frozenset()
    last_await: Step | None = None

    def copy(self) -> State:
        return State(dict(self.checks), dict(self.aliases), self.locks, self.last_await)

    def mark_await(self, step: Step) -> None:
        self.last_await = step
        self.checks = {k: a if a.awaited else replace(a, awaited=step) for k, a in self.checks.items()}
        self.aliases = {k: a if a.awaited else replace(a, awaited=step) for k, a in self.aliases.items()}


def _prefer(a: Access, b: Access) -> Access:
    """At a join, keep the access that leaves the wider race window."""
    if (a.awaited is None) != (b.awaited is None):
        return a if a.awaited is not None else b
    return a if a.steps[0].order <= b.steps[0].order else b


def join(states: Iterable[State | None]) -> State | None:
    live = [s for s in states if s is not None]
    if not live:
        return None
    merged = live[0].copy()
    for other in live[1:]:
        for attr in ("checks", "aliases"):
            mine: dict[str, Access] = getattr(merged, attr)
            for key, access in getattr(other, attr).items():
                mine[key] = _prefer(mine[key], access) if key in mine else access
        merged.locks = merged.locks & other.locks
        merged.last_await = merged.last_await or other.last_await
    return merged


@dataclass
class Frame:
    """One function being interpreted (the handler, or a function it calls)."""

    function: cst.FunctionDef
    locals: set[str]
    globals: set[str]
    self_class: str | None = None
    self_instance: str | None = None
    returns: list[State] = field(default_factory=list)
    returned: list[Access] = field(default_factory=list)


@dataclass
class Sequence_:
    """A racy sequence found while interpreting a root function."""

    key: str
    candidate: Access
    write: Step
    awaited: Step | None


class _Scopes(cst.CSTVisitor):
    """One pass over the module: for every function, the names it binds and the names it declares global.

    Also records `obj.attr = value` assignments, to find attributes that hold locks.
    """

    def __init__(self) -> None:
        self.scopes: dict[cst.FunctionDef, tuple[set[str], set[str]]] = {}
        self.attribute_values: list[tuple[str, cst.BaseExpression]] = []
        self._stack: list[tuple[set[str], set[str]]] = [(set(), set())]

    def _bind(self, target: cst.BaseExpression) -> None:
        if isinstance(target, cst.Name):
            self._stack[-1][0].add(target.value)
        elif isinstance(target, cst.Tuple | cst.List):
            for element in target.elements:
                self._bind(element.value)
        elif isinstance(target, cst.StarredElement):
            self._bind(target.value)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._stack[-1][0].add(node.name.value)
        scope: tuple[set[str], set[str]] = (set(_params(node)), set())
        self.scopes[node] = scope
        self._stack.append(scope)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self._stack.pop()

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._stack[-1][0].add(node.name.value)
        self._stack.append((set(), set()))

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self._stack.pop()

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_Global(self, node: cst.Global) -> None:
        self._stack[-1][1].update(item.name.value for item in node.names)

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            if isinstance(target.target, cst.Attribute):
                self.attribute_values.append((target.target.attr.value, node.value))

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        self._bind(node.target)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._bind(node.target)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._bind(node.target)

    def visit_For(self, node: cst.For) -> None:
        self._bind(node.target)

    def visit_AsName(self, node: cst.AsName) -> None:
        self._bind(node.name)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._bind(node.target)

    def visit_ImportAlias(self, node: cst.ImportAlias) -> None:
        if node.asname is None:
            self._stack[-1][0].add((dotted_name(node.name) or "").split(".")[0])


def _params(function: cst.FunctionDef) -> list[str]:
    params = function.params
    names = [p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)]
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param):
            names.append(star.name.value)
    return names


def _frame_for(scopes: _Scopes, function: cst.FunctionDef, **kwargs: str | None) -> Frame:
    bound, declared_global = scopes.scopes.get(function, (set(_params(function)), set()))
    return Frame(function, bound - declared_global, declared_global, **kwargs)  # type: ignore[arg-type]


def _block(suite: cst.BaseSuite) -> Sequence[cst.BaseStatement | cst.BaseSmallStatement]:
    if isinstance(suite, cst.IndentedBlock):
        return suite.body
    if isinstance(suite, cst.SimpleStatementSuite):
        return suite.body
    return ()


class _Interpreter:
    """Interprets one root function (a handler) and collects its racy sequences."""

    def __init__(self, checker: _Checker, mode: Mode) -> None:
        self.checker = checker
        self.index = checker.index
        self.mode = mode
        self.frames: list[Frame] = []
        self.sequences: dict[str, Sequence_] = {}
        self.visited: set[str] = set()
        self.call_sites: list[cst.Call] = []
        self._lock_ids = count(1)
        self._order = count()

    @property
    def frame(self) -> Frame:
        return self.frames[-1]

    def step(self, node: cst.CSTNode, role: str) -> Step:
        return Step(node, role, next(self._order))

    def await_step(self, node: cst.CSTNode) -> Step:
        """An await; inside a called helper, shown at the call that led into the awaiting function."""
        return self.step(self.call_sites[-1] if self.call_sites else node, "await")

    # -- functions ------------------------------------------------------------------------------
    def run(self, frame: Frame, state: State) -> State | None:
        self.frames.append(frame)
        try:
            end = self.exec_block(_block(frame.function.body), state)
            return join([*frame.returns, end])
        finally:
            self.frames.pop()

    # -- statements -----------------------------------------------------------------------------
    def exec_block(
        self, statements: Sequence[cst.BaseStatement | cst.BaseSmallStatement], state: State | None
    ) -> State | None:
        for statement in statements:
            if state is None:
                return None
            state = self.exec_statement(statement, state)
        return state

    def exec_statement(self, node: cst.CSTNode, state: State) -> State | None:
        if isinstance(node, cst.SimpleStatementLine):
            return self.exec_block(node.body, state)
        if isinstance(node, cst.Expr):
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
        elif isinstance(node, cst.If):
            self.eval(node.test, state, test=True)
            taken = self.exec_block(_block(node.body), state.copy())
            if isinstance(node.orelse, cst.If):
                other = self.exec_statement(node.orelse, state.copy())
            elif isinstance(node.orelse, cst.Else):
                other = self.exec_block(_block(node.orelse.body), state.copy())
            else:
                other = state
            return join([taken, other])
        elif isinstance(node, cst.While):
            self.eval(node.test, state, test=True)
            looped = self.exec_block(_block(node.body), state.copy())
            return join([state, looped])
        elif isinstance(node, cst.For):
            self.eval(node.iter, state)
            if node.asynchronous is not None:
                state.mark_await(self.await_step(node))
            looped = self.exec_block(_block(node.body), state.copy())
            return join([state, looped])
        elif isinstance(node, cst.With):
            return self.exec_with(node, state)
        elif isinstance(node, cst.Try | cst.TryStar):
            return self.exec_try(node, state)
        elif isinstance(node, cst.Match):
            self.eval(node.subject, state, test=True)
            arms = [self.exec_block(_block(case.body), state.copy()) for case in node.cases]
            return join([state, *arms])
        return state

    def exec_with(self, node: cst.With, state: State) -> State | None:
        acquired: list[int] = []
        for item in node.items:
            if self.checker.is_lock(item.item):
                lock_id = next(self._lock_ids)
                acquired.append(lock_id)
                state.locks = state.locks | {lock_id}
            else:
                values = self.eval(item.item, state)
                if node.asynchronous is not None:
                    state.mark_await(self.await_step(item))
                if item.asname is not None:
                    self.assign(item.asname.name, item.item, values, state)
        end = self.exec_block(_block(node.body), state)
        if end is not None:
            end.locks = end.locks - set(acquired)
            if node.asynchronous is not None and len(acquired) < len(node.items):
                end.mark_await(self.await_step(node))
        return end

    def exec_try(self, node: cst.Try | cst.TryStar, state: State) -> State | None:
        body = self.exec_block(_block(node.body), state.copy())
        if node.orelse is not None:
            body = self.exec_block(_block(node.orelse.body), body)
        entry = join([state, body]) or state
        handlers = [self.exec_block(_block(h.body), entry.copy()) for h in node.handlers]
        end = join([body, *handlers])
        if node.finalbody is not None:
            end = self.exec_block(_block(node.finalbody.body), end or entry.copy())
        return end

    # -- assignments ----------------------------------------------------------------------------
    def assign(
        self, target: cst.BaseExpression, value: cst.BaseExpression, values: list[Access], state: State
    ) -> None:
        if isinstance(target, cst.Name) and target.value in self.frame.locals:
            if values:
                state.aliases[target.value] = values[0]
            else:
                state.aliases.pop(target.value, None)
            return
        if isinstance(target, cst.Tuple | cst.List):
            for element in target.elements:
                self.assign(element.value, value, values, state)
            return
        key = self.write_key(target, state)
        if key is not None:
            self.write(key, target, values, state)

    def aug_assign(self, node: cst.AugAssign, state: State) -> None:
        values = self.eval(node.value, state)
        target = node.target
        if isinstance(target, cst.Name) and target.value in self.frame.locals:
            alias = state.aliases.get(target.value)
            if alias is not None or values:
                state.aliases[target.value] = alias or values[0]
            return
        key = self.write_key(target, state)
        if key is None:
            return
        # `x += n` reads the current value in the same statement: atomic for async code,
        # a read-modify-write for threads.
        fresh = Access(key, (self.step(target, "read"),), state.locks)
        self.write(key, target, [*values, fresh], state)

    def delete(self, target: cst.BaseExpression, state: State) -> None:
        targets = [e.value for e in target.elements] if isinstance(target, cst.Tuple) else [target]
        for item in targets:
            key = self.write_key(item, state)
            if key is not None and not isinstance(item, cst.Name):
                self.write(key, item, [], state)

    def write_key(self, target: cst.BaseExpression, state: State) -> str | None:
        """The shared state a store to `target` writes: `d[k] = v`, `obj.attr = v`, global rebinding."""
        if isinstance(target, cst.Name):
            return (
                target.value
                if target.value in self.frame.globals
                and self.checker.is_shared_global(target.value, rebinding=True)
                else None
            )
        if isinstance(target, cst.Subscript | cst.Attribute):
            for element in target.slice if isinstance(target, cst.Subscript) else ():
                self.eval_children(element, state)
            key = self.checker.shared_key(target, self.frame)
            if key is not None:
                return key
            base = target.value
            while isinstance(base, cst.Subscript | cst.Attribute):
                base = base.value
            if isinstance(base, cst.Name) and base.value in state.aliases:
                return state.aliases[base.value].key
        return None

    def write(self, key: str, node: cst.CSTNode, values: list[Access], state: State) -> None:
        candidates = [a for a in values if a.key == key]
        if key in state.checks:
            candidates.append(state.checks[key])
        racy = [a for a in candidates if self.unprotected(a, state)]
        if racy and key not in self.sequences:
            # Report the decision (check-then-act) over a plain read-modify-write, the earliest first.
            worst = min(racy, key=lambda a: (not a.decision, a.steps[0].order))
            self.sequences[key] = Sequence_(key, worst, self.step(node, "write"), worst.awaited)

    def unprotected(self, access: Access, state: State) -> bool:
        """No lock held at the read is still held now; for async code, an await came in between."""
        if access.locks & state.locks:
            return False
        # Threads interleave anywhere: a read made outside the lock that guards the write is a race.
        return access.awaited is not None if self.mode == "async" else True

    # -- expressions ----------------------------------------------------------------------------
    def eval(self, expr: cst.BaseExpression, state: State, *, test: bool = False) -> list[Access]:
        """Interpret `expr` for its effects; return the reads of shared state its value carries."""
        if isinstance(expr, cst.Name):
            return self.read_name(expr, state, test=test)
        if isinstance(expr, cst.Attribute | cst.Subscript):
            return self.read_chain(expr, state, test=test)
        if isinstance(expr, cst.Await):
            return self.eval_await(expr, state)
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
        if alias is not None and expr.value in self.frame.locals:
            # The bare value of a local read earlier: stale if an await came since.
            if test:
                state.checks[alias.key] = alias.with_step(self.step(expr, "check"), decision=True)
            return [alias]
        key = self.checker.shared_key(expr, self.frame)
        if key is None:
            return []
        return [self.record_read(key, expr, state, test=test, origin=())]

    def read_chain(self, expr: cst.Attribute | cst.Subscript, state: State, *, test: bool) -> list[Access]:
        if isinstance(expr, cst.Subscript):
            for element in expr.slice:
                self.eval_children(element, state)
        key = self.checker.shared_key(expr, self.frame)
        if key is not None:
            return [self.record_read(key, expr, state, test=test, origin=())]
        base = expr.value
        while isinstance(base, cst.Subscript | cst.Attribute):
            if isinstance(base, cst.Subscript):
                for element in base.slice:
                    self.eval_children(element, state)
            base = base.value
        if isinstance(base, cst.Name) and base.value in state.aliases and base.value in self.frame.locals:
            # `coupon["used"]` through a reference taken earlier: a live read of the shared state now.
            alias = state.aliases[base.value]
            return [self.record_read(alias.key, expr, state, test=test, origin=alias.steps[:1])]
        return self.eval(base, state, test=test)

    def record_read(
        self, key: str, node: cst.CSTNode, state: State, *, test: bool, origin: tuple[Step, ...]
    ) -> Access:
        access = Access(key, (*origin, self.step(node, "check" if test else "read")), state.locks, None, test)
        if test:
            state.checks[key] = access
        return access

    def eval_await(self, expr: cst.Await, state: State) -> list[Access]:
        inner = expr.expression
        if isinstance(inner, cst.Call):
            if self.is_lock_call(inner, "acquire", state):
                return []
            callee = self.checker.resolve_callee(inner, self.frame)
            if callee is not None and callee[0].asynchronous is not None:
                # Awaiting a coroutine of this file: it yields only where its own body awaits.
                return self.eval_call(inner, state, awaited=True, test=False)
            values = self.eval_call(inner, state, awaited=True, test=False)
        else:
            values = self.eval(inner, state)
        state.mark_await(self.await_step(expr))
        return values

    def eval_call(self, call: cst.Call, state: State, *, awaited: bool, test: bool) -> list[Access]:
        if self.is_lock_call(call, "acquire", state) or self.is_lock_call(call, "release", state):
            return []
        func = call.func
        receiver_values: list[Access] = []
        method = func.attr.value if isinstance(func, cst.Attribute) else None
        receiver_key: str | None = None
        if isinstance(func, cst.Attribute):
            receiver_key = self.receiver_key(func.value, state)
            if receiver_key is None:
                receiver_values = self.eval(func.value, state, test=test)
        args: list[Access] = []
        for arg in call.args:
            # `if len(cart) >= 10:` decides on `cart` just as `if cart:` does.
            args.extend(self.eval(arg.value, state, test=test))
        if receiver_key is not None and method is not None:
            if method in _MUTATING_METHODS:
                self.write(receiver_key, call, args, state)
                return []
            return [self.record_read(receiver_key, call, state, test=test, origin=())]
        callee = self.checker.resolve_callee(call, self.frame)
        if callee is not None and (callee[0].asynchronous is None or awaited):
            return [*args, *self.inline(callee, call, args, state)]
        return [*receiver_values, *args]

    def receiver_key(self, receiver: cst.BaseExpression, state: State) -> str | None:
        """The shared state a method is called on: `coupons.get(...)`, `self.items.append(...)`."""
        key = self.checker.shared_key(receiver, self.frame)
        if key is not None:
            if isinstance(receiver, cst.Subscript):
                for element in receiver.slice:
                    self.eval_children(element, state)
            return key
        base = receiver
        while isinstance(base, cst.Subscript | cst.Attribute):
            base = base.value
        if isinstance(base, cst.Name) and base.value in state.aliases and base.value in self.frame.locals:
            return state.aliases[base.value].key
        return None

    def is_lock_call(self, call: cst.Call, method: str, state: State) -> bool:
        """`lock.acquire()` / `lock.release()` outside a `with`: open or close a lock region."""
        func = call.func
        if not (isinstance(func, cst.Attribute) and func.attr.value == method):
            return False
        if not self.checker.is_lock(func.value):
            return False
        region = hash(("manual", self.index.module.code_for_node(func.value)))
        state.locks = state.locks | {region} if method == "acquire" else state.locks - {region}
        return True

    def inline(
        self, callee: tuple[cst.FunctionDef, Frame], call: cst.Call, args: list[Access], state: State
    ) -> list[Access]:
        function, frame = callee
        if len(self.frames) >= _MAX_CALL_DEPTH or any(f.function is function for f in self.frames):
            return []
        self.visited.add(self.checker.qualname(function, frame.self_class))
        entry = State(dict(state.checks), {}, state.locks)
        self.bind_arguments(function, call, entry, state)
        self.call_sites.append(call)
        try:
            end = self.run(frame, entry)
        finally:
            self.call_sites.pop()
        if end is None:
            # Every path of the callee raised: nothing flows on from here in the caller.
            end = entry
        state.checks = end.checks
        state.locks = end.locks
        if end.last_await is not None:
            # An await inside the callee also separates the caller's earlier reads from later writes.
            state.mark_await(end.last_await)
        return frame.returned

    def bind_arguments(self, function: cst.FunctionDef, call: cst.Call, entry: State, state: State) -> None:
        params = [n for n in _params(function) if n not in ("self", "cls")]
        positional = [arg for arg in call.args if arg.keyword is None and not arg.star]
        for name, arg in zip(params, positional, strict=False):
            self._bind_param(name, arg.value, entry, state)
        for arg in call.args:
            if arg.keyword is not None and arg.keyword.value in params:
                self._bind_param(arg.keyword.value, arg.value, entry, state)

    def _bind_param(self, name: str, value: cst.BaseExpression, entry: State, state: State) -> None:
        if isinstance(value, cst.Name) and value.value in state.aliases:
            entry.aliases[name] = state.aliases[value.value]
            return
        key = self.checker.shared_key(value, self.frame)
        if key is not None:
            entry.aliases[name] = Access(key, (self.step(value, "read"),), state.locks)


class _Checker:
    """Module-wide facts: which names are shared state, which are locks, which calls stay in-file."""

    def __init__(self, index: ModuleIndex) -> None:
        self.index = index
        self.instances = {
            name: value.func.value
            for name, value in index.assignments.items()
            if isinstance(value, cst.Call)
            and isinstance(value.func, cst.Name)
            and value.func.value in index.classes
        }
        self.app_names = {
            name
            for name, value in index.assignments.items()
            if isinstance(value, cst.Call)
            and (index.qualify(value.func) or "").split(".")[-1] in ("FastAPI", "Starlette", "Application")
        }
        self.scopes = _Scopes()
        index.module.visit(self.scopes)
        self.rebound_globals = {
            name for _, declared in self.scopes.scopes.values() for name in declared
        } & set(index.assignments)
        self.lock_attributes = {
            attr for attr, value in self.scopes.attribute_values if self._is_lock_factory(value)
        }
        for info in index.classes.values():
            self.lock_attributes |= {
                attr for attr, value in info.attributes.items() if self._is_lock_factory(value)
            }

    def frame(self, function: cst.FunctionDef, **kwargs: str | None) -> Frame:
        return _frame_for(self.scopes, function, **kwargs)

    def _is_lock_factory(self, value: cst.BaseExpression) -> bool:
        return isinstance(value, cst.Call) and (self.index.qualify(value.func) or "") in _LOCK_FACTORIES

    # -- shared state -----------------------------------------------------------------------------
    def is_mutable(self, value: cst.BaseExpression) -> bool:
        return _is_mutable(self.index, value)

    def is_shared_global(self, name: str, *, rebinding: bool = False) -> bool:
        value = self.index.assignments.get(name)
        if value is None:
            return False
        if name in self.rebound_globals:
            return True
        return not rebinding and self.is_mutable(value)

    def class_attribute(self, class_name: str, attr: str) -> str | None:
        info = self.index.classes.get(class_name)
        seen: set[str] = set()
        while info is not None and class_name not in seen:
            seen.add(class_name)
            value = info.attributes.get(attr)
            if value is not None:
                return f"{class_name}.{attr}" if self.is_mutable(value) else None
            parent = next((b for b in info.bases if b in self.index.classes), None)
            if parent is None:
                return None
            class_name, info = parent, self.index.classes[parent]
        return None

    def shared_key(self, expr: cst.BaseExpression, frame: Frame) -> str | None:
        """The name of the shared state `expr` denotes (or is an element of), else None."""
        if isinstance(expr, cst.Name):
            name = expr.value
            if name in frame.locals:
                return None
            return name if self.is_shared_global(name) else None
        if isinstance(expr, cst.Subscript):
            if self._is_app_object(expr.value, frame) and len(expr.slice) == 1:
                index = expr.slice[0].slice
                if isinstance(index, cst.Index) and isinstance(index.value, cst.SimpleString):
                    return f"app[{index.value.value}]"
            return self.shared_key(expr.value, frame)
        if isinstance(expr, cst.Attribute):
            attr = expr.attr.value
            owner = expr.value
            if isinstance(owner, cst.Name):
                if owner.value in ("self", "cls") and frame.self_class is not None:
                    if frame.self_instance is not None:
                        return f"{frame.self_instance}.{attr}"
                    return self.class_attribute(frame.self_class, attr)
                if owner.value not in frame.locals:
                    if owner.value in self.instances:
                        return f"{owner.value}.{attr}"
                    if owner.value in self.index.classes:
                        return self.class_attribute(owner.value, attr)
            if (
                isinstance(owner, cst.Attribute)
                and owner.attr.value == "state"
                and self._is_app_object(owner.value, frame)
            ):
                return f"app.state.{attr}"
            return self.shared_key(owner, frame)
        return None

    def _is_app_object(self, expr: cst.BaseExpression, frame: Frame) -> bool:
        """`app` (a module-level FastAPI/Starlette/aiohttp app) or `request.app`."""
        if isinstance(expr, cst.Attribute) and expr.attr.value == "app":
            return True
        return isinstance(expr, cst.Name) and expr.value in self.app_names and expr.value not in frame.locals

    def is_lock(self, expr: cst.BaseExpression) -> bool:
        if isinstance(expr, cst.Call):
            if (self.index.qualify(expr.func) or "") in _LOCK_FACTORIES:
                return False  # `with threading.Lock():` makes a new lock each time: it protects nothing
            return bool(_LOCKISH_NAME.search(self.index.module.code_for_node(expr.func)))
        name = dotted_name(expr)
        if name is not None:
            value = self.index.assignments.get(name)
            if value is not None and self._is_lock_factory(value):
                return True
        if isinstance(expr, cst.Attribute) and expr.attr.value in self.lock_attributes:
            return True
        text = self.index.module.code_for_node(expr)
        return bool(_LOCKISH_NAME.search(text.split("(")[0]))

    # -- calls ----------------------------------------------------------------------------------------
    def resolve_callee(self, call: cst.Call, frame: Frame) -> tuple[cst.FunctionDef, Frame] | None:
        """A function or method of this file that `call` invokes, with the frame to run it in."""
        func = call.func
        if isinstance(func, cst.Name) and func.value not in frame.locals:
            function = self.index.functions.get(func.value)
            return (function, self.frame(function)) if function is not None else None
        if not isinstance(func, cst.Attribute) or not isinstance(func.value, cst.Name):
            return None
        owner, method = func.value.value, func.attr.value
        if owner in ("self", "cls") and frame.self_class is not None:
            info = self.index.classes.get(frame.self_class)
            function = info.methods.get(method) if info else None
            if function is not None:
                return function, self.frame(
                    function, self_class=frame.self_class, self_instance=frame.self_instance
                )
            return None
        if owner in frame.locals:
            return None
        class_name = self.instances.get(owner) or (owner if owner in self.index.classes else None)
        if class_name is None:
            return None
        function = self.index.classes[class_name].methods.get(method)
        if function is None:
            return None
        instance = owner if owner in self.instances else None
        return function, self.frame(function, self_class=class_name, self_instance=instance)

    def qualname(self, function: cst.FunctionDef, class_name: str | None) -> str:
        return f"{class_name}.{function.name.value}" if class_name else function.name.value


def _is_mutable(index: ModuleIndex, value: cst.BaseExpression) -> bool:
    """A literal or constructor call that makes a mutable container."""
    if isinstance(value, cst.Dict | cst.List | cst.Set | cst.DictComp | cst.ListComp | cst.SetComp):
        return True
    if isinstance(value, cst.Call):
        qualified = index.qualify(value.func) or ""
        return qualified in _MUTABLE_FACTORIES or qualified.split(".")[-1] in _MUTABLE_CLASS_NAMES
    return False


def _may_share_state(index: ModuleIndex) -> bool:
    """Cheap pre-filter: without any candidate for shared state there is nothing to interpret."""
    if any(_is_mutable(index, value) for value in index.assignments.values()):
        return True
    if any(_is_mutable(index, v) for info in index.classes.values() for v in info.attributes.values()):
        return True
    if any(
        isinstance(value, cst.Call) and isinstance(value.func, cst.Name) and value.func.value in index.classes
        for value in index.assignments.values()
    ):
        return True
    text = "\n".join(index.lines)
    return "global " in text or ".state." in text or "app[" in text


def check_shared_state(index: ModuleIndex, path: str) -> list[Finding]:
    """Every RC101/RC102 finding in one module."""
    if not _may_share_state(index):
        return []
    checker = _Checker(index)
    findings: list[Finding] = []
    reached: set[str] = set()
    handlers = find_handlers(index)
    for handler in handlers:
        mode: Mode | None = "threaded" if handler.threaded else "async" if handler.is_async else None
        if mode is None:
            continue
        interpreter = _Interpreter(checker, mode)
        frame = checker.frame(handler.function, self_class=handler.owner_class)
        interpreter.run(frame, State())
        reached |= interpreter.visited
        findings.extend(_to_findings(index, path, interpreter, handler, confidence="high"))
    handled = {h.name for h in handlers} | reached
    for name, function, class_name in _async_functions(index):
        if name in handled:
            continue
        interpreter = _Interpreter(checker, "async")
        interpreter.run(checker.frame(function, self_class=class_name), State())
        findings.extend(_to_findings(index, path, interpreter, None, confidence="medium", name=name))
    return findings


def _async_functions(index: ModuleIndex) -> Iterable[tuple[str, cst.FunctionDef, str | None]]:
    for name, function in index.functions.items():
        if function.asynchronous is not None:
            yield name, function, None
    for class_name, info in index.classes.items():
        for method_name, method in info.methods.items():
            if method.asynchronous is not None:
                yield f"{class_name}.{method_name}", method, class_name


def _to_findings(
    index: ModuleIndex,
    path: str,
    interpreter: _Interpreter,
    handler: Handler | None,
    *,
    confidence: Confidence,
    name: str | None = None,
) -> list[Finding]:
    findings = []
    function_name = handler.name if handler else name
    for sequence in interpreter.sequences.values():
        rule = RULES["RC101" if interpreter.mode == "async" else "RC102"]
        # Evidence in execution order: the read and the check, the await, the write.
        steps = list(sequence.candidate.steps)
        if interpreter.mode == "async" and sequence.awaited is not None:
            steps.append(sequence.awaited)
        steps.append(sequence.write)
        lines = [index.line_of(s.node) for s in steps]
        evidence = [
            Evidence(line=line, role=s.role, code=index.code_at(line))
            for s, line in zip(steps, lines, strict=True)
        ]
        decided = sequence.candidate.decision
        severity: Severity = "high" if decided else "medium"
        findings.append(
            Finding(
                rule_id=rule.id,
                title=rule.title,
                severity=severity,
                confidence=confidence,
                path=path,
                line=lines[0],
                end_line=max(lines),
                column=index.column_of(steps[0].node),
                function=function_name,
                route=handler.route if handler else None,
                message=_message(evidence, sequence.key, interpreter.mode, handler, decided),
                evidence=evidence,
                fix=_fix(sequence.key, interpreter.mode),
                cwe=rule.cwe,
            )
        )
    return findings


def _message(evidence: list[Evidence], key: str, mode: Mode, handler: Handler | None, decided: bool) -> str:
    read, write = evidence[0], evidence[-1]
    check = next((step for step in evidence if step.role == "check"), None)
    awaited = next((step for step in evidence if step.role == "await"), None)
    if decided and check is not None:
        seen = f"checked at line {check.line}" + (
            f" (read at line {read.line})" if read.line != check.line else ""
        )
        outcome = "concurrent requests can all pass the check before any of them writes"
    else:
        seen = f"read at line {read.line}"
        outcome = (
            "concurrent requests overwrite each other's updates (lost update)"
            if mode == "async"
            else "concurrent updates are lost"
        )
    if mode == "async":
        gap = f"an `await` at line {awaited.line}" if awaited else "an `await`"
        return (
            f"`{key}` is {seen} and written at line {write.line} with {gap} in between "
            f"and no lock held: {outcome}."
        )
    runner = f"{_FRAMEWORK_NAMES[handler.framework]} runs" if handler else "the server runs"
    return (
        f"`{key}` is {seen} and written at line {write.line} by a handler that {runner} on a thread pool, "
        f"with no lock held: {outcome}."
    )


def _fix(key: str, mode: Mode) -> str:
    if mode == "async":
        return (
            f"Hold one `asyncio.Lock` (per key, if `{key}` is keyed) across the whole check-and-write, "
            "e.g. `async with lock:` around the read, the await and the write; this protects one "
            "process only, so state shared by several workers belongs in a database or Redis with an "
            "atomic update."
        )
    return (
        f"Hold one `threading.Lock` across the read and the write of `{key}` (`with lock:`); this "
        "protects one process only, so state shared by several workers belongs in a database or Redis "
        "with an atomic update."
    )
