"""Fixes from the hand review of JavaScript/TypeScript and Rust findings on real applications
(issue 12, docs/real-world-js-rust.md): settled module state in Node, one-time statics in Rust.

Each fixture holds the shape the review found false on real code and its racy near misses; these
tests analyse them for real and also show that the safe shapes were reported before the fix, so
the fixtures keep testing the fix and not an accident of the lowering.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import race_mcp.analyzer.javascript.callbacks as js_callbacks
import race_mcp.analyzer.javascript.memory as js_memory
import race_mcp.analyzer.rust.memory as rust_memory
from race_mcp.analyzer import analyze_paths, analyze_source
from race_mcp.analyzer.core import interpret, model
from race_mcp.analyzer.core.state import Access, State, is_memory_key
from race_mcp.analyzer.core.writes import Writes
from race_mcp.analyzer.javascript._settled import settled_state
from race_mcp.analyzer.javascript.entrypoints import entry_points
from race_mcp.analyzer.javascript.lower import lower_module
from race_mcp.findings import Finding
from tests.corpus import read_expectations

FIXTURES = Path(__file__).parent / "fixtures" / "analyzer"
JS = FIXTURES / "js" / "RC1xx_realworld.js"
RUST = FIXTURES / "rust" / "RC1xx_realworld.rs"
KOA = FIXTURES / "js" / "RC3xx_realworld.js"
TRPC = FIXTURES / "js" / "RC3xx_trpc_realworld.ts"


def _analyse(path: Path) -> list[Finding]:
    return analyze_source(path.read_text(), str(path))


def _in_safe_spans(path: Path, findings: list[Finding]) -> list[Finding]:
    spans = read_expectations(path.read_text()).safe_spans
    return [f for f in findings if any(r == f.rule_id and a <= f.line <= b for r, a, b in spans)]


@pytest.mark.parametrize("path", [JS, RUST, KOA, TRPC], ids=["javascript", "rust", "koa-sequelize", "trpc"])
def test_racy_markers_reported_and_safe_spans_quiet(path: Path) -> None:
    findings = _analyse(path)
    expected = read_expectations(path.read_text())
    reported = {(f.rule_id, f.line) for f in findings}
    assert expected.racy and expected.racy <= reported
    assert not _in_safe_spans(path, findings)


def test_javascript_safe_shapes_were_reported_before(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(js_memory, "settled_state", lambda module, mutating: frozenset())
    before = _in_safe_spans(JS, _analyse(JS))
    flagged = {f.message.split("`")[1] for f in before}
    assert flagged >= {"watermarkPng", "siteSettings", "reindexRunning", "avatarCache", "rateCache"}


def test_rust_safe_shapes_were_reported_before(monkeypatch: pytest.MonkeyPatch) -> None:
    old = r"\b(Atomic\w*|\w*Mutex|\w*RwLock|DashMap|DashSet|Lazy|OnceCell|OnceLock|LazyLock)\b"
    monkeypatch.setattr(rust_memory, "_INTERIOR", re.compile(old))
    before = _in_safe_spans(RUST, _analyse(RUST))
    assert {f.function for f in before} >= {"favicon", "new_challenge"}


MAP = "const m = new Map();\nasync function g(k) {"


def _settled(source: str) -> frozenset[str]:
    return settled_state(lower_module(source, "state.js"), js_memory._MUTATING)


@pytest.mark.parametrize(
    ("source", "settled"),
    [
        ("let c; function get() { c = c || make(); return c; }", True),
        ("let c; async function get() { c ??= await make(); return c; }", True),
        ("let c; async function get() { if (!c) { c = await make(); } return c; }", True),
        (
            "let c; async function get() { if (c) return c; c = await make(); return c; }\n"
            "function r() { c = null; }",
            True,
        ),
        # built from the caller's argument: each caller's own value
        ("let c; async function get(id) { if (!c) { c = await make(id); } return c; }", False),
        # a counter
        ("let n = 0; async function hit() { if (n < 5) { await x(); n = n + 1; } }", False),
        # a consumption: a reset with no fill
        ("let offer = {}; async function take() { if (offer) { await pay(); offer = null; } }", False),
        # a claim right after its test, and its release
        (
            "let busy = false;\n"
            "async function run() { if (busy) return; busy = true; await work(); busy = false; }",
            True,
        ),
        ("let busy = false; async function run() { if (busy) return; await ready(); busy = true; }", False),
        # a flag cleared with no claim anywhere: a one-time switch consumed
        ("let open = true; async function close() { if (open) { await flush(); open = false; } }", False),
        # Map fills: the hit path hands back the entry, the fill is not computed from it
        (f"{MAP} const v = m.get(k); if (v) return v; const w = await load(k); m.set(k, w); }}", True),
        (f"{MAP} const v = m.get(k); if (v) return null; await load(k); m.set(k, true); }}", False),
        (f"{MAP} const v = m.get(k) || 0; if (v > 3) return v; await log(k); m.set(k, v + 1); }}", False),
        # a fill, and elsewhere an entry changed in place: the entries are live state
        (
            f"{MAP} const v = m.get(k); if (v) return v; const w = await load(k); m.set(k, w); }}\n"
            "async function take(k) { const e = m.get(k); if (e.left > 0) { await pay(); e.left = 0; } }",
            False,
        ),
        ("const m = new Map(); function g(k) { m.push(k); }", False),
    ],
)
def test_settled_state_shapes(source: str, settled: bool) -> None:
    found = _settled(source)
    assert bool(found) is settled, found


def test_object_literal_of_shared_state_was_an_alias_before(monkeypatch: pytest.MonkeyPatch) -> None:
    """`const options = { ...mailDefaults, id }` then `options.retries = ...`: a new object."""

    def call_only(value: model.Expr, read: Access) -> bool:
        return isinstance(value, model.Call) and value.receiver is None and is_memory_key(read.key)

    monkeypatch.setattr(interpret, "_new_object_of_memory", call_only)
    before = _in_safe_spans(JS, _analyse(JS))
    assert any("`mailDefaults`" in f.message for f in before)


def test_handler_after_transaction_middleware_was_outside_before(monkeypatch: pytest.MonkeyPatch) -> None:
    """outline's `router.post(name, auth(), transaction(), handler)`: the row lock holds."""
    monkeypatch.setattr(js_callbacks, "_after_transaction_middleware", lambda function: False)
    before = _in_safe_spans(KOA, _analyse(KOA))
    assert [(f.rule_id, f.function) for f in before] == [("RC301", "POST reviewers.remind handler")]


