"""Which names a function binds locally, and which it declares global: one pass per module."""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from ._module import dotted_name
from ._state import Frame

__all__ = ["Scopes", "block", "frame_for", "params"]


class Scopes(cst.CSTVisitor):
    """One pass over the module: for every function, the names it binds and the names it declares global.

    Also records `obj.attr = value` assignments, to find attributes that hold locks.
    """

    def __init__(self) -> None:
        self.scopes: dict[cst.FunctionDef, tuple[set[str], set[str]]] = {}
        self.attribute_values: list[tuple[str, cst.BaseExpression]] = []
        self._stack: list[tuple[set[str], set[str]]] = [(set(), set())]

    def _bind(self, target: cst.BaseExpression) -> None:
        if isinstance(target, cst.Name):
            self._stack[-1][0].add(target.value)
        elif isinstance(target, cst.Tuple | cst.List):
            for element in target.elements:
                self._bind(element.value)
        elif isinstance(target, cst.StarredElement):
            self._bind(target.value)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._stack[-1][0].add(node.name.value)
        scope: tuple[set[str], set[str]] = (set(params(node)), set())
        self.scopes[node] = scope
        self._stack.append(scope)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self._stack.pop()

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._stack[-1][0].add(node.name.value)
        self._stack.append((set(), set()))

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self._stack.pop()

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_Global(self, node: cst.Global) -> None:
        self._stack[-1][1].update(item.name.value for item in node.names)

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            if isinstance(target.target, cst.Attribute):
                self.attribute_values.append((target.target.attr.value, node.value))

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        self._bind(node.target)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._bind(node.target)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._bind(node.target)

    def visit_For(self, node: cst.For) -> None:
        self._bind(node.target)

    def visit_AsName(self, node: cst.AsName) -> None:
        self._bind(node.name)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._bind(node.target)

    def visit_ImportAlias(self, node: cst.ImportAlias) -> None:
        if node.asname is None:
            self._stack[-1][0].add((dotted_name(node.name) or "").split(".")[0])


def params(function: cst.FunctionDef) -> list[str]:
    """Every parameter name of `function`, `self` included."""
    spec = function.params
    names = [p.name.value for p in (*spec.posonly_params, *spec.params, *spec.kwonly_params)]
    for star in (spec.star_arg, spec.star_kwarg):
        if isinstance(star, cst.Param):
            names.append(star.name.value)
    return names


def frame_for(
    scopes: Scopes,
    function: cst.FunctionDef,
    *,
    self_class: str | None = None,
    self_instance: str | None = None,
) -> Frame:
    """A fresh frame to interpret `function` in; `self` may stand for a module-level instance."""
    bound, declared_global = scopes.scopes.get(function, (set(params(function)), set()))
    return Frame(function, bound - declared_global, declared_global, self_class, self_instance)


def block(suite: cst.BaseSuite) -> Sequence[cst.BaseStatement | cst.BaseSmallStatement]:
    if isinstance(suite, cst.IndentedBlock):
        return suite.body
    if isinstance(suite, cst.SimpleStatementSuite):
        return suite.body
    return ()
