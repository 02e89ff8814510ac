"""The rule catalog: every rule once, documented the way ruff documents its rules.

`race-mcp rules [ID]` and the MCP resources `race://rules` / `race://rules/{id}` render this one source.
Ids are stable and never reused; a removed rule keeps its entry with `status="removed"`.
"""

from __future__ import annotations

from textwrap import dedent
from typing import Literal

from pydantic import BaseModel, Field

from .errors import InputError
from .findings import Severity

__all__ = ["RULES", "Rule", "get_rule", "render_catalog_markdown", "render_rule_markdown"]


class Rule(BaseModel):
    """One rule: what it flags, why it is bad, a racy example and the fixed one."""

    id: str = Field(description="stable id, e.g. RC101")
    name: str = Field(description="kebab-case name of the racy pattern")
    title: str
    family: str
    severity: Severity = Field(description="default impact when the race is real")
    status: Literal["preview", "stable", "removed"] = "stable"
    cwe: str
    what_it_does: str
    why_bad: str
    example: str = Field(description="racy code that this rule flags")
    use_instead: str = Field(description="the fixed code, which this rule leaves alone")
    fix_safety: str = ""
    known_problems: str = ""
    references: list[str] = Field(default_factory=list)


def _code(text: str) -> str:
    return dedent(text).strip("\n") + "\n"


_RC1_REFERENCES = [
    "CWE-362: Concurrent Execution using Shared Resource with Improper Synchronization",
    "https://portswigger.net/research/smashing-the-state-machine",
    "https://docs.python.org/3/library/asyncio-sync.html#asyncio.Lock",
]

RULES: dict[str, Rule] = {
    rule.id: rule
    for rule in [
        Rule(
            id="RC101",
            name="shared-state-check-then-act-across-await",
            title="Shared in-process state checked, then written after an await",
            family="RC1xx in-process shared state",
            severity="high",
            cwe="CWE-362",
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
            example=_code(
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
            use_instead=_code(
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
            references=_RC1_REFERENCES,
        ),
        Rule(
            id="RC102",
            name="shared-state-read-modify-write-in-threaded-handler",
            title="Shared in-process state read and written by a handler that runs in threads",
            family="RC1xx in-process shared state",
            severity="high",
            cwe="CWE-362",
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
            example=_code(
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
            use_instead=_code(
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
            references=_RC1_REFERENCES,
        ),
    ]
}


def get_rule(rule_id: str) -> Rule:
    """Return the rule with this id (case-insensitive), or raise `InputError` naming the known ids."""
    rule = RULES.get(rule_id.strip().upper())
    if rule is None:
        known = ", ".join(sorted(RULES))
        raise InputError(f"unknown rule {rule_id!r}; known rules: {known}")
    return rule


def render_rule_markdown(rule: Rule) -> str:
    """The rule's documentation as markdown, in ruff's section order."""
    parts = [
        f"# {rule.id} {rule.name}",
        f"**{rule.title}** · severity {rule.severity} · {rule.cwe} · {rule.status}",
        f"## What it does\n{rule.what_it_does}",
        f"## Why is this bad?\n{rule.why_bad}",
        f"## Example\n```python\n{rule.example}```",
        f"Use instead:\n```python\n{rule.use_instead}```",
    ]
    if rule.fix_safety:
        parts.append(f"## Fix safety\n{rule.fix_safety}")
    if rule.known_problems:
        parts.append(f"## Known problems\n{rule.known_problems}")
    if rule.references:
        parts.append("## References\n" + "\n".join(f"- {ref}" for ref in rule.references))
    return "\n\n".join(parts) + "\n"


def render_catalog_markdown() -> str:
    """An index of every rule: id, name, severity and title."""
    lines = ["# race-mcp rules", "", "| id | name | severity | title |", "|---|---|---|---|"]
    for rule in RULES.values():
        lines.append(f"| {rule.id} | {rule.name} | {rule.severity} | {rule.title} |")
    return "\n".join(lines) + "\n"
