"""Python's in-process memory profile: which expressions denote state concurrent requests share,
which objects are locks, which calls stay inside the module, and what a string expression says.

The core interpreter asks these questions through `core.profile.LanguageProfile`; this is the one
place that knows Python's containers (`dict`, `collections.deque`...), lock factories
(`asyncio.Lock`, `threading.RLock`...) and what an application object (`app.state`) is.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence

from ..core import model
from ..core.profile import Callee
from ..core.registry import constructed_classes, factory_classes, registered_classes
from ..core.state import Frame
from ..core.stores import MEMORY, store_of
from ..core.walk import statements as _statements
from .randomness import is_random_source
from .strings import string_value

__all__ = ["THREAD_LOCK_FACTORIES", "PythonMemory", "is_mutable", "may_share_state"]

MUTABLE_FACTORIES = frozenset(
    {
        "dict",
        "list",
        "set",
        "bytearray",
        "collections.defaultdict",
        "collections.OrderedDict",
        "collections.Counter",
        "collections.deque",
        "collections.ChainMap",
        "weakref.WeakValueDictionary",
        "weakref.WeakKeyDictionary",
        "weakref.WeakSet",
        "typing.DefaultDict",
        # In-process caches with the dict interface, often used as rate-limit counters.
        "cachetools.TTLCache",
        "cachetools.LRUCache",
        "cachetools.LFUCache",
        "cachetools.FIFOCache",
        "cachetools.RRCache",
        "cachetools.TLRUCache",
        "cachetools.Cache",
        "expiringdict.ExpiringDict",
    }
)
LOCK_FACTORIES = frozenset(
    {
        "asyncio.Lock",
        "asyncio.Semaphore",
        "asyncio.BoundedSemaphore",
        "asyncio.Condition",
        "threading.Lock",
        "threading.RLock",
        "threading.Semaphore",
        "threading.BoundedSemaphore",
        "threading.Condition",
        "anyio.Lock",
        "anyio.Semaphore",
        "anyio.CapacityLimiter",
        "multiprocessing.Lock",
        "multiprocessing.RLock",
    }
)
# Locks that only threads contend for: code that makes one says it runs on several threads.
THREAD_LOCK_FACTORIES = frozenset(name for name in LOCK_FACTORIES if name.startswith("threading."))


def _last_names(factories: frozenset[str]) -> frozenset[str]:
    """What a module's text holds wherever it calls one of `factories`, however it imported it."""
    return frozenset(name.rsplit(".", 1)[-1] for name in factories)


_LOCK_NAMES = _last_names(LOCK_FACTORIES)
_THREAD_LOCK_NAMES = _last_names(THREAD_LOCK_FACTORIES)
MUTATING_METHODS = frozenset(
    {
        "append",
        "extend",
        "insert",
        "add",
        "update",
        "pop",
        "popitem",
        "popleft",
        "appendleft",
        "remove",
        "discard",
        "clear",
        "setdefault",
        "sort",
        "reverse",
        "difference_update",
        "intersection_update",
        "symmetric_difference_update",
        "__setitem__",
        "__delitem__",
    }
)
# Methods of containers (dict, list, set, deque): on shared state they read or write it in place.
CONTAINER_METHODS = MUTATING_METHODS | {
    "get",
    "keys",
    "values",
    "items",
    "copy",
    "count",
    "index",
    "__contains__",
}
# Database APIs that run a statement built in their argument (`conn.execute(update(t)...)`).
EXECUTING_METHODS = frozenset(
    {
        "execute",
        "exec_driver_sql",
        "scalar",
        "scalars",
        "fetch",
        "fetchrow",
        "fetchval",
        "fetch_one",
        "fetch_all",
        "fetch_val",
        "executemany",
    }
)
# Mutable containers of the interpreter itself, shared by every thread of the process.
_PROCESS_GLOBALS = frozenset({"sys.modules"})
_LOCKISH_NAME = re.compile(r"(lock|mutex|semaphore|_sem\b|^sem\b)", re.IGNORECASE)
_MUTABLE_CLASS_NAMES = ("defaultdict", "OrderedDict", "Counter", "deque")
_APP_FACTORIES = ("FastAPI", "Starlette", "Application")
_MUTABLE_DATA = (ast.List, ast.Dict, ast.Set)
_MUTABLE_COMPREHENSIONS = (ast.ListComp, ast.DictComp, ast.SetComp)


def dotted(expr: model.Expr) -> str | None:
    """`a.b.c` for a chain of names and attributes, else None."""
    if isinstance(expr, model.Name):
        return expr.id
    if isinstance(expr, model.Attribute):
        base = dotted(expr.value)
        return f"{base}.{expr.attr}" if base else None
    return None


