"""Run the race interpreter over every root of a module and turn what it finds into `Finding`s.

Roots are the HTTP handlers first (they carry a route and high confidence), then every other function
and method that no handler reached (service-layer code, workers, Lambda handlers), with medium
confidence. In-process state only races in handlers and coroutines; stores race everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable

import libcst as cst

from ..findings import Confidence, Evidence, Finding, Severity
from ..rules import RULES
from ._engine import Interpreter, Mode
from ._frameworks import Handler, find_handlers
from ._memory import MemoryModel, may_share_state
from ._module import ModuleIndex
from ._state import Direct, Sequence, State, store_of
from ._stores import STORE_MARKERS, build_recognizers, check_module_patterns, idempotency_finding

__all__ = ["check_module", "might_race"]

_FRAMEWORK_NAMES = {"fastapi": "FastAPI", "starlette": "Starlette", "flask": "Flask", "aiohttp": "aiohttp"}
# Every race lives in a coroutine, a handler of one of these frameworks, or code that talks to a store.
# Django views are not routed in the module: only their store calls can race, so "django" is no marker
# (it is in nearly every file of a Django project, and would send them all to libcst).
_CANDIDATE_MARKERS = ("async def", "fastapi", "flask", "starlette", "aiohttp", *STORE_MARKERS)


def might_race(source: str) -> bool:
    """Cheap text pre-filter: without any of these words no rule can fire."""
    return any(marker in source for marker in _CANDIDATE_MARKERS)


def check_module(index: ModuleIndex, path: str) -> list[Finding]:
    """Every finding in one module, one per (rule, line)."""
    memory = may_share_state(index)
    stores = any(marker in index.source for marker in STORE_MARKERS)
    if not memory and not stores:
        return []
    handlers = find_handlers(index)
    if not stores and not handlers and not any(f.asynchronous is not None for _, f, _ in _functions(index)):
        return []  # without stores only handlers and coroutines are interpreted: skip the model's pass
    model = MemoryModel(index)
    recognizers = build_recognizers(index) if stores else []
    findings: list[Finding] = []
    reached: set[str] = set()
    for handler in handlers:
        mode: Mode = "threaded" if handler.threaded else "async" if handler.is_async else "sequential"
        interpreter = Interpreter(model, recognizers, mode)
        interpreter.finish(
            interpreter.run(model.frame(handler.function, self_class=handler.owner_class), State())
        )
        reached |= interpreter.visited
        findings.extend(_findings(index, path, interpreter, handler, "high", handler.name))
        if stores:
            idempotency = idempotency_finding(index, handler, interpreter)
            if idempotency is not None:
                findings.append(_direct_finding(index, path, idempotency, handler, "high", handler.name))
    handled = {h.name for h in handlers} | reached
    for name, function, class_name in _functions(index):
        if name in handled or (function.asynchronous is None and not stores):
            continue
        mode = "async" if function.asynchronous is not None else "sequential"
        interpreter = Interpreter(model, recognizers, mode)
        interpreter.finish(interpreter.run(model.frame(function, self_class=class_name), State()))
        findings.extend(_findings(index, path, interpreter, None, "medium", name))
        if stores:  # Django and DRF views are not routed in the module: RC601 recognises them itself
            view = idempotency_finding(index, None, interpreter, function=function, owner=class_name)
            if view is not None:
                findings.append(_direct_finding(index, path, view, None, "medium", name))
    if stores:
        findings.extend(
            _direct_finding(index, path, direct, None, "medium", None)
            for direct in check_module_patterns(index)
        )
    return _unique(findings)


def _functions(index: ModuleIndex) -> Iterable[tuple[str, cst.FunctionDef, str | None]]:
    for name, function in index.functions.items():
        yield name, function, None
    for class_name, info in index.classes.items():
        for method_name, method in info.methods.items():
            yield f"{class_name}.{method_name}", method, class_name


def _unique(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, int]] = set()
    unique = []
    for finding in findings:
        if (finding.rule_id, finding.line) not in seen:
            seen.add((finding.rule_id, finding.line))
            unique.append(finding)
    return unique


def _findings(
    index: ModuleIndex,
    path: str,
    interpreter: Interpreter,
    handler: Handler | None,
    confidence: Confidence,
    function: str | None,
) -> list[Finding]:
    findings = [
        _sequence_finding(index, path, sequence, interpreter.mode, handler, confidence, function)
        for sequence in interpreter.sequences.values()
    ]
    findings.extend(
        _direct_finding(index, path, direct, handler, confidence, function) for direct in interpreter.directs
    )
    return findings


def _sequence_finding(
    index: ModuleIndex,
    path: str,
    sequence: Sequence,
    mode: Mode,
    handler: Handler | None,
    confidence: Confidence,
    function: str | None,
) -> Finding:
    rule = RULES[sequence.rule_id]
    # Evidence in execution order: the read and the check, the await, the write.
    steps = list(sequence.candidate.steps)
    if store_of(sequence.key) == "memory" and mode == "async" and sequence.awaited is not None:
        steps.append(sequence.awaited)
    steps.append(sequence.write)
    lines = [index.line_of(s.node) for s in steps]
    evidence = [
        Evidence(line=line, role=s.role, code=index.code_at(line))
        for s, line in zip(steps, lines, strict=True)
    ]
    decided = sequence.candidate.decision
    severity: Severity = rule.severity if decided else "medium"
    return Finding(
        rule_id=rule.id,
        title=rule.title,
        severity=severity,
        confidence=confidence,
        path=path,
        line=lines[0],
        end_line=max(lines),
        column=index.column_of(steps[0].node),
        function=function,
        route=handler.route if handler else None,
        message=_message(evidence, sequence.key, mode, handler, decided),
        evidence=evidence,
        fix=_fix(sequence.rule_id, sequence.key),
        cwe=rule.cwe,
    )


def _direct_finding(
    index: ModuleIndex,
    path: str,
    direct: Direct,
    handler: Handler | None,
    confidence: Confidence,
    function: str | None,
) -> Finding:
    rule = RULES[direct.rule_id]
    lines = [index.line_of(s.node) for s in direct.steps]
    evidence = [
        Evidence(line=line, role=s.role, code=index.code_at(line))
        for s, line in zip(direct.steps, lines, strict=True)
    ]
    return Finding(
        rule_id=rule.id,
        title=rule.title,
        severity=rule.severity,
        confidence=confidence,
        path=path,
        line=lines[0],
        end_line=max(lines),
        column=index.column_of(direct.steps[0].node),
        function=function,
        route=handler.route if handler else None,
        message=direct.detail or f"{rule.title} (line {lines[0]}).",
        evidence=evidence,
        fix=_fix(direct.rule_id, direct.key),
        cwe=rule.cwe,
    )


def _label(key: str) -> str:
    store, _, name = key.partition(":")
    labels = {
        "sql": f"table `{name}`",
        "orm": f"`{name}` rows",
        "dynamodb": f"DynamoDB table `{name}`",
        "redis": f"Redis key `{name}`",
        "fs": f"path `{name}`",
    }
    return labels.get(store, f"`{key}`")


_OUTCOMES = {
    "memory": "concurrent requests can all pass the check before any of them writes",
    "sql": "concurrent requests all see the old value and all write, so limits are overrun",
    "orm": "concurrent requests all load the same row and all save, so limits are overrun",
    "dynamodb": "concurrent requests all read the same item and all write it back",
    "redis": "concurrent requests all pass the check before any of them writes",
    "fs": "another process can create or replace the path between the check and the write",
}
_INSERT_OUTCOME = "concurrent requests all find nothing and all insert, so duplicates are created"


def _message(evidence: list[Evidence], key: str, mode: Mode, handler: Handler | None, decided: bool) -> str:
    read, write = evidence[0], evidence[-1]
    check = next((step for step in evidence if step.role == "check"), None)
    awaited = next((step for step in evidence if step.role == "await"), None)
    store = store_of(key)
    if decided and check is not None:
        seen = f"checked at line {check.line}" + (
            f" (read at line {read.line})" if read.line != check.line else ""
        )
        outcome = _OUTCOMES[store]
        if store in ("sql", "orm") and ("insert" in write.code.lower() or ".create(" in write.code):
            outcome = _INSERT_OUTCOME
    else:
        seen = f"read at line {read.line}"
        outcome = (
            "concurrent requests overwrite each other's updates (lost update)"
            if mode == "async" or store != "memory"
            else "concurrent updates are lost"
        )
    subject = _label(key)
    if store != "memory":
        return (
            f"{subject[0].upper()}{subject[1:]} is {seen} and written at line {write.line} with nothing "
            f"holding it in between: {outcome}."
        )
    if mode == "async":
        gap = f"an `await` at line {awaited.line}" if awaited else "an `await`"
        return (
            f"{subject} is {seen} and written at line {write.line} with {gap} in between "
            f"and no lock held: {outcome}."
        )
    runner = f"{_FRAMEWORK_NAMES[handler.framework]} runs" if handler else "the server runs"
    return (
        f"{subject} is {seen} and written at line {write.line} by a handler that {runner} on a thread pool, "
        f"with no lock held: {outcome}."
    )


def _fix(rule_id: str, key: str) -> str:
    # The fix text is the rule's own (race_mcp/rules/); an unregistered id is a KeyError, never a
    # dropped finding.
    return RULES[rule_id].fix
