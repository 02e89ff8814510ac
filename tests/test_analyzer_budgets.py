"""Hostile source costs bounded work: linear patterns, a per-file time budget, nesting and size caps.

The code under review is untrusted. Each pattern the analyzer and the fixers apply to its text gets
the input that made the old pattern quadratic (a long run of the class it repeats, 100 KB); a
linear pattern needs milliseconds, the old ones took minutes. Ceilings are generous absolute times
(a loaded 2-core machine must not make them flaky), far below what a quadratic pattern needs.
"""

from __future__ import annotations

import ast
import gc
import json
import re
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import libcst as cst
import pytest

from race_mcp import InputError, analyze_paths, analyze_source
from race_mcp.analyzer._limits import _is_bulky_constant, measure, parse_python
from race_mcp.analyzer.python.patterns import _KEY_STRING, _PROVIDER_CALL, _STATUS_CHECK
from race_mcp.config import Settings
from race_mcp.remediate import _fix_dynamodb as fix_dynamodb
from race_mcp.remediate import _fix_sql as fix_sql

_SIZE = 100_000
_CEILING = 2.0  # seconds for 100 KB; the quadratic patterns needed from 30 s to many minutes


def _run(pattern: re.Pattern[str], text: str, how: str = "findall") -> Callable[[], object]:
    if how == "sub":
        return lambda: pattern.sub(" ", text)
    return lambda: getattr(pattern, how)(text)


