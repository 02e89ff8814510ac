"""Code that keeps thread locks runs on threads; findings are one per sequence, not per first line.

Real analyses of small modules (no mocks): the module's own text decides the mode of code no
handler reaches, and `unique_findings` keeps each caller's race of a shared helper's read.
"""

from __future__ import annotations

from race_mcp import analyze_source
from race_mcp.analyzer.core.checks import unique_findings
from race_mcp.findings import Evidence, Finding

_CACHE = """
import threading


class Sessions:
    cache: dict = {}

    def __init__(self):
        self.cache_lock = {lock}

    def load(self, sid):
        with self.cache_lock:
            return self.cache[sid]["session"]

    def close(self, sid):
        session = self.load(sid)
        if session["open"]:
            session["open"] = False

    def extend(self, sid, seconds):
        session = self.load(sid)
        if session["ttl"] < 3600:
            session["ttl"] = session["ttl"] + seconds
"""


def _rc1(source: str) -> list[Finding]:
    findings = analyze_source(source, "sessions.py")
    return [f for f in findings if f.rule_id.startswith("RC1")]


def test_a_class_keeping_a_thread_lock_runs_on_threads() -> None:
    found = _rc1(_CACHE.replace("{lock}", "threading.Lock()"))
    assert {(f.rule_id, f.function) for f in found} == {
        ("RC102", "Sessions.close"),
        ("RC102", "Sessions.extend"),
    }
    # Both start at the helper's read and are two races, each with its own check and write.
    read = next(n for n, line in enumerate(_CACHE.splitlines(), 1) if "return self.cache[sid]" in line)
    assert {f.line for f in found} == {read}
    assert all(f.confidence == "medium" and "several threads" in f.message for f in found)


def test_without_a_thread_lock_the_same_code_is_judged_one_call_at_a_time() -> None:
    assert _rc1(_CACHE.replace("{lock}", "None")) == []
    # An asyncio lock says nothing about threads.
    assert _rc1("import asyncio\n" + _CACHE.replace("{lock}", "asyncio.Lock()")) == []


def test_a_return_inside_a_with_block_releases_its_lock() -> None:
    """`load` returns from inside `with self.cache_lock:`: its callers run without that lock, so
    their check-then-set is not protected by it."""
    source = (
        _CACHE.replace("{lock}", "threading.Lock()")
        .replace('if session["open"]:', 'with self.cache_lock:\n            if session["open"]:')
        .replace('session["open"] = False', '    session["open"] = False')
    )
    assert {f.function for f in _rc1(source)} == {"Sessions.extend"}


def _finding(lines: list[tuple[int, str]]) -> Finding:
    return Finding(
        rule_id="RC102",
        title="t",
        severity="high",
        confidence="high",
        path="a.py",
        line=lines[0][0],
        end_line=max(line for line, _ in lines),
        column=1,
        function="f",
        message="m",
        evidence=[Evidence(line=line, role=role, code="x") for line, role in lines],
        fix="fix",
    )


def test_unique_findings_keeps_one_per_sequence() -> None:
    first = _finding([(10, "read"), (20, "check"), (21, "write")])
    other_caller = _finding([(10, "read"), (30, "check"), (31, "write")])
    same_through_another_await = _finding([(10, "read"), (20, "check"), (25, "await"), (21, "write")])
    kept = unique_findings([first, other_caller, same_through_another_await, first])
    assert kept == [first, other_caller]
