"""Rust patterns and the small syntactic facts the statement lowering asks of tree-sitter nodes:
the names a pattern binds, a function's parameters, whether a `let` copies what it reads, the
local a place starts from, and whether a statement drops a guard."""

from __future__ import annotations

from collections.abc import Iterator

from ._syntax import Node, text
from ._syntax import field as child

__all__ = ["base_name", "drops", "entry_place", "is_copy", "parameters", "pattern_names"]


def parameters(node: Node | None) -> tuple[tuple[str, ...], dict[str, str]]:
    """Parameter names (a pattern such as `State(state)` binds `state`) and their types' text."""
    names: list[str] = []
    annotations: dict[str, str] = {}
    for parameter in node.named_children if node is not None else ():
        if parameter.type == "self_parameter":
            names.append("self")
            continue
        if parameter.type != "parameter":
            continue
        pattern, kind = child(parameter, "pattern"), child(parameter, "type")
        for name in pattern_names(pattern):
            names.append(name)
            annotations[name] = text(kind)
    return tuple(names), annotations


def pattern_names(node: Node | None) -> Iterator[str]:
    """The names a pattern binds (`Some(x)`, `(a, b)`, `S { a, b: c }`, `mut x`, `ref x`)."""
    if node is None:
        return
    if node.type == "identifier":
        yield text(node)
        return
    if node.type == "scoped_identifier":
        return  # a path (`Ordering::Less`) compares, binds nothing
    for position, item in enumerate(node.children):
        if not item.is_named:
            continue
        if (
            node.type in ("tuple_struct_pattern", "struct_pattern")
            and node.field_name_for_child(position) == "type"
        ):
            continue
        if (
            node.type == "field_pattern"
            and node.field_name_for_child(position) == "name"
            and child(node, "pattern")
        ):
            continue
        if node.type == "shorthand_field_identifier" or item.type == "shorthand_field_identifier":
            yield text(item)
            continue
        yield from pattern_names(item)


_COPIES = frozenset({"clone", "cloned", "copied", "to_owned", "to_vec", "to_string", "collect"})
_PASS_THROUGH = frozenset(
    {"ok_or", "ok_or_else", "unwrap", "expect", "unwrap_or", "unwrap_or_default", "unwrap_or_else"}
)


def is_copy(node: Node) -> bool:
    """`e.cloned()`, `e.clone().unwrap_or_default()`, `e.to_owned()?`: an owned copy of e."""
    while True:
        if node.type in ("try_expression", "await_expression", "parenthesized_expression"):
            node = node.named_children[0]
            continue
        function = child(node, "function") if node.type == "call_expression" else None
        if function is None or function.type != "field_expression":
            return False
        method, receiver = text(child(function, "field")), child(function, "value")
        if method in _COPIES:
            return True
        if method not in _PASS_THROUGH or receiver is None:
            return False
        node = receiver


def base_name(node: Node) -> str | None:
    """`t` of `t.body`, `t.items[0]`, `t.a.b`."""
    while node.type in ("field_expression", "index_expression"):
        inner = child(node, "value") if node.type == "field_expression" else node.named_children[0]
        if inner is None:
            return None
        node = inner
    return text(node) if node.type == "identifier" else None


def drops(node: Node, name: str) -> bool:
    """`drop(g);` (or `std::mem::drop(g)`) as a statement of the guard's own block."""
    call = node.named_children[0] if node.type == "expression_statement" and node.named_children else node
    if call.type != "call_expression":
        return False
    function, arguments = child(call, "function"), child(call, "arguments")
    if function is None or arguments is None or text(function).rsplit("::", 1)[-1] != "drop":
        return False
    return [text(a) for a in arguments.named_children] == [name]


def entry_place(value: Node | None) -> Node | None:
    """`state.claims` of a match subject `state.claims.entry(code)`."""
    if value is None or value.type != "call_expression":
        return None
    function = child(value, "function")
    if function is None or function.type != "field_expression" or text(child(function, "field")) != "entry":
        return None
    return child(function, "value")
