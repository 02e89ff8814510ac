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
import re
import sys
from collections.abc import Callable, Iterable
from typing import Any

from .._limits import MAX_NESTING, check_deadline, parse_python
from ..core.model import (
    Arg,
    Assert,
    Assign,
    Attribute,
    Await,
    Block,
    Branch,
    Call,
    ClassModel,
    Collection,
    Conditional,
    Delete,
    Eval,
    Expr,
    Function,
    Handler,
    If,
    Jump,
    Literal,
    Loop,
    ModuleModel,
    Name,
    Opaque,
    OpaqueStatement,
    Operation,
    Raise,
    Return,
    Span,
    Statement,
    Subscript,
    Template,
    Try,
    Walrus,
    With,
    WithItem,
)

__all__ = ["annotation_text", "dotted", "lower_module", "lower_tree"]

# Lowering recurses once or twice per nesting level; the caller refuses trees deeper than
# MAX_NESTING before lowering, so this limit always suffices. Python-to-Python calls use no C stack
# on 3.11+, and analysis runs on its own large-stack thread anyway (`_limits.run_on_large_stack`).
_RECURSION_LIMIT = 4 * MAX_NESTING + 1000
# A container literal of this many constants is data (a lookup table); no rule reads inside it.
_BULKY = 1000
_LINE_END = re.compile(r"\r\n|\r|\n")

_BINARY = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.MatMult: "@",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.BitAnd: "&",
}
_UNARY = {ast.Not: "not", ast.USub: "-", ast.UAdd: "+", ast.Invert: "~"}
_COMPARE = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Is: "is",
    ast.IsNot: "is-not",
    ast.In: "in",
    ast.NotIn: "not-in",
}
# `x == None` is `x is None` for every purpose a race check has.
_NONE_COMPARE = {"==": "is", "!=": "is-not", "is": "is", "is-not": "is-not"}
_LITERAL_TYPES = (str, bytes, int, float, bool, type(None))
_COLLECTIONS = {ast.Tuple: "tuple", ast.List: "list", ast.Set: "set"}


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
    lowerer = _Lowerer(module, source)
    module.body = lowerer.block(tree.body)
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


