"""Lowering of Python expressions to the model, and the scope bookkeeping lowering shares.

`ExpressionLowerer` is the base of the module lowerer (`lower.py`): it holds the scope stack (names
bound per function, imports in scope), turns `ast` positions into character-column spans and
lowers every expression kind; syntax the model has no node for becomes an `Opaque` whose children
are the sub-expressions.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from ..core.model import (
    Arg,
    Attribute,
    Await,
    Call,
    ClassModel,
    Collection,
    Conditional,
    Expr,
    Literal,
    ModuleModel,
    Name,
    Opaque,
    Operation,
    Span,
    Subscript,
    Template,
    Walrus,
)

__all__ = [
    "BINARY",
    "ExpressionLowerer",
    "Scope",
    "annotation_text",
    "dotted",
    "methods_by_kind",
    "parameters",
]

# A container literal of this many constants is data (a lookup table); no rule reads inside it.
_BULKY = 1000
# `Span` is a named tuple: building it from a tuple skips its Python-level `__new__`.
_new_span = tuple.__new__
_LINE_END = re.compile(r"\r\n|\r|\n")

BINARY = {
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


def methods_by_kind(
    cls: type, names: dict[type[ast.AST], str]
) -> dict[type[ast.AST], Callable[[Any, Any], Any]]:
    """A dispatch table of `cls`'s own functions (overrides included), called as `f(lowerer, node)`."""
    return {kind: getattr(cls, name) for kind, name in names.items()}


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


class Scope:
    """One scope being lowered: a function (or module, class, lambda, comprehension)."""

    __slots__ = ("bound", "globals", "imports", "kind", "nonlocals", "prefix")

    def __init__(self, kind: str, prefix: str, bound: Iterable[str] = ()) -> None:
        self.kind = kind  # module, class, function, lambda, comprehension
        self.prefix = prefix  # what qualnames defined here start with
        self.bound: set[str] = set(bound)
        self.globals: set[str] = set()
        self.nonlocals: set[str] = set()
        self.imports: dict[str, str] = {}


# The method that lowers each expression kind, by name: each class's table (`expr_kinds`) holds
# its own functions, called with the lowerer (bound methods kept on the instance made a reference
# cycle that held every lowered model until the next cyclic collection).
_EXPRESSION_METHODS: dict[type[ast.AST], str] = {
    ast.Name: "name",
    ast.Constant: "constant",
    ast.Attribute: "attribute",
    ast.Subscript: "subscript",
    ast.Call: "call",
    ast.Await: "await_",
    ast.BinOp: "binary",
    ast.BoolOp: "boolean",
    ast.UnaryOp: "unary",
    ast.Compare: "compare",
    ast.IfExp: "conditional",
    ast.JoinedStr: "template",
    ast.Tuple: "collection",
    ast.List: "collection",
    ast.Set: "collection",
    ast.Dict: "dictionary",
    ast.ListComp: "comprehension",
    ast.SetComp: "comprehension",
    ast.GeneratorExp: "comprehension",
    ast.DictComp: "comprehension",
    ast.NamedExpr: "walrus",
    ast.Lambda: "lambda_",
    ast.Starred: "starred",
    ast.Yield: "yield_",
    ast.YieldFrom: "yield_",
    ast.Slice: "slice",
}


class ExpressionLowerer:
    expr_kinds: ClassVar[dict[type[ast.AST], Callable[[Any, Any], Expr]]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.expr_kinds = methods_by_kind(cls, _EXPRESSION_METHODS)

    def __init__(self, module: ModuleModel, source: str) -> None:
        self.module = module
        self.scopes = [Scope("module", "")]
        self.classes: list[ClassModel] = []
        # Columns in the model count characters; `ast` counts UTF-8 bytes. Only lines with
        # non-ASCII text differ, and most files have none.
        self.lines: list[str] | None = None if source.isascii() else _LINE_END.split(source)

    # -- positions ----------------------------------------------------------------------------
    def span(self, node: Any) -> Span:
        lines = self.lines
        if lines is None:  # an ASCII file: byte columns are character columns
            return _new_span(Span, (node.lineno, node.col_offset, node.end_lineno, node.end_col_offset))
        line, column = node.lineno, node.col_offset
        end_line, end_column = node.end_lineno, node.end_col_offset
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
        module_import = self.module.imports.get(head)
        if module_import is None:
            return text
        return f"{module_import}.{rest}" if dot else module_import

    def expr(self, node: ast.expr) -> Expr:
        kind = self.expr_kinds.get(type(node))
        return self.unknown_expr(node) if kind is None else kind(self, node)

    def optional(self, node: ast.expr | None) -> Expr | None:
        return None if node is None else self.expr(node)

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
            if keyword.arg is None:
                args.append(Arg(value, star="**", span=self.span(keyword), origin=keyword))
            else:
                args.append(Arg(value, keyword.arg, span=self.span(keyword), origin=keyword))
        call = Call(func, tuple(args), self.qualify(node.func), span=self.span(node), origin=node)
        scopes = self.scopes
        if len(scopes) == 1 or (
            scopes[1].kind == "comprehension" and all(scope.kind == "comprehension" for scope in scopes[1:])
        ):
            self.module.calls.append(call)  # the module's own code (class bodies excluded)
        return call

    def await_(self, node: ast.Await) -> Expr:
        return Await(self.expr(node.value), span=self.span(node), origin=node)

    def binary(self, node: ast.BinOp) -> Expr:
        operands = (self.expr(node.left), self.expr(node.right))
        return Operation(BINARY[type(node.op)], operands, span=self.span(node), origin=node)

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
        if not isinstance(spec, ast.JoinedStr) or not any(
            isinstance(part, ast.FormattedValue) for part in spec.values
        ):
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
        """`sources` are the iterables (in order), `elements` the produced element (key and value for
        a dict), `conditions` the `if` clauses. Targets bind in the comprehension's own scope."""
        iterables: list[Expr] = []
        conditions: list[Expr] = []
        outer = self.scopes[-1]
        self.scopes.append(Scope("comprehension", outer.prefix))
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
            tuple(produced),
            tuple(conditions),
            tuple(iterables),
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
        params, _ = parameters(arguments)
        self.scopes.append(Scope("lambda", self.scopes[-1].prefix + "<lambda>.<locals>.", params))
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


ExpressionLowerer.expr_kinds = methods_by_kind(ExpressionLowerer, _EXPRESSION_METHODS)


def parameters(arguments: ast.arguments) -> tuple[tuple[str, ...], dict[str, str]]:
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