def _names_only_dict(value: model.Expr) -> bool:
    """A dict literal whose values are all plain names: a registry of classes or functions."""
    return (
        isinstance(value, model.Collection)
        and value.kind == "dict"
        and bool(value.elements)
        and all(isinstance(v, model.Name) for v in value.elements[1::2])
    )


def is_mutable(value: model.Expr) -> bool:
    """A literal or constructor call that makes a mutable container."""
    if isinstance(value, model.Collection):
        if value.kind == "comprehension":
            return isinstance(value.origin, _MUTABLE_COMPREHENSIONS)
        return value.kind != "tuple"
    if isinstance(value, model.Opaque):  # a bulky literal kept as data
        return value.kind == "data" and isinstance(value.origin, _MUTABLE_DATA)
    if isinstance(value, model.Call):
        qualified = value.name or ""
        return qualified in MUTABLE_FACTORIES or qualified.split(".")[-1] in _MUTABLE_CLASS_NAMES
    return False


def _top_level_classes(module: model.ModuleModel) -> dict[str, model.ClassModel]:
    return {name: info for name, info in module.classes.items() if "." not in name}


def may_share_state(module: model.ModuleModel) -> bool:
    """Cheap pre-filter: without any candidate for shared state there is nothing to interpret."""
    if any(is_mutable(value) for value in module.assignments.values()):
        return True
    classes = _top_level_classes(module)
    if any(is_mutable(v) for info in classes.values() for v in info.attributes.values()):
        return True
    if any(
        isinstance(value, model.Call) and isinstance(value.func, model.Name) and value.func.id in classes
        for value in module.assignments.values()
    ):
        return True
    text = module.source
    return "global " in text or ".state." in text or "app[" in text or "sys.modules" in text


