"""Rust analysis end to end: parse, lower, find the routes, run the shared interpreter, report.

Roots are the routed handlers (Axum, actix-web) first, then every other function: async ones
always (tokio tasks), the rest when the file talks to a store. Tokio's default runtime runs tasks
on several worker threads, so in-process state races wherever a read and its write are not under
one guard, with or without an `.await` between them: Rust roots are interpreted in threaded mode
(RC102), and a guard held from the read to the write (`let g = m.lock()`) protects them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ...config import Settings
from ...findings import Confidence, Finding
from ..core import model
from ..core.checks import Reporter, suppressed, suppression_comment, unique_findings
from ..core.claims import unclaimed_handlers
from ..core.effects import Recognizer
from ..core.idempotency import PROVIDER_MARKERS, idempotency_finding
from ..core.interpret import Interpreter
from ..core.languages import PartialAnalysis
from ..core.state import Mode, State
from ..core.stores import stores
from . import stores as _registered  # noqa: F401  (adds the Rust recognizers to the store specs)
from ._syntax import first_error, span
from .entrypoints import entry_points
from .idempotency import key_facts
from .lower import RustModule, lower_module
from .memory import RustMemory, may_share_state
from .titles import in_rust

__all__ = ["analyze_rust", "check_module"]

_LANGUAGE = "rust"
_FRAMEWORK_NAMES = {"axum": "Axum", "actix-web": "actix-web"}
# The words a file names a store by, per store (the Python markers are Python's spellings).
_STORE_MARKERS = {
    "dynamodb": ("aws_sdk_dynamodb", "_item("),
    "redis": ("redis",),
    "fs": ("fs::", "File::", "OpenOptions", ".exists()", ".is_file()", ".is_dir()"),
    "orm": ("diesel", "sea_orm"),
    "sql": (
        "sqlx",
        "diesel",
        "sea_orm",
        "tokio_postgres",
        "postgres",
        "SELECT",
        "UPDATE",
        "INSERT",
        "select ",
        "update ",
    ),
}
_SUPPRESS = suppression_comment("//")
_LINE_END = re.compile(r"\r\n|\r|\n")


def _recognizers(lowered: RustModule) -> list[Recognizer]:
    source = lowered.module.source
    return [
        factory(lowered)
        for name, store in stores().items()
        if (factory := store.recognizers.get(_LANGUAGE)) is not None
        and any(marker in source for marker in _STORE_MARKERS.get(name, (name,)))
    ]


def _roots(module: model.ModuleModel) -> Iterator[tuple[str, model.Function]]:
    yield from module.functions.items()


class _Run:
    def __init__(self, lowered: RustModule, path: str, facts: Any = None) -> None:
        self.lowered = lowered
        self.facts = facts
        self.module = lowered.module
        self.profile = RustMemory(lowered)
        self.recognizers = _recognizers(lowered)
        self.reporter = Reporter(self.module, path, _FRAMEWORK_NAMES)
        self.findings: list[Finding] = []

    def interpret(self, function: model.Function, mode: Mode) -> Interpreter:
        interpreter = Interpreter(self.profile, self.recognizers, mode, module=self.module)
        frame = self.profile.frame(function, self_class=function.owner_class)
        interpreter.finish(interpreter.run(frame, State()))
        return interpreter

    def report(self, interpreter: Interpreter, entry: model.EntryPoint | None, name: str) -> None:
        confidence: Confidence = "high" if entry is not None else "medium"
        self.findings.extend(self.reporter.findings_of(interpreter, entry, confidence, name))

    def idempotency(
        self, interpreter: Interpreter, entry: model.EntryPoint, function: model.Function
    ) -> None:
        """RC601: a money handler that neither takes a client's key nor fails a retry."""
        keys = key_facts(self.module, function)
        finding = idempotency_finding(self.reporter, interpreter, entry, function, keys)
        if finding is not None:
            self.findings.append(finding)

    def run(self, entries: list[model.EntryPoint]) -> list[Finding]:
        reached: set[str] = set()
        for entry in entries:
            function = self.module.functions[entry.qualname]
            interpreter = self.interpret(function, "threaded")
            reached |= interpreter.visited
            self.report(interpreter, entry, entry.qualname)
            self.idempotency(interpreter, entry, function)
        handled = {entry.qualname for entry in entries} | reached
        reaching = getattr(self.facts, "entry_reaching", None)
        for name, function in _roots(self.module):
            if name in handled:
                continue
            # A handler of another module that calls this function lends it its route, its
            # confidence and its runtime (a tokio worker thread, whether the helper is async or not).
            caller = reaching(function, self.module) if callable(reaching) else None
            if not function.is_async and not self.recognizers and caller is None:
                continue
            mode: Mode = "threaded" if function.is_async or caller is not None else "sequential"
            self.report(self.interpret(function, mode), caller, name)
        self.findings.extend(self.unclaimed())
        return unique_findings(self.findings)

    def unclaimed(self) -> list[Finding]:
        """RC602: a claim tested before a handler in one place, skipped in a loop elsewhere."""
        directs = unclaimed_handlers(self.module)
        return [self.reporter.direct_finding(direct, None, "medium", None) for direct in directs]


def check_module(source: str, path: str, facts: Any = None) -> tuple[list[Finding], RustModule]:
    """Every finding in one Rust file, one per (rule, line), and the lowered file; `facts`: the
    project's (routes registered in `main.rs` for this file's handlers)."""
    lowered = lower_module(source, path)
    run = _Run(lowered, path, facts)
    # Payment providers: a handler that only calls Stripe still moves money (RC601).
    pays = any(marker in source for marker in PROVIDER_MARKERS)
    if not run.recognizers and not may_share_state(lowered) and not pays:
        return unique_findings(run.unclaimed()), lowered  # RC602 needs neither a store nor shared state
    entries = entry_points(lowered)
    project_routes = getattr(facts, "with_project_routes", None)
    if callable(project_routes):
        entries = [e for e in project_routes(entries) if e.qualname in lowered.module.functions]
    return run.run(entries), lowered


def analyze_rust(source: str, path: str, settings: Settings, facts: Any = None) -> list[Finding]:
    """The enabled, unsuppressed findings of one Rust file. A file with syntax errors is analysed
    where its tree is usable; its findings travel with the error (`PartialAnalysis`)."""
    findings, lowered = check_module(source, path, facts)
    lines = _LINE_END.split(source)
    kept = [
        in_rust(f)
        for f in findings
        if settings.rule_enabled(f.rule_id) and not suppressed(f, lines, _SUPPRESS, lowered.module)
    ]
    error = first_error(lowered.tree.root_node)  # type: ignore[attr-defined]
    if error is not None:
        where = span(error)
        what = "missing " + error.type if error.is_missing else "unexpected syntax"
        raise PartialAnalysis(f"{path}:{where.line}:{where.column + 1}: syntax error: {what}", kept)
    return kept
