"""Bounds on the work one hostile file can cause: stack, nesting, node count, time; safe `ast` use.

The code under review is untrusted. Three things went wrong on crafted input before these bounds:

- libcst's native (Rust) parser recurses once per nesting level and needs about 1.4 KB of stack
  per level; `x = a and a and ...` with 1,000 terms overflowed a 1 MB thread stack and killed the
  whole process (SIGSEGV), whatever thread the caller used. The analysis therefore runs on a thread
  of its own with a known, large stack, and nesting is measured on CPython's tree first (an explicit
  stack, no recursion) and refused beyond `MAX_NESTING`, far below what that stack holds.
- Very large modules cost time and memory (libcst keeps about 1 KB per node): `max_file_nodes`.
- Anything else slow is stopped by a deadline the interpreter checks between statements and calls
  (`check_deadline`), cooperatively, because the MCP server may run analyses in threads.

CPython 3.11's `ast` module converts trees with per-interpreter state that is not safe when several
threads parse at once ("SystemError: AST constructor recursion depth mismatch" under 200 concurrent
clients), so every `ast.parse` in race-mcp goes through `parse_python`, which holds one lock.
"""

from __future__ import annotations

import ast
import gc
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from ._newer_syntax import downgrade_newer_syntax

__all__ = [
    "MAX_NESTING",
    "AnalysisTimeout",
    "Shape",
    "check_deadline",
    "deadline",
    "measure",
    "parse_python",
    "run_on_large_stack",
]

_T = TypeVar("_T")

# libcst-equivalent nesting depth refused as `too-deeply-nested`. Real code stays far below (a
# 100-term `and` chain is already rare); the analysis stack holds about 20 times this.
MAX_NESTING = 1000
_STACK_BYTES = 32 * 1024 * 1024  # reserved address space; pages are only touched as they are used
_stack_size_lock = threading.Lock()
_ast_lock = threading.Lock()
_deadline: ContextVar[float | None] = ContextVar("race_mcp_analysis_deadline", default=None)


class AnalysisTimeout(Exception):
    """Internal: the file's time budget ran out; `analyze_source` turns it into an `InputError`."""


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Within the block, `check_deadline` raises `AnalysisTimeout` once `seconds` have passed."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def check_deadline() -> None:
    """Cheap (a context-variable read and a clock read); call it in loops that hostile input can grow."""
    limit = _deadline.get()
    if limit is not None and time.monotonic() > limit:
        raise AnalysisTimeout


def parse_python(source: str, filename: str) -> ast.Module:
    """`ast.parse` under the process-wide lock (see the module docstring for why).

    Cyclic collection is paused meanwhile: the tree is built from fresh objects with no reference
    cycles, and every collection its allocations trigger would walk the whole live heap (a project
    run keeps other modules' models): parsing the throughput corpus took 4.5x longer with it on."""
    with _ast_lock, paused_collection():
        try:
            return ast.parse(source, filename=filename)
        except SyntaxError as error:
            if sys.version_info >= (3, 12):
                raise
            newer = _parse_newer_syntax(source, filename)
            if newer is None:
                raise error from None
            return newer


def _parse_newer_syntax(source: str, filename: str) -> ast.Module | None:
    """The tree of 3.12+ source on an older interpreter (PEP 695/701 rewritten), or None."""
    downgraded = downgrade_newer_syntax(source)
    if downgraded is None:
        return None
    try:
        return ast.parse(downgraded, filename=filename)
    except SyntaxError:
        return None


# A batch analysis keeps every module it lowered for calls from other files: the heap grows by
# hundreds of MB of acyclic trees, and the default gen-0 threshold (700) makes the collector scan
# it again and again. Fewer, larger young collections: the throughput corpus 23.3 -> 18.0 s on one
# core, the same peak memory.
BATCH_THRESHOLDS = (100_000, 50, 100)
_batch = False


def tune_collection_for_batch() -> None:
    """For processes that only analyse (the CLI's `analyze`, its pool workers); a library caller's
    process keeps its own collector settings."""
    global _batch
    gc.set_threshold(*BATCH_THRESHOLDS)
    _batch = True


