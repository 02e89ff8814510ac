"""The core interpreter's semantics on hand-written program models (no parser, no real store).

Each test builds the model of a small function the way a front-end would lower it, runs the one
interpreter over it, and looks at the sequences (races) and direct findings it collects. A toy
store `kv` (registered for the test only) and a toy language profile stand in for a front-end.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from race_mcp.analyzer.core import model as m
from race_mcp.analyzer.core import stores
from race_mcp.analyzer.core.effects import ALL, TRANSACTION_LOCK, CallContext, Effect
from race_mcp.analyzer.core.interpret import Interpreter
from race_mcp.analyzer.core.profile import Callee
from race_mcp.analyzer.core.state import Frame, Mode, State

# -- a toy language --------------------------------------------------------------------------------


def at(line: int) -> m.Span:
    return m.Span(line)


def name(id_: str, line: int) -> m.Name:
    return m.Name(id_, span=at(line))


def attr(value: m.Expr, attribute: str, line: int) -> m.Attribute:
    return m.Attribute(value, attribute, span=at(line))


def item(value: m.Expr, key: str, line: int) -> m.Subscript:
    return m.Subscript(value, m.Literal(key, span=at(line)), key, span=at(line))


def call(func: m.Expr, *args: m.Expr, line: int) -> m.Call:
    return m.Call(func, tuple(m.Arg(a, span=at(line)) for a in args), span=at(line))


def kv(method: str, *args: m.Expr, line: int) -> m.Call:
    """A call on the toy store's client: `kv.get("acct")`."""
    return call(attr(name("kv", line), method, line), *args, line=line)


def lit(value: str | int | None, line: int) -> m.Literal:
    return m.Literal(value, span=at(line))


def gt(left: m.Expr, right: m.Expr, line: int) -> m.Operation:
    return m.Operation(">", (left, right), span=at(line))


def awaited(expr: m.Expr, line: int) -> m.Await:
    return m.Await(expr, span=at(line))


def function(
    qualname: str,
    body: m.Block,
    *,
    params: tuple[str, ...] = (),
    local: tuple[str, ...] = (),
    is_async: bool = False,
) -> m.Function:
    return m.Function(
        qualname,
        qualname,
        params,
        body,
        is_async=is_async,
        locals=frozenset((*params, *local)),
        span=at(body[0].span.line - 1 if body else 1),
    )


def module(*functions: m.Function) -> m.ModuleModel:
    return m.ModuleModel(
        path="toy.x",
        language="toy",
        source="",
        functions={f.qualname: f for f in functions},
        assignments={"inventory": m.Collection("dict")},
    )


class ToyProfile:
    """In-process state: module-level `inventory`; locks: names ending in `lock`."""

    mutating_methods = frozenset({"append", "pop"})
    container_methods = mutating_methods | {"get"}
    executing_methods: frozenset[str] = frozenset()

    def __init__(self, module: m.ModuleModel) -> None:
        self.module = module

    def frame(
        self, function: m.Function, *, self_class: str | None = None, self_instance: str | None = None
    ) -> Frame:
        return Frame(function, function.locals, function.globals, self_class, self_instance, self.module)

    def shared_key(self, expr: m.Expr, frame: Frame) -> str | None:
        if isinstance(expr, m.Name):
            return expr.id if expr.id in self.module.assignments and expr.id not in frame.locals else None
        if isinstance(expr, m.Attribute | m.Subscript):
            return self.shared_key(expr.value, frame)
        return None

    def is_shared_global(self, name: str, *, rebinding: bool = False) -> bool:
        return name in self.module.assignments

    def is_lock(self, expr: m.Expr) -> bool:
        return isinstance(expr, m.Name) and expr.id.endswith("lock")

    def text(self, node: m.Node) -> str:
        return node.id if isinstance(node, m.Name) else "?"

    def resolve_callee(self, call: m.Call, frame: Frame) -> Callee | None:
        if isinstance(call.func, m.Name) and call.func.id in self.module.functions:
            callee = self.module.functions[call.func.id]
            return callee, self.frame(callee)
        return None

    def row_method(self, key: str, method: str) -> Callee | None:
        return None

    def string(self, expr: m.Expr, frame: Frame | None) -> str | None:
        return expr.value if isinstance(expr, m.Literal) and isinstance(expr.value, str) else None

    def qualname(self, function: m.Function, self_class: str | None) -> str:
        return function.qualname


