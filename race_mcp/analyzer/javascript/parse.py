"""Parsing JavaScript and TypeScript with tree-sitter: one parser per dialect, built on first use.

tree-sitter recovers from syntax errors: the tree holds `ERROR` and missing nodes where the text
does not parse, and everything else is usable. `syntax_errors` lists where they are, so the caller
can analyse the rest and still report the file as broken.

TypeScript's grammar misreads a tagged template with type arguments (`prisma.$queryRaw<Row[]>`...``,
postgres.js `sql<User[]>`...``): an ERROR node, or `a < b > `x``, a comparison. Those type arguments
are blanked (spaces, so every offset stays the source's) and the text parsed again, which is how
TypeScript reads it: a tagged template call. Types say nothing about races.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

__all__ = ["dialect", "parse", "syntax_errors"]

_TYPESCRIPT = (".ts", ".mts", ".cts")


def dialect(path: str) -> str:
    """`tsx` for .tsx, `typescript` for .ts/.mts/.cts, else `javascript` (JSX included)."""
    lowered = path.lower()
    if lowered.endswith(".tsx"):
        return "tsx"
    return "typescript" if lowered.endswith(_TYPESCRIPT) else "javascript"


@cache
def _parser(name: str) -> Any:
    import tree_sitter

    if name == "javascript":
        import tree_sitter_javascript as grammar

        language = grammar.language()
    else:
        import tree_sitter_typescript as typescript

        language = typescript.language_tsx() if name == "tsx" else typescript.language_typescript()
    return tree_sitter.Parser(tree_sitter.Language(language))


def parse(source: bytes, path: str) -> Any:
    """The tree-sitter tree of `source` in the dialect `path`'s suffix names."""
    name = dialect(path)
    tree = _parser(name).parse(source)
    if name == "javascript" or _TYPED_TAG.search(source) is None:
        return tree
    spans = _tag_type_arguments(tree.root_node, source)
    if not spans:
        return tree
    blanked = bytearray(source)
    for start, end in spans:
        blanked[start:end] = re.sub(rb"[^\r\n]", b" ", source[start:end])
    return _parser(name).parse(bytes(blanked))


# The `>` closing type arguments right before a template literal (whitespace may come between).
_TYPED_TAG = re.compile(rb">\s*`")


def _tag_type_arguments(root: Any, source: bytes) -> list[tuple[int, int]]:
    """Byte spans of the type arguments of tagged templates that the grammar misread."""
    spans: list[tuple[int, int]] = []
    for match in _TYPED_TAG.finditer(source):
        closing = root.descendant_for_byte_range(match.start(), match.start() + 1)
        parent = closing.parent if closing is not None and closing.type == ">" else None
        if parent is None:
            continue  # a `>` inside a string, a comment or an arrow's `=>`
        if parent.type == "type_arguments" and parent.parent is not None:
            if parent.parent.type == "instantiation_expression":
                spans.append((parent.start_byte, parent.end_byte))
        elif parent.type == "binary_expression" and _compared_tag(parent, closing):
            opening = parent.child_by_field_name("left").child_by_field_name("operator")
            spans.append((opening.start_byte, closing.end_byte))
    return spans


def _compared_tag(binary: Any, closing: Any) -> bool:
    """`tag < Type > `text``: read as two comparisons, written as a tagged template with a type."""
    left, right = binary.child_by_field_name("left"), binary.child_by_field_name("right")
    if binary.child_by_field_name("operator") != closing or right is None or right.type != "template_string":
        return False
    if left is None or left.type != "binary_expression":
        return False
    operator, tag = left.child_by_field_name("operator"), left.child_by_field_name("left")
    typed = left.child_by_field_name("right")
    if tag is not None and tag.type == "await_expression" and tag.named_children:
        tag = tag.named_children[-1]  # `await sql<Row> `...``: the await binds the whole call
    return (
        operator is not None
        and operator.type == "<"
        and tag is not None
        and tag.type in _NAMES
        and typed is not None
        and typed.type in _NAMES
    )


_NAMES = ("identifier", "member_expression")


def syntax_errors(root: Any, limit: int = 3) -> list[tuple[int, int, str]]:
    """Up to `limit` (line, column, what) of the tree's ERROR and missing nodes, in source order."""
    found: list[tuple[int, int, str]] = []
    if not root.has_error:
        return found
    stack = [root]
    while stack and len(found) < limit:
        node = stack.pop()
        if node.is_missing:
            found.append((node.start_point[0] + 1, node.start_point[1] + 1, f"missing {node.type!r}"))
        elif node.type == "ERROR":
            found.append((node.start_point[0] + 1, node.start_point[1] + 1, "unexpected text"))
        elif node.has_error:
            stack.extend(reversed(node.children))
    return sorted(found)
