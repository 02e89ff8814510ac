"""Shapes of Redis and cache code read off a function's text and model: cache-aside fills, a
first-hit TTL, a shared key read back after a write, idempotent removals and "ensure" writes.

Pure helpers of `redis.py`'s recognizer (kept apart so that module stays about commands).
"""

from __future__ import annotations

import re
from typing import Any

from ...core import model
from ...core.effects import CallContext
from ._common import keywords, positional, walk

__all__ = [
    "compared_with",
    "ends_function",
    "ensures",
    "first_hit_expiry",
    "refills_cache",
    "unique_per_call",
]

# Calls whose value differs on every call: a request that stores one owns it.
_UNIQUE_CALLS = frozenset(
    {
        "uuid1",
        "uuid4",
        "token_hex",
        "token_urlsafe",
        "token_bytes",
        "urandom",
        "getrandbits",
        "randbytes",
        "monotonic_ns",
        "perf_counter_ns",
        "time_ns",
        "time",
        "monotonic",
        "perf_counter",
        "now",
        "utcnow",
    }
)
_EXISTENCE_READS = frozenset({"exists", "hexists", "sismember"})
# What may follow an idempotent removal to the end of its function: a bare return, block headers,
# and other removals (`except Missing: cache.delete(k)`).
_TRAILING = re.compile(
    r"(?:return(?:\s+None)?|pass|else:|finally:|except\b[^:]*:"
    r"|(?:await\s+)?[\w.]+\.(?:delete|unlink|hdel|srem|zrem|lrem|delete_many)\([^()]*\))?"
)
_CONVERSIONS = frozenset({"str", "int", "float", "bytes", "repr", "hex"})
_COMPARISON = re.compile(r"[!=]=")
# The detail of a check that only tested whether a value was found (`core.state.EXISTENCE`).
_EXISTENCE = frozenset({"<exists>"})


def refills_cache(
    key: str, ctx: CallContext, code: str, call: model.Call, root_code: str | None = None
) -> bool:
    """Cache-aside: the function already returned the value it read on the hit path, so this SET
    runs on a miss and stores a value computed elsewhere; concurrent misses store the same thing.

    A lock taken by GET-then-SET instead refuses on the hit path (raises, returns None or False)
    and never hands the read value back, so it stays racy.
    """
    check = ctx.state.checks.get(key)
    if check is None or not check.decision:
        return False
    read = check.steps[0].order
    if any(returned.key == key and returned.steps[0].order == read for returned in ctx.returned()):
        return True
    return (
        _returns_what_it_tested(check, code)
        or _recomputes_what_it_tested(key, check, ctx, code, call)
        or _uses_what_it_tested(key, check, ctx, call, [(code, ctx.function().span.line)])
        # Cache-aside through helpers (`cached = get_cached(pk)` in the view, `set_cached(pk, v)`
        # in a helper): the hit path that uses the value is the caller's.
        or (
            root_code is not None
            and _uses_what_it_tested(key, check, ctx, call, [(root_code, ctx.root().span.line)])
        )
    )


def _uses_what_it_tested(
    key: str, check: Any, ctx: CallContext, call: model.Call, codes: list[tuple[str, int]]
) -> bool:
    """`blob = cache.get(k); if blob is None: value = compute(); cache.set(k, dumps(value))
    else: value = loads(blob)`: the hit path uses the cached value (the local appears on a line
    other than its read and its tests), and the miss path stores a computed value, not a marker
    literal and not one derived from the read. A lock or a dedup marker (`cache.set(k, 1)` after a
    refusal, `if holder and holder != user: raise`) stays racy."""
    given = positional(call)
    value = given[1] if len(given) > 1 else keywords(call).get("value")
    if value is None or isinstance(value, model.Literal):
        return False
    tested = [step for step in check.steps if step.role == "check" and isinstance(step.node, model.Name)]
    if any(a.key == key for a in ctx.args) and not _on_miss_path(
        {step.node.id for step in tested}, call, ctx.function()
    ):
        return False  # the stored value carries the cached one: a read-modify-write
    skip = {step.line for step in check.steps} | {call.span.line}
    for code, first in codes:
        lines = code.splitlines()
        for name in {step.node.id for step in tested}:
            pattern = re.compile(rf"(?<![\w.]){re.escape(name)}\b")
            # Comments do not use it (a `#` inside a string only hides a use: the safe direction).
            if any(
                pattern.search(text.partition("#")[0])
                for number, text in enumerate(lines, first)
                if number not in skip
            ):
                return True
    return False


