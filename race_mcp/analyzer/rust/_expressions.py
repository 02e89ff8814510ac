"""Rust expressions and patterns lowered to the program model.

Rust places reach shared state through guards and references the model has no words for, so the
lowering makes them transparent where races care: `*x`, `&x`, `&mut x`, `x as T`, `x?` and a
temporary lock guard (`state.m.lock().unwrap()`, `.read()`, `.write()`, `.lock().await`) lower to
the place they reach (`state.m`), spanning the whole expression. A guard bound by `let` is the
statement lowering's business (`lower.py`: the rest of its block becomes a `With` over the lock).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import Literal

from ..core import model
from ._syntax import Node, field, span, text

__all__ = ["CONTROL", "LOCK_METHODS", "ExpressionLowering", "lock_target", "unwrap_guard"]

LOCK_METHODS = frozenset({"lock", "read", "write", "try_lock", "try_read", "try_write"})
_GUARD_UNWRAPS = frozenset({"unwrap", "expect"})
_TRANSPARENT = frozenset({"parenthesized_expression", "reference_expression", "type_cast_expression"})
_BINARY = {"&&": "and", "||": "or"}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "'": "'"}
_HOLE = re.compile(r"\{[^{}]*\}")
_ROW_NAME = re.compile(r"(^|_)(row|rec|record)$")
# Expressions that are statements in disguise (blocks, branches, jumps): lowered by `lower.py`.
CONTROL = frozenset(
    {
        "if_expression",
        "match_expression",
        "block",
        "unsafe_block",
        "loop_expression",
        "while_expression",
        "for_expression",
        "return_expression",
        "break_expression",
        "continue_expression",
    }
)


def _method(node: Node) -> tuple[str, Node] | None:
    """`(method, receiver)` of a method call `receiver.method(...)`."""
    if node.type != "call_expression":
        return None
    function = field(node, "function")
    if function is None or function.type != "field_expression":
        return None
    name, receiver = field(function, "field"), field(function, "value")
    if name is None or receiver is None:
        return None
    return text(name), receiver


def lock_target(node: Node) -> Node | None:
    """The locked place of a guard expression: `state.m` in `state.m.lock().unwrap()`,
    `state.m.write().await`, `state.m.lock()`; None when `node` makes no guard."""
    while node.type in ("try_expression", "await_expression") or (
        (called := _method(node)) is not None and called[0] in _GUARD_UNWRAPS
    ):
        node = node.named_children[0] if node.type != "call_expression" else _method(node)[1]  # type: ignore[index]
    called = _method(node)
    if called is None or called[0] not in LOCK_METHODS:
        return None
    arguments = field(node, "arguments")
    if arguments is not None and arguments.named_child_count:
        return None  # `file.read(&mut buf)`: no lock
    return called[1]


def unwrap_guard(node: Node) -> Node:
    """The place behind a temporary guard, or `node` itself."""
    target = lock_target(node)
    return target if target is not None else node


def string_value(node: Node) -> str:
    """The value of a (raw) string literal, with the common escapes resolved."""
    if node.type == "raw_string_literal":
        content = next((c for c in node.named_children if c.type == "string_content"), None)
        return text(content)
    parts = []
    for child in node.named_children:
        if child.type == "escape_sequence":
            raw = text(child)
            parts.append(_ESCAPES.get(raw[1:2], raw))
        else:
            parts.append(text(child))
    return "".join(parts)


class ExpressionLowering:
    """Expressions of one function. `guards` maps a guard's local name to the place it locks;
    `qualify` resolves a path through the module's `use` declarations."""

    def __init__(self, qualify: Callable[[str], str]) -> None:
        self.qualify = qualify
        self.guards: dict[str, Node] = {}
        self.tries = 0  # `?` operators met: the statement lowering adds their early returns

    def expr(self, node: Node) -> model.Expr:
        kind = node.type
        handler = _HANDLERS.get(kind)
        if handler is not None:
            return handler(self, node)
        if kind in _TRANSPARENT:
            inner = node.named_children
            value = field(node, "value") or (inner[-1] if kind == "reference_expression" else inner[0])
            return self.expr(value) if value is not None else model.Opaque(kind, span=span(node), origin=node)
        children = tuple(self.expr(c) for c in node.named_children if _is_expression(c))
        return model.Opaque(kind, children, carries=True, span=span(node), origin=node)

    def identifier(self, node: Node) -> model.Expr:
        name = text(node)
        guarded = self.guards.get(name)
        if guarded is not None:  # the guard stands for the place it locks
            place = self.expr(guarded)
            place.span = span(node)
            return place
        return model.Name(name, span=span(node), origin=node)

    def path(self, node: Node) -> model.Expr:
        return model.Name(text(node), span=span(node), origin=node)

    def field_expression(self, node: Node) -> model.Expr:
        value, name = field(node, "value"), field(node, "field")
        if value is None or name is None:
            return model.Opaque("field", span=span(node), origin=node)
        return model.Attribute(self.expr(value), text(name), span=span(node), origin=node)

    def call(self, node: Node) -> model.Expr:
        if lock_target(node) is not None:
            return self.place(node)
        column = _row_column(node)
        if column is not None:
            return column(self)
        function = field(node, "function")
        arguments = field(node, "arguments")
        args = tuple(
            model.Arg(self.expr(a), span=span(a), origin=a)
            for a in (arguments.named_children if arguments is not None else ())
            if _is_expression(a)
        )
        if function is None:
            return model.Opaque("call", tuple(a.value for a in args), span=span(node), origin=node)
        if function.type == "generic_function":  # `parse::<T>(x)`, `x.collect::<Vec<_>>()`
            function = field(function, "function") or function
        func = self.expr(function)
        return model.Call(func, args, self.call_name(func), span=span(node), origin=node)

    def call_name(self, func: model.Expr) -> str | None:
        if isinstance(func, model.Name):
            return self.qualify(func.id)
        if isinstance(func, model.Attribute):
            base = (
                self.call_name(func.value) if isinstance(func.value, model.Name | model.Attribute) else None
            )
            return f"{base}.{func.attr}" if base else None
        return None

    def place(self, node: Node) -> model.Expr:
        """A temporary guard's place, spanning the whole guard expression."""
        lowered = self.expr(unwrap_guard(node))
        lowered.span = span(node)
        return lowered

    def await_expression(self, node: Node) -> model.Expr:
        if lock_target(node) is not None:
            return self.place(node)
        inner = node.named_children[0]
        return model.Await(self.expr(inner), span=span(node), origin=node)

    def try_expression(self, node: Node) -> model.Expr:
        self.tries += 1
        return self.expr(node.named_children[0])

    def unary(self, node: Node) -> model.Expr:
        operand = node.named_children[0]
        operator = text(node)[:1]
        if operator == "*":
            return self.expr(operand)  # a deref reads or writes the place itself
        op = "not" if operator == "!" else "-"
        return model.Operation(op, (self.expr(operand),), span=span(node), origin=node)

    def binary(self, node: Node) -> model.Expr:
        left, right = field(node, "left"), field(node, "right")
        operator = field(node, "operator")
        op = text(operator) if operator is not None else "?"
        operands = tuple(self.expr(n) for n in (left, right) if n is not None)
        return model.Operation(_BINARY.get(op, op), operands, span=span(node), origin=node)

    def index(self, node: Node) -> model.Expr:
        value, index = node.named_children[0], node.named_children[-1]
        key = string_value(index) if index.type == "string_literal" else None
        return model.Subscript(self.expr(value), self.expr(index), key, span=span(node), origin=node)

    def string(self, node: Node) -> model.Expr:
        return model.Literal(string_value(node), span=span(node), origin=node)

    def number(self, node: Node) -> model.Expr:
        raw = text(node).replace("_", "")
        digits = re.match(r"[0-9.]+", raw)
        number = digits.group() if digits is not None else ""
        value: int | float | str = raw
        with contextlib.suppress(ValueError):  # `10u64`, `1_000`, `2.5f32`: without the suffix
            value = float(number) if "." in number else int(number)
        return model.Literal(value, span=span(node), origin=node)

    def boolean(self, node: Node) -> model.Expr:
        return model.Literal(text(node) == "true", span=span(node), origin=node)

    def collection(self, node: Node) -> model.Expr:
        kind: Literal["tuple", "list"] = "tuple" if node.type == "tuple_expression" else "list"
        elements = tuple(self.expr(c) for c in node.named_children if _is_expression(c))
        return model.Collection(kind, elements, span=span(node), origin=node)

    def struct(self, node: Node) -> model.Expr:
        """`S { a: x, b }`: a dict of the fields' values (the reads flow into the struct)."""
        body = field(node, "body")
        elements: list[model.Expr] = []
        for item in body.named_children if body is not None else ():
            if item.type == "field_initializer":
                name, value = field(item, "field"), field(item, "value")
                if name is not None and value is not None:
                    elements += [model.Literal(text(name), span=span(name)), self.expr(value)]
            elif item.type == "shorthand_field_initializer":
                ident = item.named_children[0]
                elements += [model.Literal(text(ident), span=span(ident)), self.identifier(ident)]
            elif item.type == "base_field_initializer":
                elements.append(self.expr(item.named_children[0]))
        return model.Collection("dict", tuple(elements), span=span(node), origin=node)

    def closure(self, node: Node) -> model.Expr:
        """A closure or async block runs when called or polled, which this path does not show."""
        body = field(node, "body") or (node.named_children[-1] if node.named_children else None)
        children = (model.Opaque("body", span=span(body), origin=body),) if body is not None else ()
        return model.Opaque("lambda", children, span=span(node), origin=node)

    def macro(self, node: Node) -> model.Expr:
        """A macro keeps its token text (`origin`); identifiers in it are evaluated, and `format!`
        becomes a template whose holes are `?` (how Redis keys built with it read)."""
        name = text(field(node, "macro")).rsplit("::", 1)[-1]
        tokens = next((c for c in node.named_children if c.type == "token_tree"), None)
        names = tuple(_token_names(self, tokens)) if tokens is not None else ()
        if name == "format" and tokens is not None:
            literal = next((c for c in tokens.named_children if c.type == "string_literal"), None)
            if literal is not None:
                return self.template(string_value(literal), names, node)
        return model.Opaque(f"macro:{name}", names, carries=True, span=span(node), origin=node)

    def template(self, fmt: str, names: tuple[model.Expr, ...], node: Node) -> model.Expr:
        parts: list[str | model.Expr] = []
        position = 0
        holes = iter(names)
        for match in _HOLE.finditer(fmt):
            parts.append(fmt[position : match.start()])
            inline = match.group()[1:-1].split(":")[0]
            hole = (
                model.Name(inline, span=span(node)) if inline and inline.isidentifier() else next(holes, None)
            )
            parts.append(hole if hole is not None else model.Opaque("hole", span=span(node)))
            position = match.end()
        parts.append(fmt[position:])
        return model.Template(tuple(p for p in parts if p != ""), span=span(node), origin=node)


