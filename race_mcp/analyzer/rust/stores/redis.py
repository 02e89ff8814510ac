"""Redis for Rust (redis-rs): `con.get(&key)` then `con.set(&key, v)` (RC501), a comparison then
`incr` (RC502); `set_nx`, `incr` alone and Lua scripts are atomic.

The receiver must look like a Redis connection (`con`, `conn`, `redis`, `state.redis`...), or the
call be a `redis::cmd("GET")` builder run by `query_async`/`query`: `get`/`set` are far too common
method names to trust on any receiver (a `HashMap` has `get` and `insert`, not `set`).
"""

from __future__ import annotations

from ...core import model
from ...core.effects import ALL, CallContext, Effect
from ._chain import chain_calls

__all__ = ["RustRedisRecognizer"]

_READS = frozenset(
    {"get", "hget", "exists", "sismember", "scard", "llen", "zscore", "zcard", "mget", "hgetall"}
)
_WRITES = frozenset(
    {"set", "set_ex", "hset", "del", "rpush", "lpush", "sadd", "zadd", "srem", "hdel", "getset"}
)
_COUNTERS = frozenset({"incr", "decr", "hincr", "zincr", "incrby", "decrby"})
_EXPIRES = frozenset({"expire", "pexpire", "expire_at", "pexpire_at", "expireat", "pexpireat"})
_COUNTED = frozenset({"sadd", "srem", "del", "hdel", "zadd", "hset_nx"})
_ATOMIC = frozenset({"set_nx", "hset_nx", "set_options", "invoke_async", "eval"})
_CONNECTION_NAMES = frozenset({"con", "conn", "connection", "manager", "mgr"})
_CONNECTION_PREFIXES = ("redis", "rds", "cache", "kv")
_RUNS = frozenset({"query_async", "query"})


class RustRedisRecognizer:
    def __init__(self, lowered: object) -> None:
        self.lowered = lowered

    def effects(self, call: model.Call, ctx: CallContext) -> list[Effect] | None:
        method = call.method
        if method in _RUNS:
            return self.command(call, ctx)
        receiver = call.receiver
        if method is None or receiver is None or not _is_connection(_dotted(receiver)):
            return None
        key = self.key(call.positional(0), ctx)
        return _effects(method.lower(), key, call, ctx)

    def command(self, call: model.Call, ctx: CallContext) -> list[Effect] | None:
        """`redis::cmd("SET").arg(&k).arg(v).arg("NX").query_async(&mut con)`, and the typed
        constructors `redis::Cmd::get(&k)`, `redis::Cmd::set(&k, v)` run the same way."""
        calls = list(chain_calls(call))
        start = calls[-1]
        name = (start.name or "").replace(".", "::")
        head, _, operation = name.rpartition("::")
        if name.endswith("cmd") and start.args:
            command = (ctx.string(start.args[0].value) or "").lower()
            args = [c.positional(0) for c in reversed(calls) if c.method == "arg"]
        elif head.endswith("Cmd") and start.args:
            command = operation.lower()
            args = [arg.value for arg in start.args]
        else:
            return None
        if command == "set" and any(ctx.string(a) in ("NX", "XX") for a in args if a is not None):
            return []
        return _effects(command, self.key(args[0] if args else None, ctx), call, ctx)

    @staticmethod
    def key(expr: model.Expr | None, ctx: CallContext) -> str:
        text = ctx.string(expr) if expr is not None else None
        return f"redis:{text}" if text else "redis:" + (_dotted(expr) if expr is not None else "?")


def _is_connection(text: str) -> bool:
    """`con`, `conn`, `state.redis`, `redis_conn`, `cache_manager`: a part of the last name is a
    connection's (`config`, `content` are not). Split, not a regular expression: receiver text
    is untrusted, and a pattern re-scanning from every `_` was quadratic (`_con` x 20,000: 12 s)."""
    last = text.rsplit(".", 1)[-1].lower()
    return any(part in _CONNECTION_NAMES or part.startswith(_CONNECTION_PREFIXES) for part in last.split("_"))


def _effects(method: str, key: str, call: model.Call, ctx: CallContext) -> list[Effect] | None:
    """What one command does to `key`. An INCR is remembered per key on the path: an EXPIRE of
    the same key as a second command (not on an atomic pipeline, which never reaches here) is
    RC503, reported at the INCR."""
    counted: dict[str, model.Call] = ctx.notes.setdefault("redis-counters", {})
    if method in _EXPIRES:
        incremented = counted.pop(key, None)
        return [Effect("direct", key, "RC503", node=incremented)] if incremented is not None else []
    if method in _READS:
        return [Effect("read", key)]
    if method in _ATOMIC:
        return [Effect("write", key, "RC501", ALL, needs_check=True)]
    if method in _COUNTERS:
        counted[key] = call
        return [Effect("write", key, "RC502", needs_check=True)]
    if method in _COUNTED and ctx.result_used(call):
        # SADD/SREM/DEL/HDEL answer how many members they changed: a kept answer is the check.
        return [Effect("write", key, "RC501", ALL, needs_check=True)]
    if method in _WRITES:
        return [Effect("write", key, "RC501")]
    return None


def _dotted(expr: model.Expr) -> str:
    if isinstance(expr, model.Name):
        return expr.id
    if isinstance(expr, model.Attribute):
        return f"{_dotted(expr.value)}.{expr.attr}"
    if isinstance(expr, model.Call) and expr.receiver is not None and expr.method in ("clone", "as_mut"):
        return _dotted(expr.receiver)
    return "?"
