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
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from . import model
from .walk import statements

__all__ = ["registered_classes"]

# A resolver for calls: the function a call invokes and the module-level assignments of its module.
CallTarget = Callable[[model.Call], "tuple[model.Function, dict[str, model.Expr]] | None"]
_MAX_BINDINGS = 4  # a local rebound more often than this is not a plugin handle


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
            names = _returned_lookup(helper, module)
        if not names or (home is not None and module is not home):
            return None
        home = module
        found.extend(name for name in names if name not in found)
    return (found, home) if home is not None else None


def _bound_values(function: model.Function, local: str) -> Iterator[model.Expr]:
    for statement in statements(function.body):
        if (
            isinstance(statement, model.Assign)
            and statement.value is not None
            and any(isinstance(t, model.Name) and t.id == local for t in statement.targets)
        ):
            # `x += ...` rebinds it to something else than a lookup (a Name is no lookup).
            yield statement.value if statement.op is None else statement.targets[0]


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