def _row_column(node: Node) -> Callable[[ExpressionLowering], model.Expr] | None:
    """`row.get("used")` / `row.try_get("used")` on a row local (`row`, `rec`, `user_row`): the
    column, as `row["used"]` is in Python, so a decision records which column it looked at. Only
    for row-like names: `con.get("key")` is a Redis read the Redis recognizer must see."""
    called = _method(node)
    arguments = field(node, "arguments")
    if called is None or called[0] not in ("get", "try_get") or arguments is None:
        return None
    receiver = called[1]
    values = [a for a in arguments.named_children if _is_expression(a)]
    if receiver.type != "identifier" or not _ROW_NAME.search(text(receiver)) or len(values) != 1:
        return None
    if values[0].type != "string_literal":
        return None

    def lower(lowering: ExpressionLowering) -> model.Expr:
        column = values[0]
        key = string_value(column)
        return model.Subscript(
            lowering.expr(receiver), lowering.expr(column), key, span=span(node), origin=node
        )

    return lower


def _token_names(lowering: ExpressionLowering, tokens: Node) -> list[model.Expr]:
    """The identifiers of a macro's token tree that are not followed by `!` or `(`, as reads."""
    found: list[model.Expr] = []
    children = tokens.children
    for position, child in enumerate(children):
        if child.type == "token_tree":
            found.extend(_token_names(lowering, child))
        elif child.type in ("identifier", "self"):
            after = children[position + 1].type if position + 1 < len(children) else ""
            before = children[position - 1].type if position else ""
            if after not in ("!", "::") and before not in (".", "::"):
                found.append(lowering.identifier(child))
    return found