def dotted(node: ast.expr) -> str | None:
    """`a.b.c` for a chain of names and attributes, else None."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def annotation_text(node: ast.expr) -> str:
    """An annotation as text, without `ast.unparse` for the usual shapes: `Session`,
    `orm.Session`, `Optional[Session]`, `Annotated[Session, ...]`, `A | None`, `"Session"`."""
    name = dotted(node)
    if name is not None:
        return name
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else repr(node.value)
    if isinstance(node, ast.Subscript):
        inner = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        return f"{annotation_text(node.value)}[{', '.join(annotation_text(e) for e in inner)}]"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return f"{annotation_text(node.left)} | {annotation_text(node.right)}"
    return ast.unparse(node)


class _Scope:
    """One scope being lowered: a function (or module, class, lambda, comprehension)."""

    __slots__ = ("bound", "globals", "imports", "kind", "nonlocals", "prefix")

    def __init__(self, kind: str, prefix: str, bound: Iterable[str] = ()) -> None:
        self.kind = kind  # module, class, function, lambda, comprehension
        self.prefix = prefix  # what qualnames defined here start with
        self.bound: set[str] = set(bound)
        self.globals: set[str] = set()
        self.nonlocals: set[str] = set()
        self.imports: dict[str, str] = {}


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


class _Lowerer:
    def __init__(self, module: ModuleModel, source: str) -> None:
        self.module = module
        self.scopes = [_Scope("module", "")]
        self.classes: list[ClassModel] = []
        # Columns in the model count characters; `ast` counts UTF-8 bytes. Only lines with
        # non-ASCII text differ, and most files have none.
        self.lines: list[str] | None = None if source.isascii() else _LINE_END.split(source)
        self.expr_kinds: dict[type[ast.AST], Callable[[Any], Expr]] = {
            ast.Name: self.name,
            ast.Constant: self.constant,
            ast.Attribute: self.attribute,
            ast.Subscript: self.subscript,
            ast.Call: self.call,
            ast.Await: self.await_,
            ast.BinOp: self.binary,
            ast.BoolOp: self.boolean,
            ast.UnaryOp: self.unary,
            ast.Compare: self.compare,
            ast.IfExp: self.conditional,
            ast.JoinedStr: self.template,
            ast.Tuple: self.collection,
            ast.List: self.collection,
            ast.Set: self.collection,
            ast.Dict: self.dictionary,
            ast.ListComp: self.comprehension,
            ast.SetComp: self.comprehension,
            ast.GeneratorExp: self.comprehension,
            ast.DictComp: self.comprehension,
            ast.NamedExpr: self.walrus,
            ast.Lambda: self.lambda_,
            ast.Starred: self.starred,
            ast.Yield: self.yield_,
            ast.YieldFrom: self.yield_,
            ast.Slice: self.slice,
        }
        self.statement_kinds: dict[type[ast.AST], Callable[[Any], Statement]] = {
            ast.Expr: self.eval,
            ast.Assign: self.assign,
            ast.AugAssign: self.aug_assign,
            ast.AnnAssign: self.ann_assign,
            ast.Return: self.return_,
            ast.If: self.if_,
            ast.For: self.for_,
            ast.AsyncFor: self.for_,
            ast.While: self.while_,
            ast.With: self.with_,
            ast.AsyncWith: self.with_,
            ast.Try: self.try_,
            ast.TryStar: self.try_,
            ast.Raise: self.raise_,
            ast.Assert: self.assert_,
            ast.Delete: self.delete,
            ast.Pass: self.simple,
            ast.Break: self.simple,
            ast.Continue: self.simple,
            ast.Global: self.declare,
            ast.Nonlocal: self.declare,
            ast.Import: self.import_,
            ast.ImportFrom: self.import_,
            ast.FunctionDef: self.function,
            ast.AsyncFunctionDef: self.function,
            ast.ClassDef: self.class_,
            ast.Match: self.match,
        }

    # -- positions ----------------------------------------------------------------------------
    def span(self, node: Any) -> Span:
        line, column = node.lineno, node.col_offset
        end_line, end_column = node.end_lineno, node.end_col_offset
        lines = self.lines
        if lines is not None:
            if not lines[line - 1].isascii():
                column = _characters(lines[line - 1], column)
            if end_line and not lines[end_line - 1].isascii():
                end_column = _characters(lines[end_line - 1], end_column)
        return Span(line, column, end_line, end_column)

    # -- names and scopes ---------------------------------------------------------------------
    def bind(self, name: str) -> None:
        self.scopes[-1].bound.add(name)

    def qualify(self, node: ast.expr) -> str | None:
        """The callee's dotted text with its head resolved through the imports in scope."""
        text = dotted(node)
        if text is None:
            return None
        head, dot, rest = text.partition(".")
        innermost = self.scopes[-1]
        for scope in reversed(self.scopes):
            if scope.kind == "class" and scope is not innermost:
                continue  # a class body's names are not visible in its methods
            if head in scope.imports:
                qualified = scope.imports[head]
                return f"{qualified}.{rest}" if dot else qualified
            if scope.kind != "module" and head in scope.bound:
                return text  # a local or parameter shadows any import
        qualified = self.module.imports.get(head)
        if qualified is None:
            return text
        return f"{qualified}.{rest}" if dot else qualified

    # -- blocks and statements ----------------------------------------------------------------
    def block(self, body: list[ast.stmt]) -> Block:
        kinds = self.statement_kinds
        return tuple([kinds.get(type(node), self.unknown_statement)(node) for node in body])

    def expr(self, node: ast.expr) -> Expr:
        return self.expr_kinds.get(type(node), self.unknown_expr)(node)

    def optional(self, node: ast.expr | None) -> Expr | None:
        return None if node is None else self.expr_kinds.get(type(node), self.unknown_expr)(node)

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
        return Assign((target,), value, op=_BINARY[type(node.op)], span=self.span(node), origin=node)

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
        params, annotations = _parameters(arguments)
        if node.returns is not None:
            annotations["return"] = annotation_text(node.returns)
        scope = _Scope("function", qualname + ".<locals>.", params)
        self.scopes.append(scope)
        try:
            body = self.block(node.body)
        finally:
            self.scopes.pop()
        owner = self.classes[-1] if outer.kind == "class" and self.classes else None
        function = Function(
            node.name,
            qualname,
            params,
            body,
            is_async=isinstance(node, ast.AsyncFunctionDef),
            owner_class=outer.prefix[:-1] if owner is not None else None,
            decorators=decorators,
            annotations=annotations,
            locals=frozenset(scope.bound - scope.globals - scope.nonlocals),
            globals=frozenset(scope.globals),
            span=self.span(node),
            origin=node,
        )
        self.module.functions[qualname] = function
        if owner is not None:
            owner.methods[node.name] = function
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
        self.scopes.append(_Scope("class", qualname + "."))
        try:
            model.body = self.block(node.body)
        finally:
            self.scopes.pop()
            self.classes.pop()
        children = (*decorators, *bases, *keywords)
        return OpaqueStatement("class", children, qualname, span=self.span(node), origin=node)

    # -- expressions --------------------------------------------------------------------------
    def name(self, node: ast.Name) -> Expr:
        if type(node.ctx) is not ast.Load:
            self.scopes[-1].bound.add(node.id)
        return Name(node.id, span=self.span(node), origin=node)

    def constant(self, node: ast.Constant) -> Expr:
        if isinstance(node.value, _LITERAL_TYPES):
            return Literal(node.value, span=self.span(node), origin=node)
        kind = "ellipsis" if node.value is Ellipsis else "constant"
        return Opaque(kind, span=self.span(node), origin=node)

    def attribute(self, node: ast.Attribute) -> Expr:
        return Attribute(self.expr(node.value), node.attr, span=self.span(node), origin=node)

    def subscript(self, node: ast.Subscript) -> Expr:
        value = self.expr(node.value)
        index = node.slice
        key = index.value if isinstance(index, ast.Constant) and isinstance(index.value, str) else None
        return Subscript(value, self.expr(index), key, span=self.span(node), origin=node)

    def call(self, node: ast.Call) -> Expr:
        func = self.expr(node.func)
        args: list[Arg] = []
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                args.append(Arg(self.expr(arg.value), star="*", span=self.span(arg), origin=arg))
            else:
                value = self.expr(arg)
                args.append(Arg(value, span=value.span, origin=arg))
        for keyword in node.keywords:
            value = self.expr(keyword.value)
            star = "**" if keyword.arg is None else ""
            args.append(Arg(value, keyword.arg, star, span=self.span(keyword), origin=keyword))
        return Call(func, tuple(args), self.qualify(node.func), span=self.span(node), origin=node)

    def await_(self, node: ast.Await) -> Expr:
        return Await(self.expr(node.value), span=self.span(node), origin=node)

    def binary(self, node: ast.BinOp) -> Expr:
        operands = (self.expr(node.left), self.expr(node.right))
        return Operation(_BINARY[type(node.op)], operands, span=self.span(node), origin=node)

    def boolean(self, node: ast.BoolOp) -> Expr:
        op = "and" if isinstance(node.op, ast.And) else "or"
        operands = tuple([self.expr(value) for value in node.values])
        return Operation(op, operands, span=self.span(node), origin=node)

    def unary(self, node: ast.UnaryOp) -> Expr:
        return Operation(_UNARY[type(node.op)], (self.expr(node.operand),), span=self.span(node), origin=node)

    def compare(self, node: ast.Compare) -> Expr:
        """`a < b` is one operation; a chain `a < b < c` is the `and` of its links, which share `b`."""
        left_node: ast.expr = node.left
        left = self.expr(left_node)
        links: list[Expr] = []
        for op_node, right_node in zip(node.ops, node.comparators, strict=True):
            right = self.expr(right_node)
            op = _COMPARE[type(op_node)]
            first, second = left, right
            if op in _NONE_COMPARE and _is_none(left_node) and not _is_none(right_node):
                first, second = right, left  # `None is x` reads as `x is None`
            if op in _NONE_COMPARE and (_is_none(left_node) or _is_none(right_node)):
                op = _NONE_COMPARE[op]
            links.append(Operation(op, (first, second), span=self.span(node), origin=node))
            left_node, left = right_node, right
        if len(links) == 1:
            return links[0]
        return Operation("and", tuple(links), span=self.span(node), origin=node)

    def conditional(self, node: ast.IfExp) -> Expr:
        test = self.expr(node.test)
        body = self.expr(node.body)
        return Conditional(test, body, self.expr(node.orelse), span=self.span(node), origin=node)

    def template(self, node: ast.JoinedStr) -> Expr:
        parts: list[str | Expr] = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value))
            elif isinstance(value, ast.FormattedValue):
                parts.append(self.hole(value))
        return Template(tuple(parts), span=self.span(node), origin=node)

    def hole(self, node: ast.FormattedValue) -> Expr:
        inner = self.expr(node.value)
        spec = node.format_spec
        if spec is None or not any(isinstance(part, ast.FormattedValue) for part in spec.values):
            return inner
        # `f"{amount:{width}}"`: the nested holes are evaluated too; the value is still `amount`'s.
        extra = [self.expr(part.value) for part in spec.values if isinstance(part, ast.FormattedValue)]
        return Opaque("format", (inner, *extra), True, span=inner.span, origin=node)

    def collection(self, node: ast.Tuple | ast.List | ast.Set) -> Expr:
        elements = node.elts
        if len(elements) >= _BULKY and all(type(element) is ast.Constant for element in elements):
            return Opaque("data", span=self.span(node), origin=node)
        lowered = tuple([self.expr(element) for element in elements])
        return Collection(_COLLECTIONS[type(node)], lowered, span=self.span(node), origin=node)  # type: ignore[arg-type]

    def dictionary(self, node: ast.Dict) -> Expr:
        if len(node.keys) >= _BULKY and all(
            type(key) is ast.Constant and type(value) is ast.Constant
            for key, value in zip(node.keys, node.values, strict=True)
        ):
            return Opaque("data", span=self.span(node), origin=node)
        elements: list[Expr] = []
        for key, value in zip(node.keys, node.values, strict=True):
            if key is None:  # `{**other}`: no key; the unpacked mapping flows into the value
                lowered = self.expr(value)
                elements.append(Literal(None, span=lowered.span, origin=value))
                elements.append(Opaque("unpack", (lowered,), True, span=lowered.span, origin=value))
            else:
                elements.append(self.expr(key))
                elements.append(self.expr(value))
        return Collection("dict", tuple(elements), span=self.span(node), origin=node)

    def comprehension(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp) -> Expr:
        """`elements` are the iterables (in order) then the produced element(s) (key and value for a
        dict); `conditions` the `if` clauses. Targets bind in the comprehension's own scope."""
        iterables: list[Expr] = []
        conditions: list[Expr] = []
        outer = self.scopes[-1]
        self.scopes.append(_Scope("comprehension", outer.prefix))
        try:
            for generator in node.generators:
                iterables.append(self.expr(generator.iter))
                self.expr(generator.target)
                conditions.extend(self.expr(test) for test in generator.ifs)
            if isinstance(node, ast.DictComp):
                produced = [self.expr(node.key), self.expr(node.value)]
            else:
                produced = [self.expr(node.elt)]
        finally:
            self.scopes.pop()
        return Collection(
            "comprehension",
            (*iterables, *produced),
            tuple(conditions),
            span=self.span(node),
            origin=node,
        )

    def walrus(self, node: ast.NamedExpr) -> Expr:
        value = self.expr(node.value)
        # A walrus in a comprehension binds in the enclosing function (PEP 572).
        for scope in reversed(self.scopes):
            if scope.kind != "comprehension":
                scope.bound.add(node.target.id)
                break
        target = Name(node.target.id, span=self.span(node.target), origin=node.target)
        return Walrus(target, value, span=self.span(node), origin=node)

    def lambda_(self, node: ast.Lambda) -> Expr:
        """Children: the defaults (evaluated where the lambda is written), then the body (evaluated
        only when it is called; its parameters are its own)."""
        arguments = node.args
        defaults = [self.expr(default) for default in arguments.defaults]
        defaults += [self.expr(default) for default in arguments.kw_defaults if default is not None]
        params, _ = _parameters(arguments)
        self.scopes.append(_Scope("lambda", self.scopes[-1].prefix + "<lambda>.<locals>.", params))
        try:
            body = self.expr(node.body)
        finally:
            self.scopes.pop()
        return Opaque("lambda", (*defaults, body), span=self.span(node), origin=node)

    def starred(self, node: ast.Starred) -> Expr:
        return Opaque("starred", (self.expr(node.value),), True, span=self.span(node), origin=node)

    def yield_(self, node: ast.Yield | ast.YieldFrom) -> Expr:
        kind = "yield" if isinstance(node, ast.Yield) else "yield-from"
        children = () if node.value is None else (self.expr(node.value),)
        return Opaque(kind, children, span=self.span(node), origin=node)

    def slice(self, node: ast.Slice) -> Expr:
        parts = tuple([self.expr(part) for part in (node.lower, node.upper, node.step) if part is not None])
        return Opaque("slice", parts, True, span=self.span(node), origin=node)

    def unknown_expr(self, node: ast.expr) -> Expr:
        return Opaque(type(node).__name__.lower(), self.children(node), span=self.span(node), origin=node)

    def children(self, node: ast.AST) -> tuple[Expr, ...]:
        return tuple(
            [self.expr(child) for child in ast.iter_child_nodes(node) if isinstance(child, ast.expr)]
        )


def _parameters(arguments: ast.arguments) -> tuple[tuple[str, ...], dict[str, str]]:
    """Parameter names in signature order (`self` included) and their annotations as text."""
    ordered = [*arguments.posonlyargs, *arguments.args]
    if arguments.vararg is not None:
        ordered.append(arguments.vararg)
    ordered.extend(arguments.kwonlyargs)
    if arguments.kwarg is not None:
        ordered.append(arguments.kwarg)
    annotations = {arg.arg: annotation_text(arg.annotation) for arg in ordered if arg.annotation is not None}
    return tuple(arg.arg for arg in ordered), annotations


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _characters(line: str, byte_column: int) -> int:
    return len(line.encode("utf-8")[:byte_column].decode("utf-8", "ignore"))
