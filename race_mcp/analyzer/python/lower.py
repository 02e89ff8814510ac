"""Lowering: CPython's `ast` of one module to the program model (`core/model.py`), in one pass.

Every function and method (nested ones too, under Python's own qualified names: `Class.method`,
`outer.<locals>.inner`), every class and the module's top-level code become model nodes; each node
keeps its `Span` and its `ast` node as `origin`. Syntax the model has no node for is kept as
`Opaque` / `OpaqueStatement` with its sub-expressions as children, so nothing is dropped.

Scopes are computed on the way (no second walk): a function's `locals` are its parameters and every
name it binds (assignment, `for`, `with ... as`, `except ... as`, imports, nested `def`/`class`,
walrus, `match` captures, `del`), minus the names it declares `global` or `nonlocal`.
Comprehensions and lambdas have scopes of their own that do not leak, except for a walrus inside a
comprehension, which binds in the enclosing function as Python does.

Callee names are qualified through the imports in scope (module-level and function-level):
`from django.db import transaction` makes `transaction.atomic()` a call named
`django.db.transaction.atomic`; relative imports keep their leading dots (`.models.Account`) for
the project index to resolve.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from .._limits import MAX_NESTING, check_deadline, parse_python, paused_collection
from ..core.model import (
    Assert,
    Assign,
    Block,
    Branch,
    ClassModel,
    Collection,
    Delete,
    Eval,
    Expr,
    Function,
    Handler,
    If,
    Jump,
    Loop,
    ModuleModel,
    Opaque,
    OpaqueStatement,
    Raise,
    Return,
    Statement,
    Try,
    With,
    WithItem,
)
from ._expressions import (
    BINARY,
    ExpressionLowerer,
    Scope,
    annotation_text,
    dotted,
    methods_by_kind,
    parameters,
)

__all__ = ["annotation_text", "dotted", "lower_module", "lower_tree", "module_imports"]

# Lowering recurses once or twice per nesting level; the caller refuses trees deeper than
# MAX_NESTING before lowering, so this limit always suffices. Python-to-Python calls use no C stack
# on 3.11+, and analysis runs on its own large-stack thread anyway (`_limits.run_on_large_stack`).
_RECURSION_LIMIT = 4 * MAX_NESTING + 1000


def lower_module(source: str, path: str, *, tree: ast.Module | None = None) -> ModuleModel:
    """Lower `source` (parsed under the shared `ast` lock unless the caller passes its `tree`)."""
    if tree is None:
        tree = parse_python(source, path)
    return lower_tree(tree, source, path)


def lower_tree(tree: ast.Module, source: str, path: str) -> ModuleModel:
    if sys.getrecursionlimit() < _RECURSION_LIMIT:
        sys.setrecursionlimit(_RECURSION_LIMIT)
    module = ModuleModel(path=path, language="python", source=source)
    module.imports = module_imports(tree.body)
    # Lowering allocates one model node per syntax node and frees nothing, so every cyclic
    # collection it triggers walks the whole growing model (and the `ast` behind it) for no garbage:
    # a third of the time on Django's sources. The model holds no reference cycles.
    with paused_collection():
        module.body = _Lowerer(module, source).block(tree.body)
    return module


def module_imports(body: Iterable[ast.stmt]) -> dict[str, str]:
    """Module-level imports, including those in `if TYPE_CHECKING:` / `try:` blocks, collected
    before lowering: a function may use a name imported further down the file."""
    imports: dict[str, str] = {}
    pending = list(body)
    pending.reverse()  # popped from the end: in source order, so a later import overrides
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            imports.update(_import_names(node))
        elif isinstance(node, ast.If | ast.Try | ast.TryStar | ast.With):
            pending.extend(_sub_blocks(node))
    return imports


def _sub_blocks(node: ast.If | ast.Try | ast.TryStar | ast.With) -> list[ast.stmt]:
    statements = list(node.body)
    if isinstance(node, ast.If):
        statements.extend(node.orelse)
    elif isinstance(node, ast.Try | ast.TryStar):
        for handler in node.handlers:
            statements.extend(handler.body)
        statements.extend(node.orelse)
        statements.extend(node.finalbody)
    # Reversed: `module_imports` pops from the end, so later imports override earlier ones.
    statements.reverse()
    return statements


def _import_names(node: ast.Import | ast.ImportFrom) -> dict[str, str]:
    names: dict[str, str] = {}
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.asname is not None:
                names[alias.asname] = alias.name
            else:
                head = alias.name.partition(".")[0]
                names[head] = head
        return names
    package = "." * node.level + (node.module or "")
    for alias in node.names:
        if alias.name == "*":
            continue
        joined = f"{package}.{alias.name}" if node.module else f"{package}{alias.name}"
        names[alias.asname or alias.name] = joined
    return names


def _handler_types(node: ast.expr | None) -> tuple[str, ...]:
    if node is None:
        return ("Exception",)
    elements = node.elts if isinstance(node, ast.Tuple) else [node]
    names: list[str] = []
    for element in elements:
        if isinstance(element, ast.Name):
            names.append(element.id)
        elif isinstance(element, ast.Attribute):
            names.append(element.attr)
    return tuple(names) or ("Exception",)


# The method that lowers each statement kind (a class-level table: see `_EXPRESSION_METHODS`).
_STATEMENT_METHODS: dict[type[ast.AST], str] = {
    ast.Expr: "eval",
    ast.Assign: "assign",
    ast.AugAssign: "aug_assign",
    ast.AnnAssign: "ann_assign",
    ast.Return: "return_",
    ast.If: "if_",
    ast.For: "for_",
    ast.AsyncFor: "for_",
    ast.While: "while_",
    ast.With: "with_",
    ast.AsyncWith: "with_",
    ast.Try: "try_",
    ast.TryStar: "try_",
    ast.Raise: "raise_",
    ast.Assert: "assert_",
    ast.Delete: "delete",
    ast.Pass: "simple",
    ast.Break: "simple",
    ast.Continue: "simple",
    ast.Global: "declare",
    ast.Nonlocal: "declare",
    ast.Import: "import_",
    ast.ImportFrom: "import_",
    ast.FunctionDef: "function",
    ast.AsyncFunctionDef: "function",
    ast.ClassDef: "class_",
    ast.Match: "match",
}


class _Lowerer(ExpressionLowerer):
    statement_kinds: ClassVar[dict[type[ast.AST], Callable[[Any, Any], Statement]]]

    # -- blocks and statements ----------------------------------------------------------------
    def block(self, body: list[ast.stmt]) -> Block:
        kinds = self.statement_kinds
        unknown = _Lowerer.unknown_statement
        return tuple([kinds.get(type(node), unknown)(self, node) for node in body])

    def eval(self, node: ast.Expr) -> Statement:
        return Eval(self.expr(node.value), span=self.span(node), origin=node)

    def assign(self, node: ast.Assign) -> Statement:
        value = self.expr(node.value)
        targets = tuple([self.expr(target) for target in node.targets])
        scope = self.scopes[-1]
        if scope.kind in ("module", "class"):
            for target in node.targets:
                self.record(target, node.value, value)
        return Assign(targets, value, span=self.span(node), origin=node)

    def record(self, target: ast.expr, source: ast.expr, value: Expr) -> None:
        """A module-level assignment or class attribute: `name -> value` (tuples pair up)."""
        if isinstance(target, ast.Name):
            kind = self.scopes[-1].kind
            if kind == "module":
                self.module.assignments[target.id] = value
            elif kind == "class" and self.classes:
                self.classes[-1].attributes[target.id] = value
        elif (
            isinstance(target, ast.Tuple | ast.List)
            and isinstance(value, Collection)
            and isinstance(source, ast.Tuple | ast.List)
            and len(target.elts) == len(value.elements)
        ):
            for element, part, part_value in zip(target.elts, source.elts, value.elements, strict=True):
                self.record(element, part, part_value)

    def aug_assign(self, node: ast.AugAssign) -> Statement:
        value = self.expr(node.value)
        target = self.expr(node.target)
        return Assign((target,), value, op=BINARY[type(node.op)], span=self.span(node), origin=node)

    def ann_assign(self, node: ast.AnnAssign) -> Statement:
        value = self.optional(node.value)
        target = self.expr(node.target)
        if value is not None and node.value is not None and self.scopes[-1].kind in ("module", "class"):
            self.record(node.target, node.value, value)
        return Assign((target,), value, span=self.span(node), origin=node)

    def return_(self, node: ast.Return) -> Statement:
        return Return(self.optional(node.value), span=self.span(node), origin=node)

    def raise_(self, node: ast.Raise) -> Statement:
        return Raise(self.optional(node.exc), self.optional(node.cause), span=self.span(node), origin=node)

    def assert_(self, node: ast.Assert) -> Statement:
        return Assert(self.expr(node.test), self.optional(node.msg), span=self.span(node), origin=node)

    def delete(self, node: ast.Delete) -> Statement:
        targets = tuple([self.expr(target) for target in node.targets])
        return Delete(targets, span=self.span(node), origin=node)

    def simple(self, node: ast.Pass | ast.Break | ast.Continue) -> Statement:
        if isinstance(node, ast.Break):
            return Jump("break", span=self.span(node), origin=node)
        if isinstance(node, ast.Continue):
            return Jump("continue", span=self.span(node), origin=node)
        return OpaqueStatement("pass", span=self.span(node), origin=node)

    def declare(self, node: ast.Global | ast.Nonlocal) -> Statement:
        scope = self.scopes[-1]
        if isinstance(node, ast.Global):
            kind = "global"
            scope.globals.update(node.names)
        else:
            kind = "nonlocal"
            scope.nonlocals.update(node.names)
        return OpaqueStatement(kind, span=self.span(node), origin=node)

    def import_(self, node: ast.Import | ast.ImportFrom) -> Statement:
        names = _import_names(node)
        scope = self.scopes[-1]
        if scope.kind != "module":
            scope.imports.update(names)
            scope.bound.update(names)
        return OpaqueStatement("import", span=self.span(node), origin=node)

    def if_(self, node: ast.If) -> Statement:
        test = self.expr(node.test)
        return If(test, self.block(node.body), self.block(node.orelse), span=self.span(node), origin=node)

    def while_(self, node: ast.While) -> Statement:
        test = self.expr(node.test)
        body = self.block(node.body)
        return Loop(body, test=test, orelse=self.block(node.orelse), span=self.span(node), origin=node)

    def for_(self, node: ast.For | ast.AsyncFor) -> Statement:
        iterable = self.expr(node.iter)
        target = self.expr(node.target)
        return Loop(
            self.block(node.body),
            target=target,
            iterable=iterable,
            orelse=self.block(node.orelse),
            is_async=isinstance(node, ast.AsyncFor),
            span=self.span(node),
            origin=node,
        )

    def with_(self, node: ast.With | ast.AsyncWith) -> Statement:
        items = tuple(
            [
                WithItem(
                    self.expr(item.context_expr),
                    self.optional(item.optional_vars),
                    span=self.span(item.context_expr),
                    origin=item,
                )
                for item in node.items
            ]
        )
        is_async = isinstance(node, ast.AsyncWith)
        return With(items, self.block(node.body), is_async, span=self.span(node), origin=node)

    def try_(self, node: ast.Try | ast.TryStar) -> Statement:
        body = self.block(node.body)
        handlers = []
        for handler in node.handlers:
            if handler.name is not None:
                self.bind(handler.name)
            handlers.append(
                Handler(
                    _handler_types(handler.type),
                    self.block(handler.body),
                    handler.name,
                    span=self.span(handler),
                    origin=handler,
                )
            )
        return Try(
            body,
            tuple(handlers),
            self.block(node.orelse),
            self.block(node.finalbody),
            span=self.span(node),
            origin=node,
        )

    def match(self, node: ast.Match) -> Statement:
        subject = self.expr(node.subject)
        arms: list[Block] = []
        patterns: list[Expr | None] = []
        for case in node.cases:
            values = self.pattern(case.pattern, [])
            patterns.append(
                Opaque("pattern", tuple(values), span=self.span(case.pattern), origin=case.pattern)
                if values
                else None
            )
            body = self.block(case.body)
            if case.guard is not None:
                guard = self.expr(case.guard)
                body = (If(guard, body, span=guard.span, origin=case),)
            arms.append(body)
        return Branch(subject, tuple(arms), tuple(patterns), span=self.span(node), origin=node)

    def pattern(self, node: ast.pattern, values: list[Expr]) -> list[Expr]:
        """The expressions a pattern compares with; its capture names are bound on the way."""
        if isinstance(node, ast.MatchValue):
            values.append(self.expr(node.value))
        elif isinstance(node, ast.MatchAs | ast.MatchStar):
            if node.name is not None:
                self.bind(node.name)
            if isinstance(node, ast.MatchAs) and node.pattern is not None:
                self.pattern(node.pattern, values)
        elif isinstance(node, ast.MatchSequence | ast.MatchOr):
            for sub in node.patterns:
                self.pattern(sub, values)
        elif isinstance(node, ast.MatchMapping):
            values.extend(self.expr(key) for key in node.keys)
            for sub in node.patterns:
                self.pattern(sub, values)
            if node.rest is not None:
                self.bind(node.rest)
        elif isinstance(node, ast.MatchClass):
            values.append(self.expr(node.cls))
            for sub in (*node.patterns, *node.kwd_patterns):
                self.pattern(sub, values)
        return values

    def unknown_statement(self, node: ast.stmt) -> Statement:
        """Syntax newer than this front-end (`type X = ...`): its expressions are kept."""
        children = self.children(node)
        return OpaqueStatement(type(node).__name__.lower(), children, span=self.span(node), origin=node)

    # -- definitions --------------------------------------------------------------------------
    def function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> Statement:
        check_deadline()
        outer = self.scopes[-1]
        decorators = tuple([self.expr(decorator) for decorator in node.decorator_list])
        arguments = node.args
        defaults = [self.expr(default) for default in arguments.defaults]
        defaults += [self.expr(default) for default in arguments.kw_defaults if default is not None]
        outer.bound.add(node.name)
        qualname = outer.prefix + node.name
        params, annotations = parameters(arguments)
        if node.returns is not None:
            annotations["return"] = annotation_text(node.returns)
        owner = self.classes[-1] if outer.kind == "class" and self.classes else None
        function = Function(
            node.name,
            qualname,
            params,
            (),
            is_async=isinstance(node, ast.AsyncFunctionDef),
            owner_class=outer.prefix[:-1] if owner is not None else None,
            decorators=decorators,
            annotations=annotations,
            span=self.span(node),
            origin=node,
        )
        # Registered before its body is lowered, so an outer function precedes its nested ones.
        self.module.functions[qualname] = function
        if owner is not None:
            owner.methods[node.name] = function
        scope = Scope("function", qualname + ".<locals>.", params)
        self.scopes.append(scope)
        try:
            function.body = self.block(node.body)
        finally:
            self.scopes.pop()
        function.locals = frozenset(scope.bound - scope.globals - scope.nonlocals)
        function.globals = frozenset(scope.globals)
        children = (*decorators, *defaults)
        return OpaqueStatement("def", children, qualname, span=self.span(node), origin=node)

    def class_(self, node: ast.ClassDef) -> Statement:
        check_deadline()
        outer = self.scopes[-1]
        decorators = tuple([self.expr(decorator) for decorator in node.decorator_list])
        bases = [self.expr(base) for base in node.bases]
        keywords = [self.expr(keyword.value) for keyword in node.keywords]
        outer.bound.add(node.name)
        qualname = outer.prefix + node.name
        names = []
        for base in node.bases:
            name = self.qualify(base.value if isinstance(base, ast.Subscript) else base)
            if name is not None:
                names.append(name)
        model = ClassModel(node.name, tuple(names), decorators=decorators, span=self.span(node), origin=node)
        self.module.classes[qualname] = model
        self.classes.append(model)
        self.scopes.append(Scope("class", qualname + "."))
        try:
            model.body = self.block(node.body)
        finally:
            self.scopes.pop()
            self.classes.pop()
        children = (*decorators, *bases, *keywords)
        return OpaqueStatement("class", children, qualname, span=self.span(node), origin=node)


_Lowerer.statement_kinds = methods_by_kind(_Lowerer, _STATEMENT_METHODS)
