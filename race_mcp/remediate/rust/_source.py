"""A Rust file as the text fixers see it: the tree-sitter tree of the analyzer's own grammar, node
text, the function a finding is in, the statement on a line, the check that rejects between a read
and its write, and edits applied at byte offsets (everything else in the file is kept byte for byte).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from ...analyzer.rust._syntax import Node, parse
from ...findings import Finding

__all__ = ["Edit", "Rejection", "RustSource", "apply_edits", "descendants", "free_name"]

_FUNCTIONS = ("function_item",)
_STATEMENTS = ("let_declaration", "expression_statement")


@dataclass(frozen=True)
class Edit:
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Rejection:
    """A check between the read and the write that leaves the function: its `if` and the exit."""

    check: Node
    exit: Node


def descendants(node: Node) -> Iterator[Node]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.named_children))


def apply_edits(text: str, edits: list[Edit]) -> str:
    """The text with `edits` (byte offsets into it) applied; new lines end as the file's do."""
    data = text.encode("utf-8")
    crlf = "\r\n" in text
    for edit in sorted(edits, key=lambda e: (e.start, e.end), reverse=True):
        inserted = re.sub(r"(?<!\r)\n", "\r\n", edit.text) if crlf else edit.text
        data = data[: edit.start] + inserted.encode("utf-8") + data[edit.end :]
    return data.decode("utf-8")


def free_name(preferred: str, taken: set[str]) -> str:
    name, number = preferred, 2
    while name in taken:
        name, number = f"{preferred}{number}", number + 1
    return name


class RustSource:
    def __init__(self, text: str) -> None:
        self.text = text
        self.data = text.encode("utf-8")
        self.tree = parse(text)
        self.root: Node = self.tree.root_node

    def code(self, node: Node | None) -> str:
        if node is None:
            return ""
        return self.data[node.start_byte : node.end_byte].decode("utf-8")

    def function(self, finding: Finding) -> Node | None:
        """The innermost `fn` whose lines hold the finding's first line."""
        line = finding.line - 1
        found = None
        for node in descendants(self.root):
            if node.type in _FUNCTIONS and node.start_point[0] <= line <= node.end_point[0]:
                found = node
        return found

    def statement_at(self, function: Node, line: int) -> Node | None:
        """The outermost statement of `function` starting on 1-based `line`."""
        body = function.child_by_field_name("body")
        for node in descendants(body) if body is not None else ():
            if node.type in _STATEMENTS and node.start_point[0] == line - 1:
                return node
        return None

    def calls_named(self, scope: Node, method: str) -> list[Node]:
        """`x.method(..)` call expressions in `scope`, in source order."""
        found = []
        for node in descendants(scope):
            if node.type == "call_expression":
                function = node.child_by_field_name("function")
                if function is not None and function.type == "field_expression":
                    name = function.child_by_field_name("field")
                    if self.code(name) == method:
                        found.append(node)
        return sorted(found, key=lambda n: n.start_byte)

    def identifiers(self, scope: Node) -> set[str]:
        return {self.code(n) for n in descendants(scope) if n.type == "identifier"}

    def bound_name(self, statement: Node) -> str | None:
        """`out` of `let out = ...;` (a plain identifier pattern, `mut` allowed)."""
        if statement.type != "let_declaration":
            return None
        pattern = statement.child_by_field_name("pattern")
        if pattern is not None and pattern.type == "mut_pattern" and pattern.named_children:
            pattern = pattern.named_children[0]
        return self.code(pattern) if pattern is not None and pattern.type == "identifier" else None

    def derived_locals(self, function: Node, seed: str) -> set[str]:
        """`seed` and the locals whose `let` value mentions it or another such local, transitively."""
        names = {seed}
        changed = True
        lets = [n for n in descendants(function) if n.type == "let_declaration"]
        while changed:
            changed = False
            for let in lets:
                name = self.bound_name(let)
                value = let.child_by_field_name("value")
                if name and name not in names and value is not None and self.identifiers(value) & names:
                    names.add(name)
                    changed = True
        return names

    def rejections(self, function: Node, after: int, before: int) -> list[Rejection]:
        """`if <check> { return ...; }` between two byte offsets: the checks that refuse."""
        found = []
        for node in descendants(function):
            if node.type != "if_expression" or not after <= node.start_byte < before:
                continue
            consequence = node.child_by_field_name("consequence")
            exit_node = (
                next((c for c in descendants(consequence) if c.type == "return_expression"), None)
                if consequence is not None
                else None
            )
            if exit_node is not None:
                found.append(Rejection(node, exit_node))
        return found

    def indent_of(self, node: Node) -> str:
        line_start = self.data.rfind(b"\n", 0, node.start_byte) + 1
        prefix = self.data[line_start : node.start_byte].decode("utf-8")
        return prefix[: len(prefix) - len(prefix.lstrip())]
