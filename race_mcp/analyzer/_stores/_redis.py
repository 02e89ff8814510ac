"""Redis (RC5xx): GET then SET, read-compare-increment limiters, INCR then EXPIRE.

A receiver is Redis when it was built by redis-py (`redis.Redis(...)`, `redis.asyncio.from_url`, ...),
is annotated as such, or is named like one (`redis`, `self.redis`, `redis_client`, `cache`, `r`).
Method names alone (`get`, `set`) are far too common to trust.
"""

from __future__ import annotations

import re

import libcst as cst

from .._effects import ALL, CallContext, Effect
from .._module import ModuleIndex
from .._scopes import params

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
_NAMED_LIKE_REDIS = re.compile(r"(^|[._])(redis|rds|cache|r|rc|kv)([._]|$)|redis", re.IGNORECASE)


class RedisRecognizer:
    def __init__(self, index: ModuleIndex) -> None:
        self.index = index
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
            return self._builds_client(receiver)
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
        # `pipe = r.pipeline()` / `r.pipeline().incr(k).expire(k, 60)`: queued and sent together.
        in_pipeline = "pipe" in receiver.split(".")[0].lower() or ".pipeline(" in receiver
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
            return [Effect("read", key)]
        if method in _COUNTERS:
            if not in_pipeline:
                counted[key] = call
            return [Effect("write", key, "RC502", needs_check=True)]
        if method in _EXPIRES:
            incremented = counted.pop(key, None)
            if incremented is not None and not in_pipeline:
                return [Effect("direct", key, "RC503", node=incremented)]
            return []
        guard = ALL if self._is_conditional_set(call) else frozenset()
        return [Effect("write", key, "RC501", guard)]

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
