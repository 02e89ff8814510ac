"""The project index as the analysis of one module sees it.

`ProjectSession` holds an index for a run and lowers other modules on demand; for each analysed
file it hands the Python pipeline two things:

- `facts_for(path)`: a `ModuleFacts`, what recognizers reach through `CallContext.facts()`
  (uniqueness by the names the module uses, SQL and MongoDB unique keys, transaction contexts,
  functions that run inside a transaction because of a decorator or because every caller holds one);
- `resolver_for(path)`: the interpreter's `Resolver`, which runs a call to a function or method of
  another module of the project (bounded by the interpreter's call depth).
"""

from __future__ import annotations

import ast
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..._textfile import read_text
from ...errors import InputError
from ..core import model
from ..core.registry import factory_classes, registered_classes
from ._index import ProjectIndex
from ._languages import LanguageFacts

if TYPE_CHECKING:
    from .._limits import Shape
    from ..core.profile import Callee, Resolver
    from ..core.state import Frame
    from ..python.memory import PythonMemory

__all__ = ["ModuleFacts", "ProjectSession"]

# Imports that make a module-level object a client of a shared store (see `own_object`).
_CACHE_CLIENTS = re.compile(r"redis|valkey|cache|memcache|aiocache|diskcache|pylibmc", re.IGNORECASE)

_MAX_SOURCE_BYTES = 2_000_000
_MAX_REACH_DEPTH = 4
_MAX_HELPER_TEXTS = 200  # other modules' helpers whose lines choose a module's store recognizers
# Calls followed into other modules from one root: a view, its service, the service's helper.
MAX_FOREIGN_DEPTH = 3
_DEPTH = "_project_foreign_depth"  # set on frames this session makes
_MAX_ENTRY_HOPS = 3  # callers followed up from a helper to find the handler that reaches it
_MAX_LOWERED = 256  # other modules kept lowered at once (each holds its source and model)
_MAX_TEXTS = 200_000  # callee texts remembered (each keeps its small expression alive)
_PRIMARY_KEYS = frozenset({"id", "pk"})
# Model bases outside the project whose attributes are the ORM's own, never a column's.
_PLAIN_MODEL_BASES = frozenset({"django.db.models.Model", "django.db.models.base.Model"})


class _SqlUnique(Mapping[str, set[str]]):
    """`table -> unique columns` (flat), the shape the SQL recognizer reads with `.get(table)`."""

    def __init__(self, index: ProjectIndex) -> None:
        self._index = index

    def __getitem__(self, table: str) -> set[str]:
        keys = self._index.table_unique_keys(table)
        if not keys:
            raise KeyError(table)
        return {column for key in keys for column in key}

    def __iter__(self) -> Iterator[str]:
        return (key.partition(":")[2] for key in self._index.tables if key.startswith("sql:"))

    def __len__(self) -> int:
        return sum(1 for _ in self)


