"""tree-sitter JavaScript/TypeScript expressions lowered to `core.model` expressions.

Normalisation follows `model.Operation`'s doc: `===`/`==` with `null`/`undefined` become `is`,
`!x` becomes `not`, `&&`/`||`/`??` become `and`/`or`; `this` reads as `self` (so the shared
memory profile's class-attribute logic applies to `this.x`). TypeScript-only wrappers (`x as T`,
`x!`, `<T>x`, `x satisfies T`) are transparent. Functions written inside an expression (arrow
functions, `function` expressions) are lowered as functions of the module by the statement
lowering (`Lowering.function_expression`) and stand here as an `Opaque("function")`.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any, cast

from ..core import model

if TYPE_CHECKING:
    from .lower import Lowering

__all__ = ["ExpressionLowering", "span", "text"]

_TRANSPARENT = frozenset(
    {
        "parenthesized_expression",
        "as_expression",
        "non_null_expression",
        "satisfies_expression",
        "type_assertion",
    }
)
_FUNCTIONS = frozenset({"arrow_function", "function_expression", "function", "generator_function"})
_EQUALITY = {"===": "==", "==": "==", "!==": "!=", "!=": "!="}
_BOOLEAN = {"&&": "and", "||": "or", "??": "or"}
_ARITHMETIC = frozenset({"+", "-", "*", "/", "%", "**", "<", "<=", ">", ">=", "in"})


def span(node: Any) -> model.Span:
    (line, column), (end_line, end_column) = node.start_point, node.end_point
    return model.Span(line + 1, column, end_line + 1, end_column)


def text(node: Any) -> str:
    return str(node.text.decode("utf-8", "replace"))


def _is_nullish(node: Any) -> bool:
    return node.type in ("null", "undefined") or (node.type == "identifier" and text(node) == "undefined")


def _string_value(node: Any) -> str:
    return "".join(
        text(child) for child in node.named_children if child.type in ("string_fragment", "escape_sequence")
    )


def _indirect_callee(node: Any | None) -> Any | None:
    """`(0, fs_1.writeFile)(...)`, how compilers call an imported function without a `this`: the
    callee is the sequence's last expression."""
    if node is None or node.type != "parenthesized_expression" or not node.named_children:
        return node
    inner = node.named_children[0]
    if inner.type == "sequence_expression" and inner.named_children:
        return inner.named_children[-1]
    return node


_PROMISE_COMBINATORS = frozenset({"Promise.all", "Promise.allSettled", "Promise.any", "Promise.race"})


def _awaited_callee(node: Any | None) -> Any | None:
    """The callee of a mis-parsed `await (0, f)(x)`: `f`."""
    if node is None or node.type != "call_expression":
        return None
    func, arguments = node.child_by_field_name("function"), node.child_by_field_name("arguments")
    if func is None or func.type != "identifier" or text(func) != "await" or arguments is None:
        return None
    return arguments.named_children[-1] if arguments.named_children else None


