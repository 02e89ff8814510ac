"""A JavaScript/TypeScript file as the text fixers see it: its tree-sitter tree, the function and
statements a finding's evidence points at, and edits applied at node spans.

Edits are byte ranges of the UTF-8 text (tree-sitter's offsets), so everything outside them,
formatting and comments included, is kept byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ...analyzer.javascript.parse import parse
from ...findings import Finding

__all__ = ["FUNCTION_TYPES", "Edit", "JsSource", "Node", "descendants", "unquote"]

Node = Any  # tree_sitter.Node: the grammar packages ship no stubs
FUNCTION_TYPES = frozenset(
    {
        "function_declaration",
        "function_expression",
        "function",
        "arrow_function",
        "method_definition",
        "generator_function_declaration",
        "generator_function",
    }
)
_STATEMENT_SUFFIXES = ("_statement", "_declaration")
_STRING = re.compile(r"""^(['"`])(.*)\1$""", re.DOTALL)


def descendants(node: Node) -> Iterator[Node]:
    """`node` and every node below it, in source order (an explicit stack: no recursion limit)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.named_children))


def unquote(text: str) -> str | None:
    """The value of a string literal without escapes or substitutions (`"x"`, `'x'`, `` `x` ``)."""
    match = _STRING.match(text)
    if match is None or "\\" in match.group(2) or (match.group(1) == "`" and "${" in match.group(2)):
        return None
    return match.group(2)


@dataclass(frozen=True)
class Edit:
    """Replace bytes [start, end) with `text`."""

    start: int
    end: int
    text: str


@dataclass
class JsSource:
    """One parse of the file's text, with helpers to find nodes and rewrite it."""

    text: str
    path: str
    data: bytes = field(init=False)
    root: Node = field(init=False)

    def __post_init__(self) -> None:
        self.data = self.text.encode("utf-8")
        self.root = parse(self.data, self.path).root_node

    # -- reading -------------------------------------------------------------------------------
    def code(self, node: Node) -> str:
        return str(self.data[node.start_byte : node.end_byte].decode("utf-8"))

    def indent_of(self, node: Node) -> str:
        """The whitespace that starts the line `node` starts on."""
        line_start = self.data.rfind(b"\n", 0, node.start_byte) + 1
        prefix = self.data[line_start : node.start_byte].decode("utf-8")
        return prefix[: len(prefix) - len(prefix.lstrip())]

    def unit(self) -> str:
        """One indentation step as the file writes it (two spaces unless it shows another)."""
        widths = [len(m.group(1)) for m in re.finditer(r"^( +)\S", self.text, re.MULTILINE)]
        step = min((w for w in widths if w > 0), default=2)
        return "\t" if re.search(r"^\t+\S", self.text, re.MULTILINE) and not widths else " " * step

    @staticmethod
    def line(node: Node) -> int:
        return int(node.start_point[0]) + 1

    def function_for(self, finding: Finding) -> Node | None:
        """The innermost function holding every evidence line of the finding (or its line)."""
        lines = [step.line for step in finding.evidence] or [finding.line]
        first, last = min(lines), max(lines)
        best = None
        for node in descendants(self.root):
            if node.type in FUNCTION_TYPES and self.line(node) <= first and node.end_point[0] + 1 >= last:
                best = node  # descendants come outer first: the last match is the innermost
        return best

    def statement_at(self, scope: Node, line: int) -> Node | None:
        """The outermost statement inside `scope`'s body that starts on `line`."""
        body = scope.child_by_field_name("body") or scope
        for node in descendants(body):
            if node is body:
                continue
            if self.line(node) == line and (
                node.type.endswith(_STATEMENT_SUFFIXES) or node.type == "expression_statement"
            ):
                return node
        return None

    def statement_of(self, node: Node) -> Node | None:
        """The statement `node` is part of."""
        current = node
        while current is not None and not (
            current.type.endswith(_STATEMENT_SUFFIXES) or current.type == "expression_statement"
        ):
            current = current.parent
        return current

    def enclosing(self, node: Node, types: frozenset[str] | set[str]) -> Node | None:
        current = node.parent
        while current is not None and current.type not in types:
            current = current.parent
        return current

    def first(self, scope: Node, node_type: str) -> Node | None:
        return next((n for n in descendants(scope) if n.type == node_type), None)

    def calls(self, scope: Node) -> Iterator[Node]:
        return (n for n in descendants(scope) if n.type == "call_expression")

    def method_of(self, call: Node) -> str | None:
        """`a.b.put(...)` -> "put"; None for a call of a plain name."""
        callee = call.child_by_field_name("function")
        if callee is None or callee.type != "member_expression":
            return None
        prop = callee.child_by_field_name("property")
        return self.code(prop) if prop is not None else None

    def arguments(self, call: Node) -> list[Node]:
        args = call.child_by_field_name("arguments")
        return [] if args is None else [a for a in args.named_children if a.type != "comment"]

    def names_used(self, scope: Node) -> set[str]:
        return {
            self.code(n)
            for n in descendants(scope)
            if n.type in ("identifier", "shorthand_property_identifier")
        }

    def is_module(self) -> bool:
        """ES module syntax (import/export), not CommonJS."""
        return any(n.type in ("import_statement", "export_statement") for n in self.root.named_children)

    # -- writing -------------------------------------------------------------------------------
    def apply(self, edits: list[Edit]) -> str:
        """The text with every edit applied (edits must not overlap)."""
        out = self.data
        for edit in sorted(edits, key=lambda e: (e.start, e.end), reverse=True):
            out = out[: edit.start] + edit.text.encode("utf-8") + out[edit.end :]
        return out.decode("utf-8")

    def text_with(self, node: Node, edits: list[Edit]) -> str:
        """`node`'s text with the edits inside it applied."""
        out = self.data[node.start_byte : node.end_byte]
        for edit in sorted(edits, key=lambda e: (e.start, e.end), reverse=True):
            assert node.start_byte <= edit.start <= edit.end <= node.end_byte, "edit outside the node"
            start, end = edit.start - node.start_byte, edit.end - node.start_byte
            out = out[:start] + edit.text.encode("utf-8") + out[end:]
        return out.decode("utf-8")

    def replace(self, node: Node, text: str) -> Edit:
        return Edit(node.start_byte, node.end_byte, text)

    def reindent(self, text: str, old: str, new: str) -> str:
        """`text` (lines after the first starting with `old`) moved to start with `new`."""
        lines = text.split("\n")
        return "\n".join(
            [lines[0], *(new + line[len(old) :] if line.startswith(old) else line for line in lines[1:])]
        )
