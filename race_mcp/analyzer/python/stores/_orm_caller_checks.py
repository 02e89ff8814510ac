"""Keys handed in already checked: a helper inserts a row whose unique key is its parameter, and a
caller (at most three calls up, the value forwarded unchanged) looked that row up by the same
value and called the helper because it was missing.

    # handlers.py                                # provisioning.py
    mailbox = Mailbox.get_by(address=rcpt)       def open_mailbox(address):
    if mailbox is None:                              return Mailbox.create(address=address, ...)
        mailbox = open_mailbox(rcpt)

Two deliveries to the same new address both find it missing and both insert; with the unique key
the second fails with an unhandled IntegrityError. The caller's analysis reports the race at its
call; the helper's own analysis, which runs the insert with no check in sight, missed it, and the
helper is where the fix goes (catch the duplicate-key error, or insert first). The helper's root
therefore starts with the caller's check bound at its `def` line (role `check`, as a row handed in
starts with the caller's load), and the finding names the caller's check.

Only a lookup the call site is decided by counts: its result assigned to a name the `if` around the
call tests (`if not found:`, `if found is None:`, the `else` of `if found:`), with the model and
the keyword column the helper inserts, given the value the call passes on.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ....findings import Finding
from ...core import model
from ._common import walk

__all__ = ["CALLER_CHECKS", "CallerCheck", "bind_caller_checks", "caller_checks", "name_caller_checks"]

# The interpreter note `{def line: "path:line"}` the reporter words a finding's check with.
CALLER_CHECKS = "caller-checks"
_MAX_HOPS = 3  # calls up from the helper, as the project follows calls down from a handler
_INSERTS = frozenset({"create", "acreate"})
_LOOKUPS = frozenset({"get_by", "get", "first", "filter", "filter_by", "find_one", "one_or_none", "exists"})


@dataclass(frozen=True)
class CallerCheck:
    """`model`'s `column` is the helper's parameter `param`; a caller tested the lookup of that value
    at `path`:`line`."""

    model: str
    column: str
    param: str
    path: str
    line: int


def caller_checks(
    function: model.Function, owner: str | None, module: str, project: Any
) -> list[CallerCheck]:
    """The checks callers made of the keys `function` inserts (see the module's docstring)."""
    index = getattr(project, "index", None)
    if index is None or not callable(getattr(project, "lowered_module", None)) or owner is not None:
        return []
    found: list[CallerCheck] = []
    for model_name, column, param in _keyed_inserts(function, module, project):
        qualname = f"{module}.{function.qualname}" if module else function.qualname
        where = _checked_above(index, project, qualname, function, param, model_name, column, _MAX_HOPS)
        if where is not None:
            found.append(CallerCheck(model_name, column, param, *where))
    return found


def _keyed_inserts(function: model.Function, module: str, project: Any) -> Iterator[tuple[str, str, str]]:
    """(model, unique column, parameter) of each `Model.create(column=param)` /
    `Model.objects.create(column=param)` in the function."""
    for node in walk(function.body):
        if not isinstance(node, model.Call) or not isinstance(node.func, model.Attribute):
            continue
        if node.func.attr not in _INSERTS:
            continue
        receiver = node.func.value
        if isinstance(receiver, model.Attribute) and receiver.attr == "objects":
            receiver = receiver.value
        if not isinstance(receiver, model.Name):
            continue
        qualname = project.model_of(receiver.id, module)
        unique = project.index.unique_fields(qualname) if qualname else None
        for arg in node.args:
            value = arg.value
            if (
                arg.keyword
                and unique
                and arg.keyword in unique
                and isinstance(value, model.Name)
                and value.id in function.params
            ):
                yield receiver.id, arg.keyword, value.id


def _checked_above(
    index: Any,
    project: Any,
    qualname: str,
    callee: model.Function,
    param: str,
    model_name: str,
    column: str,
    hops: int,
) -> tuple[str, int] | None:
    """Where a caller of `qualname` tested the lookup of the value it passes for `param`; callers
    that forward their own parameter unchanged are followed up (`hops` calls at most)."""
    if hops <= 0:
        return None
    model_qualname = project.model_of(model_name)
    for site in index.callers(qualname):
        lowered = project.lowered_module(site.path)
        caller = _function_at(lowered, site.caller, site.line) if lowered is not None else None
        if caller is None:
            continue
        call = _call_at(caller, callee.name, site.line)
        given = _argument(call, callee, param) if call is not None else None
        if call is None or not isinstance(given, model.Name):
            continue
        caller_module = (
            site.caller[: -len(caller.qualname) - 1] if site.caller.endswith(caller.qualname) else ""
        )
        line = _tested_lookup(caller, call, given.id, model_qualname, column, caller_module, project)
        if line is not None:
            return site.path, line
        if given.id in caller.params:
            above = _checked_above(
                index, project, site.caller, caller, given.id, model_name, column, hops - 1
            )
            if above is not None:
                return above
    return None


def _function_at(lowered: model.ModuleModel, qualname: str, line: int) -> model.Function | None:
    for function in _functions(lowered):
        span = function.span
        if (qualname == function.qualname or qualname.endswith("." + function.qualname)) and (
            span.line <= line <= max(span.end_line, span.line)
        ):
            return function
    return None


def _functions(lowered: model.ModuleModel) -> Iterator[model.Function]:
    yield from lowered.functions.values()
    for info in lowered.classes.values():
        yield from info.methods.values()


def _call_at(caller: model.Function, name: str, line: int) -> model.Call | None:
    for node in walk(caller.body):
        if isinstance(node, model.Call) and node.span.line == line and _callee_name(node) == name:
            return node
    return None


def _callee_name(call: model.Call) -> str | None:
    func = call.func
    if isinstance(func, model.Name):
        return func.id
    return func.attr if isinstance(func, model.Attribute) else None


def _argument(call: model.Call, callee: model.Function, param: str) -> model.Expr | None:
    named = next((a.value for a in call.args if a.keyword == param), None)
    if named is not None:
        return named
    positional = [a for a in call.args if a.keyword is None]
    if any(a.star for a in positional):
        return None
    params = [p for p in callee.params if p not in ("self", "cls")]
    position = params.index(param) if param in params else len(positional)
    return positional[position].value if position < len(positional) else None


def _tested_lookup(
    caller: model.Function,
    call: model.Call,
    value: str,
    model_qualname: str | None,
    column: str,
    module: str,
    project: Any,
) -> int | None:
    """The line of the `if` that tests a lookup of the model by `column=value` and holds `call` in
    the branch that runs when the row is missing."""
    found: dict[str, int] = {}  # name bound to such a lookup -> its line
    for node in walk(caller.body):
        if isinstance(node, model.Assign) and node.op is None and node.span.line < call.span.line:
            target = node.targets[0] if len(node.targets) == 1 else None
            if isinstance(target, model.Name) and _is_lookup(
                node.value, value, model_qualname, column, module, project
            ):
                found[target.id] = node.span.line
        if isinstance(node, model.If) and found:
            missing = _missing_branch(node.test, found)
            if missing is not None and _holds(node.body if missing else node.orelse, call):
                return node.span.line
    return None


def _is_lookup(
    expr: model.Expr | None, value: str, model_qualname: str | None, column: str, module: str, project: Any
) -> bool:
    """`Model.get_by(column=value)`, `Model.objects.filter(column=value).first()` and the like."""
    while isinstance(expr, model.Call) and isinstance(expr.func, model.Attribute):
        if expr.func.attr not in _LOOKUPS:
            return False
        if any(
            a.keyword == column and isinstance(a.value, model.Name) and a.value.id == value for a in expr.args
        ):
            receiver = expr.func.value
            while isinstance(receiver, model.Attribute) and receiver.attr in ("objects", "query"):
                receiver = receiver.value
            return (
                isinstance(receiver, model.Name)
                and model_qualname is not None
                and project.model_of(receiver.id, module) == model_qualname
            )
        expr = expr.func.value
    return False


def _missing_branch(test: model.Expr, names: dict[str, int]) -> bool | None:
    """True when the `if` body runs for a missing row (`not x`, `x is None`), False when its `else`
    does (`if x:`, `x is not None`), None when the test is about something else."""
    if isinstance(test, model.Name):
        return False if test.id in names else None
    if not isinstance(test, model.Operation) or not test.operands:
        return None
    subject = test.operands[0]
    if not isinstance(subject, model.Name) or subject.id not in names:
        return None
    if test.op == "not" and len(test.operands) == 1:
        return True
    none = (
        len(test.operands) == 2
        and isinstance(test.operands[1], model.Literal)
        and test.operands[1].value is None
    )
    if none and test.op == "is":
        return True
    return False if none and test.op == "is-not" else None


def _holds(block: model.Block, call: model.Call) -> bool:
    return any(node is call for node in walk(block))


def bind_caller_checks(
    interpreter: Any, function: model.Function, owner: str | None, module: str | None, state: Any
) -> None:
    """Start the helper's root with each caller's check of the key it inserts, bound at the `def`
    line; the note lets `name_caller_checks` word the finding."""
    from ...core.state import Access

    project = interpreter.facts
    if module is None:
        return
    for check in caller_checks(function, owner, module, project):
        key = f"orm:{check.model}"
        if key in state.checks:
            continue
        steps = (interpreter.step(function, "read"), interpreter.step(function, "check"))
        state.checks[key] = Access(
            key, steps, frozenset(), decision=True, detail=frozenset({check.column}), inserts_only=True
        )
        notes = interpreter.notes.setdefault(CALLER_CHECKS, {})
        if isinstance(notes, dict):
            notes[function.span.line] = f"{check.path.rpartition('/')[2]}:{check.line}"


def name_caller_checks(findings: list[Finding], interpreter: Any) -> list[Finding]:
    """A finding whose check is a caller's, bound at the `def` line, says whose check it was."""
    notes = interpreter.notes.get(CALLER_CHECKS)
    if not notes:
        return findings
    named: list[Finding] = []
    for finding in findings:
        check = next((step for step in finding.evidence if step.role == "check"), None)
        where = notes.get(check.line) if check is not None else None
        if check is None or where is None:
            named.append(finding)
            continue
        said = f"checked at line {check.line}"
        message = finding.message.replace(
            said, f"checked by a caller ({where}) that found none before line {check.line}"
        )
        named.append(finding.model_copy(update={"message": message}))
    return named