def _repeat(unit: str, prefix: str = "", suffix: str = "") -> str:
    return prefix + unit * (_SIZE // len(unit)) + suffix


def _python(text: str) -> cst.Module:
    """A module whose code holds `text` in a string literal (the fixers search `module.code`)."""
    return cst.parse_module("x = '''" + text + "'''\n")


_WORST_CASES: dict[str, Callable[[], object]] = {
    # The stores' patterns (SQL, DynamoDB, ORM): tests/test_python_stores_budgets.py.
    # Whole-function patterns for RC601.
    "key-string-mismatched-quote": _run(_KEY_STRING, _repeat("nonce", '"', "'"), "search"),
    "status-check-blank-lines": _run(_STATUS_CHECK, _repeat("\n"), "search"),
    "status-check-long-if": _run(_STATUS_CHECK, _repeat(".", "if "), "search"),
    "provider-call-chain": _run(_PROVIDER_CALL, _repeat("stripe."), "search"),
    "provider-charge-chain": _run(_PROVIDER_CALL, _repeat(".charge"), "search"),
    # The fixers' patterns.
    "fix-driver-import-blank-lines": lambda: [p.search(_repeat("\n")) for _, p in fix_sql._DRIVER_IMPORTS],
    "fix-wrapper-import-blank-lines": _run(fix_sql._WRAPPER_IMPORT, _repeat("\n"), "search"),
    "fix-update-spaces-in-value": _run(fix_sql._UPDATE, _repeat(" ", "UPDATE t SET a = 1", "x"), "match"),
    "fix-update-spaces-after-equals": _run(fix_sql._UPDATE, _repeat(" ", "UPDATE t SET a =", "x"), "match"),
    "fix-update-where-spaces": _run(fix_sql._UPDATE, _repeat(" ", "UPDATE t SET a=1 WHERE b", "x"), "match"),
    "fix-select-spaces": _run(fix_sql._SELECT, _repeat(" ", "SELECT a", "x"), "match"),
    "fix-select-spaces-after-select": _run(fix_sql._SELECT, _repeat(" ", "SELECT", "x"), "match"),
    "fix-equality-columns": _run(fix_sql._EQUALITY_COLUMNS, _repeat("a")),
    "fix-connection-maker-calls": lambda: fix_sql._connection_maker("conn", _repeat("a(")),
    "fix-connection-signature": lambda: fix_sql._is_connection(
        "conn",
        cst.parse_module("def f():\n    conn = make()\n").body[0],  # type: ignore[arg-type]
        _python(_repeat("def make(")),
    ),
    "fix-unique-definition-spaces": lambda: fix_sql._with_unique(
        cst.SimpleString('"' + _repeat(" ", "CREATE TABLE t (a ", "x(") + '"'), "t", "a"
    ),
    "fix-framework-blank-lines": lambda: fix_dynamodb._framework_conflict(_python(_repeat("\n"))),
}


@pytest.mark.parametrize("case", sorted(_WORST_CASES))
def test_each_pattern_is_linear_on_its_worst_case(case: str) -> None:
    started = time.perf_counter()
    _WORST_CASES[case]()
    elapsed = time.perf_counter() - started
    assert elapsed < _CEILING, f"{case}: {elapsed:.1f} s for 100 KB"


_HEAD = (
    "import boto3\nfrom fastapi import FastAPI\napp = FastAPI()\n"
    "table = boto3.resource('dynamodb').Table('items')\n@app.post('/x')\ndef handler(db):\n"
)
_ISSUE_INPUTS = {
    # The three inputs of the report, 40 KB each: 68 s, 83 s and 35 s before.
    "select-where": _HEAD + "    db.execute('SELECT a FROM t WHERE " + "a" * 40_000 + "')\n",
    "condition-expression": _HEAD
    + "    table.update_item(Key={'pk': 1}, UpdateExpression='SET a = :a', ConditionExpression='"
    + "a" * 40_000
    + "')\n",
    "update-expression": _HEAD + "    table.update_item(UpdateExpression='" + "a" * 40_000 + "')\n",
    "serializable-chain": "import sqlalchemy\nfrom fastapi import FastAPI\napp = FastAPI()\n"
    + "".join(f"e{i} = make(e{i + 1})\n" for i in range(3000))
    + "e3000 = create_engine('x', isolation_level='SERIALIZABLE')\n",
}


@pytest.mark.parametrize("case", sorted(_ISSUE_INPUTS))
def test_reported_inputs_analyse_in_seconds(case: str) -> None:
    started = time.perf_counter()
    analyze_source(_ISSUE_INPUTS[case], "hostile.py")
    assert time.perf_counter() - started < 5.0


# -- nesting: refused before any native parser or recursive walk can overflow a stack -------------

_WEB = "import asyncio\nfrom fastapi import FastAPI\napp = FastAPI()\n"
_ISSUE_9_INPUT = _WEB + "x = a" + " and a" * 8000  # SIGSEGV'd the HTTP server before
_DEEP_INPUTS = {
    "issue-and-chain": _ISSUE_9_INPUT,
    "and-chain-under-limit": _WEB + "x = a" + " and a" * 990,
    "plus-chain": _WEB + "x = a" + " + a" * 3000,
    "attribute-chain": _WEB + "x = a" + ".b" * 3000,
    "subscript-chain": _WEB + "x = a" + "[0]" * 3000,
    "call-chain": _WEB + "x = a" + ".b()" * 3000,
    "elif-chain": _WEB + "if a:\n    pass\n" + "elif a:\n    pass\n" * 3000,
    "not-chain": _WEB + "x = " + "not " * 8000 + "a",
    "conditional-chain": _WEB + "x = a" + " if a else a" * 3000,
    "implicit-concatenation": _WEB + "x = 'a'" + " 'a'" * 8000,
    "nested-brackets": _WEB + "x = " + "[" * 5000 + "]" * 5000,
    "in-a-handler": _WEB + "state = {}\n@app.post('/x')\nasync def h():\n    state['k'] = a" + " + a" * 990,
}
_NO_CRASH = {"ok", "too-deeply-nested", "parser-limit"}
# Runs every input on a thread with the given stack (bytes; 0: the platform's default; -1: the
# main thread) and prints one line per input, so a crash shows as a negative exit code after the
# last input that survived.
_RUNNER = """
import json, sys, threading
from race_mcp import InputError, analyze_source
stack = int(sys.argv[1])
for name, source in json.load(sys.stdin).items():
    outcome = []
    def run():
        try:
            analyze_source(source, name + ".py")
            outcome.append("ok")
        except InputError as exc:
            outcome.append(exc.code)
    if stack < 0:
        run()
    else:
        threading.stack_size(stack)
        worker = threading.Thread(target=run)
        worker.start()
        worker.join()
    print(name, outcome[0], flush=True)
"""


@pytest.mark.parametrize("stack", [1024 * 1024, 0, -1], ids=["thread-1MB", "thread-default", "main-thread"])
def test_deep_nesting_never_crashes_whatever_the_callers_stack(stack: int) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _RUNNER, str(stack)],
        input=json.dumps(_DEEP_INPUTS),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"crashed ({done.returncode}) after:\n{done.stdout}{done.stderr[-2000:]}"
    outcomes = dict(line.split() for line in done.stdout.splitlines())
    assert outcomes.keys() == _DEEP_INPUTS.keys()
    assert outcomes["issue-and-chain"] == "too-deeply-nested"
    assert outcomes["and-chain-under-limit"] == "ok"
    assert set(outcomes.values()) <= _NO_CRASH