@contextmanager
def paused_collection() -> Iterator[None]:
    """No cyclic collection inside: for work that allocates much and frees nothing cyclic (a parse,
    a lowering, a walk's stack of tuples), where each collection it triggers walks the whole live
    heap.

    In a batch process, what the block built is then moved to the oldest generation unscanned
    (`gc.freeze` and `gc.unfreeze` splice lists, O(1)): otherwise the first allocation after the
    block starts a young collection that walks the whole new tree, a tenth of the analysis time.
    The trees hold no reference cycles (the lowerer and the interpreter keep none), so reference
    counting frees them; only a full collection looks at them again."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            if _batch:
                gc.freeze()
                gc.unfreeze()
            gc.enable()


def run_on_large_stack(function: Callable[[], _T]) -> _T:
    """Run `function` on a new thread with a `_STACK_BYTES` stack and return (or raise) its outcome.

    `threading.stack_size` is process-wide, so it is set and restored under a lock around the
    thread's start (a thread another caller starts meanwhile merely gets a larger stack too).
    """
    outcome: list[_T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            outcome.append(function())
        except BaseException as exc:  # handed to the calling thread, which re-raises it
            failure.append(exc)

    with _stack_size_lock:
        previous = threading.stack_size(_STACK_BYTES)
        try:
            worker = threading.Thread(target=target, name="race-mcp-analysis", daemon=True)
            worker.start()
        finally:
            threading.stack_size(previous)
    worker.join()
    if failure:
        raise failure[0]
    return outcome[0]


@dataclass(frozen=True)
class Span:
    """Where a bulky literal sits (CPython's 1-based lines, UTF-8 byte columns) and its type."""

    kind: type[ast.expr]
    line: int
    column: int
    end_line: int
    end_column: int


@dataclass(frozen=True)
class Shape:
    """How deep (as libcst will nest it) and how big a module is, and its bulky constant literals."""

    depth: int
    nodes: int
    literals: tuple[Span, ...] = ()


# A container literal of constants this big is data, not logic: no rule looks inside one.
BULKY_LITERAL_NODES = 1000
_CONTAINERS = (ast.List, ast.Tuple, ast.Set, ast.Dict)
_CONTAINER_TYPES = frozenset(_CONTAINERS)
_INERT = (*_CONTAINERS, ast.Constant, ast.UnaryOp, ast.USub, ast.UAdd, ast.Load)


def measure(tree: ast.AST) -> Shape:
    """Depth and node count of CPython's tree with an explicit stack (no recursion, linear).

    libcst nests what CPython keeps flat: `a and b and c` is one `BoolOp` for CPython but a chain
    of `BooleanOperation`s for libcst, so a `BoolOp`'s operands count one level per operand.
    Container literals of constants with `BULKY_LITERAL_NODES` or more nodes are listed apart
    (outermost only) and their nodes are not counted: the lowering keeps such a literal as one
    opaque data node (`python/lower.py`), since no rule reads inside it.
    """
    with paused_collection():
        return _measure(tree)


def _measure(tree: ast.AST) -> Shape:
    """Level by level (the throughput corpus' trees in two thirds of a node-by-node walk's time):
    the nodes of one depth in a list, a `BoolOp`'s operands in the bucket of their deeper level,
    an f-string's inside (no literal is cut out there) by `_measure_formatted`."""
    deepest = nodes = 0
    literals: list[Span] = []
    deeper: dict[int, list[Any]] = {}
    child_fields, node_type = _CHILD_FIELDS, ast.AST  # locals: this loop runs once per node
    depth, level = 1, list[Any]([tree])
    while level or deeper:
        level += deeper.pop(depth, ())
        below: list[Any] = []
        counted = 0
        for node in level:
            if node is None:
                continue  # the missing key of a `**mapping` in a dict display
            kind = type(node)
            if kind in _CONTAINER_TYPES and _is_bulky_constant(node):
                end = (node.end_lineno, node.end_col_offset)
                literals.append(Span(kind, node.lineno, node.col_offset, *end))
                continue
            counted += 1
            if kind is ast.JoinedStr:
                inner_nodes, inner_depth = _measure_formatted(node, depth)
                nodes += inner_nodes
                deepest = max(deepest, inner_depth)
                continue
            into = below if kind is not ast.BoolOp else deeper.setdefault(depth + len(node.values), [])
            single, many = child_fields.get(kind) or (kind._fields, ())
            for name in single:
                value = getattr(node, name, None)
                if value is None:
                    continue
                if isinstance(value, node_type):
                    into.append(value)
                elif value.__class__ is list:
                    into += [item for item in value if isinstance(item, node_type)]
            for name in many:
                into += getattr(node, name)
        if counted:
            nodes += counted
            deepest = max(deepest, depth)
        depth, level = depth + 1, below
    return Shape(deepest, nodes, tuple(literals))


def _measure_formatted(joined: ast.AST, depth: int) -> tuple[int, int]:
    """The nodes below an f-string at `depth` (counted by the caller), and the deepest level."""
    nodes, deepest = 0, depth
    stack = [(child, depth + 1) for child in ast.iter_child_nodes(joined)]
    while stack:
        node, at = stack.pop()
        nodes += 1
        deepest = max(deepest, at)
        step = len(node.values) if isinstance(node, ast.BoolOp) else 1
        stack.extend((child, at + step) for child in ast.iter_child_nodes(node))
    return nodes, deepest


def _child_fields(kind: type[ast.AST]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The fields of `kind` that may hold a node, and those that always hold a list of nodes, read
    off the grammar line CPython writes into each node class's docstring (`Name(identifier id,
    expr_context ctx)`): names, strings and numbers are skipped unread. A class whose docstring
    does not list its fields has every field checked one by one."""
    doc = kind.__doc__ or ""
    signature = doc[doc.find("(") + 1 : doc.rfind(")")] if "(" in doc else ""
    declared = {name: (type_, mark) for type_, mark, name in _GRAMMAR_FIELD.findall(signature)}
    if set(declared) != set(kind._fields):
        return tuple(kind._fields), ()
    nodes = {name: mark for name, (type_, mark) in declared.items() if type_ not in _GRAMMAR_SCALARS}
    return (
        tuple(name for name, mark in nodes.items() if mark != "*"),
        tuple(name for name, mark in nodes.items() if mark == "*"),
    )


_GRAMMAR_SCALARS = frozenset({"identifier", "string", "constant", "int"})
_GRAMMAR_FIELD = re.compile(r"(\w+)([?*]?) (\w+)")
_CHILD_FIELDS = {
    kind: _child_fields(kind)
    for kind in vars(ast).values()
    if isinstance(kind, type) and issubclass(kind, ast.AST)
}


def _is_bulky_constant(literal: ast.expr) -> bool:
    """All constants (nested containers, signed numbers), and at least `BULKY_LITERAL_NODES` nodes."""
    count = 0
    stack: list[ast.AST] = [literal]
    while stack:
        node = stack.pop()
        if not isinstance(node, _INERT):
            return False
        count += 1
        stack.extend(ast.iter_child_nodes(node))
    return count >= BULKY_LITERAL_NODES