def test_row_lock_no_longer_covers_an_absent_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """A `FOR UPDATE` that found nothing locked nothing: the insert after it was hidden before."""
    protected_before = Writes.unprotected

    def rows_lock_absence(self: Writes, access: Access, state: State, *, absent: bool = False) -> bool:
        return protected_before(self, access, state)

    monkeypatch.setattr(Writes, "unprotected", rows_lock_absence)
    assert "RC303" not in {f.rule_id for f in _analyse(KOA)}
    monkeypatch.undo()
    assert "RC303" in {f.rule_id for f in _analyse(KOA)}


RACY_COUNTER = """\
const express = require("express");
const app = express();
let issued = 0;
app.post("/ticket", async (req, res) => {
  const next = issued;
  await reserve(next);
  issued = next + 1;
  res.json({ next });
});
"""


def test_javascript_test_files_are_skipped_when_walking(tmp_path: Path) -> None:
    """`*.spec.ts`, `*.test.js`, `__tests__/`, `e2e/`: test code, as `tests/` is for Python."""
    for name in ("app.js", "app.spec.ts", "app.test.js", "__tests__/app.js", "e2e/flow.ts"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(RACY_COUNTER)
    report = analyze_paths([tmp_path])
    assert {Path(f.path).name for f in report.findings} == {"app.js"}
    assert {str(Path(f.path).parent) for f in report.findings} == {str(tmp_path)}
    assert report.summary.files_skipped.get("default-exclude") == 4


def test_trpc_mutations_are_entry_points() -> None:
    """documenso's API: `procedure.input(Z).mutation(async ({ input }) => ...)` is a POST handler."""
    module = lower_module(TRPC.read_text(), str(TRPC))
    points = {(p.route, p.framework) for p in entry_points(module)}
    assert points == {("POST linkCustomerRoute", "trpc"), ("POST linkCustomerClaimedRoute", "trpc")}
    (finding,) = _analyse(TRPC)
    assert (finding.rule_id, finding.confidence, finding.route) == ("RC301", "high", "POST linkCustomerRoute")
