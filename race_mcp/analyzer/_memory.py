"""In-process shared state (RC1xx): which expressions denote it, which objects are locks, and which
calls stay inside the file (so the interpreter can follow them).
"""

from __future__ import annotations

import re

import libcst as cst

from ._module import ModuleIndex, dotted_name, walk
from ._scopes import Scopes, frame_for
from ._state import Frame

__all__ = ["MemoryModel", "is_mutable", "may_share_state"]

MUTABLE_FACTORIES = {
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
}
LOCK_FACTORIES = {
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
_LOCKISH_NAME = re.compile(r"(lock|mutex|semaphore|_sem\b|^sem\b)", re.IGNORECASE)
_MUTABLE_CLASS_NAMES = ("defaultdict", "OrderedDict", "Counter", "deque")


class MemoryModel:
    """Module-wide facts: which names are shared state, which are locks, which calls stay in-file."""

    def __init__(self, index: ModuleIndex) -> None:
        self.index = index
        self.instances = {
            name: value.func.value
            for name, value in index.assignments.items()
            if isinstance(value, cst.Call)
            and isinstance(value.func, cst.Name)
            and value.func.value in index.classes
        }
        self.app_names = {
            name
            for name, value in index.assignments.items()
            if isinstance(value, cst.Call)
            and (index.qualify(value.func) or "").split(".")[-1] in ("FastAPI", "Starlette", "Application")
        }
        self.scopes = Scopes()
        walk(index.module, self.scopes)
        self.rebound_globals = {
            name for _, declared in self.scopes.scopes.values() for name in declared
        } & set(index.assignments)
        self.lock_attributes = {
            attr for attr, value in self.scopes.attribute_values if self._is_lock_factory(value)
        }
        for info in index.classes.values():
            self.lock_attributes |= {
                attr for attr, value in info.attributes.items() if self._is_lock_factory(value)
            }

    def frame(
        self, function: cst.FunctionDef, *, self_class: str | None = None, self_instance: str | None = None
    ) -> Frame:
        """A fresh frame for `function`; `self_class` / `self_instance` bind `self`."""
        return frame_for(self.scopes, function, self_class=self_class, self_instance=self_instance)

    def _is_lock_factory(self, value: cst.BaseExpression) -> bool:
        return isinstance(value, cst.Call) and (self.index.qualify(value.func) or "") in LOCK_FACTORIES

    # -- shared state -----------------------------------------------------------------------------
    def is_mutable(self, value: cst.BaseExpression) -> bool:
        return is_mutable(self.index, value)

    def is_shared_global(self, name: str, *, rebinding: bool = False) -> bool:
        value = self.index.assignments.get(name)
        if value is None:
            return False
        if name in self.rebound_globals:
            return True
        return not rebinding and self.is_mutable(value)

    def class_attribute(self, class_name: str, attr: str) -> str | None:
        info = self.index.classes.get(class_name)
        seen: set[str] = set()
        while info is not None and class_name not in seen:
            seen.add(class_name)
            value = info.attributes.get(attr)
            if value is not None:
                return f"{class_name}.{attr}" if self.is_mutable(value) else None
            parent = next((b for b in info.bases if b in self.index.classes), None)
            if parent is None:
                return None
            class_name, info = parent, self.index.classes[parent]
        return None

    def shared_key(self, expr: cst.BaseExpression, frame: Frame) -> str | None:
        """The name of the shared state `expr` denotes (or is an element of), else None."""
        if isinstance(expr, cst.Name):
            name = expr.value
            if name in frame.locals:
                return None
            return name if self.is_shared_global(name) else None
        if isinstance(expr, cst.Subscript):
            if self._is_app_object(expr.value, frame) and len(expr.slice) == 1:
                index = expr.slice[0].slice
                if isinstance(index, cst.Index) and isinstance(index.value, cst.SimpleString):
                    return f"app[{index.value.value}]"
            return self.shared_key(expr.value, frame)
        if isinstance(expr, cst.Attribute):
            attr = expr.attr.value
            owner = expr.value
            if isinstance(owner, cst.Name):
                if owner.value in ("self", "cls") and frame.self_class is not None:
                    if frame.self_instance is not None:
                        return f"{frame.self_instance}.{attr}"
                    return self.class_attribute(frame.self_class, attr)
                if owner.value not in frame.locals:
                    if owner.value in self.instances:
                        return f"{owner.value}.{attr}"
                    if owner.value in self.index.classes:
                        return self.class_attribute(owner.value, attr)
            if (
                isinstance(owner, cst.Attribute)
                and owner.attr.value == "state"
                and self._is_app_object(owner.value, frame)
            ):
                return f"app.state.{attr}"
            return self.shared_key(owner, frame)
        return None

    def _is_app_object(self, expr: cst.BaseExpression, frame: Frame) -> bool:
        """`app` (a module-level FastAPI/Starlette/aiohttp app) or `request.app`."""
        if isinstance(expr, cst.Attribute) and expr.attr.value == "app":
            return True
        return isinstance(expr, cst.Name) and expr.value in self.app_names and expr.value not in frame.locals

    def is_lock(self, expr: cst.BaseExpression) -> bool:
        if isinstance(expr, cst.Call):
            if (self.index.qualify(expr.func) or "") in LOCK_FACTORIES:
                return False  # `with threading.Lock():` makes a new lock each time: it protects nothing
            return bool(_LOCKISH_NAME.search(self.index.module.code_for_node(expr.func)))
        name = dotted_name(expr)
        if name is not None:
            value = self.index.assignments.get(name)
            if value is not None and self._is_lock_factory(value):
                return True
        if isinstance(expr, cst.Attribute) and expr.attr.value in self.lock_attributes:
            return True
        text = self.index.module.code_for_node(expr)
        return bool(_LOCKISH_NAME.search(text.split("(")[0]))

    # -- calls ----------------------------------------------------------------------------------------
    def resolve_callee(self, call: cst.Call, frame: Frame) -> tuple[cst.FunctionDef, Frame] | None:
        """A function or method of this file that `call` invokes, with the frame to run it in.

        Methods are found on `self`, on module-level instances, on classes, and on objects whose class
        is known from an annotation or a constructor: `repo: Repository` parameters and
        `self.repo = repo` / `self.repo = Repository(...)` attributes set in `__init__`.
        """
        func = call.func
        if isinstance(func, cst.Name) and func.value not in frame.locals:
            function = self.index.functions.get(func.value)
            return (function, self.frame(function)) if function is not None else None
        if not isinstance(func, cst.Attribute):
            return None
        method = func.attr.value
        owner_expr = func.value
        if isinstance(owner_expr, cst.Attribute) and isinstance(owner_expr.value, cst.Name):
            if owner_expr.value.value == "self" and frame.self_class is not None:
                class_name = self.attribute_class(frame.self_class, owner_expr.attr.value)
                instance = f"{frame.self_instance}.{owner_expr.attr.value}" if frame.self_instance else None
                return self._method(class_name, method, instance)
            return None
        if not isinstance(owner_expr, cst.Name):
            return None
        owner = owner_expr.value
        if owner in ("self", "cls") and frame.self_class is not None:
            return self._method(frame.self_class, method, frame.self_instance)
        if owner in frame.locals:
            return self._method(self.parameter_class(frame.function, owner), method, None)
        class_name = self.instances.get(owner) or (owner if owner in self.index.classes else None)
        return self._method(class_name, method, owner if owner in self.instances else None)

    def _method(
        self, class_name: str | None, method: str, instance: str | None
    ) -> tuple[cst.FunctionDef, Frame] | None:
        info = self.index.classes.get(class_name) if class_name else None
        seen: set[str] = set()
        while info is not None and class_name is not None and class_name not in seen:
            seen.add(class_name)
            function = info.methods.get(method)
            if function is not None:
                return function, self.frame(function, self_class=class_name, self_instance=instance)
            class_name = next((b for b in info.bases if b in self.index.classes), None)
            info = self.index.classes.get(class_name) if class_name else None
        return None

    def parameter_class(self, function: cst.FunctionDef, name: str) -> str | None:
        """The in-file class a parameter is annotated with (`repo: StockRepository`)."""
        spec = function.params
        for param in (*spec.posonly_params, *spec.params, *spec.kwonly_params):
            if param.name.value == name and param.annotation is not None:
                annotation = dotted_name(param.annotation.annotation)
                if annotation in self.index.classes:
                    return annotation
        return None

    def attribute_class(self, class_name: str, attr: str) -> str | None:
        """The in-file class of `self.<attr>`, from what `__init__` assigns to it."""
        info = self.index.classes.get(class_name)
        init = info.methods.get("__init__") if info else None
        if init is None:
            return None
        for statement in init.body.body if isinstance(init.body, cst.IndentedBlock) else ():
            if not isinstance(statement, cst.SimpleStatementLine):
                continue
            for small in statement.body:
                if not isinstance(small, cst.Assign | cst.AnnAssign) or small.value is None:
                    continue
                targets = (
                    [t.target for t in small.targets] if isinstance(small, cst.Assign) else [small.target]
                )
                if not any(
                    isinstance(t, cst.Attribute) and t.attr.value == attr and dotted_name(t.value) == "self"
                    for t in targets
                ):
                    continue
                value = small.value
                if isinstance(value, cst.Call) and dotted_name(value.func) in self.index.classes:
                    return dotted_name(value.func)
                if isinstance(value, cst.Name):
                    return self.parameter_class(init, value.value)
        return None

    def qualname(self, function: cst.FunctionDef, class_name: str | None) -> str:
        return f"{class_name}.{function.name.value}" if class_name else function.name.value


def is_mutable(index: ModuleIndex, value: cst.BaseExpression) -> bool:
    """A literal or constructor call that makes a mutable container."""
    if isinstance(value, cst.Dict | cst.List | cst.Set | cst.DictComp | cst.ListComp | cst.SetComp):
        return True
    if isinstance(value, cst.Call):
        qualified = index.qualify(value.func) or ""
        return qualified in MUTABLE_FACTORIES or qualified.split(".")[-1] in _MUTABLE_CLASS_NAMES
    return False


def may_share_state(index: ModuleIndex) -> bool:
    """Cheap pre-filter: without any candidate for shared state there is nothing to interpret."""
    if any(is_mutable(index, value) for value in index.assignments.values()):
        return True
    if any(is_mutable(index, v) for info in index.classes.values() for v in info.attributes.values()):
        return True
    if any(
        isinstance(value, cst.Call) and isinstance(value.func, cst.Name) and value.func.value in index.classes
        for value in index.assignments.values()
    ):
        return True
    text = index.source
    return "global " in text or ".state." in text or "app[" in text
