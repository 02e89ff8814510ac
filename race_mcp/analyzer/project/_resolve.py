"""Names across modules: imports and re-exports followed, classes and bases, transaction and lock
wrappers followed through any number of project functions."""

from __future__ import annotations

import os
from collections.abc import Sequence

from ._facts import ClassFacts, FileFacts, FunctionFacts, merge_keys

__all__ = ["Resolver"]

_MAX_HOPS = 24  # re-export chains longer than this are a cycle or not worth following
_CONTEXT_MANAGERS = frozenset({"contextlib.contextmanager", "contextlib.asynccontextmanager"})
# Entering one of these opens a transaction: Django's `atomic`, SQLAlchemy's `begin()` /
# `begin_nested()` (sessions, engines, connections), asyncpg / `databases` `transaction()`,
# peewee's `atomic()`.
_TRANSACTION_CALLS = frozenset({"atomic", "begin", "begin_nested", "transaction"})
_LOCK_CALLS = frozenset({"Lock", "RLock", "Semaphore", "BoundedSemaphore", "Condition", "lock"})
_ENTER_METHODS = ("__enter__", "__aenter__")


class Resolver:
    """The module table and name resolution; `ProjectIndex` adds building, uniqueness, callers."""

    def __init__(self, entries: Sequence[tuple[str, FileFacts, tuple[str, ...]]]) -> None:
        self.modules: dict[str, FileFacts] = {}
        self.module_paths: dict[str, str] = {}
        self.functions: dict[str, tuple[str, FunctionFacts]] = {}
        self.classes: dict[str, tuple[str, ClassFacts]] = {}
        self.tables: dict[str, list[list[str]]] = {}
        self.value_names: set[str] = set()
        self._function_module: dict[str, str] = {}
        self._locks: set[str] = set()
        self._canonical: dict[str, str] = {}
        self._wrappers: dict[tuple[str, str], bool] = {}
        self._path_modules: dict[str, str] | None = None
        for path, facts, aliases in entries:
            self._add(path, facts, aliases)

    def _add(self, path: str, facts: FileFacts, aliases: tuple[str, ...]) -> None:
        for key, keys in facts.tables.items():
            for columns in keys:
                merge_keys(self.tables, key, columns)
        if facts.kind != "py" or not aliases:
            return
        module = facts.module
        for alias in aliases:
            self.modules.setdefault(alias, facts)
        self.module_paths.setdefault(module, path)
        self.value_names.update(facts.references)
        for local, function in facts.functions.items():
            qualname = f"{module}.{local}" if module else local
            self.functions[qualname] = (path, function)
            self._function_module[qualname] = module
        for local, klass in facts.classes.items():
            self.classes[f"{module}.{local}" if module else local] = (path, klass)
        self._locks.update(f"{module}.{name}" for name in facts.locks)

    # -- names ----------------------------------------------------------------------------------

    def canonical(self, name: str) -> str:
        """Where a qualified dotted name is defined: re-exports (`from .order import Order` in a
        package's `__init__`) and aliases followed; unknown names come back as given."""
        return self._follow(name, 0)

    def _follow(self, name: str, hops: int) -> str:
        # Every name is followed once: star imports fan out at each hop, so without the memo a
        # package whose modules star-import each other costs (fan-out ** hops). A name met again
        # while it is being followed (a cycle) resolves to itself.
        known = self._canonical.get(name)
        if known is not None:
            return known
        self._canonical[name] = name
        found = self._follow_once(name, hops)
        self._canonical[name] = found
        return found

    def _follow_once(self, name: str, hops: int) -> str:
        parts = name.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            facts = self.modules.get(".".join(parts[:cut]))
            if facts is None:
                continue
            head, rest = parts[cut], parts[cut + 1 :]
            tail = "." + ".".join(rest) if rest else ""
            if head in facts.defs or head in facts.classes or head in facts.functions:
                return f"{facts.module}.{head}{tail}"
            if head in facts.imports and hops < _MAX_HOPS:
                target = facts.imports[head]
                if target != name:
                    return self._follow(target + tail, hops + 1)
            for star in facts.star_imports:
                if star not in self.modules:
                    # Outside the project: nothing to find there, and following it would match a
                    # shorter prefix again and grow the name by one part per hop (6 stars ** 24).
                    continue
                found = self._follow(f"{star}.{head}{tail}", hops + 1) if hops < _MAX_HOPS else name
                if found in self.functions or found in self.classes or self._defined(found):
                    return found
            return name
        return name

    def _defined(self, name: str) -> bool:
        module, _, last = name.rpartition(".")
        facts = self.modules.get(module)
        return facts is not None and last in facts.defs

    def resolve(self, module: str, dotted: str) -> str:
        """The qualified name `dotted`, as written in `module`, stands for (imports followed)."""
        facts = self.modules.get(module)
        if facts is None:
            return self.canonical(dotted)
        head, dot, rest = dotted.partition(".")
        if head in facts.imports:
            return self.canonical(f"{facts.imports[head]}{dot}{rest}")
        if head in facts.defs:
            return self.canonical(f"{facts.module}.{dotted}")
        # `from .abstract_models import *` then `class Order(AbstractOrder)`: a name one star import
        # defines (one level, no chains: cheap, and enough for models declared beside their bases).
        for star in facts.star_imports:
            source = self.modules.get(star)
            if source is not None and head in source.defs:
                return self.canonical(f"{star}.{dotted}")
        return self.canonical(dotted)

    def module_of_path(self, path: str) -> str | None:
        """The module name of a file of the project, however its path is spelled."""
        if self._path_modules is None:
            self._path_modules = {
                os.path.realpath(where): module for module, where in self.module_paths.items()
            }
        return self._path_modules.get(os.path.realpath(path))

    def module_of_function(self, qualname: str) -> str:
        return self._function_module.get(qualname, "")

    def resolve_call(self, module: str, caller: FunctionFacts, text: str) -> str | None:
        """The project function a call site's callee text names: `self.m` / `cls.m` through the
        caller's class and its bases, `Class.m`, module functions across imports."""
        head, _, rest = text.partition(".")
        if head in ("self", "cls"):
            if caller.owner is None or not rest or "." in rest or "(" in rest:
                return None
            return self.lookup_method(f"{module}.{caller.owner}", rest)
        if "(" in text:
            return None
        name = self.canonical(text)
        if name in self.functions:
            return name
        owner, _, method = name.rpartition(".")
        if owner in self.classes:
            return self.lookup_method(owner, method)
        return None

    # -- classes --------------------------------------------------------------------------------

    def class_bases(self, qualname: str) -> list[str]:
        """Every ancestor, nearest first (breadth-first, each once), canonical; ancestors outside
        the project appear by the name the project imports them as (`django.db.models.Model`)."""
        qualname = self.canonical(qualname)
        out: list[str] = []
        pending = [qualname]
        while pending:
            current = pending.pop(0)
            found = self.classes.get(current)
            if found is None:
                continue
            for base in found[1].bases:
                name = self.canonical(base)
                if name not in self.classes and "." not in base:
                    # A base the extractor left bare (a star import): resolve it in the class's module.
                    name = self.resolve(current.rpartition(".")[0], base)
                if name not in out and name != qualname:
                    out.append(name)
                    pending.append(name)
        return out

    def lookup_method(self, class_qualname: str, name: str) -> str | None:
        """`Class.name` as Python finds it: the class, then its project ancestors in order."""
        for klass in (self.canonical(class_qualname), *self.class_bases(class_qualname)):
            found = self.classes.get(klass)
            if found is not None and name in found[1].methods:
                return f"{klass}.{name}"
        return None

    # -- transactions and locks ----------------------------------------------------------------

    def is_transaction_context(self, text: str, module: str | None = None) -> bool:
        """Entering `text` (a `with` item or a decorator, `()` when called) opens a transaction:
        a known primitive, or a project function that wraps one (`is_transaction_wrapper`)."""
        return self._is_context(text, module, "transaction")

    def is_lock_context(self, text: str, module: str | None = None) -> bool:
        """Entering `text` holds a lock: `threading.Lock()` and kin, a `lock(...)` call (Redis,
        Django cache), a name bound to a lock or named like one, or a project lock wrapper."""
        return self._is_context(text, module, "lock")

    def is_transaction_wrapper(self, qualname: str) -> bool:
        """A project function that opens a transaction for its caller: a `@contextmanager` that
        yields inside one, a function returning one (`return transaction.atomic(using=db)`), or a
        decorator whose inner function opens one; through any number of such wrappers."""
        return self._is_wrapper(self.canonical(qualname), "transaction")

    def is_lock_wrapper(self, qualname: str) -> bool:
        return self._is_wrapper(self.canonical(qualname), "lock")

    def runs_in_transaction(self, qualname: str) -> bool:
        """Decorated with a transaction (`@transaction.atomic`, a project decorator wrapping it)."""
        found = self.functions.get(qualname)
        module = self.module_of_function(qualname)
        return found is not None and any(self.is_transaction_context(d, module) for d in found[1].decorators)

    def _is_context(self, text: str, module: str | None, what: str) -> bool:
        called = text.endswith("()")
        bare = text[:-2] if called else text
        if "(" in bare:
            return False
        name = self.resolve(module, bare) if module else self.canonical(bare)
        if name in self.functions:
            return self._is_wrapper(name, what)
        method = self.instance_method(name) if called else None
        if method is not None:
            return self._is_wrapper(method, what)
        if called and name in self.classes and self._is_wrapper(name, what):
            return True  # a class-based context manager: its `__enter__` opens it
        last = name.rpartition(".")[2]
        if what == "transaction":
            return last in _TRANSACTION_CALLS and name not in self.classes
        if called:
            return last in _LOCK_CALLS
        return name in self._locks or "lock" in last.lower()

    def instance_method(self, name: str) -> str | None:
        """`pkg.db.db.connect` -> `pkg.db.Database.connect` when `db` is a module-level instance of
        a project class (`db = Database("main")`) that has the method (its own or inherited)."""
        owner, _, method = name.rpartition(".")
        home, _, variable = owner.rpartition(".")
        facts = self.modules.get(home)
        klass = facts.instances.get(variable) if facts is not None else None
        if not klass:
            return None
        qualname = self.resolve(home, klass)
        return self.lookup_method(qualname, method) if qualname in self.classes else None

    def _is_wrapper(self, qualname: str, what: str) -> bool:
        key = (qualname, what)
        if key in self._wrappers:
            return self._wrappers[key]
        self._wrappers[key] = False  # a wrapper that reaches itself again is not (yet) one
        if qualname in self.classes:
            result = self._class_wraps(qualname, what)
        else:
            found = self.functions.get(qualname)
            result = found is not None and self._wraps(qualname, found[1], what)
        self._wrappers[key] = result
        return result

    def _class_wraps(self, qualname: str, what: str) -> bool:
        """A class-based context manager of the project: its `__enter__` / `__aenter__` (its own
        or inherited) acquires a lock, or creates or enters a transaction it keeps open."""
        for name in _ENTER_METHODS:
            method = self.lookup_method(qualname, name)
            found = self.functions.get(method) if method else None
            if found is None:
                continue
            facts = found[1]
            if what == "lock":
                # `self._lock.acquire()`, `await _lock.acquire()`: held until `__exit__` releases it
                if facts.acquires:
                    return True
            elif any(self._opens_transaction(callee) for callee, _line, _held in facts.calls):
                return True
        return False

    def _opens_transaction(self, callee: str) -> bool:
        """A call made by an `__enter__` that creates the transaction the block runs in:
        `transaction.atomic()` (entered by `self._tx.__enter__()` beside it), `self.session.begin()`,
        or a project transaction wrapper. `self.helper()` (two parts) is the class's own method,
        not followed."""
        if callee.startswith(("self.", "cls.")) and callee.count(".") < 2:
            return False
        return self._is_context(f"{callee}()", None, "transaction")

    def _wraps(self, qualname: str, facts: FunctionFacts, what: str) -> bool:
        module = self.module_of_function(qualname)

        def opens(text: str) -> bool:
            if text.startswith(("self.", "cls.")) and facts.owner:
                method = self.lookup_method(f"{module}.{facts.owner}", text.split(".")[1].rstrip("()"))
                return method is not None and self._is_wrapper(method, what)
            return self._is_context(text, None, what)

        if any(self.canonical(d.removesuffix("()")) in _CONTEXT_MANAGERS for d in facts.decorators):
            for held in facts.yields:
                if any(opens(facts.contexts[i]) for i in held if i < len(facts.contexts)):
                    return True
            if what == "lock" and facts.acquires and facts.yields:
                return True
        return any(opens(text) for text in facts.returns) or any(opens(text) for text in facts.inner_contexts)