class KvRecognizer:
    """`kv.get(k)` reads `kv:k`; `kv.put(k, v)` writes it; `kv.put_if(k, v)` is a compare-and-set
    that guards only when its result is used; `kv.lock(k)` locks the row until `kv.commit()`;
    `kv.insert(k)` is a plain store write (multi-write rule), `kv.insert_auto(k)` commits itself."""

    def effects(self, call: m.Call, ctx: CallContext) -> list[Effect] | None:
        if not (isinstance(call.receiver, m.Name) and call.receiver.id == "kv"):
            return None
        first = call.positional(0)
        key = f"kv:{ctx.string(first)}" if first is not None else "kv:?"
        method = call.method
        if method == "get":
            return [Effect("read", key)]
        if method == "put":
            return [Effect("write", key, "RC201"), Effect("store_write", key)]
        if method == "put_if":
            return [Effect("write", key, "RC201", ALL if ctx.result_used(call) else frozenset())]
        if method == "lock":
            return [Effect("lock", region=f"{TRANSACTION_LOCK}:{key}")]
        if method == "commit":
            return [Effect("commit", rule="RC201")]
        if method in ("insert", "insert_auto"):
            return [Effect("store_write", "kv:rows", autocommit=method == "insert_auto")]
        return []


@pytest.fixture(autouse=True)
def toy_store(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    spec = stores.StoreSpec(
        "kv", ("kv",), lambda n: f"key `{n}`", "lost", default_rule="RC201", multi_write_rule="RC202"
    )
    monkeypatch.setitem(stores._STORES, "kv", spec)
    yield


def run(mod: m.ModuleModel, root: str, mode: Mode) -> Interpreter:
    profile = ToyProfile(mod)
    interpreter = Interpreter(profile, [KvRecognizer()], mode, module=mod)
    interpreter.finish(interpreter.run(profile.frame(mod.functions[root]), State()))
    return interpreter


def races(interpreter: Interpreter) -> list[tuple[str, str, list[tuple[str, int]], int]]:
    """(rule, key, the read's steps as (role, line), write line) per sequence."""
    return [
        (s.rule_id, s.key, [(step.role, step.line) for step in s.candidate.steps], s.write.line)
        for s in interpreter.sequences.values()
    ]


# -- in-process state ------------------------------------------------------------------------------


def _buy(*, with_await: bool, locked: bool = False) -> m.ModuleModel:
    """async def buy(item):            # 1
    if inventory[item] > 0:           # 2   (under `async with lock:` when `locked`)
        await pay()                   # 3
        inventory[item] -= 1          # 4"""
    check = m.Subscript(name("inventory", 2), name("item", 2), span=at(2))
    decrement = m.Assign(
        (m.Subscript(name("inventory", 4), name("item", 4), span=at(4)),), lit(1, 4), "-", span=at(4)
    )
    body: list[m.Statement] = []
    if with_await:
        body.append(m.Eval(awaited(call(name("pay", 3), line=3), 3), span=at(3)))
    body.append(decrement)
    statements: m.Block = (m.If(gt(check, lit(0, 2), 2), tuple(body), span=at(2)),)
    if locked:
        statements = (
            m.With((m.WithItem(name("lock", 2), span=at(2)),), statements, is_async=True, span=at(2)),
        )
    return module(function("buy", statements, params=("item",), is_async=True))


def test_await_between_check_and_write_is_rc101() -> None:
    found = run(_buy(with_await=True), "buy", "async")
    assert races(found) == [("RC101", "inventory", [("check", 2)], 4)]
    sequence = next(iter(found.sequences.values()))
    assert sequence.awaited is not None and sequence.awaited.line == 3


def test_no_await_in_async_code_is_atomic() -> None:
    assert races(run(_buy(with_await=False), "buy", "async")) == []


def test_lock_held_across_the_await_protects() -> None:
    assert races(run(_buy(with_await=True, locked=True), "buy", "async")) == []


def test_threads_interleave_anywhere() -> None:
    assert races(run(_buy(with_await=False), "buy", "threaded")) == [
        ("RC102", "inventory", [("check", 2)], 4)
    ]
    assert races(run(_buy(with_await=False), "buy", "sequential")) == []


def test_branch_join_keeps_the_path_that_awaited() -> None:
    """if inventory[item] > 0:   # 2
    if flag:                  # 3
        await pay()           # 4
    inventory[item] -= 1      # 5"""
    check = m.Subscript(name("inventory", 2), name("item", 2), span=at(2))
    inner = m.If(name("flag", 3), (m.Eval(awaited(call(name("pay", 4), line=4), 4), span=at(4)),), span=at(3))
    write = m.Assign(
        (m.Subscript(name("inventory", 5), name("item", 5), span=at(5)),), lit(1, 5), "-", span=at(5)
    )
    body = (m.If(gt(check, lit(0, 2), 2), (inner, write), span=at(2)),)
    found = run(module(function("buy", body, params=("item", "flag"), is_async=True)), "buy", "async")
    assert races(found) == [("RC101", "inventory", [("check", 2)], 5)]
    assert next(iter(found.sequences.values())).awaited.line == 4  # type: ignore[union-attr]


def test_a_helper_is_inlined_and_its_write_completes_the_race() -> None:
    """async def buy(item): if inventory[item] > 0: await pay(); take(item)   # take writes at 11"""
    take = function(
        "take",
        (
            m.Assign(
                (m.Subscript(name("inventory", 11), name("item", 11), span=at(11)),),
                lit(1, 11),
                "-",
                span=at(11),
            ),
        ),
        params=("item",),
    )
    check = m.Subscript(name("inventory", 2), name("item", 2), span=at(2))
    body = (
        m.If(
            gt(check, lit(0, 2), 2),
            (
                m.Eval(awaited(call(name("pay", 3), line=3), 3), span=at(3)),
                m.Eval(call(name("take", 4), name("item", 4), line=4), span=at(4)),
            ),
            span=at(2),
        ),
    )
    found = run(module(function("buy", body, params=("item",), is_async=True), take), "buy", "async")
    assert races(found) == [("RC101", "inventory", [("check", 2)], 11)]
    assert "take" in found.visited


def test_an_await_inside_an_awaited_helper_separates_the_callers_read_and_write() -> None:
    io = function("io", (m.Eval(awaited(call(name("sleep", 21), line=21), 21), span=at(21)),), is_async=True)
    check = m.Subscript(name("inventory", 2), name("item", 2), span=at(2))
    write = m.Assign(
        (m.Subscript(name("inventory", 4), name("item", 4), span=at(4)),), lit(1, 4), "-", span=at(4)
    )
    helper_call = m.Eval(awaited(call(name("io", 3), line=3), 3), span=at(3))
    body = (m.If(gt(check, lit(0, 2), 2), (helper_call, write), span=at(2)),)
    found = run(module(function("buy", body, params=("item",), is_async=True), io), "buy", "async")
    sequence = next(iter(found.sequences.values()))
    assert sequence.awaited is not None and sequence.awaited.line == 3  # shown at the call into io()


def test_recursion_and_depth_are_bounded() -> None:
    ping = function("ping", (m.Eval(call(name("pong", 2), line=2), span=at(2)),))
    pong = function("pong", (m.Eval(call(name("ping", 5), line=5), span=at(5)),))
    found = run(module(ping, pong), "ping", "sequential")
    assert found.visited == {"pong"} and races(found) == []
    chain = [
        function(
            f"f{i}", (m.Eval(call(name(f"f{i + 1}", 10 * i + 2), line=10 * i + 2), span=at(10 * i + 2)),)
        )
        for i in range(10)
    ]
    found = run(module(*chain), "f0", "sequential")
    assert found.visited == {"f1", "f2", "f3", "f4"}  # depth 5 counting the root


# -- stores ----------------------------------------------------------------------------------------


def _transfer(*middle: m.Statement, write: m.Statement | None = None) -> m.ModuleModel:
    """def pay(amount):
    row = kv.get("acct")          # 2
    if row.balance > amount:      # 3
        <middle>                  # 4..
        kv.put("acct", 0)         # 9"""
    read = m.Assign((name("row", 2),), kv("get", lit("acct", 2), line=2), span=at(2))
    test = gt(attr(name("row", 3), "balance", 3), name("amount", 3), 3)
    final = write or m.Eval(kv("put", lit("acct", 9), lit(0, 9), line=9), span=at(9))
    body = (read, m.If(test, (*middle, final), span=at(3)))
    return module(function("pay", body, params=("amount",), local=("row", "ok")))


def test_store_read_then_write_races_in_any_mode() -> None:
    expected = [("RC201", "kv:acct", [("read", 2), ("check", 3)], 9)]
    assert races(run(_transfer(), "pay", "sequential")) == expected


def test_a_guarded_write_whose_result_is_read_is_safe_and_a_discarded_one_is_not() -> None:
    guarded = m.Assign((name("ok", 9),), kv("put_if", lit("acct", 9), lit(0, 9), line=9), span=at(9))
    assert races(run(_transfer(write=guarded), "pay", "sequential")) == []
    discarded = m.Eval(kv("put_if", lit("acct", 9), lit(0, 9), line=9), span=at(9))
    assert [r[0] for r in races(run(_transfer(write=discarded), "pay", "sequential"))] == ["RC201"]


def test_compare_and_set_retires_the_stale_check() -> None:
    cas = m.Assign((name("ok", 4),), kv("put_if", lit("acct", 4), lit(1, 4), line=4), span=at(4))
    found = run(_transfer(cas), "pay", "sequential")
    assert races(found) == []
    assert found.claims == 0 and found.persisted_writes == 2


def test_a_row_lock_protects_until_the_commit_releases_it() -> None:
    lock = m.Eval(kv("lock", lit("acct", 1), line=1), span=at(1))
    locked = _transfer()
    pay = locked.functions["pay"]
    pay.body = (lock, *pay.body)
    assert races(run(locked, "pay", "sequential")) == []
    committed = _transfer(m.Eval(kv("commit", line=4), span=at(4)))
    committed.functions["pay"].body = (lock, *committed.functions["pay"].body)
    assert [r[0] for r in races(run(committed, "pay", "sequential"))] == ["RC201"]


def test_a_row_lock_protects_only_its_own_key() -> None:
    other = m.Eval(kv("lock", lit("other", 1), line=1), span=at(1))
    mod = _transfer()
    mod.functions["pay"].body = (other, *mod.functions["pay"].body)
    assert [r[0] for r in races(run(mod, "pay", "sequential"))] == ["RC201"]


def _writes(*statements: m.Statement) -> m.ModuleModel:
    return module(function("save", statements))


def test_multi_write_across_units_of_work() -> None:
    def insert(line: int, method: str = "insert") -> m.Eval:
        return m.Eval(kv(method, lit("rows", line), line=line), span=at(line))

    def commit(line: int) -> m.Eval:
        return m.Eval(kv("commit", line=line), span=at(line))

    split = run(_writes(insert(2), commit(3), insert(4), commit(5)), "save", "sequential")
    assert [(d.rule_id, [s.line for s in d.steps]) for d in split.directs] == [("RC202", [2, 4])]
    together = run(_writes(insert(2), insert(3), commit(4)), "save", "sequential")
    assert together.directs == []
    autocommit = run(_writes(insert(2, "insert_auto"), insert(3, "insert_auto")), "save", "sequential")
    assert [d.rule_id for d in autocommit.directs] == ["RC202"]


def test_an_existence_check_decides_nothing_about_other_columns() -> None:
    """row = kv.get("acct"); if row is None: ... ; the check carries the existence detail."""
    read = m.Assign((name("row", 2),), kv("get", lit("acct", 2), line=2), span=at(2))
    test = m.Operation("is", (name("row", 3), lit(None, 3)), span=at(3))
    body = (read, m.If(test, (m.Return(span=at(4)),), span=at(3)))
    found = Interpreter(
        ToyProfile(mod := module(function("f", body, local=("row",)))),
        [KvRecognizer()],
        "sequential",
        module=mod,
    )
    end = found.run(found.profile.frame(mod.functions["f"]), State())
    assert end is not None and "<exists>" in end.checks["kv:acct"].detail


class RowRecognizer(KvRecognizer):
    """Adds `F()` (a value the store computes at the write) to the toy store."""

    def effects(self, call: m.Call, ctx: CallContext) -> list[Effect] | None:
        if isinstance(call.func, m.Name) and call.func.id == "F":
            return [Effect("atomic")]
        return super().effects(call, ctx)


def _change_and_commit(value: m.Expr) -> tuple[Interpreter, State | None]:
    """row = kv.get("acct"); row.balance = <value>; kv.commit()   (lines 2, 3, 4)"""
    body = (
        m.Assign((name("row", 2),), kv("get", lit("acct", 2), line=2), span=at(2)),
        m.Assign((attr(name("row", 3), "balance", 3),), value, span=at(3)),
        m.Eval(kv("commit", line=4), span=at(4)),
    )
    mod = module(function("f", body, local=("row",)))
    interpreter = Interpreter(ToyProfile(mod), [RowRecognizer()], "sequential", module=mod)
    interpreter.notes["flush-on-commit"] = {"kv:acct": "RC304"}  # as SQLAlchemy's recognizer says
    return interpreter, interpreter.run(interpreter.profile.frame(mod.functions["f"]), State())


def test_a_dirty_row_derived_from_its_read_is_written_at_the_commit_that_flushes_it() -> None:
    derived = m.Operation("-", (attr(name("row", 3), "balance", 3), lit(1, 3)), span=at(3))
    interpreter, end = _change_and_commit(derived)
    assert races(interpreter) == [("RC304", "kv:acct", [("read", 2), ("change", 3)], 4)]
    assert end is not None and end.dirty == {}


def test_a_value_the_store_computes_marks_the_alias_atomic() -> None:
    computed = m.Operation("-", (call(name("F", 3), lit("balance", 3), line=3), lit(1, 3)), span=at(3))
    _, end = _change_and_commit(computed)
    assert end is not None and end.atomic_aliases == frozenset({"row"})
    _, plain = _change_and_commit(lit(0, 3))
    assert plain is not None and plain.atomic_aliases == frozenset()