def _returns_what_it_tested(check: Any, code: str) -> bool:
    """`value = cache.get(k); if value is None: value = load(); cache.set(k, value); return value`:
    only the value's presence was tested, and the function hands the variable back on every path,
    so a hit is used, not refused (the return comes after the SET, so it is read from the code)."""
    if not check.detail >= _EXISTENCE:
        return False
    names = {
        step.node.id for step in check.steps if step.role == "check" and isinstance(step.node, model.Name)
    }
    return any(re.search(rf"\breturn\s+{re.escape(name)}\b", code) for name in names)


def _recomputes_what_it_tested(key: str, check: Any, ctx: CallContext, code: str, call: model.Call) -> bool:
    """`keys = cache.get(K); if not keys: keys = fetch(); cache.set(K, keys)`, then `keys` is used:
    only the local's presence was tested, the miss path binds it again to a value computed without
    the cached one and stores that. Concurrent misses store equivalent values; a counter
    (`cache.set(K, attempts + 1)`) or a marker set after a bare `if cache.get(K):` stays racy."""
    names = {
        step.node.id for step in check.steps if step.role == "check" and isinstance(step.node, model.Name)
    }
    if any(value.key == key for value in ctx.args) and not _on_miss_path(names, call, ctx.function()):
        return False  # the stored value derives from the cached one: a read-modify-write
    return any(len(re.findall(rf"(?<![\w.]){re.escape(name)}\s*=(?!=)", code)) >= 2 for name in names)


def _on_miss_path(names: set[str], call: model.Call, function: model.Function) -> bool:
    """The SET lies in the body of `if x is None:` / `if not x:` for the tested local: there the
    read found nothing, so a value still carrying it (an exception path that kept the local) holds
    no cached value to lose."""
    at = (call.span.line, call.span.column)
    for node in walk(function.body):
        if not isinstance(node, model.If) or not _tests_missing(node.test, names):
            continue
        if at in {(n.span.line, n.span.column) for n in walk(node.body) if isinstance(n, model.Call)}:
            return True
    return False


def _tests_missing(test: model.Expr, names: set[str]) -> bool:
    """`not x`, `x is None`, or an `and` with one of them (`if not had_cache and listed:`)."""
    if not isinstance(test, model.Operation) or not test.operands:
        return False
    if test.op == "and":
        return any(_tests_missing(operand, names) for operand in test.operands)
    subject = test.operands[0]
    if not (isinstance(subject, model.Name) and subject.id in names):
        return False
    if test.op == "not":
        return True
    other = test.operands[1] if len(test.operands) > 1 else None
    return test.op == "is" and isinstance(other, model.Literal) and other.value is None


def first_hit_expiry(function: model.Function, incremented: model.Call, expire: model.Call) -> bool:
    """`n = r.incr(k)` then `if n == 1: r.expire(k, ttl)`: the TTL is set only by the request that
    created the key, so if that request dies between the two commands no later one sets it and the
    key never expires. An EXPIRE issued after every INCR (with or without NX) is re-applied by the
    next request: a lost one heals, so that shape is left alone.

    Calls are matched by position: other languages' recognizers hand over rewritten copies."""
    incr_at, expire_at = _position(incremented), _position(expire)
    results = {
        target.id
        for node in walk(function.body)
        if isinstance(node, model.Assign) and _position(_unawaited(node.value)) == incr_at
        for target in node.targets
        if isinstance(target, model.Name)
    }
    if not results:
        return False
    for node in walk(function.body):
        if not isinstance(node, model.If):
            continue
        inside = {_position(n) for n in walk((*node.body, *node.orelse)) if isinstance(n, model.Call)}
        if expire_at not in inside or incr_at in inside:
            continue
        for test in walk((node.test,)):
            if (
                isinstance(test, model.Operation)
                and test.op in ("==", "<=", "<")
                and any(isinstance(o, model.Name) and o.id in results for o in test.operands)
            ):
                return True
    return False


