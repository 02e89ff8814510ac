"""Redis (RC5xx): GET then SET, read-compare-increment limiters, INCR then EXPIRE.

A receiver is Redis when it was built by redis-py (`redis.Redis(...)`, `redis.asyncio.from_url`, ...),
is annotated as such, or is named like one (`redis`, `self.redis`, `redis_client`, `cache`, `r`).
Method names alone (`get`, `set`) are far too common to trust.
"""

from __future__ import annotations

import re

import libcst as cst

from .._effects import ALL, CallContext, Effect
from .._engine import EXISTENCE
from .._module import ModuleIndex
from .._scopes import params
from .._state import Access

__all__ = ["RedisRecognizer"]

_READS = {
    "get",
    "hget",
    "hmget",
    "hgetall",
    "mget",
    "exists",
    "sismember",
    "scard",
    "llen",
    "zscore",
    "zcard",
    "zcount",
    "ttl",
    "pttl",
    "getbit",
    "lrange",
    "smembers",
    "lindex",
    "hexists",
    "hlen",
    "zrank",
}
_WRITES = {
    "set",
    "setex",
    "psetex",
    "hset",
    "hmset",
    "mset",
    "delete",
    "rpush",
    "lpush",
    "sadd",
    "srem",
    "zadd",
    "zrem",
    "setbit",
    "getset",
    "hdel",
    "lrem",
    "ltrim",
    "append",
    "unlink",
}
_COUNTERS = {"incr", "incrby", "incrbyfloat", "decr", "decrby", "hincrby", "hincrbyfloat", "zincrby"}
_EXPIRES = {"expire", "pexpire", "expireat", "pexpireat"}
_ATOMIC = {"eval", "evalsha", "fcall", "register_script", "setnx", "hsetnx", "msetnx"}
# Reads of how many members a collection has, and writes that add one: a window of events.
_SIZES = {"zcard", "zcount", "scard", "llen", "hlen"}
_GROWS = {"zadd", "sadd", "rpush", "lpush"}
_SIZE = frozenset({"#size"})
_CHAINABLE = _READS | _WRITES | _COUNTERS | _EXPIRES | {"pipeline", "watch", "multi"}
_NOT_TRANSACTIONAL = re.compile(r"transaction\s*=\s*False")
_NAMED_LIKE_REDIS = re.compile(r"(^|[._])(redis|rds|cache|r|rc|kv)([._]|$)|redis", re.IGNORECASE)


def _decided_on_size(key: str, ctx: CallContext) -> bool:
    check = ctx.state.checks.get(key)
    return check is not None and check.decision and bool(check.detail & _SIZE)


def _refills_cache(key: str, ctx: CallContext) -> bool:
    """Cache-aside: the function already returned the value it read on the hit path, so this SET
    runs on a miss and stores a value computed elsewhere; concurrent misses store the same thing.

    A lock taken by GET-then-SET instead refuses on the hit path (raises, returns None or False)
    and never hands the read value back, so it stays racy.
    """
    check = ctx.state.checks.get(key)
    if check is None or not check.decision:
        return False
    read = check.steps[0].order
    if any(
        returned.key == key and returned.steps[0].order == read
        for frame in ctx.interpreter.frames
        for returned in frame.returned
    ):
        return True
    return _returns_what_it_tested(check, ctx)


def _returns_what_it_tested(check: Access, ctx: CallContext) -> bool:
    """`value = cache.get(k); if value is None: value = load(); cache.set(k, value); return value`:
    only the value's presence was tested, and the function hands the variable back on every path,
    so a hit is used, not refused (the return comes after the SET, so it is read from the code)."""
    if not check.detail >= EXISTENCE:
        return False
    names = {
        step.node.value for step in check.steps if step.role == "check" and isinstance(step.node, cst.Name)
    }
    code = ctx.interpreter.index.module.code_for_node(ctx.interpreter.frame.function)
    return any(re.search(rf"\breturn\s+{re.escape(name)}\b", code) for name in names)


def _is_plain_pipeline(value: cst.BaseExpression) -> bool:
    """`r.pipeline(transaction=False)`: commands sent in one round trip, but not as MULTI ... EXEC."""
    return (
        isinstance(value, cst.Call)
        and isinstance(value.func, cst.Attribute)
        and value.func.attr.value == "pipeline"
        and any(
            arg.keyword is not None
            and arg.keyword.value == "transaction"
            and isinstance(arg.value, cst.Name)
            and arg.value.value == "False"
            for arg in value.args
        )
    )


class _PlainPipelines(cst.CSTVisitor):
    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Assign(self, node: cst.Assign) -> None:
        if _is_plain_pipeline(node.value):
            self.names.update(t.target.value for t in node.targets if isinstance(t.target, cst.Name))

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if _is_plain_pipeline(node.item) and node.asname and isinstance(node.asname.name, cst.Name):
            self.names.add(node.asname.name.value)