def test_the_cli_refuses_the_deep_file_in_one_line(tmp_path: Path) -> None:
    target = tmp_path / "deep.py"
    target.write_text(_ISSUE_9_INPUT)
    done = subprocess.run(
        [sys.executable, "-m", "race_mcp", "analyze", str(target)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "error[too-deeply-nested]" in done.stderr


# -- time budget: a per-file error, the other files still analysed ---------------------------------


def _slow_source(helpers: int) -> str:
    """Helpers that each await two others on both branches: inlining multiplies the paths (200
    helpers: about 13 s of analysis on an idle machine)."""
    parts = [_WEB, "state = {}\n"]
    for i in range(helpers):
        parts.append(
            f"\nasync def helper_{i}(k):\n    if state.get(k):\n        await helper_{i + 1}(k)\n"
            f"        await helper_{i + 2}(k)\n    else:\n        await helper_{i + 1}(k)\n"
            f"        await helper_{i + 3}(k)\n    state[k] = {i}\n"
        )
    return "".join(parts)


_RACY = (
    _WEB + "stock = {'pen': 1}\n\n@app.post('/buy')\nasync def buy():\n    if stock['pen'] > 0:\n"
    "        await asyncio.sleep(0)\n        stock['pen'] -= 1\n"
)


def test_an_analysis_over_its_budget_ends_in_a_clear_error() -> None:
    started = time.perf_counter()
    with pytest.raises(InputError) as caught:
        analyze_source(_slow_source(200), "slow.py", settings=Settings(max_file_seconds=0.5))
    assert caught.value.code == "analysis-timeout"
    assert "slow.py" in str(caught.value) and "max_file_seconds" in str(caught.value)
    assert time.perf_counter() - started < 8.0


def test_a_timed_out_file_is_a_file_error_and_the_others_are_analysed(tmp_path: Path) -> None:
    (tmp_path / "slow.py").write_text(_slow_source(200))
    (tmp_path / "racy.py").write_text(_RACY)
    report = analyze_paths([tmp_path], settings=Settings(max_file_seconds=0.5, jobs=1))
    assert [(Path(e.path).name, e.code) for e in report.errors] == [("slow.py", "analysis-timeout")]
    assert [f.rule_id for f in report.findings] == ["RC101"]


def test_budgets_are_per_analysis_when_threads_share_the_process() -> None:
    """The deadline is the calling analysis's own: a slow one timing out in one thread does not
    stop a quick one in another, and a generous budget elsewhere does not lift the tight one."""
    outcomes: dict[str, str] = {}

    def analyse(name: str, source: str, seconds: float) -> None:
        try:
            outcomes[name] = str(
                len(analyze_source(source, name, settings=Settings(max_file_seconds=seconds)))
            )
        except InputError as exc:
            outcomes[name] = exc.code

    workers = [
        threading.Thread(target=analyse, args=("slow.py", _slow_source(200), 0.5)),
        *(threading.Thread(target=analyse, args=(f"racy{i}.py", _RACY, 60.0)) for i in range(4)),
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert outcomes == {"slow.py": "analysis-timeout", **{f"racy{i}.py": "1" for i in range(4)}}


# -- size: node cap, bulky literals ------------------------------------------------------------------


def test_a_module_over_the_node_cap_is_refused_before_libcst() -> None:
    with pytest.raises(InputError) as caught:
        analyze_source(_RACY + "x = f(1)\n" * 300, "big.py", settings=Settings(max_file_nodes=1000))
    assert caught.value.code == "too-many-nodes"
    assert analyze_source(_RACY, "small.py", settings=Settings(max_file_nodes=1000))


def test_a_huge_constant_literal_costs_little_and_hides_nothing() -> None:
    """400 KB of numbers beside a racy handler: 52 s and 0.23 GB more RSS before (libcst parsed
    and positioned every element); the literal is left out of libcst's tree, lines unchanged."""
    source = "PRICES = [\n" + ",\n".join(str(i * 7) for i in range(60_000)) + "]\n" + _RACY
    tracemalloc.start()
    started = time.perf_counter()
    try:
        findings = analyze_source(source, "data.py")
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [f.rule_id for f in findings] == ["RC101"]
    assert findings[0].line == source.splitlines().index("    if stock['pen'] > 0:") + 1
    assert elapsed < 20.0
    assert peak < 150_000_000  # CPython's own tree of the list is most of it


def _reference_shape(node: ast.AST, depth: int = 1, formatted: bool = False) -> tuple[int, int, int]:
    """`measure`'s definition, recursively: (deepest level, nodes, bulky literals)."""
    containers = (ast.List, ast.Tuple, ast.Set, ast.Dict)
    if not formatted and isinstance(node, containers) and _is_bulky_constant(node):
        return 0, 0, 1
    below = depth + (len(node.values) if isinstance(node, ast.BoolOp) else 1)
    inner = formatted or isinstance(node, ast.JoinedStr)
    deepest, nodes, literals = depth, 1, 0
    for child in ast.iter_child_nodes(node):
        child_depth, child_nodes, child_literals = _reference_shape(child, below, inner)
        deepest, nodes, literals = max(deepest, child_depth), nodes + child_nodes, literals + child_literals
    return deepest, nodes, literals


_SHAPES = {
    "bool chains": "x = a and b and (c or d or e) and not f\n",
    "f-strings": 'y = f"{a and b and c!r:>{width}} {[1, 2] if p or q else {**m}}"\n',
    "dict unpacking": "z = {**base, 'k': [v for v in values if v], **other}\n",
    "match": (
        "match p:\n    case {'a': [x, *rest], **kw} if x or y:\n        pass\n"
        "    case Point(x=0) | None:\n        pass\n"
    ),
    "definitions": (
        "@d(1)\nasync def f(a, /, b: int = 2, *c, d, **e) -> T:\n"
        "    global g\n    async with x as (y, z):\n        yield from w\n"
    ),
    "bulky literals": "T = ["
    + ", ".join(str(i) for i in range(1200))
    + "]\nU = {'k': ("
    + ", ".join(str(-i) for i in range(1200))
    + ")}\n",
    "bulky inside an f-string": 's = f"{[' + ", ".join(str(i) for i in range(1200)) + ']}"\n',
}


@pytest.mark.parametrize("name", sorted(_SHAPES))
def test_measure_walks_level_by_level_as_a_recursive_walk_defines_it(name: str) -> None:
    tree = ast.parse(_SHAPES[name])
    shape = measure(tree)
    assert (shape.depth, shape.nodes, len(shape.literals)) == _reference_shape(tree)


# -- CPython's ast from many threads ----------------------------------------------------------------


class _Finalized:
    """Garbage whose finalizer runs Python code: a collection inside one thread's `ast.parse` then
    switches threads mid-conversion, which is what broke CPython's converter under load."""

    def __init__(self) -> None:
        self.cycle = self

    def __del__(self) -> None:
        sum(range(50))


def test_parsing_from_many_threads_at_once_is_safe() -> None:
    """Unguarded, 16 threads doing this raised "AST constructor recursion depth mismatch" about
    twice a second; every parse in race-mcp goes through the lock."""
    source = Path(__file__).read_text()
    failures: list[str] = []
    stop = time.monotonic() + 3.0

    def parse_repeatedly() -> None:
        while time.monotonic() < stop:
            for _ in range(200):
                _Finalized()
            try:
                parse_python(source, "t.py")
            except SystemError as exc:
                failures.append(str(exc))

    threshold = gc.get_threshold()
    gc.set_threshold(50, 5, 5)
    try:
        workers = [threading.Thread(target=parse_repeatedly) for _ in range(16)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        gc.set_threshold(*threshold)
    assert failures == []