class PythonMemory:
    """`LanguageProfile` for one Python module (see `core/profile.py`)."""

    mutating_methods = MUTATING_METHODS
    container_methods = CONTAINER_METHODS
    executing_methods = EXECUTING_METHODS

    def __init__(self, module: model.ModuleModel) -> None:
        self.module = module
        self._lines: list[str] | None = None  # split on first use: most modules never need text
        self._self_attribute_cache: dict[str, dict[str, model.Expr]] = {}
        # Registries of classes (`HANDLERS = {"a": AHandler}`) and, per function and local, the
        # classes a registry lookup bound to it may hold (`_registered_method`).
        self._has_registry = any(_names_only_dict(v) for v in module.assignments.values())
        self._registries: dict[tuple[str, str], tuple[str, ...] | None] = {}
        self._has_factory: bool | None = None  # a function whose returns build classes (lazy)
        self._threaded: dict[str | None, bool] = {}
        self.classes = _top_level_classes(module)
        self.functions = {name: f for name, f in module.functions.items() if "." not in name}
        assignments = module.assignments
        self.instances = {
            name: value.func.id
            for name, value in assignments.items()
            if isinstance(value, model.Call)
            and isinstance(value.func, model.Name)
            and value.func.id in self.classes
        }
        self.app_names = {
            name
            for name, value in assignments.items()
            if isinstance(value, model.Call) and (value.name or "").split(".")[-1] in _APP_FACTORIES
        }
        declared = {name for function in module.functions.values() for name in function.globals}
        self.rebound_globals = declared & set(assignments)
        # A module whose text names no lock factory makes no lock: its statements are not walked.
        source = module.source or ""
        self._makes_locks = any(name in source for name in _LOCK_NAMES)
        self._makes_thread_locks = any(name in source for name in _THREAD_LOCK_NAMES)
        self.lock_attributes = self._lock_attributes() if self._makes_locks else set()

    def _lock_attributes(self) -> set[str]:
        return {attr for attr, value in self._attribute_values() if self._is_lock_factory(value)} | {
            attr
            for info in self.classes.values()
            for attr, value in info.attributes.items()
            if self._is_lock_factory(value)
        }

    def _attribute_values(self) -> list[tuple[str, model.Expr]]:
        """`obj.attr = value` anywhere in the module (module code, class bodies, functions)."""
        blocks = [self.module.body, *(c.body for c in self.module.classes.values())]
        blocks.extend(f.body for f in self.module.functions.values())
        found: list[tuple[str, model.Expr]] = []
        for block in blocks:
            for statement in _statements(block):
                if (
                    isinstance(statement, model.Assign)
                    and statement.op is None
                    and statement.value is not None
                ):
                    found.extend(
                        (t.attr, statement.value) for t in statement.targets if isinstance(t, model.Attribute)
                    )
        return found

    @staticmethod
    def _is_lock_factory(value: model.Expr, factories: frozenset[str] = LOCK_FACTORIES) -> bool:
        return isinstance(value, model.Call) and (value.name or "") in factories

    # -- how the code runs ------------------------------------------------------------------------
    def runs_on_threads(self, class_name: str | None) -> bool:
        """Code no entry point of the module reaches runs on several threads when it says so itself:
        a method's class (or a base in the module) keeps a `threading` lock, a module function's
        module does (each judged apart: a lock a patch adds for a handler says nothing of a class
        beside it). Nobody makes a thread lock for state one thread touches, and the state such
        code guards in one method it often leaves unguarded in another (fishtest's run cache,
        served by waitress's threads). Without that evidence it runs one call at a time: a helper
        of a Django view is served by worker processes as often as by threads."""
        if not self._makes_thread_locks:
            return False
        if class_name in self._threaded:
            return self._threaded[class_name]
        self._threaded[class_name] = found = self._makes_thread_lock(class_name)
        return found

    def _makes_thread_lock(self, class_name: str | None) -> bool:
        if class_name is None:
            return any(
                self._is_lock_factory(value, THREAD_LOCK_FACTORIES)
                for value in self.module.assignments.values()
            )
        seen: set[str] = set()
        while class_name is not None and class_name not in seen:
            seen.add(class_name)
            info = self.classes.get(class_name)
            if info is None:
                return False
            if self._class_makes_thread_lock(info):
                return True
            class_name = next((b for b in info.bases if b in self.classes), None)
        return False

    def _class_makes_thread_lock(self, info: model.ClassModel) -> bool:
        values = [*info.attributes.values(), *self._self_attributes(info).values()]
        return any(self._is_lock_factory(value, THREAD_LOCK_FACTORIES) for value in values)

    def _self_attributes(self, info: model.ClassModel) -> dict[str, model.Expr]:
        """`self.<attr> = value` in the class's methods (the first value of each)."""
        found = self._self_attribute_cache.get(info.name)
        if found is not None:
            return found
        found = {}
        for method in info.methods.values():
            for statement in _statements(method.body):
                if (
                    isinstance(statement, model.Assign)
                    and statement.op is None
                    and statement.value is not None
                ):
                    for target in statement.targets:
                        if isinstance(target, model.Attribute) and dotted(target.value) == "self":
                            found.setdefault(target.attr, statement.value)
        self._self_attribute_cache[info.name] = found
        return found

    def frame(
        self, function: model.Function, *, self_class: str | None = None, self_instance: str | None = None
    ) -> Frame:
        return Frame(function, function.locals, function.globals, self_class, self_instance, self.module)

    def qualname(self, function: model.Function, self_class: str | None) -> str:
        return f"{self_class}.{function.name}" if self_class else function.name

    @property
    def lines(self) -> list[str]:
        if self._lines is None:
            self._lines = self.module.source.splitlines()
        return self._lines

    def text(self, node: model.Node) -> str:
        """The node's source text, from its span (a lock's region name, a key's quoted literal)."""
        span = node.span
        if not 0 < span.line <= len(self.lines):
            return ""
        if span.end_line == span.line:
            return self.lines[span.line - 1][span.column : span.end_column]
        last = min(span.end_line, len(self.lines))
        parts = [self.lines[span.line - 1][span.column :], *self.lines[span.line : last - 1]]
        if last > span.line:
            parts.append(self.lines[last - 1][: span.end_column])
        return "\n".join(parts)

    # -- shared state -----------------------------------------------------------------------------
    def is_shared_global(self, name: str, *, rebinding: bool = False) -> bool:
        value = self.module.assignments.get(name)
        if value is None:
            return False
        if name in self.rebound_globals:
            return True
        return not rebinding and is_mutable(value)

    def class_attribute(self, class_name: str, attr: str) -> str | None:
        info = self.classes.get(class_name)
        seen: set[str] = set()
        while info is not None and class_name not in seen:
            seen.add(class_name)
            value = info.attributes.get(attr)
            if value is not None:
                return f"{class_name}.{attr}" if is_mutable(value) else None
            parent = next((b for b in info.bases if b in self.classes), None)
            if parent is None:
                return None
            class_name, info = parent, self.classes[parent]
        return None

    def shared_key(self, expr: model.Expr, frame: Frame) -> str | None:
        """The name of the shared state `expr` denotes (or is an element of), else None."""
        if isinstance(expr, model.Name):
            if expr.id in frame.locals:
                return None
            home = frame.module
            if home is not None and home is not self.module:
                # A helper of another module (project index) runs here: its globals are its
                # module's (`CLASSES.get(kind)` in a plugin registry), not this module's names.
                value = home.assignments.get(expr.id)
                stem = home.path.replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".py")
                return f"{stem}.{expr.id}" if value is not None and is_mutable(value) else None
            return expr.id if self.is_shared_global(expr.id) else None
        if isinstance(expr, model.Subscript):
            if self._is_app_object(expr.value, frame) and expr.key is not None:
                return f"app[{self.text(expr.index)}]"
            return self.shared_key(expr.value, frame)
        if isinstance(expr, model.Attribute):
            attr, owner = expr.attr, expr.value
            if self._process_global(expr, frame):
                return f"{dotted(owner)}.{attr}"
            if isinstance(owner, model.Name):
                if owner.id in ("self", "cls") and frame.self_class is not None:
                    if frame.self_instance is not None:
                        return f"{frame.self_instance}.{attr}"
                    return self.class_attribute(frame.self_class, attr)
                if owner.id not in frame.locals:
                    if owner.id in self.instances:
                        return f"{owner.id}.{attr}"
                    if owner.id in self.classes:
                        return self.class_attribute(owner.id, attr)
            if (
                isinstance(owner, model.Attribute)
                and owner.attr == "state"
                and self._is_app_object(owner.value, frame)
            ):
                return f"app.state.{attr}"
            return self.shared_key(owner, frame)
        return None

    def _process_global(self, expr: model.Attribute, frame: Frame) -> bool:
        """`sys.modules`: the interpreter's one module table, shared by every thread (a script
        loader deleting and re-importing a module races another thread doing the same)."""
        owner = expr.value
        return (
            isinstance(owner, model.Name)
            and owner.id not in frame.locals
            and f"{self.module.imports.get(owner.id, '')}.{expr.attr}" in _PROCESS_GLOBALS
        )

    def _is_app_object(self, expr: model.Expr, frame: Frame) -> bool:
        """`app` (a module-level FastAPI/Starlette/aiohttp app) or `request.app`."""
        if isinstance(expr, model.Attribute) and expr.attr == "app":
            return True
        return isinstance(expr, model.Name) and expr.id in self.app_names and expr.id not in frame.locals

    def is_random_source(self, call: model.Call) -> bool:
        """`call` draws a value at random (`python/randomness.py`)."""
        return is_random_source(call)

    def is_lock(self, expr: model.Expr) -> bool:
        if isinstance(expr, model.Call):
            if (expr.name or "") in LOCK_FACTORIES:
                return False  # `with threading.Lock():` makes a new lock each time: it protects nothing
            return bool(_LOCKISH_NAME.search(self.text(expr.func)))
        name = dotted(expr)
        if name is not None:
            value = self.module.assignments.get(name)
            if value is not None and self._is_lock_factory(value):
                return True
        if isinstance(expr, model.Attribute) and expr.attr in self.lock_attributes:
            return True
        return bool(_LOCKISH_NAME.search(self.text(expr).split("(")[0]))

    # -- calls ----------------------------------------------------------------------------------
    def resolve_callee(self, call: model.Call, frame: Frame) -> Callee | None:
        """A function or method of this module that `call` invokes, with the frame to run it in.

        Methods are found on `self`, on module-level instances, on classes, and on objects whose
        class is known from an annotation or a constructor: `repo: Repository` parameters and
        `self.repo = repo` / `self.repo = Repository(...)` attributes set in `__init__`.
        """
        func = call.func
        if isinstance(func, model.Name):
            if func.id in frame.locals:
                return None
            function = self.functions.get(func.id)
            return (function, self.frame(function)) if function is not None else None
        if not isinstance(func, model.Attribute):
            return None
        method, owner_expr = func.attr, func.value
        if isinstance(owner_expr, model.Attribute) and isinstance(owner_expr.value, model.Name):
            if owner_expr.value.id == "self" and frame.self_class is not None:
                class_name = self.attribute_class(frame.self_class, owner_expr.attr)
                instance = f"{frame.self_instance}.{owner_expr.attr}" if frame.self_instance else None
                return self._method(class_name, method, instance)
            return None
        if isinstance(owner_expr, model.Call):
            # `get_strategy(...).process()`: the method of a class the factory builds.
            built = factory_classes(owner_expr, self._own_function)
            return self._first_method(built[0] if built else (), method)
        if not isinstance(owner_expr, model.Name):
            return None
        owner = owner_expr.id
        if owner in ("self", "cls") and frame.self_class is not None:
            # `cls.base_queryset()` in a subclass runs the base's method for the subclass: its
            # `cls.objects` are the subclass's rows (whose fields, a OneToOneField, the base may
            # declare), as Python dispatches it.
            return self._method(frame.self_class, method, frame.self_instance, run_as=frame.self_class)
        if owner in frame.locals:
            found = self._method(self.parameter_class(frame.function, owner), method, None)
            return found or self._registered_method(frame.function, owner, method)
        class_name = self.instances.get(owner) or (owner if owner in self.classes else None)
        return self._method(class_name, method, owner if owner in self.instances else None)

    def _registered_method(self, function: model.Function, local: str, method: str) -> Callee | None:
        """`handler = HANDLERS.get(kind)` (or a helper of this module returning such a lookup),
        then `handler.method(...)`: the method of the first registered class that has it."""
        if not self._has_registry and not self._factories():
            return None  # no dict of classes nor factory: nothing to look up (most modules)
        names = self._registries.get((function.qualname, local), ())
        if names == ():
            found = registered_classes(function, local, self.module.assignments, self._own_function)
            names = self._registries[(function.qualname, local)] = tuple(found[0]) if found else None
        return self._first_method(names or (), method)

    def _first_method(self, class_names: Sequence[str], method: str) -> Callee | None:
        for class_name in class_names:
            callee = self._method(class_name, method, None)
            if callee is not None:
                return callee
        return None

    def _own_function(self, call: model.Call) -> tuple[model.Function, dict[str, model.Expr]] | None:
        """This module's function `call` runs: `helper(...)` or a class method `Klass.make(...)`."""
        func, helper = call.func, None
        if isinstance(func, model.Name):
            helper = self.functions.get(func.id)
        elif isinstance(func, model.Attribute) and isinstance(func.value, model.Name):
            found = self._method(func.value.id, func.attr, None) if func.value.id in self.classes else None
            helper = found[0] if found is not None else None
        return (helper, self.module.assignments) if helper is not None else None

    def _factories(self) -> bool:
        """Some function of the module returns built classes on every path (read once per module)."""
        if self._has_factory is None:
            self._has_factory = any(
                constructed_classes(function) is not None for function in self.module.functions.values()
            )
        return self._has_factory

    def row_method(self, key: str, method: str) -> Callee | None:
        """A method of the model class whose rows `key` names (`orm:LoyaltyCard`)."""
        if store_of(key) == MEMORY:
            return None
        class_name = key.partition(":")[2]
        info = self.classes.get(class_name)
        function = info.methods.get(method) if info else None
        return (function, self.frame(function, self_class=class_name)) if function is not None else None

    def _method(
        self, class_name: str | None, method: str, instance: str | None, *, run_as: str | None = None
    ) -> Callee | None:
        info = self.classes.get(class_name) if class_name else None
        seen: set[str] = set()
        while info is not None and class_name is not None and class_name not in seen:
            seen.add(class_name)
            function = info.methods.get(method)
            if function is not None:
                return function, self.frame(function, self_class=run_as or class_name, self_instance=instance)
            class_name = next((b for b in info.bases if b in self.classes), None)
            info = self.classes.get(class_name) if class_name else None
        return None

    def parameter_class(self, function: model.Function, name: str) -> str | None:
        """The module's class a parameter is annotated with (`repo: StockRepository`)."""
        annotation = function.annotations.get(name)
        return annotation if annotation in self.classes else None

    def attribute_class(self, class_name: str, attr: str) -> str | None:
        """The module's class of `self.<attr>`, from what `__init__` assigns to it."""
        info = self.classes.get(class_name)
        init = info.methods.get("__init__") if info else None
        if init is None:
            return None
        for statement in init.body:
            if not isinstance(statement, model.Assign) or statement.value is None or statement.op is not None:
                continue
            if not any(
                isinstance(t, model.Attribute) and t.attr == attr and dotted(t.value) == "self"
                for t in statement.targets
            ):
                continue
            value = statement.value
            if isinstance(value, model.Call) and dotted(value.func) in self.classes:
                return dotted(value.func)
            if isinstance(value, model.Name):
                return self.parameter_class(init, value.id)
        return None

    # -- strings --------------------------------------------------------------------------------
    def string(self, expr: model.Expr, frame: Frame | None) -> str | None:
        """The text of a string expression (`strings.string_value`): literals, f-strings with holes
        as `?`, `+`/`%`/`.format`, SQL text wrappers, and names bound to strings in the function
        (the path's own string locals first), the module or a class."""
        if frame is None:
            return string_value(expr, self.module)
        return string_value(
            expr,
            frame.module or self.module,
            function=frame.function,
            strings=frame.strings,
            self_class=frame.self_class,
        )
