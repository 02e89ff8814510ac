"""Redis (RC5xx): GET then SET, read-compare-increment limiters, INCR then EXPIRE.

A receiver is Redis when it was built by redis-py (`redis.Redis(...)`, `redis.asyncio.from_url`, ...),
is annotated as such, or is named like one (`redis`, `self.redis`, `redis_client`, `cache`, `r`).
Method names alone (`get`, `set`) are far too common to trust.
"""

from __future__ import annotations

import re
from typing import Any

from ...core import model
from ...core.effects import ALL, CallContext, Effect
from ...core.stores import StoreSpec, register
from ._common import StoreRecognizer, is_true, keywords, positional, walk
from ._redis_shapes import (
    compared_with,
    ends_function,
    ensures,
    first_hit_expiry,
    refills_cache,
    unique_per_call,
)

__all__ = ["RedisRecognizer"]

# The JavaScript recognizer (javascript/stores/redis.py) imports it under its earlier private name.
_first_hit_expiry = first_hit_expiry

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
# `inc` / `dec`: Flask-Caching; `increment` / `decrement`: aiocache; `incr` / `decr`: Django's cache.
_COUNTERS = {
    "incr",
    "incrby",
    "incrbyfloat",
    "decr",
    "decrby",
    "hincrby",
    "hincrbyfloat",
    "zincrby",
    "inc",
    "dec",
    "increment",
    "decrement",
}
_EXPIRES = {"expire", "pexpire", "expireat", "pexpireat"}
# `add`: Django's cache, Flask-Caching, aiocache and memcached store only when the key is absent
# (SET NX), and report whether they did.
_ATOMIC = {"eval", "evalsha", "fcall", "register_script", "setnx", "hsetnx", "msetnx", "add"}
# Reads of how many members a collection has, and writes that add one: a window of events.
_SIZES = {"zcard", "zcount", "scard", "llen", "hlen"}
_GROWS = {"zadd", "sadd", "rpush", "lpush"}
_SIZE = frozenset({"#size"})
_CHAINABLE = _READS | _WRITES | _COUNTERS | _EXPIRES | {"pipeline", "watch", "multi"}
_NOT_TRANSACTIONAL = re.compile(r"transaction\s*=\s*False")
_NAMED_LIKE_REDIS = re.compile(r"(^|[._])(redis|rds|cache|r|rc|kv)([._]|$)|redis", re.IGNORECASE)
_KNOWN = (
    _READS | _WRITES | _COUNTERS | _EXPIRES | _ATOMIC | {"watch", "unwatch", "execute", "pipeline", "multi"}
)
# Values no other request can guess: a key built from one is private to the request that made it.
_FRESH = re.compile(r"\b(?:uuid[14]|token_hex|token_urlsafe|token_bytes|urandom|getrandbits)\s*\(")
_REMOVES = frozenset({"delete", "unlink", "hdel", "srem", "zrem", "lrem"})
_RELEASING = frozenset({"delete", "unlink"})
# `add` / `set(nx=True)` whose answer is looked at: a mutex on the key (see `recognize`).
_CLAIMS = frozenset({"add"})
# Helpers that take and release a named lock (the lock's name is their first argument).
_ACQUIRES = frozenset({"lock", "acquire_lock", "get_lock", "try_lock", "take_lock", "obtain_lock"})
_RELEASES = frozenset({"unlock", "release_lock", "drop_lock", "free_lock"})


def _decided_on_size(key: str, ctx: CallContext) -> bool:
    check = ctx.state.checks.get(key)
    return check is not None and check.decision and bool(check.detail & _SIZE)


def _is_plain_pipeline(value: model.Expr | None) -> bool:
    """`r.pipeline(transaction=False)`: commands sent in one round trip, but not as MULTI ... EXEC."""
    if not isinstance(value, model.Call) or value.method != "pipeline":
        return False
    flag = keywords(value).get("transaction")
    return isinstance(flag, model.Literal) and flag.value is False


def _plain_pipelines(function: model.Function) -> frozenset[str]:
    """Names bound to `x.pipeline(transaction=False)` in `function`."""
    names: set[str] = set()
    for node in walk(function.body):
        if isinstance(node, model.Assign) and _is_plain_pipeline(node.value):
            names.update(t.id for t in node.targets if isinstance(t, model.Name))
        elif (
            isinstance(node, model.WithItem)
            and _is_plain_pipeline(node.context)
            and isinstance(node.target, model.Name)
        ):
            names.add(node.target.id)
    return frozenset(names)