def _is_expression(node: Node) -> bool:
    return node.is_named and node.type not in (
        "line_comment",
        "block_comment",
        "attribute_item",
        "type_arguments",
    )


_HANDLERS: dict[str, Callable[[ExpressionLowering, Node], model.Expr]] = {
    "identifier": ExpressionLowering.identifier,
    "self": ExpressionLowering.identifier,
    "scoped_identifier": ExpressionLowering.path,
    "field_expression": ExpressionLowering.field_expression,
    "call_expression": ExpressionLowering.call,
    "await_expression": ExpressionLowering.await_expression,
    "try_expression": ExpressionLowering.try_expression,
    "unary_expression": ExpressionLowering.unary,
    "binary_expression": ExpressionLowering.binary,
    "index_expression": ExpressionLowering.index,
    "string_literal": ExpressionLowering.string,
    "raw_string_literal": ExpressionLowering.string,
    "integer_literal": ExpressionLowering.number,
    "float_literal": ExpressionLowering.number,
    "boolean_literal": ExpressionLowering.boolean,
    "tuple_expression": ExpressionLowering.collection,
    "array_expression": ExpressionLowering.collection,
    "struct_expression": ExpressionLowering.struct,
    "closure_expression": ExpressionLowering.closure,
    "async_block": ExpressionLowering.closure,
    "macro_invocation": ExpressionLowering.macro,
}
