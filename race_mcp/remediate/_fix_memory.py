"""RC101/RC102: hold one lock across the whole check-and-write on in-process state.

The fix wraps the smallest run of statements that covers every step of the finding (the read, the
check, the await and the write) in `async with <lock>:` (RC101, coroutines) or `with <lock>:`
(RC102, handlers run on threads), with a new module-level lock named after the state.

One lock per state, not one per key: a per-key table (`defaultdict(asyncio.Lock)`) is only sound
when everything under the lock touches that one key (a transfer touches two), and it grows by one
lock for every key a client makes up, which is unbounded memory on attacker-chosen input. The lock
is held only across the check-and-write, so serialising it costs little. It is always a fresh lock,
never an existing one: reusing a lock that a caller may already hold would deadlock.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor

from ..findings import Finding
from ._fixers import Fixed, Guidance, register
from ._locate import Located, name_in_use
from ._statements import leading_lines_of

__all__ = ["fix_unlocked_state"]

_STATE = re.compile(r"^`([^`]+)`")
_CONTEXT_TOKENS = {"request", "app", "state", "self", "cls"}
_ONE_PROCESS = (
    "The lock protects one process only: with several workers (uvicorn --workers, gunicorn) or "
    "several hosts each has its own copy of the state and its own lock; keep shared state in a "
    "database or Redis and make the update atomic there."
)


@dataclass(frozen=True)
class _LockKind:
    module: str  # the import the lock needs
    factory: str  # expression creating it
    asynchronous: bool  # `async with` or `with`


_ASYNC_LOCK = _LockKind("asyncio", "asyncio.Lock()", asynchronous=True)
_THREAD_LOCK = _LockKind("threading", "threading.Lock()", asynchronous=False)
# The comment above every lock this fixer defines: how a later fix in the run finds it again.
_LOCK_COMMENT = "# Held across each check-and-write on"


@register("RC101", "RC102")
def fix_unlocked_state(module: cst.Module, finding: Finding) -> Fixed | Guidance:
    """Wrap the racy sequence in a new module-level lock guarding the state."""
    state = _state_name(finding)
    if state is None:
        return Guidance(f"Hold one lock across the check and the write. {finding.fix}".strip())
    located = Located(module)
    lines = {step.line for step in finding.evidence} or {finding.line, finding.end_line}
    function = _enclosing_function(located, finding, lines)
    if function is None:
        return Guidance(
            f"The racy steps are not inside one function; hold a lock around them by hand. {finding.fix}"
        )
    kind = _ASYNC_LOCK if function.asynchronous is not None else _THREAD_LOCK
    if finding.rule_id == "RC102" and kind.asynchronous:
        return Guidance(f"`{state}` is changed from a coroutine and from threads; {finding.fix}")
    first = min(lines)
    lines |= {line for line in _writes(located, function, _state_token(state)) if line > first}
    run = _covering_run(located, function.body, lines)
    if run is None:
        return Guidance(
            f"The steps on `{state}` are not in one block of `{function.name.value}` "
            f"(some are in a helper it calls); hold one lock across all of them by hand."
        )
    existing = _existing_lock(module, _lock_base(state) + "_lock", kind)
    lock = existing or name_in_use(module, _lock_base(state) + "_lock")
    wrapped = module.deep_replace(run.block, _wrap(run, lock, kind))
    assert isinstance(wrapped, cst.Module)
    patched = (
        wrapped if existing else _with_lock_defined(wrapped, module, located, function, state, lock, kind)
    )
    return Fixed(
        module=patched,
        description=(
            f"Hold `{lock}` ({kind.factory.removesuffix('()')}) across the check and the write on "
            f"`{state}` in `{function.name.value}`."
        ),
        safety="unsafe",
        note=_ONE_PROCESS,
    )


def _existing_lock(module: cst.Module, wanted: str, kind: _LockKind) -> str | None:
    """The module-level lock an earlier fix of this run made for this state (`wanted` or `wanted_N`,
    by the same factory, under the comment such fixes write): every check-and-write on one state
    must hold the same lock, or none is safe. A lock of the application's own is never taken: a
    caller may already hold it, and asyncio's and threading's locks are not reentrant."""
    shape = re.compile(rf"{re.escape(wanted)}(?:_\d+)?")
    for statement in module.body:
        if not isinstance(statement, cst.SimpleStatementLine) or not any(
            line.comment is not None and line.comment.value.startswith(_LOCK_COMMENT)
            for line in statement.leading_lines
        ):
            continue
        for small in statement.body:
            if (
                isinstance(small, cst.Assign)
                and len(small.targets) == 1
                and isinstance(small.targets[0].target, cst.Name)
                and shape.fullmatch(small.targets[0].target.value)
                and module.code_for_node(small.value) == kind.factory
            ):
                return small.targets[0].target.value
    return None


def _state_name(finding: Finding) -> str | None:
    match = _STATE.match(finding.message)
    return match.group(1) if match else None


def _enclosing_function(located: Located, finding: Finding, lines: set[int]) -> cst.FunctionDef | None:
    """The finding's function, or the innermost one holding every step (a helper the handler calls)."""
    named = located.function(finding)
    if named is not None and all(_spans_any(located, named, {line}) for line in lines):
        return named
    found: cst.FunctionDef | None = None
    for node in located.positions:
        if isinstance(node, cst.FunctionDef) and all(_spans_any(located, node, {line}) for line in lines):
            found = node  # inner definitions come after outer ones
    return found