def unique_per_call(value: model.Expr | None) -> bool:
    """A value each call makes anew (`uuid4()`, `token_hex(8)`, `monotonic_ns()`, `time.time()`),
    also as text or a number (`str(uuid4())`); arithmetic on it (`round(time() / 5) * 5`) makes a
    value that concurrent requests share."""
    value = _unawaited(value)
    if isinstance(value, model.Attribute) and value.attr in ("hex", "int"):
        value = value.value  # `uuid4().hex`
    if not isinstance(value, model.Call):
        return False
    name = (value.name or value.method or "").split(".")[-1]
    if name in _CONVERSIONS and value.args:
        return unique_per_call(value.args[0].value)
    return name in _UNIQUE_CALLS


def compared_with(name: str, call: model.Call, code: str, first: int) -> bool:
    """The value read by `call` is compared with the local `name`: on the read's own line
    (`return r.get(K) == mine`), or through the local it is bound to (`held = r.get(K)` ...
    `if held != mine:`)."""
    lines = code.splitlines()
    index = call.span.line - first
    if not 0 <= index < len(lines):
        return False
    line = lines[index].partition("#")[0]
    mentions = re.compile(rf"(?<![\w.]){re.escape(name)}\b")
    if _COMPARISON.search(line) and mentions.search(line):
        return True
    bound = re.match(r"\s*(\w+)\s*=[^=]", line)
    if bound is None:
        return False
    local = re.compile(rf"(?<![\w.]){re.escape(bound.group(1))}\b")
    return any(
        _COMPARISON.search(text) and mentions.search(text) and local.search(text)
        for text in (later.partition("#")[0] for later in lines[index + 1 :])
    )


def ensures(key: str, ctx: CallContext, code: str, call: model.Call) -> bool:
    """`if r.hexists(k, me): return True` ... `r.hset(k, me, until); return True`: only whether
    the entry exists was looked at, and the found path answers what the writing path answers, so
    two requests that both write end as either would alone (an idempotent "ensure"). A lock taken
    this way answers differently when it finds the key (`return False`) and stays racy."""
    check = ctx.state.checks.get(key)
    if check is None or not check.decision:
        return False
    read = check.steps[0].node
    existence = isinstance(read, model.Call) and read.method in _EXISTENCE_READS
    if not (existence or check.detail >= _EXISTENCE):
        return False
    first = ctx.function().span.line
    lines = [text.partition("#")[0].strip() for text in code.splitlines()]
    found = _next_statement(lines, check.steps[-1].line - first + 1)
    written = next(
        (text for text in lines[call.span.end_line - first + 1 :] if text.startswith("return")), None
    )
    return found is not None and found.startswith("return") and found == written


def _next_statement(lines: list[str], start: int) -> str | None:
    """The first non-blank line at or after `start` (an index into `lines`): the test's body."""
    return next((text for text in lines[max(start, 0) :] if text), None)


def ends_function(call: model.Call, function: model.Function, code: str) -> bool:
    """Nothing but a bare return follows the call in its function's text."""
    lines = code.splitlines()
    after = lines[call.span.end_line - function.span.line + 1 :]
    return all(_TRAILING.fullmatch(text.partition("#")[0].strip()) for text in after)


def _position(expr: model.Expr | None) -> tuple[int, int] | None:
    return (expr.span.line, expr.span.column) if expr is not None else None


def _unawaited(expr: model.Expr | None) -> model.Expr | None:
    return expr.value if isinstance(expr, model.Await) else expr
