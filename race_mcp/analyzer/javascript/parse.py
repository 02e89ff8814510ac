"""Parsing JavaScript and TypeScript with tree-sitter: one parser per dialect, built on first use.

tree-sitter recovers from syntax errors: the tree holds `ERROR` and missing nodes where the text
does not parse, and everything else is usable. `syntax_errors` lists where they are, so the caller
can analyse the rest and still report the file as broken.
"""

from __future__ import annotations

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
    return _parser(dialect(path)).parse(source)


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
