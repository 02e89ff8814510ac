"""Python analysis end to end: lower the module, run the interpreter from every root, report.

Roots are the entry points first (HTTP handlers and the like: they carry a route and high
confidence), then every other function and method no entry point reached (service-layer code,
workers, Lambda handlers), with medium confidence. In-process state only races in entry points and
coroutines; stores race everywhere.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from typing import Any

from ...config import Settings
from ...findings import Confidence, Finding
from ..core import model
from ..core.checks import Reporter, suppressed, suppression_comment, unique_findings
from ..core.effects import Recognizer
from ..core.interpret import Interpreter
from ..core.profile import Resolver
from ..core.state import Mode
from ..core.stores import stores
from . import stores as _registered  # noqa: F401  (registers the Python stores)
from .deployment import threaded_server
from .entrypoints import entry_points
from .lower import lower_module
from .memory import PythonMemory, may_share_state
from .patterns import idempotency_finding, stream_consumers
from .reach import ONE_PROCESS_KINDS, entry_confidence, unreached_confidence
from .stores._orm_caller_checks import bind_caller_checks, name_caller_checks
from .stores._orm_rows import LOADED, bind_loaded_rows

__all__ = ["analyze_python", "check_module", "might_race", "suppressed"]

_LANGUAGE = "python"
# Every race lives in a coroutine, a handler of one of these frameworks, or code that talks to a
# store. Django views are not routed in the module: only their store calls can race, so "django" is
# no marker (it is in nearly every file of a Django project). "Records": stream consumers (RC404).
# How messages name the frameworks whose sync handlers run on a thread pool.
_FRAMEWORK_NAMES = {
    "fastapi": "FastAPI",
    "starlette": "Starlette",
    "flask": "Flask",
    "aiohttp": "aiohttp",
    "quart": "Quart",
    "dramatiq": "Dramatiq",
}


def _entry_noun(entry: model.EntryPoint) -> str | None:
    """A Python handler routed elsewhere (a Django URLconf, a MethodView registered apart) is a view;
    a Django `BaseCommand` is a management command."""
    if entry.kind == "http" and not entry.route:
        return "view"
    return "management command" if entry.kind == "command" and entry.framework == "django" else None


# Entry points whose calls are requests a server's threads serve.
_REQUEST_KINDS = frozenset({"http", "middleware", "graphql"})
_FRAMEWORK_MARKERS = ("async def", "fastapi", "flask", "starlette", "aiohttp", "Records", "threading")


def _store_markers() -> tuple[str, ...]:
    """The registered stores' markers, and "Records" (stream consumers, RC404, need no store)."""
    return (*(marker for store in stores().values() for marker in store.markers), "Records")


def might_race(source: str) -> bool:
    """Cheap text pre-filter: without any of these words no rule can fire."""
    return any(marker in source for marker in (*_FRAMEWORK_MARKERS, *_store_markers()))


def store_text(source: str, facts: Any) -> str:
    """The text the store pre-filters read: the module's own and the lines of the project helpers
    in other modules it calls that name a store (project index): a task reading through
    `get_run(conn, pk)` needs the SQL recognizer though its own text names no SQL."""
    helper_text = getattr(facts, "helper_text", None)
    extra = helper_text() if callable(helper_text) else ""
    return f"{source}\n{extra}" if extra else source


def _server(facts: Any) -> str | None:
    """The threaded WSGI server the project declares (its file and line), else None."""
    return threaded_server(getattr(getattr(facts, "index", None), "root", None))


def _recognizers(module: model.ModuleModel, text: str | None = None) -> list[Recognizer]:
    """The recognizers of the stores registered for Python whose markers the source mentions, in
    registration order (most specific first: ORM query chains before SQL text before Redis and
    file names). A store the file never names cannot claim its calls (a Redis `pipe.watch()` is
    no MongoDB change stream)."""
    source = module.source if text is None else text
    return [
        factory(module)
        for store in stores().values()
        if (factory := store.recognizers.get(_LANGUAGE)) is not None
        and any(marker in source for marker in store.markers)
    ]


def _mode(entry: model.EntryPoint, function: model.Function) -> Mode:
    if entry.runtime == "thread-pool":
        return "threaded"
    if entry.runtime == "event-loop" or function.is_async:
        return "async"
    return "sequential"


