"""Catalog entries for the RC5xx family: Redis through redis-py, sync and `redis.asyncio`."""

from __future__ import annotations

from ._model import CWE_362, Rule, snippet

__all__ = ["FAMILY", "PREFIX", "RULES"]

PREFIX = "RC5"
FAMILY = "RC5xx Redis"
_TRANSACTIONS = "https://redis.io/docs/latest/develop/interact/transactions/"
_INCR = "https://redis.io/docs/latest/commands/incr/ (patterns: counter, rate limiter)"
_REDIS_PY = "https://redis.readthedocs.io/en/stable/advanced_features.html (pipelines, WATCH, transaction())"

RULES: list[Rule] = [
    Rule(
        id="RC501",
        name="redis-get-then-set",
        title="Redis value read, decided on or recomputed in application code, then written with SET",
        family=FAMILY,
        severity="high",
        cwe="CWE-362",
        fix="Use `INCR`/`DECRBY`, `SET ... NX`, `WATCH` + `MULTI`, or a Lua script instead of GET then SET.",
        what_it_does=(
            "Flags a `get` (or `hget`) of a key whose value is checked or used to compute a new "
            "one, followed by a `set` (or `hset`) of the same key, when the sequence is not inside "
            "a `WATCH`ed pipeline (`pipe.watch(key)` ... `pipe.multi()`, or `r.transaction(fn, "
            "key)`) and not replaced by an atomic command: `incr`/`decrby`/`hincrby`, "
            "`set(..., nx=True)`, or a Lua script (`eval`, `register_script`). A read in one "
            "helper and a write in another of the same file count as one sequence; a `MULTI` "
            "pipeline without `WATCH` does not protect a read made before it. Also flags the "
            "reverse order: a shared key `set` to a value unique to this request (`uuid4()`, "
            "`token_hex()`, `monotonic_ns()`), then read back with `get` and compared with it, "
            "a lock or leader election taken without `NX`. Django's cache, Flask-Caching and "
            "aiocache are read the same way (`add` is `SET NX`)."
        ),
        why_bad=(
            "Redis runs each command atomically, but not the Python between two commands. "
            "Concurrent requests all `GET` stock=1 and all `SET` 0; all `GET` a free lock and all "
            "take it; all `GET` a JSON cart, append a line each and overwrite each other. Across "
            "processes and hosts no Python lock helps; the decision has to run inside Redis."
        ),
        example=snippet(
            """
            import redis
            from flask import Flask, abort, jsonify

            app = Flask(__name__)
            r = redis.Redis()

            @app.post("/stock/<sku>/take")
            def take_stock(sku):
                stock = int(r.get(f"stock:{sku}") or 0)
                if stock <= 0:
                    abort(409)
                r.set(f"stock:{sku}", stock - 1)
                return jsonify(left=stock - 1)
            """
        ),
        use_instead=snippet(
            """
            import redis
            from flask import Flask, abort, jsonify

            app = Flask(__name__)
            r = redis.Redis()

            @app.post("/stock/<sku>/take")
            def take_stock(sku):
                left = r.decr(f"stock:{sku}")
                if left < 0:
                    r.incr(f"stock:{sku}")
                    abort(409)
                return jsonify(left=left)
            """
        ),
        fix_safety=(
            "`DECR` with a compensating `INCR` lets the value dip below zero for an instant, which "
            "readers may observe; a Lua script that checks and decrements avoids that. A `WATCH` "
            "loop must retry on `WatchError`, and a lock taken with `SET NX` needs a TTL and an "
            "owner-checked release (a Lua compare-and-delete)."
        ),
        known_problems=(
            "Cache-aside (`get`, on a hit return the cached value, on a miss load from the "
            "database and `set` it) is left alone because concurrent misses write the same value. "
            "It is told apart from a check-then-set lock by the hit path: cache-aside returns the "
            "value it read, a lock refuses (raises, returns None or False). A check-then-set whose "
            "refusal returns the value read (the current holder) is taken for cache-aside and "
            "missed. A release that does "
            "`get` then `delete` to free a lock is a race of its own that this rule does not "
            "report."
        ),
        references=[
            CWE_362,
            _TRANSACTIONS,
            "https://redis.io/docs/latest/commands/set/ (NX, PX)",
            _REDIS_PY,
        ],
    ),
    Rule(
        id="RC502",
        name="redis-non-atomic-rate-limit",
        title="Rate limiter reads the counter, compares it, and increments it separately",
        family=FAMILY,
        severity="medium",
        cwe="CWE-362",
        fix="Increment first (`INCR` returns the new count) and compare what it returns with the limit.",
        what_it_does=(
            "Flags a fixed-window limiter that `get`s a counter, compares it with a limit, and only "
            "then increments it (`incr`, or `incr` + `expire` in a pipeline), so the comparison is "
            "made on a value read before this request counted. Limiters that `incr` first and "
            "compare the value `incr` returned (directly or from a `MULTI` pipeline), and Lua "
            "limiters, are left alone."
        ),
        why_bad=(
            "A burst sent at once (the single-packet attack sends 20-30 requests in one TCP "
            "packet) has every request read the same count below the limit before any of them "
            'increments it, so a limit of 5 login attempts allows 30. The "Rate limiter 1" '
            "pattern in the Redis `INCR` documentation has this shape: it is fine for smoothing "
            "traffic, not for a security limit."
        ),
        example=snippet(
            """
            import time

            import redis
            from flask import Flask, abort, request

            app = Flask(__name__)
            r = redis.Redis()

            @app.before_request
            def limit_requests():
                key = f"rl:{request.remote_addr}:{int(time.time() // 60)}"
                hits = int(r.get(key) or 0)
                if hits >= 60:
                    abort(429)
                pipe = r.pipeline(transaction=True)
                pipe.incr(key)
                pipe.expire(key, 60)
                pipe.execute()
            """
        ),
        use_instead=snippet(
            """
            import time

            import redis
            from flask import Flask, abort, request

            app = Flask(__name__)
            r = redis.Redis()

            @app.before_request
            def limit_requests():
                key = f"rl:{request.remote_addr}:{int(time.time() // 60)}"
                pipe = r.pipeline(transaction=True)
                pipe.incr(key)
                pipe.expire(key, 60)
                hits, _ = pipe.execute()
                if hits > 60:
                    abort(429)
            """
        ),
        fix_safety=(
            "Counting first also counts the rejected requests, which is usually what a limiter "
            "wants; a caller that must not count rejections needs a Lua script that compares and "
            "increments in one step."
        ),
        known_problems=(
            "Limiters split across middleware classes in other modules are not followed. Sliding "
            "windows built from sorted sets are recognised only when the `zcard` result compared "
            "comes from the same `MULTI` as the `zadd`."
        ),
        references=[
            CWE_362,
            "CWE-799: Improper Control of Interaction Frequency",
            _INCR,
            "https://portswigger.net/research/smashing-the-state-machine",
        ],
    ),
    Rule(
        id="RC503",
        name="redis-incr-then-expire",
        title="INCR and EXPIRE issued as two separate commands",
        family=FAMILY,
        severity="medium",
        cwe="CWE-362",
        fix="Set the expiry atomically with the increment: a MULTI pipeline, `SET key 0 EX n NX`, or Lua.",
        what_it_does=(
            "Flags an `incr` / `incrby` of a key (`inc` in Flask-Caching, `increment` in "
            "aiocache) whose TTL is then set by a separate `expire` (or `pexpire`) only when the "
            "increment created the key (`if n == 1:`), outside a `MULTI` pipeline and a Lua "
            "script. The finding points at the `incr`. An `expire` issued after every increment "
            "is left alone: the next request re-applies a TTL lost in between."
        ),
        why_bad=(
            "If the worker dies, is cancelled or loses the connection between the two commands, "
            "the counter has no TTL, and since only the request that created the key sets one, "
            "no later request does: the counter never resets, the user stays locked out or over "
            "quota for good, and keys pile up."
        ),
        example=snippet(
            """
            import redis

            r = redis.Redis()

            def allow_login_attempt(username: str) -> bool:
                key = f"login-attempts:{username}"
                attempts = r.incr(key)
                if attempts == 1:
                    r.expire(key, 900)
                return attempts <= 5
            """
        ),
        use_instead=snippet(
            """
            import redis

            r = redis.Redis()

            def allow_login_attempt(username: str) -> bool:
                key = f"login-attempts:{username}"
                with r.pipeline(transaction=True) as pipe:
                    attempts, _ = pipe.incr(key).expire(key, 900, nx=True).execute()
                return attempts <= 5
            """
        ),
        fix_safety=(
            "`EXPIRE ... NX` needs Redis 7.0; on older servers create the key with its TTL first "
            "(`set(key, 0, ex=900, nx=True)`, then `incr`) or use a Lua script."
        ),
        known_problems=(
            "A pipeline created with `transaction=False` is reported, although both commands "
            "usually travel in one write; it is not atomic if the connection drops between them. "
            "An unconditional `EXPIRE` after each `INCR` heals at the next request but also "
            "pushes the window back on every request (a sliding lockout): that is a design "
            "choice, not a race, and is not reported."
        ),
        references=[
            CWE_362,
            _INCR,
            _TRANSACTIONS,
            "https://redis.io/docs/latest/commands/expire/ (NX option)",
        ],
    ),
]