def _state_token(state: str) -> str:
    """The name that identifies the state in code: `ledger.balances` -> `balances`."""
    tokens = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", state)
    return tokens[-1] if tokens else state


def _writes(located: Located, function: cst.FunctionDef, token: str) -> list[int]:
    """Lines in `function` that change the state: a later write must be under the lock too."""
    lines = []
    for node in located.positions:
        if (
            isinstance(node, cst.SimpleStatementLine)
            and _spans_any(located, function, {located.line(node)})
            and any(_changes(small, token) for small in node.body)
        ):
            lines.append(located.line(node))
    return lines


def _changes(small: cst.BaseSmallStatement, token: str) -> bool:
    targets: list[cst.CSTNode] = []
    if isinstance(small, cst.Assign):
        targets = [target.target for target in small.targets]
    elif isinstance(small, (cst.AugAssign, cst.AnnAssign, cst.Del)):
        targets = [small.target]
    elif isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
        func = small.value.func
        if isinstance(func, cst.Attribute):  # `voters.add(...)`, `carts.setdefault(...).append(...)`
            targets = [func.value]
    return any(_mentions(target, token) for target in targets)


def _mentions(node: cst.CSTNode, token: str) -> bool:
    if isinstance(node, cst.Name) and node.value == token:
        return True
    if isinstance(node, cst.Attribute) and node.attr.value == token:
        return True
    if isinstance(node, cst.SimpleString) and node.evaluated_value == token:
        return True
    return any(_mentions(child, token) for child in node.children)