def _roots(module: model.ModuleModel) -> Iterator[tuple[str, model.Function, str | None]]:
    """Module-level functions and the methods of module-level classes (nested ones run inside)."""
    for name, function in module.functions.items():
        if "." not in name:
            yield name, function, None
    for class_name, info in module.classes.items():
        if "." in class_name:
            continue
        for method_name, method in info.methods.items():
            yield f"{class_name}.{method_name}", method, class_name


class _Run:
    """One module's analysis: its profile, recognizers and findings."""

    def __init__(self, module: model.ModuleModel, path: str, facts: Any, resolver: Resolver | None) -> None:
        self.module = module
        self.facts = facts
        self.resolver = resolver
        self.profile = PythonMemory(module)
        text = store_text(module.source, facts)
        self.has_stores = any(marker in text for marker in _store_markers())
        self.recognizers = _recognizers(module, text) if self.has_stores else []
        self.server = _server(facts)
        self.reporter = Reporter(module, path, _FRAMEWORK_NAMES, server=self.server, entry_noun=_entry_noun)
        self.findings: list[Finding] = []
        self.memo_store: dict[Any, Any] = {}  # helper runs remembered for every root (`inline_memo.py`)

    def interpret(
        self, function: model.Function, owner: str | None, mode: Mode, *, entry: bool = False
    ) -> Interpreter:
        interpreter = Interpreter(
            self.profile,
            self.recognizers,
            mode,
            module=self.module,
            facts=self.facts,
            resolver=self.resolver,
            memo_store=self.memo_store,
        )
        # A model's method or a service handed a row starts with that row loaded (by its caller).
        state = bind_loaded_rows(interpreter, self.recognizers, function, owner, forwarded=entry)
        if not entry and self.recognizers:
            # A helper inserting a key its callers found missing starts with their check.
            bind_caller_checks(interpreter, function, owner, getattr(self.facts, "module", None), state)
        interpreter.finish(interpreter.run(self.profile.frame(function, self_class=owner), state))
        return interpreter

    def _unreached_mode(self, function: model.Function, owner: str | None) -> Mode:
        """A coroutine runs on an event loop; sync code on threads when its class or module keeps a
        thread lock (`PythonMemory.runs_on_threads`), else one call at a time."""
        if function.is_async:
            return "async"
        if self.profile.runs_on_threads(owner) or self._request_thread(function):
            return "threaded"
        return "sequential"

    def _request_thread(self, function: model.Function) -> bool:
        """Under a threaded server (`deployment.threaded_server`), code a request handler of the
        project reaches runs on its request threads; code only a framework, a command or nothing
        seen calls (a schema generator's hook, a dev webhook receiver) keeps its mode."""
        reaching = getattr(self.facts, "entry_reaching", None)
        if self.server is None or not callable(reaching):
            return False
        caller = reaching(function, self.module)
        return caller is not None and caller.kind in _REQUEST_KINDS

    def _offline(self, function: model.Function) -> bool:
        """Every caller the project index shows is a one-process job (`project/_writers.py`)."""
        runs_offline = getattr(self.facts, "runs_offline", None)
        return callable(runs_offline) and bool(runs_offline(function, self.module))

    def drop_unraced(self, interpreter: Interpreter) -> None:
        """Code only a one-process job runs (a management command, a seeder or script) races only
        a second writer of the same rows: keep its lost updates and check-then-acts on a model
        that request-side code of the project also writes (`project/_writers.py`), drop the rest
        (a model only such jobs write, a path the job builds). Without the project index the
        writers are unknown and everything stays (low)."""
        written = getattr(self.facts, "written_by_requests", None)
        if not callable(written) or not interpreter.sequences:
            return
        interpreter.sequences = {
            at: sequence
            for at, sequence in interpreter.sequences.items()
            if written(sequence.key) is not False
        }

    def report(
        self,
        interpreter: Interpreter,
        entry: model.EntryPoint | None,
        confidence: Confidence,
        name: str | None,
    ) -> None:
        self.findings.extend(self.reporter.findings_of(interpreter, entry, confidence, name))

    def run(self, entries: list[model.EntryPoint]) -> list[Finding]:
        reached: set[str] = set()
        for entry in entries:
            function = self.module.functions.get(entry.qualname)
            if function is None:
                continue
            owner = function.owner_class
            mode = _mode(entry, function)
            if mode == "sequential" and entry.runtime == "processes" and self.server is not None:
                mode = "threaded"  # the project serves its sync views from threads
            interpreter = self.interpret(function, owner, mode, entry=True)
            reached |= interpreter.visited
            if entry.kind in ONE_PROCESS_KINDS:
                self.drop_unraced(interpreter)
            self.report(interpreter, entry, entry_confidence(entry), entry.qualname)
            if self.has_stores:
                idempotency = idempotency_finding(self.module, entry, function, owner, interpreter)
                if idempotency is not None:
                    self.findings.append(
                        self.reporter.direct_finding(idempotency, entry, "high", entry.qualname)
                    )
        handled = {entry.qualname for entry in entries} | reached
        # Code no entry point reaches: medium, low in development seeders and scripts.
        unreached = unreached_confidence(self.module)
        for name, function, owner in _roots(self.module):
            mode = self._unreached_mode(function, owner)
            if name in handled or (mode == "sequential" and not self.has_stores):
                continue
            interpreter = self.interpret(function, owner, mode)
            # A handler of another module that calls this helper lends it its route and confidence.
            reaching = getattr(self.facts, "entry_reaching", None)
            found = interpreter.sequences or interpreter.directs  # asked only when there is something
            caller = reaching(function, self.module) if callable(reaching) and found else None
            confidence = entry_confidence(caller) if caller else unreached
            if (
                (caller.kind in ONE_PROCESS_KINDS)
                if caller
                else (unreached == "low" or self._offline(function))
            ):
                self.drop_unraced(interpreter)  # a command's or a seeder's: one process at a time
            findings = name_caller_checks(
                self.reporter.findings_of(interpreter, caller, confidence, name), interpreter
            )
            # A row handed to code nothing is seen to reach (a model's method called on instances)
            # is loaded by callers unknown: low (issue 11).
            self.findings.extend(
                f.model_copy(update={"confidence": "low"})
                if caller is None and f.evidence and f.evidence[0].role == LOADED
                else f
                for f in findings
            )
            if self.has_stores:  # Django and DRF views are not routed in the module: RC601 sees them itself
                view = idempotency_finding(self.module, None, function, owner, interpreter)
                if view is not None:
                    self.findings.append(self.reporter.direct_finding(view, None, "medium", name))
        if self.has_stores:
            self.findings.extend(
                self.reporter.direct_finding(direct, None, "medium", None)
                for direct in stream_consumers(self.module)
            )
        return unique_findings(self.findings)