class RedisRecognizer:
    def __init__(self, index: ModuleIndex) -> None:
        self.index = index
        self._plain_pipeline_cache: dict[cst.FunctionDef, frozenset[str]] = {}
        self.clients = {
            name
            for name, value in index.assignments.items()
            if isinstance(value, cst.Call) and self._builds_client(value)
        }

    def _builds_client(self, call: cst.Call) -> bool:
        name = self.index.qualify(call.func) or ""
        return name.startswith(("redis.", "aioredis.")) or name.split(".")[-1] in (
            "Redis",
            "StrictRedis",
            "from_url",
        )

    def is_redis(self, receiver: cst.BaseExpression, ctx: CallContext) -> bool:
        text = self.index.module.code_for_node(receiver)
        if isinstance(receiver, cst.Call):
            # `redis.Redis(...)`, or a chain on one: `r.pipeline().incr(k).expire(k, 60)`.
            func = receiver.func
            if self._builds_client(receiver):
                return True
            return (
                isinstance(func, cst.Attribute)
                and func.attr.value in _CHAINABLE
                and self.is_redis(func.value, ctx)
            )
        head = text.split(".")[0]
        if text in self.clients or head in self.clients or "pipe" in head.lower():
            return True
        if ctx.interpreter.frames and head in params(ctx.interpreter.frame.function):
            annotation = self._annotation(ctx, head)
            if annotation and "redis" in annotation.lower():
                return True
        return bool(_NAMED_LIKE_REDIS.search(text.split("(")[0]))

    def _annotation(self, ctx: CallContext, name: str) -> str | None:
        spec = ctx.interpreter.frame.function.params
        for param in (*spec.posonly_params, *spec.params, *spec.kwonly_params):
            if param.name.value == name and param.annotation is not None:
                return self.index.module.code_for_node(param.annotation.annotation)
        return None

    def key(self, call: cst.Call) -> str:
        first = next((arg.value for arg in call.args if arg.keyword is None), None)
        text = self.index.module.code_for_node(first) if first is not None else "?"
        return "redis:" + re.sub(r"\s+", "", text)

    def effects(self, call: cst.Call, ctx: CallContext) -> list[Effect] | None:
        func = call.func
        if not isinstance(func, cst.Attribute):
            return None
        method = func.attr.value
        known = (
            _READS
            | _WRITES
            | _COUNTERS
            | _EXPIRES
            | _ATOMIC
            | {"watch", "unwatch", "execute", "pipeline", "multi"}
        )
        if method not in known or not self.is_redis(func.value, ctx):
            return None
        receiver = self.index.module.code_for_node(func.value)
        # `pipe = r.pipeline()` / `r.pipeline().incr(k).expire(k, 60)`: one MULTI ... EXEC.
        in_pipeline = self._in_multi(receiver, ctx)
        counted: dict[str, cst.Call] = ctx.interpreter.notes.setdefault("redis-counters", {})
        if method == "pipeline":
            return []
        if method == "watch":
            return [Effect("lock", region="redis-watch")]
        if method in ("execute", "unwatch"):
            return [Effect("unlock", region="redis-watch")]
        if method in _ATOMIC or method == "multi":
            return []
        key = self.key(call)
        if method in _READS:
            return [Effect("read", key, detail=_SIZE if method in _SIZES else frozenset())]
        if method in _COUNTERS:
            if not in_pipeline:
                counted[key] = call
            return [Effect("write", key, "RC502", needs_check=True)]
        if method in _EXPIRES:
            incremented = counted.pop(key, None)
            if incremented is not None and not in_pipeline:
                return [Effect("direct", key, "RC503", node=incremented)]
            return []
        if method in _GROWS and _decided_on_size(key, ctx):
            # `zcard` -> compare -> `zadd`: a sliding-window limiter checked before it counts.
            return [Effect("write", key, "RC502", needs_check=True)]
        guard = ALL if self._is_conditional_set(call) or _refills_cache(key, ctx) else frozenset()
        return [Effect("write", key, "RC501", guard)]

    def _in_multi(self, receiver: str, ctx: CallContext) -> bool:
        """Queued on a pipeline that runs as MULTI ... EXEC (redis-py's default, `transaction=True`)."""
        if ".pipeline(" in receiver:
            return not _NOT_TRANSACTIONAL.search(receiver)
        head = receiver.split(".")[0]
        if "pipe" not in head.lower():
            return False
        function = ctx.interpreter.frame.function if ctx.interpreter.frames else None
        return function is None or head not in self._plain_pipelines(function)

    def _plain_pipelines(self, function: cst.FunctionDef) -> frozenset[str]:
        """Names bound to `x.pipeline(transaction=False)` in `function`, computed once per function."""
        names = self._plain_pipeline_cache.get(function)
        if names is None:
            finder = _PlainPipelines()
            function.body.visit(finder)
            names = self._plain_pipeline_cache[function] = frozenset(finder.names)
        return names

    @staticmethod
    def _is_conditional_set(call: cst.Call) -> bool:
        for arg in call.args:
            if (
                arg.keyword is not None
                and arg.keyword.value in ("nx", "xx")
                and (isinstance(arg.value, cst.Name) and arg.value.value == "True")
            ):
                return True
        return False
