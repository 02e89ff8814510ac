"""JavaScript/TypeScript analysis end to end: parse, lower, run the shared interpreter from every
root, report. Roots as for Python: entry points first (route, high confidence), then every other
module-level function and method no entry point reached (medium). Node's runtime is the event
loop: in-process state races only across an await; stores race everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cached_property
from typing import Any

from ...config import Settings
from ...errors import InputError
from ...findings import Confidence, Finding
from ..core import model
from ..core.checks import Reporter, suppressed, suppression_comment, unique_findings
from ..core.claims import unclaimed_handlers
from ..core.effects import Recognizer
from ..core.idempotency import PROVIDER_MARKERS, idempotency_finding
from ..core.interpret import Interpreter
from ..core.languages import PartialAnalysis
from ..core.state import State
from ..core.stores import stores
from . import stores as _registered  # noqa: F401  (registers the JavaScript recognizers)
from .entrypoints import entry_points
from .fixes import in_javascript
from .idempotency import KeySources
from .lower import lower_module
from .memory import JavaScriptMemory, may_share_state
from .naming import entry_noun, function_names
from .parse import parse, syntax_errors
from .patterns import stream_consumers

__all__ = ["analyze_javascript", "check_module", "suppressed"]

LANGUAGE = "javascript"
_FRAMEWORK_NAMES = {
    "express": "Express",
    "fastify": "Fastify",
    "koa": "Koa",
    "hono": "Hono",
    "nextjs": "Next.js",
    "lambda": "AWS Lambda",
    "nestjs": "NestJS",
}
_SUPPRESS = suppression_comment("//")
# Development data and scripts (seeders, generators, one-off scripts): run by hand, once, with
# nobody racing them, so their findings are low (as Python's `reach.unreached_confidence`).
_DEV_PATH = re.compile(
    r"(?:^|/)(?:scripts?|seeds?|seeders?|factories)/"
    r"|(?:^|/)(?:populate|seeds?|seeder|fake[-_]?data|random[-_]?data|dev[-_]?data|demo[-_]?data"
    r"|sample[-_]?data|data[-_]?generator|generate[-_]?data)[\w.-]*\.[cm]?[jt]sx?$",
    re.IGNORECASE,
)
_LINE_END = re.compile(r"\r\n|\r|\n")
_DECLARATIONS = re.compile(r"\.d\.[cm]?tsx?$", re.IGNORECASE)


def _markers(factory: Any) -> tuple[str, ...]:
    """The words a JavaScript file names a store by (a recognizer's `markers`: the spec's are Python's)."""
    return tuple(getattr(factory, "markers", ()))


def _store_markers() -> tuple[str, ...]:
    return tuple(
        marker
        for store in stores().values()
        if (factory := store.recognizers.get(LANGUAGE)) is not None
        for marker in _markers(factory)
    )


def _recognizers(module: model.ModuleModel, helpers: str = "") -> list[Recognizer]:
    """The recognizers of the stores the module, or the project files it imports, name."""
    source = f"{module.source}\n{helpers}" if helpers else module.source
    return [
        factory(module)
        for store in stores().values()
        if (factory := store.recognizers.get(LANGUAGE)) is not None
        and any(marker in source for marker in _markers(factory))
    ]


def _roots(module: model.ModuleModel) -> Iterator[tuple[str, model.Function]]:
    for name, function in module.functions.items():
        if "<locals>" not in name:
            yield name, function


class _Run:
    def __init__(
        self,
        module: model.ModuleModel,
        path: str,
        facts: Any,
        helpers: str = "",
        names: dict[str, str] | None = None,
    ) -> None:
        self.module = module
        self.facts = facts
        self.profile = JavaScriptMemory(module)
        self.recognizers = _recognizers(module, helpers)
        # Calls into other files of the project (a repository module, an injected service).
        resolver = getattr(facts, "resolver", None)
        self.resolver = resolver() if callable(resolver) else None
        self.reporter = _reporter(module, path, names)
        self.findings: list[Finding] = []

    def interpret(self, function: model.Function) -> Interpreter:
        # Every JavaScript function runs on the event loop: interleaving happens at awaits only.
        interpreter = Interpreter(
            self.profile,
            self.recognizers,
            "async",
            module=self.module,
            facts=self.facts,
            resolver=self.resolver,
        )
        frame = self.profile.frame(function, self_class=function.owner_class)
        interpreter.finish(interpreter.run(frame, State()))
        return interpreter

    def report(
        self, interpreter: Interpreter, entry: model.EntryPoint | None, confidence: Confidence, name: str
    ) -> None:
        self.findings.extend(self.reporter.findings_of(interpreter, entry, confidence, name))

    @cached_property
    def key_sources(self) -> KeySources:
        return KeySources(self.module)  # one per module: every handler is checked against it

    def idempotency(
        self, interpreter: Interpreter, entry: model.EntryPoint, function: model.Function
    ) -> None:
        """RC601: a money handler that neither takes a client's key nor fails a retry."""
        keys = self.key_sources.facts(function)
        finding = idempotency_finding(self.reporter, interpreter, entry, function, keys)
        if finding is not None:
            self.findings.append(finding)

    def run(self, entries: list[model.EntryPoint]) -> list[Finding]:
        reached: set[str] = set()
        for entry in entries:
            function = self.module.functions.get(entry.qualname)
            if function is not None:
                interpreter = self.interpret(function)
                reached |= interpreter.visited
                self.report(interpreter, entry, "high", entry.qualname)
                self.idempotency(interpreter, entry, function)
        handled = {entry.qualname for entry in entries} | reached
        unreached: Confidence = "low" if _DEV_PATH.search(self.module.path.replace("\\", "/")) else "medium"
        reaching = getattr(self.facts, "entry_reaching", None)
        for name, function in _roots(self.module):
            if name not in handled and (function.is_async or self.recognizers):
                interpreter = self.interpret(function)
                # A handler of another file that calls this function (a NestJS controller and its
                # injected service) lends it its route and confidence.
                found = interpreter.sequences or interpreter.directs
                caller = reaching(function, self.module) if callable(reaching) and found else None
                self.report(interpreter, caller, "high" if caller else unreached, name)
        self.findings.extend(
            self.reporter.direct_finding(direct, None, unreached, None)
            for direct in (*stream_consumers(self.module), *unclaimed_handlers(self.module))
        )
        return unique_findings(self.findings)


def _reporter(module: model.ModuleModel, path: str, names: dict[str, str] | None) -> Reporter:
    """Findings that name functions as people do (`POST /orders handler (map callback)`, not
    `<anonymous:7>`) and Lambda entry points by what invokes them (`naming`)."""
    if names is None:
        names = function_names(module, entry_points(module))
    return Reporter(module, path, _FRAMEWORK_NAMES, entry_noun=entry_noun(module), function_names=names)


def _unclaimed(module: model.ModuleModel, path: str) -> list[Finding]:
    """RC602 alone: a claim tested before a handler in one place, skipped in a loop elsewhere."""
    directs = unclaimed_handlers(module)
    if not directs:  # most modules: no reporter, so their functions' names are not worked out
        return []
    reporter = _reporter(module, path, None)
    confidence: Confidence = "low" if _DEV_PATH.search(module.path.replace("\\", "/")) else "medium"
    return unique_findings([reporter.direct_finding(direct, None, confidence, None) for direct in directs])


def check_module(
    source: str, path: str, tree: Any = None, facts: Any = None, module: model.ModuleModel | None = None
) -> list[Finding]:
    """Every finding of one module, one per (rule, line), before settings and suppressions."""
    return _check(source, path, tree, facts, module)[0]


def _check(
    source: str, path: str, tree: Any, facts: Any, module: model.ModuleModel | None
) -> tuple[list[Finding], dict[str, str]]:
    """The module's findings, and the readable names of its functions they carry (by qualname)."""
    module = module or lower_module(source, path, tree)
    helper_text = getattr(facts, "helper_text", None)
    helpers = helper_text() if callable(helper_text) else ""  # the project files it imports
    # Payment providers: a handler that only calls Stripe still moves money (RC601).
    markers = (*_store_markers(), "Records", *PROVIDER_MARKERS)
    has_stores = any(marker in source or marker in helpers for marker in markers)
    if not has_stores and not may_share_state(module):
        return _unclaimed(module, path), {}  # RC602 needs neither a store nor shared state
    entries = entry_points(module)
    project_routes = getattr(facts, "with_project_routes", None)
    if callable(project_routes):  # routes other files of the project declare for this one's functions
        entries = project_routes(entries)
    names = function_names(module, entries)
    return _Run(module, path, facts, helpers, names).run(entries), names


def _by_qualname(finding: Finding, module: model.ModuleModel, names: dict[str, str]) -> Finding:
    """The finding naming its function as the module does (`<anonymous:7>`, whose line a suppression
    comment may stand on): the innermost function around its line among those with its readable
    name (two `map` callbacks of one handler share one)."""
    if finding.function is None or finding.function in module.functions:
        return finding
    around = [
        qualname
        for qualname, name in names.items()
        if name == finding.function
        and (span := module.functions[qualname].span).line <= finding.line <= span.end_line
    ]
    if not around:
        return finding
    innermost = max(around, key=lambda qualname: module.functions[qualname].span.line)
    return finding.model_copy(update={"function": innermost})


def analyze_javascript(source: str, path: str, settings: Settings, facts: Any = None) -> list[Finding]:
    """The enabled, unsuppressed findings of one JavaScript/TypeScript module. With syntax errors,
    the findings of the usable tree are carried by a `PartialAnalysis` naming the first error.
    Declaration files (`.d.ts`) hold types only, no code that runs: nothing to find, nothing to parse
    (tree-sitter's grammar also refuses some of their type syntax, `import("x").T`)."""
    if _DECLARATIONS.search(path):
        return []
    tree = parse(source.encode("utf-8", "surrogatepass"), path)
    nodes = tree.root_node.descendant_count
    if nodes > settings.max_file_nodes:  # the same budget as Python's: bounded lowering time and memory
        raise InputError(
            f"{path}: {nodes:,} syntax-tree nodes, over the {settings.max_file_nodes:,}-node limit "
            "(max_file_nodes)",
            code="too-many-nodes",
        )
    lines = _LINE_END.split(source)
    module = lower_module(source, path, tree)
    # Given the module, a suppression comment on the handler's own line counts too, as in Python
    # (found by its qualified name: the finding carries its readable one).
    found, names = _check(source, path, tree, facts, module)
    findings = [
        in_javascript(finding)
        for finding in found
        if settings.rule_enabled(finding.rule_id)
        and not suppressed(_by_qualname(finding, module, names), lines, _SUPPRESS, module)
    ]
    errors = syntax_errors(tree.root_node)
    if errors:
        line, column, what = errors[0]
        raise PartialAnalysis(f"{path}:{line}:{column}: syntax error: {what}", findings)
    return findings
