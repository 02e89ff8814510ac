"""Redis from JavaScript: ioredis (`redis.set(key, v, "PX", ttl, "NX")`, `incrby`) and node-redis v4
(`client.set(key, v, { NX: true })`, `incrBy`, `setNX`). Calls are rewritten as redis-py's
(lower-case command, `NX`/`XX` as `nx=True`) and judged by the Redis recognizer: GET then SET,
read-compare-increment limiters, INCR then EXPIRE, SET NX locks."""

from __future__ import annotations

from ...core import model
from ...core.effects import CallContext, Effect
from ...core.stores import add_recognizer
from ...python.stores.redis import RedisRecognizer
from ._calls import JsModuleFacts, rewritten

__all__ = ["JsRedisRecognizer"]

_FLAGS = frozenset({"NX", "XX"})


def _flag(expr: model.Expr) -> str | None:
    if isinstance(expr, model.Literal) and isinstance(expr.value, str) and expr.value.upper() in _FLAGS:
        return expr.value.lower()
    return None


def _options(expr: model.Expr) -> list[str]:
    """node-redis `{ NX: true, PX: 1000 }`: the flags set to true."""
    if not isinstance(expr, model.Collection) or expr.kind != "dict":
        return []
    pairs = zip(expr.elements[::2], expr.elements[1::2], strict=False)
    return [
        str(key.value).lower()
        for key, value in pairs
        if isinstance(key, model.Literal)
        and str(key.value).upper() in _FLAGS
        and not (isinstance(value, model.Literal) and value.value in (False, None, 0))
    ]


class JsRedisRecognizer(RedisRecognizer):
    facts_type = JsModuleFacts
    markers = ("redis", "Redis")

    def effects(self, call: model.Call, ctx: CallContext) -> list[Effect] | None:
        method, receiver = call.method, call.receiver
        if method is None or receiver is None:
            return None
        args: list[model.Arg] = []
        flags: list[str] = []
        for arg in call.args:
            flag = _flag(arg.value) if len(args) >= 2 else None
            options = _options(arg.value) if len(args) >= 2 else []
            if flag:
                flags.append(flag)
            elif options:
                flags.extend(options)
            else:
                args.append(arg)
        true = model.Literal(True, span=call.span)
        args.extend(model.Arg(true, keyword=flag, span=call.span) for flag in flags)
        return super().effects(rewritten(call, receiver, method.lower(), tuple(args)), ctx)


add_recognizer("redis", "javascript", JsRedisRecognizer)