def check_module(
    source: str,
    path: str,
    *,
    tree: ast.Module | None = None,
    facts: Any = None,
    resolver: Resolver | None = None,
) -> tuple[list[Finding], model.ModuleModel | None]:
    """Every finding in one module, one per (rule, line), and the lowered module (None when the
    module was skipped by the cheap pre-filters)."""
    has_stores = any(marker in store_text(source, facts) for marker in _store_markers())
    # The project session lowers a module once per process, for its own analysis and for calls into it.
    lowered = getattr(facts, "lowered", None)
    module = lowered(source, path, tree) if callable(lowered) else lower_module(source, path, tree=tree)
    if not has_stores and not may_share_state(module):
        return [], module
    entries = entry_points(module)
    if (
        not has_stores
        and not entries
        and not any(f.is_async for f in module.functions.values())
        and "threading" not in source
        and _server(facts) is None
    ):
        return [], module  # without stores only handlers, coroutines and threaded code are interpreted
    return _Run(module, path, facts, resolver).run(entries), module


_SUPPRESS = suppression_comment("#")
_LINE_END = re.compile(r"\r\n|\r|\n")


def analyze_python(
    source: str,
    path: str,
    settings: Settings,
    facts: Any = None,
    *,
    tree: ast.Module | None = None,
    resolver: Resolver | None = None,
) -> list[Finding]:
    """The findings of one Python module the settings enable and no `# race-mcp: ignore` silences.

    `tree` is CPython's tree when the caller has parsed (and measured) it already; `facts` and
    `resolver` come from the whole-project index when there is one."""
    if not might_race(store_text(source, facts)) and _server(facts) is None:
        if facts is not None and hasattr(facts, "keep_for_readers"):
            facts.keep_for_readers(source, path, tree)
        return []  # no coroutine, web framework, store or threaded server: nothing can race here
    findings, module = check_module(source, path, tree=tree, facts=facts, resolver=resolver)
    if not findings or module is None:
        return []
    lines = _LINE_END.split(source)
    return [
        f
        for f in findings
        if settings.rule_enabled(f.rule_id) and not suppressed(f, lines, _SUPPRESS, module)
    ]
