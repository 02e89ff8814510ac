"""What the JavaScript recognizers share: local values of names, and calls rewritten in the shape
the Python recognizers of the same store read (their SQL, condition and key logic is the store's,
not Python's), so each rule is judged by one piece of code for every language."""

from __future__ import annotations

from typing import Any

from ...core import model
from ...core.effects import CallContext
from ...core.walk import statements
from ...python.stores._common import ModuleFacts, SourceText

__all__ = [
    "JsModuleFacts",
    "SpanText",
    "as_keywords",
    "imported_text",
    "local_value",
    "rewritten",
    "snake_case",
]


def imported_text(ctx: CallContext, memo: dict[str, str]) -> str:
    """The lower-cased text of the project files the analysed file imports (its models, its
    repositories), once per file: which ORM a model imported from `../models` belongs to."""
    if "" not in memo:
        helper_text = getattr(ctx.facts(), "helper_text", None)
        memo[""] = helper_text().lower() if callable(helper_text) else ""
    return memo[""]


def local_value(expr: model.Expr | None, ctx: CallContext, depth: int = 3) -> model.Expr | None:
    """`params` -> the `{...}` it was last bound to before this use in the function (or the module)."""
    while isinstance(expr, model.Name) and depth > 0:
        depth -= 1
        found: model.Expr | None = None
        for statement in statements(ctx.function().body):
            if statement.span.line > expr.span.line:
                break
            if (
                isinstance(statement, model.Assign)
                and statement.value is not None
                and any(isinstance(t, model.Name) and t.id == expr.id for t in statement.targets)
            ):
                found = statement.value
        if found is None:
            found = ctx.module().assignments.get(expr.id)
        if found is None:
            return expr
        expr = found
    return expr


def as_keywords(value: model.Expr | None) -> tuple[model.Arg, ...]:
    """An object literal `{TableName: "t", Key: {...}}` as keyword arguments."""
    if not isinstance(value, model.Collection) or value.kind != "dict":
        return ()
    elements = value.elements
    args = []
    for key, item in zip(elements[::2], elements[1::2], strict=False):
        if isinstance(key, model.Literal) and isinstance(key.value, str):
            args.append(model.Arg(item, keyword=key.value, span=item.span, origin=item.origin))
    return tuple(args)


def rewritten(call: model.Call, receiver: model.Expr, method: str, args: tuple[model.Arg, ...]) -> model.Call:
    """`call` as `receiver.method(*args)`, at the same place (findings quote the original lines)."""
    func = model.Attribute(receiver, method, span=call.func.span, origin=call.func.origin)
    return model.Call(func, args, call.name, span=call.span, origin=call.origin)


def snake_case(name: str) -> str:
    """`findOneAndUpdate` -> `find_one_and_update`."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


class SpanText:
    """Mixed into a store's facts for JavaScript modules: node text comes from model spans
    (tree-sitter's positions are the same 1-based lines and UTF-8 byte columns as `ast`'s)."""

    text: SourceText

    def code(self, node: Any) -> str:
        if isinstance(node, model.Node):
            span = node.span
            if span.line == 0:
                return ""
            node = _Positions(span.line, span.column, span.end_line or span.line, span.end_column)
        return self.text.segment(node)


class JsModuleFacts(SpanText, ModuleFacts):
    """The store facts of a JavaScript module."""


class _Positions:
    """An `ast`-like position, for `SourceText.segment`."""

    __slots__ = ("col_offset", "end_col_offset", "end_lineno", "lineno")

    def __init__(self, line: int, column: int, end_line: int, end_column: int) -> None:
        self.lineno, self.col_offset, self.end_lineno, self.end_col_offset = (
            line,
            column,
            end_line,
            end_column,
        )
