"""Redis from JavaScript: ioredis (`redis.set(key, v, "PX", ttl, "NX")`, `incrby`) and node-redis v4
(`client.set(key, v, { NX: true })`, `incrBy`, `setNX`). Calls are rewritten as redis-py's
(lower-case command, `NX`/`XX` as `nx=True`) and judged by the Redis recognizer: GET then SET,
read-compare-increment limiters, INCR then EXPIRE, SET NX locks.

RC503 compares the INCR and EXPIRE calls with the nodes of the function's body by identity, so the
counters remembered are the calls as written, not their rewritten copies."""

from __future__ import annotations

from ...core import model
from ...core.effects import CallContext, Effect
from ...core.stores import add_recognizer
from ...python.stores.redis import _EXPIRES, RedisRecognizer, _first_hit_expiry
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
        translated = rewritten(call, receiver, method.lower(), tuple(args))
        if translated.method in _EXPIRES:
            return self._expiry(call, translated, ctx)
        found = super().effects(translated, ctx)
        counters: dict[str, model.Call] = ctx.notes.get("redis-counters", {})
        for key, counted in counters.items():
            if counted is translated:
                counters[key] = call
        return found

    def _expiry(self, call: model.Call, translated: model.Call, ctx: CallContext) -> list[Effect] | None:
        """EXPIRE after INCR: RC503 when only the request that created the counter sets its TTL."""
        receiver = translated.receiver
        if receiver is None or not self.is_redis(receiver, ctx):
            return None
        key = self.key(translated, ctx)
        incremented = ctx.notes.setdefault("redis-counters", {}).pop(key, None)
        if (
            incremented is not None
            and not self._in_multi(receiver, ctx)
            and _first_hit_expiry(ctx.function(), incremented, call)
        ):
            return [Effect("direct", key, "RC503", node=incremented)]
        return []

    def _in_multi(self, receiver: model.Expr, ctx: CallContext) -> bool:
        """`redis.multi().incr(k).expire(k, 60).exec()`: ioredis and node-redis queue on `multi()`."""
        return ".multi(" in self.facts(ctx).name_text(receiver) or super()._in_multi(receiver, ctx)


add_recognizer("redis", "javascript", JsRedisRecognizer)