class ModuleFacts:
    """Project facts seen from one module (`module`: its dotted name, "" when not importable)."""

    def __init__(
        self, index: ProjectIndex, module: str, session: ProjectSession | None = None, path: str | None = None
    ) -> None:
        self.index = index
        self.module = module
        self.path = path  # the analysed file, resolved
        self.sql_unique = _SqlUnique(index)
        self._session = session
        self._draws: dict[tuple[str, str], bool] = {}

    def lowered(self, source: str, label: str, tree: ast.Module | None = None) -> model.ModuleModel:
        """The analysed module lowered once per process: shared with calls into it from other files."""
        from ..python.lower import lower_module

        if self._session is None or self.path is None:
            return lower_module(source, label, tree=tree)
        return self._session.module_for(label, self.path, source, tree)

    def keep_for_readers(self, source: str, label: str, tree: ast.Module | None) -> None:
        """A module that cannot race itself but that others read lowered (a models module whose
        classes `model_members` lists): lowered now from the tree its own analysis parsed, so a
        later reader needs no second parse. Nothing is lowered for a module nobody reads."""
        session = self._session
        if session is None or self.path is None or tree is None or not session.read_by_others(self.path):
            return
        session.module_for(label, self.path, source, tree)

    def known_shape(self, source: str, label: str) -> Shape | None:
        """The shape of the analysed file, measured when a call from another file lowered it
        (same text, same name), or None: the caller parses and measures it then."""
        if self._session is None or self.path is None:
            return None
        return self._session.known_shape(label, self.path, source)

    def lowered_module(self, path: str) -> model.ModuleModel | None:
        """The project module at `path` lowered once for the run (a caller's, read for the checks it
        made before calling a helper of this module: `_orm_caller_checks.py`)."""
        return self._session.lowered_path(path) if self._session is not None else None

    def helper_text(self) -> str:
        """Lines of other modules' helpers this module calls that reach a store (see the session's)."""
        if self._session is None or not self.module:
            return ""
        return self._session.helper_text(self.module)

    def row_method(self, key: str, method: str) -> Callee | None:
        """The method a row of `key` (`orm:Order`) runs for `order.method()`, when the model is
        declared in another module of the project."""
        store, _, name = key.partition(":")
        qualname = self.model_of(name) if store == "orm" and self._session is not None else None
        found = self.index.lookup_method(qualname, method) if qualname else None
        return self._session.callee(found) if found and self._session is not None else None

    def draws_at_random(self, call: model.Call, module: model.ModuleModel | None = None) -> bool:
        """`call` (written in `module`) runs a project helper whose every return is a value drawn
        at random (`_draws.py`): one that touches no store, so the interpreter never runs it."""
        text = _dotted(call.func)
        if text is None or text.partition(".")[0] in ("self", "cls"):
            return False
        key = (self._module_name(module), text)
        known = self._draws.get(key)
        if known is None:
            if len(self._draws) >= _MAX_TEXTS:
                self._draws.clear()
            qualname = self.index.resolve(key[0], text)
            if qualname in self.index.functions:
                known = self.index.returns_draw(qualname)
            else:
                # `member.random_suffix()`: a method of a value whose class is not known here.
                owner, _, method = qualname.rpartition(".")
                named = owner in self.index.modules or owner in self.index.classes
                known = "." in text and not named and self.index.method_draws(method)
            self._draws[key] = known
        return known

    def model_of(self, name: str, module: str | None = None) -> str | None:
        """The model class `name` (as written in the module, or qualified) stands for; a bare
        name the module does not import is looked up project-wide when only one model has it."""
        index = self.index
        qualname = index.resolve(module or self.module, name)
        if index.is_model(qualname):
            return qualname
        found = index.models_named(name.rpartition(".")[2])
        return found[0] if len(found) == 1 else None

    def nested_class(
        self, name: str, nested: str, module: model.ModuleModel | None = None
    ) -> model.ClassModel | None:
        """The class `nested` declared inside the project class `name` (as written in `module`):
        a DRF serializer's `Meta`, read off its module lowered once for the run."""
        if self._session is None:
            return None
        qualname = self.index.resolve(self._module_name(module), name)
        found = self.index.classes.get(qualname)
        lowered = self._session.lowered_path(found[0]) if found is not None else None
        if lowered is None:
            return None
        return lowered.classes.get(f"{qualname.rpartition('.')[2]}.{nested}")

    def model_members(self, name: str) -> frozenset[str] | None:
        """The attributes the model `name` and its ancestors declare in their class bodies (fields,
        methods, properties, constants), read off their modules lowered once for the run; None
        when it is no model of the project or an ancestor other than Django's `Model` is outside
        the project (a library base declares attributes the analysis cannot list)."""
        qualname = self.model_of(name) if self._session is not None else None
        if qualname is None or self._session is None:
            return None
        members: set[str] = set()
        for klass in (self.index.canonical(qualname), *self.index.class_bases(qualname)):
            found = self.index.classes.get(klass)
            if found is None:
                if klass in _PLAIN_MODEL_BASES:
                    continue
                return None
            lowered = self._session.lowered_path(found[0])
            declared = lowered.classes.get(klass.rpartition(".")[2]) if lowered is not None else None
            if declared is None:
                return None
            members |= declared.attributes.keys() | declared.methods.keys()
        return frozenset(members)

    def own_object(self, name: str) -> bool:
        """`name` (as written in the module) is a module-level object another module of the
        project builds, and that module imports no cache or Redis client: an in-process object
        of the project's own (lnbits' `cache`, a dict with expiries), not a store."""
        index = self.index
        qualname = index.resolve(self.module, name)
        home, _, last = qualname.rpartition(".")
        facts = index.modules.get(home)
        if facts is None or home == self.module or facts.defs.get(last) != "var":
            return False
        return not any(_CACHE_CLIENTS.search(imported) for imported in facts.imports.values())

    def unique_fields(self, name: str) -> set[str] | None:
        """Unique columns of a model (`Customer`) or a table (`sql:accounts`); None if unknown."""
        if name.startswith("sql:"):
            keys = self.index.table_unique_keys(name[4:])
            return {column for key in keys for column in key} if keys else None
        qualname = self.model_of(name)
        return self.index.unique_fields(qualname) if qualname else None

    def drawn_defaults(self, name: str) -> frozenset[str]:
        """Unique fields of the model `name` a new row gets a random value for by default."""
        qualname = None if name.startswith("sql:") else self.model_of(name)
        return self.index.drawn_defaults(qualname) if qualname else frozenset()

    def written_by_requests(self, key: str) -> bool | None:
        """Whether code other than one-process jobs (commands, seeders, tests, migrations) writes
        what the store key `key` names (`_writers.py`): None when the index cannot say (a store
        other than the ORM's rows and files). A path a job builds (`fs:`) has no writer the project
        names, nor does a model no class declares (`orm:model`, a loop over every model)."""
        store, _, name = key.partition(":")
        if store == "fs":
            return False
        if store != "orm":
            return None
        if not self.index.models_named(name.rpartition(".")[2]):
            return False
        return self.index.model_writers().written_by_requests(name)

    def runs_offline(self, function: model.Function, module: model.ModuleModel | None = None) -> bool:
        """Only one-process jobs run `function` (`_writers.py`): every caller the project shows is
        a command, a seeder, a test, or a command-line command of an app factory."""
        name = self._module_name(module)
        qualname = f"{name}.{function.qualname}" if name else function.qualname
        return self.index.model_writers().offline(qualname)

    def stale_columns(self, name: str, changed: frozenset[str]) -> frozenset[str]:
        """Columns of the model `name` other live code writes by name besides `changed` (and the
        primary key): what a full save of an older copy of the row overwrites (`_writers.py`)."""
        if not self.index.models_named(name.rpartition(".")[2]):
            return frozenset()
        return self.index.model_writers().columns_written_elsewhere(name, changed | _PRIMARY_KEYS)

    def one_way_value(self, name: str, column: str) -> str | None:
        """The only value live code of the project stores in `column` of the model `name` (a
        one-way column), spelt as `core/idempotent.stored_value_text` spells values (`_one_way.py`)."""
        if not self.index.models_named(name.rpartition(".")[2]):
            return None
        return self.index.model_writers().one_way_value(name, column)

    def mongo_unique(self, collection: str) -> set[str]:
        return {column for key in self.index.collection_unique_keys(collection) for column in key}

    def is_transaction_context(self, text: str, module: model.ModuleModel | None = None) -> bool:
        return self.index.is_transaction_context(text, self._module_name(module))

    def opens_transaction(self, context: model.Expr, module: model.ModuleModel | None = None) -> bool:
        """A `with` item or decorator of the model opens a transaction (a project wrapper included)."""
        text = context_text(context)
        return text is not None and self.is_transaction_context(text, module)

    def opens_lock(self, context: model.Expr, module: model.ModuleModel | None = None) -> bool:
        """A `with` item of the model is a project wrapper that holds a lock, a function, a method of
        a module-level instance, or a class whose `__enter__` acquires one (the lock primitives
        themselves are the profile's business)."""
        text = context_text(context)
        if text is None or not text.endswith("()"):
            return False
        qualname = self.index.resolve(self._module_name(module), text[:-2])
        if qualname not in self.index.functions and qualname not in self.index.classes:
            # `db.connect()` on a module-level `db = Database(...)`: that class's method
            method = self.index.instance_method(qualname)
            return method is not None and self.index.is_lock_wrapper(method)
        return self.index.is_lock_wrapper(qualname)

    def is_lock_context(self, text: str, module: model.ModuleModel | None = None) -> bool:
        return self.index.is_lock_context(text, self._module_name(module))

    def holds_transaction(
        self, function: model.Function, module: model.ModuleModel | None = None, *, callers: bool = True
    ) -> bool:
        """`function` runs inside a transaction: a project decorator opens one, or (`callers`)
        every caller the project shows holds one (and it is never handed around as a value)."""
        name = self._module_name(module)
        qualname = f"{name}.{function.qualname}" if name else function.qualname
        index = self.index
        if index.runs_in_transaction(qualname):
            return True
        return callers and index.all_callers_hold_transaction(qualname)

    def holds_lock(self, function: model.Function, module: model.ModuleModel | None = None) -> bool:
        """Every caller the project shows holds a lock around its call of `function` (a `with
        counter_lock:` in another module), and it is never handed around as a value."""
        name = self._module_name(module)
        return self.index.all_callers_hold_lock(f"{name}.{function.qualname}" if name else function.qualname)

    def entry_reaching(
        self, function: model.Function, module: model.ModuleModel | None = None
    ) -> model.EntryPoint | None:
        """An entry point of another module (a handler, a task) whose calls reach `function`,
        a few calls up: a helper's finding then carries its route and the handler's confidence."""
        if self._session is None:
            return None
        name = self._module_name(module)
        return self._session.entry_reaching(f"{name}.{function.qualname}" if name else function.qualname)

    def _module_name(self, module: model.ModuleModel | None) -> str:
        if module is None:
            return self.module
        if self._session is not None:
            return self._session.module_name(module.path) or self.module
        return self.index.module_of_path(module.path) or self.module


