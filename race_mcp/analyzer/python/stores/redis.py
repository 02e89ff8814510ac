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
# `add` / `set(nx=True)` whose answer is looked at: a mutex on the key (see `recognize`).
_CLAIMS = frozenset({"add"})
# Helpers that take and release a named lock (the lock's name is their first argument).
_ACQUIRES = frozenset({"lock", "acquire_lock", "get_lock", "try_lock", "take_lock", "obtain_lock"})
_RELEASES = frozenset({"unlock", "release_lock", "drop_lock", "free_lock"})
_CONVERSIONS = frozenset({"str", "int", "float", "bytes", "repr", "hex"})
_COMPARISON = re.compile(r"[!=]=")
# The detail of a check that only tested whether a value was found (`core.state.EXISTENCE`).
_EXISTENCE = frozenset({"<exists>"})


def _decided_on_size(key: str, ctx: CallContext) -> bool:
    check = ctx.state.checks.get(key)
    return check is not None and check.decision and bool(check.detail & _SIZE)


def _refills_cache(key: str, ctx: CallContext, code: str, call: model.Call) -> bool:
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
        or _recomputes_what_it_tested(key, check, ctx, code)
        or _uses_what_it_tested(key, check, ctx, code, call)
    )


def _uses_what_it_tested(key: str, check: Any, ctx: CallContext, code: str, call: model.Call) -> bool:
    """`blob = cache.get(k); if blob is None: value = compute(); cache.set(k, dumps(value))
    else: value = loads(blob)`: the hit path uses the cached value (the local appears on a line
    other than its read and its tests), and the miss path stores a computed value, not a marker
    literal and not one derived from the read. A lock or a dedup marker (`cache.set(k, 1)` after a
    refusal, `if holder and holder != user: raise`) stays racy."""
    given = positional(call)
    value = given[1] if len(given) > 1 else keywords(call).get("value")
    if value is None or isinstance(value, model.Literal) or any(a.key == key for a in ctx.args):
        return False
    tested = [step for step in check.steps if step.role == "check" and isinstance(step.node, model.Name)]
    skip = {step.line for step in check.steps} | {call.span.line}
    first = ctx.function().span.line
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


def _recomputes_what_it_tested(key: str, check: Any, ctx: CallContext, code: str) -> bool:
    """`keys = cache.get(K); if not keys: keys = fetch(); cache.set(K, keys)`, then `keys` is used:
    only the local's presence was tested, the miss path binds it again to a value computed without
    the cached one and stores that. Concurrent misses store equivalent values; a counter
    (`cache.set(K, attempts + 1)`) or a marker set after a bare `if cache.get(K):` stays racy."""
    if any(value.key == key for value in ctx.args):
        return False  # the stored value derives from the cached one: a read-modify-write
    names = {
        step.node.id for step in check.steps if step.role == "check" and isinstance(step.node, model.Name)
    }
    return any(len(re.findall(rf"(?<![\w.]){re.escape(name)}\s*=(?!=)", code)) >= 2 for name in names)


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
        return bool(_NAMED_LIKE_REDIS.search(text.split("(")[0]))

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
            first_hit = incremented is not None and _first_hit_expiry(ctx.function(), incremented, call)
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
        if method in ("delete", "unlink"):
            return [Effect("unlock", region="named:" + key), Effect("write", key, "RC501")]
        if method == "set" and not conditional:
            self.remember_own_value(call, key, ctx)
        if not conditional:
            conditional = _refills_cache(key, ctx, self.facts(ctx).code(ctx.function()), call)
        return [Effect("write", key, "RC501", ALL if conditional else frozenset())]

    def named_lock(self, call: model.Call, ctx: CallContext) -> list[Effect] | None:
        """A lock taken through a helper (`if not acquire_lock(name): raise Busy()` ...
        `finally: release_lock(name)`), usually over Redis, a cache or a database: held from the
        acquiring call, whose answer is tested, to the release of the same name."""
        if call.receiver is not None and self.facts(ctx).code(call.receiver) in ("self", "cls"):
            return None
        name = (call.name or call.method or "").split(".")[-1]
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
            and _unique_per_call(node.value)
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
        if not _compared_with(name, call, self.facts(ctx).code(function), function.span.line):
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


def _first_hit_expiry(function: model.Function, incremented: model.Call, expire: model.Call) -> bool:
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


def _unique_per_call(value: model.Expr | None) -> bool:
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
        return _unique_per_call(value.args[0].value)
    return name in _UNIQUE_CALLS


def _compared_with(name: str, call: model.Call, code: str, first: int) -> bool:
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


def _position(expr: model.Expr | None) -> tuple[int, int] | None:
    return (expr.span.line, expr.span.column) if expr is not None else None


def _unawaited(expr: model.Expr | None) -> model.Expr | None:
    return expr.value if isinstance(expr, model.Await) else expr


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