class ExpressionLowering:
    def __init__(self, owner: Lowering) -> None:
        # A proxy: the owner holds this object, and a cycle would keep the whole lowered module
        # alive until the next cyclic collection.
        self.owner: Lowering = cast("Lowering", weakref.proxy(owner))

    def expr(self, node: Any | None) -> model.Expr:
        if node is None:
            return model.Literal(None)
        while node.type in _TRANSPARENT:
            inner = node.named_children[0] if node.named_children else None
            if inner is None:
                return model.Literal(None, span=span(node), origin=node)
            node = inner
        method = getattr(self, "_" + node.type, None)
        if method is not None:
            result: model.Expr = method(node)
            return result
        if node.type in _FUNCTIONS:
            return self.owner.function_expression(node)
        children = tuple(
            self.expr(child) for child in node.named_children if not child.type.startswith("type")
        )
        return model.Opaque(node.type, children, carries=True, span=span(node), origin=node)

    # -- names and constants ----------------------------------------------------------------------
    def _identifier(self, node: Any) -> model.Expr:
        name = text(node)
        if name == "undefined":
            return model.Literal(None, span=span(node), origin=node)
        return model.Name(name, span=span(node), origin=node)

    _shorthand_property_identifier = _identifier
    _property_identifier = _identifier

    def _this(self, node: Any) -> model.Expr:
        return model.Name("self", span=span(node), origin=node)

    def _string(self, node: Any) -> model.Expr:
        return model.Literal(_string_value(node), span=span(node), origin=node)

    def _number(self, node: Any) -> model.Expr:
        raw = text(node).replace("_", "").rstrip("n")
        value: int | float | str
        try:
            value = int(raw, 0)
        except ValueError:
            try:
                value = float(raw)
            except ValueError:
                value = raw
        return model.Literal(value, span=span(node), origin=node)

    def _true(self, node: Any) -> model.Expr:
        return model.Literal(True, span=span(node), origin=node)

    def _false(self, node: Any) -> model.Expr:
        return model.Literal(False, span=span(node), origin=node)

    def _null(self, node: Any) -> model.Expr:
        return model.Literal(None, span=span(node), origin=node)

    _undefined = _null

    def _template_string(self, node: Any) -> model.Expr:
        parts: list[str | model.Expr] = []
        for child in node.named_children:
            if child.type == "template_substitution":
                parts.append(self.expr(child.named_children[0] if child.named_children else None))
            else:
                parts.append(text(child))
        return model.Template(tuple(parts), span=span(node), origin=node)

    # -- access and calls -------------------------------------------------------------------------
    def _member_expression(self, node: Any) -> model.Expr:
        value = self.expr(node.child_by_field_name("object"))
        prop = node.child_by_field_name("property")
        return model.Attribute(value, text(prop) if prop is not None else "", span=span(node), origin=node)

    def _subscript_expression(self, node: Any) -> model.Expr:
        index_node = node.child_by_field_name("index")
        index = self.expr(index_node)
        key = index.value if isinstance(index, model.Literal) and isinstance(index.value, str) else None
        value = self.expr(node.child_by_field_name("object"))
        return model.Subscript(value, index, key, span=span(node), origin=node)

    def _arguments(self, node: Any | None) -> tuple[model.Arg, ...]:
        if node is None:
            return ()
        args = []
        for child in node.named_children:
            if child.type == "spread_element":
                inner = child.named_children[0] if child.named_children else None
                args.append(model.Arg(self.expr(inner), star="*", span=span(child), origin=child))
            elif not child.type.startswith("comment"):
                args.append(model.Arg(self.expr(child), span=span(child), origin=child))
        return tuple(args)

    def _call_expression(self, node: Any) -> model.Expr:
        func_node = _indirect_callee(node.child_by_field_name("function"))
        awaited = _awaited_callee(func_node)
        if awaited is not None:
            # tree-sitter reads `await (0, f)(x)` as a call of `await(0, f)`: it is `await f(x)`.
            inner = self._call(node, awaited)
            return model.Await(inner, span=span(node), origin=node)
        return self._call(node, func_node)

    def _call(self, node: Any, func_node: Any) -> model.Call:
        arguments = node.child_by_field_name("arguments")
        if arguments is not None and arguments.type == "template_string":  # sql`...` tagged template
            args: tuple[model.Arg, ...] = (model.Arg(self.expr(arguments), span=span(arguments)),)
        else:
            args = self._arguments(arguments)
        func = self.expr(func_node)
        call = model.Call(func, args, self.owner.qualified(func), span=span(node), origin=node)
        self.owner.module_call(call)
        return call

    def _new_expression(self, node: Any) -> model.Expr:
        func = self.expr(node.child_by_field_name("constructor"))
        args = self._arguments(node.child_by_field_name("arguments"))
        call = model.Call(func, args, self.owner.qualified(func), span=span(node), origin=node)
        self.owner.module_call(call)
        return call

    def _await_expression(self, node: Any) -> model.Expr:
        inner = node.named_children[0] if node.named_children else None
        value = self.expr(inner)
        if isinstance(value, model.Call) and value.name in _PROMISE_COMBINATORS:
            # `await Promise.all(items.map(async (item) => ...))` waits for every promise the map
            # made: the map's callbacks finish before the await returns, as if each were awaited.
            for arg in value.args:
                if isinstance(arg.value, model.Call):
                    arg.value = model.Await(arg.value, span=arg.value.span, origin=arg.value.origin)
        return model.Await(value, span=span(node), origin=node)

    # -- operators --------------------------------------------------------------------------------
    def _binary_expression(self, node: Any) -> model.Expr:
        left_node, right_node = node.child_by_field_name("left"), node.child_by_field_name("right")
        operator = node.child_by_field_name("operator")
        op = text(operator) if operator is not None else ""
        left, right = self.expr(left_node), self.expr(right_node)
        if op in _EQUALITY:
            normal = _EQUALITY[op]
            if right_node is not None and _is_nullish(right_node):
                normal = "is" if normal == "==" else "is-not"
            elif left_node is not None and _is_nullish(left_node):
                normal = "is" if normal == "==" else "is-not"
                left, right = right, left
            op = normal
        else:
            op = _BOOLEAN.get(op, op)
        return model.Operation(op, (left, right), span=span(node), origin=node)

    def _unary_expression(self, node: Any) -> model.Expr:
        operator = node.child_by_field_name("operator")
        op = text(operator) if operator is not None else ""
        operand = self.expr(node.child_by_field_name("argument"))
        if op == "!":
            return model.Operation("not", (operand,), span=span(node), origin=node)
        if op == "-":
            return model.Operation("-", (operand,), span=span(node), origin=node)
        return model.Opaque(op or "unary", (operand,), carries=True, span=span(node), origin=node)

    def _ternary_expression(self, node: Any) -> model.Expr:
        return model.Conditional(
            self.expr(node.child_by_field_name("condition")),
            self.expr(node.child_by_field_name("consequence")),
            self.expr(node.child_by_field_name("alternative")),
            span=span(node),
            origin=node,
        )

    def _assignment_expression(self, node: Any) -> model.Expr:
        target = self.expr(node.child_by_field_name("left"))
        return model.Walrus(
            target, self.expr(node.child_by_field_name("right")), span=span(node), origin=node
        )

    # -- literals ---------------------------------------------------------------------------------
    def _object(self, node: Any) -> model.Expr:
        elements: list[model.Expr] = []
        for child in node.named_children:
            if child.type == "pair":
                key_node = child.child_by_field_name("key")
                key: model.Expr
                if key_node is not None and key_node.type in ("property_identifier", "number"):
                    key = model.Literal(text(key_node), span=span(key_node), origin=key_node)
                elif key_node is not None and key_node.type == "computed_property_name":
                    key = self.expr(key_node.named_children[0] if key_node.named_children else None)
                else:
                    key = self.expr(key_node)
                elements += (key, self.expr(child.child_by_field_name("value")))
            elif child.type == "shorthand_property_identifier":
                elements += (
                    model.Literal(text(child), span=span(child), origin=child),
                    self._identifier(child),
                )
            elif child.type == "spread_element":
                inner = child.named_children[0] if child.named_children else None
                elements += (model.Literal(None, span=span(child)), self.expr(inner))
            elif child.type == "method_definition":
                name = child.child_by_field_name("name")
                elements += (model.Literal(text(name) if name else ""), self.owner.function_expression(child))
        return model.Collection("dict", tuple(elements), span=span(node), origin=node)

    def _array(self, node: Any) -> model.Expr:
        elements = tuple(self.expr(child) for child in node.named_children if child.type != "comment")
        return model.Collection("list", elements, span=span(node), origin=node)

    def _spread_element(self, node: Any) -> model.Expr:
        inner = node.named_children[0] if node.named_children else None
        return model.Opaque("spread", (self.expr(inner),), carries=True, span=span(node), origin=node)

    # Destructuring patterns read as the tuple of names they bind (`const { Item } = ...`).
    def _object_pattern(self, node: Any) -> model.Expr:
        names: list[model.Expr] = []
        for child in node.named_children:
            if child.type == "shorthand_property_identifier_pattern":
                names.append(model.Name(text(child), span=span(child), origin=child))
            elif child.type == "pair_pattern":
                names.append(self.expr(child.child_by_field_name("value")))
            elif child.type == "object_assignment_pattern":
                names.append(self.expr(child.child_by_field_name("left")))
            elif child.type == "rest_pattern" and child.named_children:
                names.append(self.expr(child.named_children[0]))
        return model.Collection("tuple", tuple(names), span=span(node), origin=node)

    def _array_pattern(self, node: Any) -> model.Expr:
        names = tuple(self.expr(child) for child in node.named_children)
        return model.Collection("tuple", names, span=span(node), origin=node)

    _shorthand_property_identifier_pattern = _identifier

    def _assignment_pattern(self, node: Any) -> model.Expr:
        return self.expr(node.child_by_field_name("left"))
