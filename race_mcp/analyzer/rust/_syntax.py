"""tree-sitter's Rust grammar, loaded on first use, and small helpers over its nodes.

`tree_sitter` and `tree_sitter_rust` are imported only when a Rust file is analysed, so Python-only
runs never load them. Columns are UTF-8 byte offsets, as `ast` gives them for Python.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from ...errors import InputError
from ..core.model import Span

__all__ = ["Node", "field", "parse", "span", "text"]

# tree_sitter.Node; `Any` keeps the package optional for type checking too.
Node = Any


@cache
def _parser() -> Any:
    try:
        import tree_sitter
        import tree_sitter_rust
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise InputError(
            f"Rust analysis needs the tree-sitter and tree-sitter-rust packages ({exc.name} is missing)",
            code="missing-dependency",
        ) from None
    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_rust.language()))


def parse(source: str) -> Any:
    """The tree of `source`; a tree with syntax errors is still returned (analysed where usable)."""
    return _parser().parse(source.encode("utf-8"))


def span(node: Node) -> Span:
    start, end = node.start_point, node.end_point
    return Span(start[0] + 1, start[1], end[0] + 1, end[1])


def text(node: Node | None) -> str:
    if node is None:
        return ""
    raw: bytes = node.text
    return raw.decode("utf-8", errors="replace")


def field(node: Node, name: str) -> Node | None:
    return node.child_by_field_name(name)


def first_error(node: Node) -> Node | None:
    """The first ERROR or MISSING node of a tree, for the syntax error a file reports."""
    if not node.has_error:
        return None
    if node.type == "ERROR" or node.is_missing:
        return node
    for child in node.children:
        found = first_error(child)
        if found is not None:
            return found
    return node
