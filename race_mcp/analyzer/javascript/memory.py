"""In-process state in Node: module-level Maps, Sets, objects, arrays and counters.

Node runs one request at a time between awaits: a check and a write of module state race only when
an `await` separates them (the interpreter's `async` mode: the entry points run on the event loop).
The Python profile's logic (module-level names, `self`/`this` attributes of classes, locks by name)
holds for the model either way; this profile swaps in JavaScript's container methods and
constructors.
"""

from __future__ import annotations

from ..core import model
from ..python.memory import PythonMemory, is_mutable

__all__ = ["JavaScriptMemory", "may_share_state"]

# Constructors of mutable containers (`new Map()`), by their last name.
_CONTAINERS = frozenset({"Map", "Set", "WeakMap", "WeakSet", "Array", "Object", "LRUCache", "LRU"})
_MUTATING = frozenset(
    {"set", "delete", "clear", "add", "push", "pop", "shift", "unshift", "splice", "sort", "reverse", "fill"}
)
_READING = frozenset({"get", "has", "includes", "indexOf", "keys", "values", "entries", "find", "some", "at"})


def _is_container(value: model.Expr) -> bool:
    if isinstance(value, model.Call):
        return (value.name or "").split(".")[-1] in _CONTAINERS
    return is_mutable(value)


def may_share_state(module: model.ModuleModel) -> bool:
    """Cheap pre-filter: a module-level container, or a module-level name some function reassigns."""
    if any(_is_container(value) for value in module.assignments.values()):
        return True
    return any(function.globals for function in module.functions.values())


class JavaScriptMemory(PythonMemory):
    """`LanguageProfile` for one JavaScript/TypeScript module."""

    mutating_methods = _MUTATING
    container_methods = _MUTATING | _READING
    executing_methods = frozenset({"query", "execute"})

    def is_shared_global(self, name: str, *, rebinding: bool = False) -> bool:
        value = self.module.assignments.get(name)
        if value is None:
            return False
        if name in self.rebound_globals:
            return True
        return not rebinding and _is_container(value)