class ProjectSession:
    """One run's index, with other modules lowered (once each) when a call leads into them."""

    def __init__(self, index: ProjectIndex) -> None:
        self.index = index
        self._lowered: OrderedDict[str, model.ModuleModel | None] = OrderedDict()
        self._profiles: dict[str, PythonMemory] = {}
        self._names: dict[str, str] = {}
        self._reaches: dict[str, bool] = {}
        self._lines: dict[str, list[str]] = {}
        self._helper_texts: dict[str, str] = {}
        self._entries: dict[str, model.EntryPoint | None] = {}
        self._module_entries: dict[str, dict[str, model.EntryPoint]] = {}
        self._callee_paths: frozenset[str] | None = None
        self._targets: dict[tuple[str, str, bool], str | None] = {}
        self._registered: dict[tuple[str, str, str, str], str | None] = {}
        self._shapes: dict[str, Shape] = {}  # of modules lowered for calls into them
        self._texts: dict[model.Expr, str | None] = {}  # a call's callee as dotted text (nodes hash by id)
        self._lock = threading.Lock()

    def module_name(self, path: str) -> str:
        name = self._names.get(path)
        if name is None:
            name = self._names[path] = self.index.module_of_path(path) or ""
        return name

    def facts_for(self, path: str) -> ModuleFacts:
        return ModuleFacts(self.index, self.module_name(path), self, path)

    def language_facts_for(self, path: str) -> LanguageFacts:
        """The cross-file facts of a JavaScript/TypeScript or Rust file (`_languages.py`)."""
        return LanguageFacts(self.index.cross_file, path)

    def module_for(self, label: str, path: str, source: str, tree: ast.Module | None) -> model.ModuleModel:
        """The analysed file `label` (at resolved `path`) lowered: the module a call into it lowered
        earlier when it is the same text under the same name, else lowered now (from the caller's
        tree) and kept, so a later call into it from another file needs no second parse."""
        with self._lock:
            known = self._lowered.get(path)
        if known is not None and known.path == label and known.source == source:
            return known
        from ..python.lower import lower_module

        lowered = lower_module(source, label, tree=tree)
        if path in self._called_paths():  # else nothing calls into it: keeping it would evict one that is
            with self._lock:
                if label != path:
                    self._names[label] = self.module_name(path)  # frames of it name it by its label
                self._store(path, lowered)
        return lowered

    def read_by_others(self, path: str) -> bool:
        return path in self._called_paths()

    def _called_paths(self) -> frozenset[str]:
        """Files another module of the project reads lowered: one with a function another module
        calls, or one declaring a model (`model_members` reads its class)."""
        if self._callee_paths is None:
            index = self.index
            called = (
                index.functions[name][0]
                for name in index.call_graph()
                if any(site.path != index.functions[name][0] for site in index.callers(name))
            )
            models = (found[0] for name, found in index.classes.items() if index.is_model(name))
            self._callee_paths = frozenset((*called, *models))
        return self._callee_paths

    def resolver_for(self, path: str) -> Resolver:
        home = self.module_name(path)

        def resolve(call: model.Call, frame: Frame) -> Callee | None:
            module = self.module_name(frame.module.path) if frame.module is not None else home
            return self._callee(call, frame, module or home)

        return resolve

    # -- calls into other modules ------------------------------------------------------------------

    def _callee(self, call: model.Call, frame: Frame, module: str) -> Callee | None:
        func = call.func
        if func in self._texts:
            text = self._texts[func]
        else:
            if len(self._texts) >= _MAX_TEXTS:
                self._texts.clear()
            text = self._texts[func] = _dotted(func)
        # `get_strategy(...).process()`: a method of the object a project factory returns.
        built = func.value if isinstance(func, model.Attribute) else None
        if not isinstance(built, model.Call):
            built = None
        if (text is None and built is None) or not module:
            return None
        head, _, rest = (text or "").partition(".")
        key: tuple[str, str, bool] | None
        if built is not None or text is None:
            key = None
        elif head in ("self", "cls"):
            if not (frame.self_class and rest and "." not in rest):
                return None
            key = (module, f"{frame.self_class}.{rest}", True)
        elif head in frame.locals:
            # A method of a local's value: the interpreter knows rows (`row_method`); a class
            # picked from a registry another module keeps is followed here (`core/registry.py`).
            key = None
        else:
            key = (module, text, False)
        depth: int = getattr(frame, _DEPTH, 0)
        if depth >= MAX_FOREIGN_DEPTH:
            return None
        if key is None and built is not None and isinstance(func, model.Attribute):
            qualname = self._built_target(built, func.attr, module)
        elif key is None:
            qualname = self._registered_target(frame, head, rest, module)
        elif key in self._targets:
            qualname = self._targets[key]
        else:
            qualname = self._targets[key] = self._target(*key)
        if qualname is None:
            return None
        callee = self.callee(qualname)
        if callee is not None:
            setattr(callee[1], _DEPTH, depth + 1)  # the frame is fresh: it carries its own count
        return callee

    def _registered_target(self, frame: Frame, local: str, method: str, module: str) -> str | None:
        """`handler = get_handler(kind)` (a project helper returning `HANDLERS.get(kind)`), then
        `handler.method(...)`: the method of the first class the helper's module registers.
        Asked once per function, local and method."""
        if not method or "." in method or frame.module is None:
            return None
        key = (module, frame.function.qualname, local, method)
        if key not in self._registered:
            self._registered[key] = self._find_registered(frame, local, method, module)
        return self._registered[key]

    def _built_target(self, built: model.Call, method: str, module: str) -> str | None:
        """`make_handler(kind).method(...)`: the method of the first class the project helper
        `make_handler` returns (a registry lookup, or a class built on every return) that has
        it and can touch a store. Asked once per helper and method."""
        text = _dotted(built.func)
        if text is None:
            return None
        key = (module, "", text, method)
        if key not in self._registered:
            homes: dict[int, str] = {}
            found = factory_classes(built, self._helper_resolver(module, homes))
            self._registered[key] = self._first_method(found, homes, method, module)
        return self._registered[key]

    def _helper_resolver(
        self, module: str, homes: dict[int, str]
    ) -> Callable[[model.Call], tuple[model.Function, dict[str, model.Expr]] | None]:
        """The project helper a call in `module` runs, with its module's assignments (whose
        module name goes into `homes`, by the assignments' identity)."""
        index = self.index

        def helper(call: model.Call) -> tuple[model.Function, dict[str, model.Expr]] | None:
            text = _dotted(call.func)
            qualname = self._project_function(module, text) if text else None
            callee = self.callee(qualname) if qualname else None
            lowered = self._lower(index.functions[qualname][0]) if callee is not None and qualname else None
            if callee is None or lowered is None or qualname is None:
                return None
            homes[id(lowered.assignments)] = index.module_of_function(qualname)
            return callee[0], lowered.assignments

        return helper

    def _find_registered(self, frame: Frame, local: str, method: str, module: str) -> str | None:
        if frame.module is None:
            return None
        homes: dict[int, str] = {id(frame.module.assignments): module}
        helper = self._helper_resolver(module, homes)
        found = registered_classes(frame.function, local, frame.module.assignments, helper)
        return self._first_method(found, homes, method, module)

    def _first_method(
        self,
        found: tuple[list[str], dict[str, model.Expr]] | None,
        homes: dict[int, str],
        method: str,
        module: str,
    ) -> str | None:
        if found is None:
            return None
        index = self.index
        names, assignments = found
        home = homes.get(id(assignments), module)
        for name in names:
            qualname = index.lookup_method(index.resolve(home, name), method)
            if qualname is not None and self.reaches_store(qualname):
                return qualname
        return None

    def _target(self, module: str, text: str, method: bool) -> str | None:
        """The project function worth following that `text` names in `module` (`method`: a
        `Class.name` of self's class): found, and able to touch a store. Asked once per name."""
        if method:
            owner, _, name = text.rpartition(".")
            qualname = self.index.lookup_method(f"{module}.{owner}", name)
        else:
            qualname = self._project_function(module, text)
        return qualname if qualname is not None and self.reaches_store(qualname) else None

    def reaches_store(self, qualname: str, depth: int = 0) -> bool:
        """Whether running `qualname` can touch a store: its module names one (the stores' cheap
        text markers), or a project function it calls does (a few levels down). Helpers that
        cannot are not lowered nor run: the interpreter would find nothing in them."""
        known = self._reaches.get(qualname)
        if known is not None:
            return known
        self._reaches[qualname] = False  # a cycle reaches nothing new
        index = self.index
        found = index.functions.get(qualname)
        result = False
        if found is not None:
            path, facts = found
            result = self._has_markers(path, facts.line, facts.end)
            if not result and depth < _MAX_REACH_DEPTH:
                module = index.module_of_function(qualname)
                for callee_text, _, _ in facts.calls:
                    callee = index.resolve_call(module, facts, callee_text)
                    if callee is not None and self.reaches_store(callee, depth + 1):
                        result = True
                        break
        self._reaches[qualname] = result
        return result

    def _has_markers(self, path: str, first: int, last: int) -> bool:
        """The function's own lines name a store (its decorators' lines included)."""
        body = self._function_text(path, first, last)
        return any(marker in body for marker in _store_markers())

    def _function_text(self, path: str, first: int, last: int) -> str:
        lines = self._lines.get(path)
        if lines is None:
            try:
                text = Path(path).read_bytes()[:_MAX_SOURCE_BYTES].decode("utf-8", errors="replace")
            except OSError:
                text = ""
            lines = self._lines[path] = text.splitlines()
        return "\n".join(lines[max(first - 1, 0) : max(last, first)])

    def helper_text(self, module: str) -> str:
        """The lines of other modules' project functions that `module`'s functions call (two
        calls deep) and that reach a store. A Celery task that reads a row through `get_run(conn,
        pk)` and updates it through `mark_started(conn, pk)` names no store itself: its pre-filter
        and its recognizers are chosen from these lines too."""
        known = self._helper_texts.get(module)
        if known is not None:
            return known
        index = self.index
        facts = index.modules.get(module)
        parts: list[str] = []
        seen: set[str] = set()
        level = [
            (f"{module}.{local}" if module else local, f)
            for local, f in (facts.functions if facts else {}).items()
        ]
        for _ in range(2):
            following = []
            for qualname, caller in level:
                home = index.module_of_function(qualname) or module
                for text, _line, _held in caller.calls:
                    callee = index.resolve_call(home, caller, text)
                    if callee is None or callee in seen or index.module_of_function(callee) == module:
                        continue
                    seen.add(callee)
                    if len(seen) > _MAX_HELPER_TEXTS or not self.reaches_store(callee):
                        continue
                    path, found = index.functions[callee]
                    parts.append(self._function_text(path, found.line, found.end))
                    following.append((callee, found))
            level = following
        text = self._helper_texts[module] = "\n".join(parts)
        return text

    def callee(self, qualname: str) -> Callee | None:
        """The lowered function `qualname` and a frame to run it in (with `self` its class)."""
        index = self.index
        found = index.functions.get(qualname)
        if found is None:
            return None
        path, facts = found
        target = self._lower(path)
        if target is None:
            return None
        prefix = index.module_of_function(qualname)
        local = qualname[len(prefix) + 1 :] if prefix else qualname
        function = target.functions.get(local)
        if function is None:
            return None
        return function, self._profile(target).frame(function, self_class=facts.owner)

    def entry_reaching(self, qualname: str) -> model.EntryPoint | None:
        """The first entry point (breadth-first over callers, `_MAX_ENTRY_HOPS` up) that calls
        `qualname` from another module, or None."""
        if qualname in self._entries:
            return self._entries[qualname]
        found: model.EntryPoint | None = None
        home = self.index.module_of_function(qualname)
        seen, level = {qualname}, [qualname]
        for _ in range(_MAX_ENTRY_HOPS):
            callers = [site.caller for name in level for site in self.index.callers(name)]
            level = [caller for caller in dict.fromkeys(callers) if caller not in seen]
            seen.update(level)
            found = next((e for c in level if (e := self._entry_of(c, home)) is not None), None)
            if found is not None or not level:
                break
        self._entries[qualname] = found
        return found

    def _entry_of(self, qualname: str, home: str) -> model.EntryPoint | None:
        module = self.index.module_of_function(qualname)
        found = self.index.functions.get(qualname)
        if found is None or module == home:
            return None  # the home module's own entry points run its functions already
        lowered = self._lower(found[0])
        if lowered is None:
            return None
        entries = self._module_entries.get(lowered.path)
        if entries is None:
            from ..python.entrypoints import entry_points

            entries = self._module_entries[lowered.path] = {e.qualname: e for e in entry_points(lowered)}
        local = qualname[len(module) + 1 :] if module else qualname
        return entries.get(local)

    def _project_function(self, module: str, text: str) -> str | None:
        index = self.index
        name = index.resolve(module, text)
        if name in index.functions:
            return name
        owner, _, method = name.rpartition(".")
        return index.lookup_method(owner, method) if owner in index.classes else None

    def lowered_path(self, path: str) -> model.ModuleModel | None:
        """The project module at `path`, lowered once per run (None if it cannot be)."""
        return self._lower(path)

    def _lower(self, path: str) -> model.ModuleModel | None:
        with self._lock:
            if path in self._lowered:
                self._lowered.move_to_end(path)
                return self._lowered[path]
        from .._limits import MAX_NESTING, measure, parse_python
        from ..python.lower import lower_module

        lowered: model.ModuleModel | None = None
        shape: Shape | None = None
        try:
            source = read_text(Path(path), path, max_bytes=_MAX_SOURCE_BYTES, expected="Python source")
            tree = parse_python(source, path)
            shape = measure(tree)  # the analysis' own check: too deep a tree is not lowered
            if shape.depth <= MAX_NESTING:
                lowered = lower_module(source, path, tree=tree)
        except (InputError, SyntaxError, ValueError, RecursionError, MemoryError):
            lowered = None
        with self._lock:
            self._store(path, lowered)
            if lowered is not None and shape is not None:
                self._shapes[path] = shape
        return lowered

    def known_shape(self, label: str, path: str, source: str) -> Shape | None:
        """The measured shape of the analysed file when a call into it lowered this very text
        under this name already: its analysis then needs no parse of its own."""
        with self._lock:
            known = self._lowered.get(path)
            shape = self._shapes.get(path)
        if known is None or shape is None or known.path != label or known.source != source:
            return None
        return shape

    def _store(self, path: str, lowered: model.ModuleModel | None) -> None:
        """Keep a lowered module (the lock held), the least recently used going past the bound."""
        old = self._lowered.get(path)
        if old is not None and old is not lowered:
            self._profiles.pop(old.path, None)
            self._module_entries.pop(old.path, None)
            self._shapes.pop(path, None)
        self._lowered[path] = lowered
        self._lowered.move_to_end(path)
        while len(self._lowered) > _MAX_LOWERED:
            gone, dropped = self._lowered.popitem(last=False)
            self._shapes.pop(gone, None)
            if dropped is not None:
                self._profiles.pop(dropped.path, None)
                self._module_entries.pop(dropped.path, None)

    def _profile(self, module: model.ModuleModel) -> PythonMemory:
        from ..python.memory import PythonMemory

        with self._lock:
            profile = self._profiles.get(module.path)
            if profile is None:
                profile = self._profiles[module.path] = PythonMemory(module)
        return profile


def _store_markers() -> tuple[str, ...]:
    from ..core.stores import stores
    from ..python import stores as _registered  # noqa: F401  (registers the Python stores)

    return tuple(marker for store in stores().values() for marker in store.markers)


def context_text(expr: model.Expr) -> str | None:
    """`pkg.f()` for a call of a dotted name, `a.b` for the name itself (the index's spelling)."""
    if isinstance(expr, model.Call):
        head = _dotted(expr.func)
        return f"{head}()" if head is not None else None
    return _dotted(expr)


def _dotted(expr: model.Expr) -> str | None:
    if isinstance(expr, model.Name):
        return expr.id
    if isinstance(expr, model.Attribute):
        head = _dotted(expr.value)
        return f"{head}.{expr.attr}" if head is not None else None
    return None