def _lock_base(state: str) -> str:
    """`app.state.loyalty_points` -> `loyalty_points`, `CartView.carts` -> `cart_view_carts`."""
    tokens = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", state)
    while len(tokens) > 1 and tokens[0] in _CONTEXT_TOKENS:
        tokens = tokens[1:]
    snake = [re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", token).lower().strip("_") for token in tokens]
    return "_".join(part for part in snake if part) or "state"


@dataclass(frozen=True)
class _Run:
    block: cst.IndentedBlock
    first: int
    last: int


def _covering_run(located: Located, block: cst.BaseSuite, lines: set[int]) -> _Run | None:
    """The innermost block and the fewest consecutive statements in it spanning every line."""
    if not isinstance(block, cst.IndentedBlock):
        return None
    hits = [i for i, statement in enumerate(block.body) if _spans_any(located, statement, lines)]
    if not hits or not all(_inside(located, block.body[hits[0] : hits[-1] + 1], line) for line in lines):
        return None
    first, last = hits[0], hits[-1]
    if first == last:
        for inner in _inner_blocks(block.body[first]):
            if all(_inside(located, inner.body, line) for line in lines):
                return _covering_run(located, inner, lines)
    return _Run(block, first, last)


def _spans_any(located: Located, node: cst.CSTNode, lines: set[int]) -> bool:
    where = located.positions[node]
    return any(where.start.line <= line <= where.end.line for line in lines)


def _inside(located: Located, statements: Sequence[cst.BaseStatement], line: int) -> bool:
    return any(_spans_any(located, statement, {line}) for statement in statements)


def _inner_blocks(statement: cst.BaseStatement) -> list[cst.IndentedBlock]:
    """The blocks nested directly in a compound statement (its header lines excluded)."""
    suites: list[cst.BaseSuite] = []
    if isinstance(statement, (cst.If, cst.For, cst.While, cst.With, cst.Try, cst.TryStar)):
        suites.append(statement.body)
    if isinstance(statement, (cst.If, cst.For, cst.While, cst.Try, cst.TryStar)):
        orelse = statement.orelse
        if isinstance(orelse, cst.Else):
            suites.append(orelse.body)
    if isinstance(statement, (cst.Try, cst.TryStar)):
        suites += [handler.body for handler in statement.handlers]
        if statement.finalbody is not None:
            suites.append(statement.finalbody.body)
    return [suite for suite in suites if isinstance(suite, cst.IndentedBlock)]


def _wrap(run: _Run, lock: str, kind: _LockKind) -> cst.IndentedBlock:
    """The block with its run of statements moved under `with <lock>:`."""
    statements = list(run.block.body)
    inner = statements[run.first : run.last + 1]
    head = inner[0]
    guarded = cst.With(
        items=[cst.WithItem(item=cst.Name(lock))],
        body=cst.IndentedBlock(body=[head.with_changes(leading_lines=[]), *inner[1:]]),
        asynchronous=cst.Asynchronous() if kind.asynchronous else None,
        leading_lines=leading_lines_of(head),  # comments above the run stay above it
    )
    statements[run.first : run.last + 1] = [guarded]
    return run.block.with_changes(body=statements)


def _with_lock_defined(
    patched: cst.Module,
    original: cst.Module,
    located: Located,
    function: cst.FunctionDef,
    state: str,
    lock: str,
    kind: _LockKind,
) -> cst.Module:
    """Define the lock at module level after the state (or before the handler), then import."""
    where = _definition_index(original, located, function, state)
    definition = cst.parse_statement(f"{lock} = {kind.factory}\n", config=original.config_for_parsing)
    comment = cst.EmptyLine(comment=cst.Comment(f"{_LOCK_COMMENT} `{state}` (this process only)."))
    after_block = where > 0 and isinstance(original.body[where - 1], cst.BaseCompoundStatement)
    spacing = [cst.EmptyLine(), cst.EmptyLine()] if after_block else []
    definition = definition.with_changes(leading_lines=[*spacing, comment])
    body = list(patched.body)
    body.insert(where, definition)
    context = CodemodContext()
    AddImportsVisitor.add_needed_import(context, kind.module)
    return AddImportsVisitor(context).transform_module(patched.with_changes(body=body))


def _definition_index(module: cst.Module, located: Located, function: cst.FunctionDef, state: str) -> int:
    """Index in `module.body` for the lock: after the state's root is defined, after the imports."""
    root = state.split(".")[0].split("[")[0]
    after_imports = max(
        (i + 1 for i, statement in enumerate(module.body) if _is_import(statement)), default=0
    )
    for index, statement in enumerate(module.body):
        if root in _top_level_names(statement):
            return max(index + 1, after_imports)
    line = located.line(function)
    for index, statement in enumerate(module.body):
        where = located.positions[statement]
        if where.start.line <= line <= where.end.line:
            return max(index, after_imports)
    return after_imports


def _is_import(statement: cst.BaseStatement) -> bool:
    return isinstance(statement, cst.SimpleStatementLine) and any(
        isinstance(small, (cst.Import, cst.ImportFrom)) for small in statement.body
    )


def _top_level_names(statement: cst.BaseStatement) -> set[str]:
    """Names a module-level statement defines: assignments and classes."""
    if isinstance(statement, cst.ClassDef):
        return {statement.name.value}
    names: set[str] = set()
    if isinstance(statement, cst.SimpleStatementLine):
        for small in statement.body:
            targets: list[cst.BaseExpression] = []
            if isinstance(small, cst.Assign):
                targets = [target.target for target in small.targets]
            elif isinstance(small, (cst.AnnAssign, cst.AugAssign)):
                targets = [small.target]
            names |= {target.value for target in targets if isinstance(target, cst.Name)}
    return names
