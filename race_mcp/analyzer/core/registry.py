"""Classes picked from a registry at run time: plugin dispatch the interpreter can follow.

Plugin-style code keeps its classes in a module-level dict and looks one up by a runtime key,
directly or through a helper (`chal_class = get_chal_class(challenge.type)`, where
`get_chal_class` returns `CLASSES.get(class_id)`), then calls a method on it
(`chal_class.solve(...)`). Which entry is picked is data, but every entry the module registers is
a class the call may run; the interpreter follows the method of the first registered class that
has it (as it follows a base class's method for a subclass), so a check in the caller and the
write in the plugin's method form one sequence (CTFd's duplicate solves, issue 11).

Only a dict literal bound at module level whose values are plain class names counts: the values
must name classes the caller's resolver knows, or nothing is followed.

A factory is the same dispatch written as code: a project function whose every `return` builds a
project class (`return NewUserStrategy(...)` on one branch, `return ExistingUserStrategy(...)` on
the other; `return cls(...)` in a class method) hands back an object of one of those classes, so
`get_strategy(...).process()` (or a local bound to that call) runs one of their `process` methods.
Only a few candidates count, and a helper's returns are read once (`constructed_classes`).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

from . import model
from .walk import statements

__all__ = ["constructed_classes", "factory_classes", "registered_classes"]

# A resolver for calls: the function a call invokes and the module-level assignments of its module.
CallTarget = Callable[[model.Call], "tuple[model.Function, dict[str, model.Expr]] | None"]
_MAX_BINDINGS = 4  # a local rebound more often than this is not a plugin handle
_MAX_CONSTRUCTED = 4  # a factory choosing among more classes than this is not followed
# Per helper, its classes; per function, its locals' bindings. Weak: an entry lives as long as its
# function (a strong one kept every module the project session had dropped alive, and the
# collector walked them all on each full collection).
_constructed: weakref.WeakKeyDictionary[model.Function, tuple[str, ...] | None] = weakref.WeakKeyDictionary()
_bound: weakref.WeakKeyDictionary[model.Function, dict[str, tuple[model.Expr, ...]]] = (
    weakref.WeakKeyDictionary()
)


def registered_classes(
    function: model.Function, local: str, assignments: dict[str, model.Expr], call_target: CallTarget
) -> tuple[list[str], dict[str, model.Expr]] | None:
    """The class names (as written in their module) a local of `function` may hold when every
    binding of it is a registry lookup, in this module or returned by a helper; with the module
    assignments those names belong to. None when any binding is something else."""
    bindings = list(_bound_values(function, local))
    if not bindings or len(bindings) > _MAX_BINDINGS:
        return None
    found: list[str] = []
    home: dict[str, model.Expr] | None = None
    for value in bindings:
        names, module = _lookup(value, assignments), assignments
        if names is None and isinstance(value, model.Call):
            target = call_target(value)
            if target is None:
                return None
            helper, module = target
            names = _returned_lookup(helper, module) or constructed_classes(helper)
        if not names or (home is not None and module is not home):
            return None
        home = module
        found.extend(name for name in names if name not in found)
    return (found, home) if home is not None else None


def factory_classes(
    call: model.Call, call_target: CallTarget
) -> tuple[list[str], dict[str, model.Expr]] | None:
    """The classes the object `call` returns may be of (`get_strategy(...)` in
    `get_strategy(...).process()`), with the module assignments their names belong to: a helper
    returning a registry lookup or building project classes on every return. None otherwise."""
    target = call_target(call)
    if target is None:
        return None
    helper, module = target
    names = _returned_lookup(helper, module) or constructed_classes(helper)
    return (names, module) if names else None


def constructed_classes(helper: model.Function) -> list[str] | None:
    """The class names (as written in the helper's module) every `return` of `helper` builds:
    `return NewUser(...)`, a local bound once to such a call and returned, or `return cls(...)` in
    a class method (its own class). None when any return is something else or too many classes."""
    if helper in _constructed:
        cached = _constructed[helper]
        return list(cached) if cached is not None else None
    found = _constructions(helper)
    _constructed[helper] = tuple(found) if found is not None else None
    return found


def _constructions(helper: model.Function) -> list[str] | None:
    owner = helper.qualname.rpartition(".")[0] if helper.params[:1] == ("cls",) else ""
    found: list[str] = []
    for statement in statements(helper.body):
        if not isinstance(statement, model.Return):
            continue
        value = statement.value
        if value is None or (isinstance(value, model.Literal) and value.value is None):
            continue  # `return None` on a path that found nothing: no object, no method runs
        if isinstance(value, model.Name) and value.id != "cls":
            bound = list(_bound_values(helper, value.id))
            value = bound[0] if len(bound) == 1 else None
        if not (isinstance(value, model.Call) and isinstance(value.func, model.Name)):
            return None
        name = value.func.id
        if name == "cls":
            if not owner:
                return None
            name = owner
        elif not name[:1].isupper():
            return None  # a function's result, not an object built here
        if name not in found:
            found.append(name)
        if len(found) > _MAX_CONSTRUCTED:
            return None
    return found or None


def _bound_values(function: model.Function, local: str) -> tuple[model.Expr, ...]:
    """The values `local` is bound to in `function`, in statement order."""
    return _bindings(function).get(local, ())


def _bindings(function: model.Function) -> dict[str, tuple[model.Expr, ...]]:
    """Per local name of `function`, every value an assignment binds it to: read once per function
    (the dispatch is asked about many calls of the same handler, one body walk each before)."""
    cached = _bound.get(function)
    if cached is not None:
        return cached
    found: dict[str, list[model.Expr]] = {}
    for statement in statements(function.body):
        if isinstance(statement, model.Assign) and statement.value is not None:
            # `x += ...` rebinds it to something else than a lookup (a Name is no lookup).
            value = statement.value if statement.op is None else statement.targets[0]
            names = {t.id for t in statement.targets if isinstance(t, model.Name)}
            for name in names:
                found.setdefault(name, []).append(value)
    bindings = _bound[function] = {name: tuple(values) for name, values in found.items()}
    return bindings


def _returned_lookup(helper: model.Function, assignments: dict[str, model.Expr]) -> list[str] | None:
    """`return CLASSES.get(k)`, or a local bound so and returned (`cls = CLASSES.get(k); return cls`)."""
    found: list[str] = []
    for statement in statements(helper.body):
        if not isinstance(statement, model.Return) or statement.value is None:
            continue
        value = statement.value
        if isinstance(value, model.Name):
            bound = list(_bound_values(helper, value.id))
            names = _lookup(bound[0], assignments) if len(bound) == 1 else None
        else:
            names = _lookup(value, assignments)
        if not names:
            return None
        found.extend(name for name in names if name not in found)
    return found or None


def _lookup(value: model.Expr, assignments: dict[str, model.Expr]) -> list[str] | None:
    """`REGISTRY.get(key)` / `REGISTRY[key]` on a module-level dict literal of class names."""
    if isinstance(value, model.Call) and value.method == "get" and isinstance(value.receiver, model.Name):
        registry = value.receiver.id
    elif isinstance(value, model.Subscript) and isinstance(value.value, model.Name) and value.key is None:
        registry = value.value.id
    else:
        return None
    table = assignments.get(registry)
    if not isinstance(table, model.Collection) or table.kind != "dict" or not table.elements:
        return None
    entries = table.elements[1::2]
    if not all(isinstance(entry, model.Name) for entry in entries):
        return None
    return [entry.id for entry in entries if isinstance(entry, model.Name)]