class RedisRecognizer(StoreRecognizer):
    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self._plain: dict[int, tuple[model.Function, frozenset[str]]] = {}
        self._clients: dict[int, set[str]] = {}
        self._fresh: dict[int, tuple[model.Function, frozenset[str]]] = {}

    def clients(self, ctx: CallContext) -> set[str]:
        """Module-level names bound to a client built by redis-py."""
        facts = self.facts(ctx)
        clients = self._clients.get(id(facts))
        if clients is None:
            clients = self._clients[id(facts)] = {
                name
                for name, value in facts.assignments.items()
                if isinstance(value, model.Call) and _builds_client(value)
            }
        return clients

    def is_redis(self, receiver: model.Expr, ctx: CallContext) -> bool:
        if isinstance(receiver, model.Call):
            # `redis.Redis(...)`, or a chain on one: `r.pipeline().incr(k).expire(k, 60)`.
            if _builds_client(receiver):
                return True
            inner = receiver.receiver
            return receiver.method in _CHAINABLE and inner is not None and self.is_redis(inner, ctx)
        text = self.facts(ctx).name_text(receiver)
        head = text.split(".")[0]
        clients = self.clients(ctx)
        if text in clients or head in clients or "pipe" in head.lower():
            return True
        function = ctx.function()
        if head in function.params and "redis" in function.annotations.get(head, "").lower():
            return True
        return bool(_NAMED_LIKE_REDIS.search(text.split("(")[0])) and not _own_object(head, ctx)

    def key(self, call: model.Call, ctx: CallContext) -> str:
        args = positional(call)
        # Flask-Caching and Django's cache also take the key by keyword: `cache.get(key=prefix + sid)`.
        named = keywords(call)
        expr = args[0] if args else named.get("key", named.get("name"))
        text = self.facts(ctx).code(expr) if expr is not None else "?"
        return "redis:" + re.sub(r"\s+", "", text)

    def fresh_names(self, ctx: CallContext) -> frozenset[str]:
        """Locals of the running function bound to a new random value (`uuid4()`, `token_hex()`):
        a key built from one names an entry no other request can know, so checking it and then
        writing it (a collision loop) races with nobody."""
        function = ctx.function()
        cached = self._fresh.get(id(function))
        if cached is None or cached[0] is not function:
            code = self.facts(ctx).code
            names = {
                target.id
                for node in walk(function.body)
                if isinstance(node, model.Assign) and _FRESH.search(code(node.value))
                for target in node.targets
                if isinstance(target, model.Name)
            }
            cached = self._fresh[id(function)] = (function, frozenset(names))
        return cached[1]

    def private_key(self, key: str, ctx: CallContext) -> bool:
        fresh = self.fresh_names(ctx)
        return bool(fresh) and any(name in fresh for name in re.findall(r"\w+", key.partition(":")[2]))

    def recognize(self, call: model.Call, ctx: CallContext) -> list[Effect] | None:
        named = self.named_lock(call, ctx)
        if named is not None:
            return named
        method, receiver = call.method, call.receiver
        if method not in _KNOWN or receiver is None or not self.is_redis(receiver, ctx):
            return None
        if method in _CLAIMS and ctx.result_used(call):
            # `if not cache.add(lock_key, 1, timeout=30): return 429`: SET NX taken as a mutex,
            # held until the key is deleted.
            return [Effect("lock", region="named:" + self.key(call, ctx))]
        if method in ("pipeline", "multi") or method in _ATOMIC:
            return []
        if method == "watch":
            return [Effect("lock", region="redis-watch")]
        if method in ("execute", "unwatch"):
            return [Effect("unlock", region="redis-watch")]
        # `pipe = r.pipeline()` / `r.pipeline().incr(k).expire(k, 60)`: one MULTI ... EXEC.
        in_pipeline = self._in_multi(receiver, ctx)
        counted: dict[str, model.Call] = ctx.notes.setdefault("redis-counters", {})
        key = self.key(call, ctx)
        if method in _READS:
            if self.private_key(key, ctx):
                return []  # `while cache.get(prefix + sid): sid = str(uuid4())`: nobody else has the key
            read = Effect("read", key, detail=_SIZE if method in _SIZES else frozenset())
            return [read, *self.read_back(call, key, ctx)]
        if method in _COUNTERS:
            if not in_pipeline:
                counted[key] = call
            return [Effect("write", key, "RC502", needs_check=True)]
        if method in _EXPIRES:
            incremented = counted.pop(key, None)
            first_hit = incremented is not None and first_hit_expiry(ctx.function(), incremented, call)
            if first_hit and not in_pipeline:
                assert incremented is not None
                return [Effect("direct", key, "RC503", node=incremented)]
            return []
        if method in _GROWS and _decided_on_size(key, ctx):
            # `zcard` -> compare -> `zadd`: a sliding-window limiter checked before it counts.
            return [Effect("write", key, "RC502", needs_check=True)]
        conditional = _is_conditional_set(call)
        if method == "set" and conditional and ctx.result_used(call):
            return [Effect("lock", region="named:" + key), Effect("write", key, "RC501", ALL)]
        if method in _REMOVES:
            # Removing is idempotent: when nothing follows in the function (a cache invalidation,
            # a sweep of expired entries), two requests removing the same thing lose nothing. A
            # removal that consumes something (a one-time code, then the login it grants) stays racy.
            final = ends_function(call, ctx.function(), self.facts(ctx).code(ctx.function()))
            write = Effect("write", key, "RC501", ALL if final else frozenset())
            return [Effect("unlock", region="named:" + key), write] if method in _RELEASING else [write]
        if method == "set" and not conditional:
            self.remember_own_value(call, key, ctx)
        if not conditional:
            conditional = ensures(key, ctx, self.facts(ctx).code(ctx.function()), call)
        if not conditional:
            root = ctx.root()
            root_code = self.home.code(root) if root is not ctx.function() else None
            conditional = refills_cache(key, ctx, self.facts(ctx).code(ctx.function()), call, root_code)
        return [Effect("write", key, "RC501", ALL if conditional else frozenset())]

    def named_lock(self, call: model.Call, ctx: CallContext) -> list[Effect] | None:
        """A lock taken through a helper (`if not acquire_lock(name): raise Busy()` ...
        `finally: release_lock(name)`), usually over Redis, a cache or a database: held from the
        acquiring call, whose answer is tested, to the release of the same name."""
        name = (call.name or call.method or "").split(".")[-1]
        if name not in _ACQUIRES and name not in _RELEASES:
            return None  # decided before any source text is cut: most calls are no lock helper
        if call.receiver is not None and self.facts(ctx).code(call.receiver) in ("self", "cls"):
            return None
        if name == "lock" and call.receiver is not None:
            return None  # `r.lock(name)` (redis-py, pottery): a lock object, taken by `with` or `acquire()`
        given = positional(call)
        if not given:
            return None
        region = "named:" + re.sub(r"\s+", "", self.facts(ctx).code(given[0]))
        if name in _ACQUIRES and ctx.result_used(call):
            return [Effect("lock", region=region)]
        if name in _RELEASES:
            return [Effect("unlock", region=region)]
        return None

    def remember_own_value(self, call: model.Call, key: str, ctx: CallContext) -> None:
        """`token = uuid4().hex; r.set(LEADER, token)`: a SET of a value no other request writes,
        kept so that reading the key back to compare with it can be recognised (`read_back`)."""
        given = positional(call)
        value = given[1] if len(given) > 1 else keywords(call).get("value")
        if not isinstance(value, model.Name) or self.private_key(key, ctx):
            return
        function = ctx.function()
        if any(
            isinstance(node, model.Assign)
            and any(isinstance(t, model.Name) and t.id == value.id for t in node.targets)
            and unique_per_call(node.value)
            for node in walk(function.body)
        ):
            ctx.notes.setdefault("redis-own-values", {})[(id(function), key)] = (call, value.id)

    def read_back(self, call: model.Call, key: str, ctx: CallContext) -> list[Effect]:
        """`r.set(K, mine)` then `r.get(K) == mine`: the request trusts that the shared key still
        holds its own value, but a concurrent request can overwrite it between the two commands
        (a lock or leader election taken without NX; a health probe that fails under load)."""
        function = ctx.function()
        written = ctx.notes.get("redis-own-values", {}).pop((id(function), key), None)
        if written is None:
            return []
        set_call, name = written
        if not compared_with(name, call, self.facts(ctx).code(function), function.span.line):
            return []
        label = key.partition(":")[2]
        message = (
            f"Shared key `{label}` is set to this request's own value at line {set_call.span.line} and "
            f"read back at line {call.span.line} to compare: a concurrent request can overwrite it in "
            "between, so the comparison fails or two requests both see their own value."
        )
        return [Effect("direct", key, "RC501", node=set_call, message=message)]

    def _in_multi(self, receiver: model.Expr, ctx: CallContext) -> bool:
        """Queued on a pipeline that runs as MULTI ... EXEC (redis-py's default, `transaction=True`)."""
        text = self.facts(ctx).name_text(receiver)
        if ".pipeline(" in text:
            return not _NOT_TRANSACTIONAL.search(text)
        head = text.split(".")[0]
        if "pipe" not in head.lower():
            return False
        function = ctx.function()
        cached = self._plain.get(id(function))
        if cached is None or cached[0] is not function:
            cached = self._plain[id(function)] = (function, _plain_pipelines(function))
        return head not in cached[1]


def _builds_client(call: model.Call) -> bool:
    name = call.name or ""
    return name.startswith(("redis.", "aioredis.")) or name.split(".")[-1] in (
        "Redis",
        "StrictRedis",
        "from_url",
    )


def _is_conditional_set(call: model.Call) -> bool:
    options = keywords(call)
    return is_true(options.get("nx")) or is_true(options.get("xx"))


register(
    StoreSpec(
        name="redis",
        markers=(
            "redis",
            "Redis",
            "cache",
            "incr",
            "decr",
            "pipe",
            "rds",
            "kv",
            "setnx",
            "expire",
            "lock(",
            "_lock",
        ),
        label=lambda name: f"Redis key `{name}`",
        outcome="concurrent requests all pass the check before any of them writes",
        recognizers={"python": RedisRecognizer},
        default_rule="RC501",
    )
)


def _own_object(name: str, ctx: CallContext) -> bool:
    """A name like a cache's that another module of the project builds without any cache or Redis
    client (lnbits' `cache`, a dict with expiries): in-process state, not a store."""
    project = ctx.facts()
    lookup = getattr(project, "own_object", None) if project is not None else None
    return bool(lookup(name)) if callable(lookup) else False
