"""What the interpreter found, as `Finding`s: evidence steps with their lines and code, the message
(how the store registry says a key and an outcome), the rule's severity, title, CWE and fix text.

Language-neutral: positions come from model spans, text from the module's source lines.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Sequence as Lines
from typing import TYPE_CHECKING

from ...findings import Confidence, Evidence, Finding, Severity
from ...rules import RULES
from . import model
from .state import Direct, Mode, Sequence, Step
from .stores import MEMORY, spec, store_of

if TYPE_CHECKING:
    from .interpret import Interpreter

__all__ = ["Reporter", "label", "suppressed", "suppression_comment", "unique_findings"]

_LINE_END = re.compile(r"\r\n|\r|\n")
# What an entry point of each kind is, in `Finding.reached_by` ("Flask route POST /x", "celery task
# tasks.charge"); a front-end names its own where the kind says too little (`Reporter.entry_noun`:
# a Django view, an AWS Lambda handler, a DynamoDB Streams consumer).
_ENTRY_KINDS = {
    "http": "route",
    "task": "task",
    "signal": "signal receiver",
    "command": "command",
    "middleware": "middleware",
    "consumer": "consumer",
    "graphql": "GraphQL resolver",
    "startup": "startup hook",
}
# An HTTP entry point whose route is declared elsewhere (a URLconf, an API Gateway, a descriptor).
_UNROUTED_HTTP = "HTTP handler"
# Who runs an entry point's code at once, for the outcomes that say "concurrent requests": a stream or
# queue consumer handles messages, a task runs for each of its calls.
_CONCURRENT = {
    "consumer": "concurrent messages",
    "task": "concurrent task runs",
    "command": "concurrent runs",
    "startup": "worker processes starting at once",
}
_REQUESTS = "concurrent requests"
_MEMORY_OUTCOME = "concurrent requests can all pass the check before any of them writes"


def label(key: str) -> str:
    """How a key reads in a message: "table `accounts`", "`Account` rows", "`coupons`"."""
    store = store_of(key)
    if store == MEMORY:
        return f"`{key}`"
    return spec(store).label(key.partition(":")[2])


class Reporter:
    """Builds the findings of one module."""

    def __init__(
        self,
        module: model.ModuleModel,
        path: str,
        framework_names: Mapping[str, str] | None = None,
        *,
        server: str | None = None,
        entry_noun: Callable[[model.EntryPoint], str | None] | None = None,
        function_names: Mapping[str, str] | None = None,
    ) -> None:
        self.module = module
        # The front-end's word for an entry point the kind names too vaguely ("view", "handler").
        self.entry_noun = entry_noun
        # The front-end's readable names of functions (a JavaScript callback: "POST /orders handler
        # (map callback)"); a function it names may own a finding even when nested in another.
        self.function_names = function_names or {}
        # The project's declaration of a threaded server ("contrib/gunicorn.py: threads = 3").
        self.server = server
        self.path = path
        # How the front-end names its frameworks in messages (`fastapi` -> "FastAPI").
        self.framework_names = framework_names or {}
        # The language's line ends only: str.splitlines also breaks at \x0c, \x1c-\x1e, \x85 and
        # U+2028/9, which a comment may hold, and the evidence would then quote other lines.
        self.lines = _LINE_END.split(module.source)
        # Functions by where they start, to name the one a finding lies in.
        self.owners = sorted(
            (function.span.line, function.span.end_line, name)
            for name, function in module.functions.items()
            if "<locals>" not in name or name in self.function_names
        )

    def owner(self, lines: list[int], root: str | None) -> str | None:
        """The function a finding is reported in: the root that was interpreted, unless all its
        steps lie in one function the root called (a model method run from a view is reported in
        the method, where a patch goes; the route and confidence stay the entry point's)."""
        if root is None:
            return None
        first, last = min(lines), max(lines)
        inside = [name for start, end, name in self.owners if start <= first and last <= end]
        return self.name_of(inside[-1] if inside else root)

    def name_of(self, function: str | None) -> str | None:
        """How the report names a function: the front-end's readable name, else its qualified name."""
        return self.function_names.get(function, function) if function is not None else None

    def reached_by(self, entry: model.EntryPoint | None) -> str | None:
        """Why requests reach the finding's code, for the report: "Flask route POST /x", "celery task
        tasks.charge", "AWS Lambda handler" (the entry point's qualified name when it has no route,
        left out where the noun already ends with it: no "handler handler")."""
        if entry is None:
            return None
        framework = self.framework_names.get(entry.framework, entry.framework)
        noun = (self.entry_noun(entry) if self.entry_noun else None) or _noun(entry)
        where = entry.route or entry.qualname
        if not entry.route and noun.split()[-1] == where:
            where = ""
        return " ".join(part for part in (framework, noun, where) if part)

    def code_at(self, line: int) -> str:
        return self.lines[line - 1].strip() if 1 <= line <= len(self.lines) else ""

    def column_of(self, node: model.Node) -> int:
        """1-based; a function is reported at its name (`def <name>`)."""
        span = node.span
        if isinstance(node, model.Function) and 1 <= span.line <= len(self.lines):
            found = self.lines[span.line - 1].find(node.name, span.column)
            if found >= 0:
                return found + 1
        return span.column + 1

    def evidence(self, steps: list[Step]) -> list[Evidence]:
        return [Evidence(line=s.line, role=s.role, code=self.code_at(s.line)) for s in steps]

    def findings_of(
        self,
        interpreter: Interpreter,
        entry: model.EntryPoint | None,
        confidence: Confidence,
        name: str | None,
    ) -> list[Finding]:
        """Every finding one interpretation of a root produced: its racy sequences, then its directs."""
        findings = [
            self.sequence_finding(sequence, interpreter.mode, entry, confidence, name)
            for sequence in interpreter.sequences.values()
        ]
        findings.extend(
            self.direct_finding(direct, entry, confidence, name) for direct in interpreter.directs
        )
        return findings

    def sequence_finding(
        self,
        sequence: Sequence,
        mode: Mode,
        entry: model.EntryPoint | None,
        confidence: Confidence,
        function: str | None,
    ) -> Finding:
        rule = RULES[sequence.rule_id]
        # Evidence in execution order: the read and the check, the await, the write.
        steps = list(sequence.candidate.steps)
        if store_of(sequence.key) == MEMORY and mode == "async" and sequence.awaited is not None:
            steps.append(sequence.awaited)
        steps.append(sequence.write)
        evidence = self.evidence(steps)
        lines = [step.line for step in evidence]
        decided = sequence.candidate.decision
        severity: Severity = rule.severity if decided else "medium"
        if sequence.refused:
            severity = "low"  # no duplicate: the unique key refuses it, the loser fails unhandled
        return Finding(
            rule_id=rule.id,
            title=_REFUSED_TITLE if sequence.refused else rule.title,
            severity=severity,
            confidence=confidence,
            path=self.path,
            line=lines[0],
            end_line=max(lines),
            column=self.column_of(steps[0].node),
            function=self.owner(lines, function),
            route=entry.route if entry else None,
            reached_by=self.reached_by(entry),
            message=message(
                evidence,
                sequence.key,
                mode,
                entry,
                decided,
                self.framework_names,
                sequence.rule_id,
                server=self.server,
                refused=sequence.refused,
            ),
            evidence=evidence,
            fix=_fix(sequence.rule_id, self.module.language),
            cwe=rule.cwe,
        )

    def direct_finding(
        self, direct: Direct, entry: model.EntryPoint | None, confidence: Confidence, function: str | None
    ) -> Finding:
        rule = RULES[direct.rule_id]
        evidence = self.evidence(list(direct.steps))
        lines = [step.line for step in evidence]
        return Finding(
            rule_id=rule.id,
            title=rule.title,
            severity=rule.severity,
            confidence=confidence,
            path=self.path,
            line=lines[0],
            end_line=max(lines),
            column=self.column_of(direct.steps[0].node),
            function=self.name_of(function),
            route=entry.route if entry else None,
            reached_by=self.reached_by(entry),
            message=direct.detail or f"{rule.title} (line {lines[0]}).",
            evidence=evidence,
            fix=_fix(direct.rule_id, self.module.language),
            cwe=rule.cwe,
        )


def _noun(entry: model.EntryPoint) -> str:
    if entry.kind == "http" and not entry.route:
        return _UNROUTED_HTTP
    return _ENTRY_KINDS.get(entry.kind, entry.kind)


def _by_whom(outcome: str, entry: model.EntryPoint | None) -> str:
    """The outcome as the entry point's runs race: "concurrent messages ..." for a consumer."""
    actors = _CONCURRENT.get(entry.kind) if entry is not None else None
    if actors and outcome.startswith(_REQUESTS):
        return actors + outcome[len(_REQUESTS) :]
    return outcome


# The insert rules' titles say "no unique constraint": a refused duplicate has one, unhandled.
_REFUSED_TITLE = "Check then insert on a unique key whose violation nothing handles"


def message(
    evidence: list[Evidence],
    key: str,
    mode: Mode,
    entry: model.EntryPoint | None,
    decided: bool,
    framework_names: Mapping[str, str],
    rule_id: str = "",
    *,
    server: str | None = None,
    refused: bool = False,
) -> str:
    read, write = evidence[0], evidence[-1]
    check = next((step for step in evidence if step.role == "check"), None)
    awaited = next((step for step in evidence if step.role == "await"), None)
    store = store_of(key)
    store_spec = spec(store) if store != MEMORY else None
    if decided and check is not None:
        seen = f"checked at line {check.line}" + (
            f" (read at line {read.line})" if read.line != check.line else ""
        )
        outcome = store_spec.outcome if store_spec else _MEMORY_OUTCOME
        code = write.code.lower()
        inserts = rule_id in store_spec.insert_rules if store_spec else False
        if store_spec and store_spec.insert_outcome and (inserts or "insert" in code or ".create(" in code):
            outcome = store_spec.insert_outcome
        if refused and store_spec and store_spec.refused_outcome:
            outcome = store_spec.refused_outcome
    else:
        seen = f"read at line {read.line}"
        outcome = (
            "concurrent requests overwrite each other's updates (lost update)"
            if mode == "async" or store_spec
            else "concurrent updates are lost"
        )
    outcome = _by_whom(outcome, entry)
    subject = label(key)
    if store_spec:
        # Labels such as "`Account` rows" are plural: the verb and pronoun agree with them.
        verb, pronoun = ("are", "them") if store_spec.plural else ("is", "it")
        if rule_id in store_spec.insert_rules:
            # A row lock (FOR UPDATE) locks no row that is not there: "nothing holding them" would be
            # wrong where the check held one; what is missing is something that refuses the second insert.
            between = "" if refused else " with nothing that refuses a second insert in between"
            inserted = f"{verb} {seen} and inserted at line {write.line}{between}"
            return f"{subject[0].upper()}{subject[1:]} {inserted}: {outcome}."
        return (
            f"{subject[0].upper()}{subject[1:]} {verb} {seen} and written at line {write.line} with nothing "
            f"holding {pronoun} in between: {outcome}."
        )
    if mode == "async":
        gap = f"an `await` at line {awaited.line}" if awaited else "an `await`"
        return (
            f"{subject} is {seen} and written at line {write.line} with {gap} in between "
            f"and no lock held: {outcome}."
        )
    if server is not None and (entry is None or entry.runtime in ("processes", "sequential")):
        return (
            f"{subject} is {seen} and written at line {write.line} by code the project's threaded "
            f"server runs on its request threads (`{server}`), with no lock held: {outcome}."
        )
    if entry is None or entry.runtime in ("processes", "sequential"):
        # No threaded handler: code that keeps thread locks (`PythonMemory.runs_on_threads`).
        return (
            f"{subject} is {seen} and written at line {write.line} by code that several threads run "
            f"(it keeps `threading` locks), with no lock held: {outcome}."
        )
    runner = framework_names.get(entry.framework, entry.framework)
    return (
        f"{subject} is {seen} and written at line {write.line} by a handler that {runner} runs on a thread "
        f"pool, with no lock held: {outcome}."
    )


def _fix(rule_id: str, language: str = "python") -> str:
    # The rule's fix text in the module's language (`race_mcp/rules/`: its own, or the language's
    # where the rule's names another language's APIs); an unregistered id is a KeyError, never a
    # dropped finding.
    return RULES[rule_id].fix_in(language)


def unique_findings(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per rule and sequence, the first kept: roots that reach the same code report it
    once. A sequence is its read, check and write lines (its awaits aside: a helper's await is
    shown at whichever call led into it), not its first line only: a read in a shared helper
    (`run = self.get_run(pk)`) starts the races of every caller that checks and writes what it
    returned, and each of those is its own race, in its own function."""
    seen: set[tuple[str, tuple[tuple[int, str], ...]]] = set()
    unique = []
    for finding in findings:
        identity = (finding.rule_id, _sequence_lines(finding))
        if identity not in seen:
            seen.add(identity)
            unique.append(finding)
    return unique


def _sequence_lines(finding: Finding) -> tuple[tuple[int, str], ...]:
    steps = tuple((step.line, step.role) for step in finding.evidence if step.role != "await")
    return steps or ((finding.line, ""),)


def suppression_comment(marker: str) -> re.Pattern[str]:
    """`# race-mcp: ignore[RC101]` in a language whose line comments start with `marker`."""
    return re.compile(re.escape(marker) + r"\s*race-mcp:\s*ignore(?:\[(?P<ids>[A-Za-z0-9_, ]+)\])?")


def suppressed(
    finding: Finding, lines: Lines[str], comment: re.Pattern[str], module: model.ModuleModel | None = None
) -> bool:
    """The suppression comment on any line of the finding's sequence, or (given the module) on the
    line of the function it names; without ids it silences every rule."""
    candidates = {finding.line, finding.end_line, *(step.line for step in finding.evidence)}
    function = module.functions.get(finding.function) if module is not None and finding.function else None
    if function is not None:
        candidates.add(function.span.line)
    for number in candidates:
        match = comment.search(lines[number - 1]) if 1 <= number <= len(lines) else None
        if match is None:
            continue
        ids = match.group("ids")
        if ids is None or finding.rule_id in {part.strip().upper() for part in ids.split(",")}:
            return True
    return False
