"""Catalog entries for the RC1xx family: in-process state shared by concurrent requests (module
globals, class attributes, service objects, `app.state`), in async and threaded handlers."""

from __future__ import annotations

from ._model import CWE_362, Rule, snippet

__all__ = ["FAMILY", "PREFIX", "RULES"]

PREFIX = "RC1"
FAMILY = "RC1xx in-process shared state"
_REFERENCES = [
    CWE_362,
    "https://portswigger.net/research/smashing-the-state-machine",
    "https://docs.python.org/3/library/asyncio-sync.html#asyncio.Lock",
]


RULES: list[Rule] = [
    Rule(
        id="RC101",
        name="shared-state-check-then-act-across-await",
        title="Shared in-process state checked, then written after an await",
        family=FAMILY,
        severity="high",
        cwe="CWE-362",
        fix=(
            "Hold one `asyncio.Lock` (per key, if the state is keyed) across the whole check-and-write; this "
            "protects one process only, so state shared by several workers belongs in a database or Redis "
            "with an atomic update."
        ),
        what_it_does=(
            "Flags an `async` handler (or a function it calls in the same file) that reads "
            "module-level state, a class attribute, a shared service object or `app.state`, "
            "decides on what it read, reaches an `await`, and then writes the same state, "
            "without holding an `asyncio.Lock` (or another lock) across the whole sequence."
        ),
        why_bad=(
            "Every `await` hands the event loop to other requests. Twenty concurrent requests "
            "can all pass `if not coupon['used']` before the first one sets it, so a single-use "
            "coupon is redeemed twenty times, stock goes negative, or a counter loses updates. "
            "Without an `await` between the check and the write the sequence is atomic within one "
            "event loop, so this rule stays quiet there."
        ),
        example=snippet(
            """
            from fastapi import FastAPI

            app = FastAPI()
            coupons = {"WELCOME": {"used": False}}

            @app.post("/redeem/{code}")
            async def redeem(code: str):
                coupon = coupons[code]
                if coupon["used"]:
                    return {"ok": False}
                await charge_discount(code)
                coupon["used"] = True
                return {"ok": True}

            async def charge_discount(code: str) -> None:
                await audit_log.write(code)
            """
        ),
        use_instead=snippet(
            """
            import asyncio
            from fastapi import FastAPI

            app = FastAPI()
            coupons = {"WELCOME": {"used": False}}
            coupons_lock = asyncio.Lock()

            @app.post("/redeem/{code}")
            async def redeem(code: str):
                async with coupons_lock:
                    coupon = coupons[code]
                    if coupon["used"]:
                        return {"ok": False}
                    await charge_discount(code)
                    coupon["used"] = True
                return {"ok": True}

            async def charge_discount(code: str) -> None:
                await audit_log.write(code)
            """
        ),
        fix_safety=(
            "Holding an `asyncio.Lock` across the sequence serialises it within one process only. "
            "With several worker processes or hosts the state should move to a database or Redis "
            "and be updated atomically there."
        ),
        known_problems=(
            "Keys are tracked per variable, not per dictionary key: a check on `stock['a']` and a "
            "write to `stock['b']` count as the same state. Calls are followed within one file only."
        ),
        references=_REFERENCES,
    ),
    Rule(
        id="RC102",
        name="shared-state-read-modify-write-in-threaded-handler",
        title="Shared in-process state read and written by a handler that runs in threads",
        family=FAMILY,
        severity="high",
        cwe="CWE-362",
        fix=(
            "Hold one `threading.Lock` across the read and the write (`with lock:`); this protects one "
            "process only, so state shared by several workers belongs in a database or Redis with an atomic "
            "update."
        ),
        what_it_does=(
            "Flags a synchronous handler that the framework runs on a thread pool (a FastAPI or "
            "Starlette `def` endpoint, a Flask view) when it checks or reads module-level state, a "
            "class attribute, a shared service object or `app.state` and then writes it, or "
            "updates it with `+=`, without a `threading.Lock` held across the sequence."
        ),
        why_bad=(
            "Threads are pre-empted between any two bytecodes, so `counter += 1` and "
            "`if balance >= amount: balance -= amount` interleave across requests: updates are "
            "lost and limits are overrun. FastAPI runs `def` endpoints in a thread pool of 40 "
            "threads; Flask and its WSGI servers run one request per thread."
        ),
        example=snippet(
            """
            from flask import Flask

            app = Flask(__name__)
            balances = {"alice": 100}

            @app.post("/withdraw/<user>/<int:amount>")
            def withdraw(user, amount):
                if balances[user] >= amount:
                    balances[user] -= amount
                    return {"ok": True}
                return {"ok": False}, 409
            """
        ),
        use_instead=snippet(
            """
            import threading
            from flask import Flask

            app = Flask(__name__)
            balances = {"alice": 100}
            balances_lock = threading.Lock()

            @app.post("/withdraw/<user>/<int:amount>")
            def withdraw(user, amount):
                with balances_lock:
                    if balances[user] >= amount:
                        balances[user] -= amount
                        return {"ok": True}
                return {"ok": False}, 409
            """
        ),
        fix_safety=(
            "A `threading.Lock` protects one process only; gunicorn or uvicorn with several workers "
            "each have their own copy of module state, which is usually a bug of its own."
        ),
        known_problems=(
            "Single calls that the GIL makes atomic (`list.append`, `dict.setdefault`, `dict.pop`) "
            "are not flagged on their own. Keys are tracked per variable, not per dictionary key."
        ),
        references=_REFERENCES,
    ),
]
