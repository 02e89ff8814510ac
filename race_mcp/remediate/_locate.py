"""Finding the nodes a finding talks about: its function, the statement on a line, its block.

Shared by the store fixers (SQL, ORM, DynamoDB). Positions come from libcst's `PositionProvider`
resolved on the module itself (no copy), so the nodes found are the module's own and
`Module.deep_replace` can swap them by identity.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from ..findings import Finding

__all__ = [
    "COMPARISONS",
    "MIRRORED",
    "Located",
    "bare_code",
    "block_of",
    "exit_statement",
    "name_in_use",
    "names_in",
    "nodes",
    "parse_statements",
    "raised_from_none",
    "small_statement",
    "wrap",
]


# Ordering comparisons as the fixers rewrite them, and each one read with its operands swapped.
COMPARISONS: dict[type[cst.BaseCompOp], str] = {
    cst.LessThan: "<",
    cst.LessThanEqual: "<=",
    cst.GreaterThan: ">",
    cst.GreaterThanEqual: ">=",
}
MIRRORED = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}


class Located:
    """A module with the positions of its nodes."""

    def __init__(self, module: cst.Module) -> None:
        self.module = module
        wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
        self.positions: Mapping[cst.CSTNode, CodeRange] = wrapper.resolve(PositionProvider)

    def line(self, node: cst.CSTNode) -> int:
        return self.positions[node].start.line

    def function(self, finding: Finding) -> cst.FunctionDef | None:
        """The innermost `def` named like the finding's function that spans its first line."""
        if not finding.function:
            return None
        name = finding.function.split(".")[-1]
        found: cst.FunctionDef | None = None
        for node, where in self.positions.items():
            if (
                isinstance(node, cst.FunctionDef)
                and node.name.value == name
                and where.start.line <= finding.line <= where.end.line
            ):
                found = node  # later (inner) definitions are visited after outer ones
        return found

    def statement_at(self, root: cst.CSTNode, line: int) -> cst.BaseStatement | None:
        """The innermost statement under `root` that starts on `line`."""
        best: cst.BaseStatement | None = None
        for statement in _statements(root):
            if self.line(statement) == line:
                best = statement
        return best

    def code(self, node: cst.CSTNode) -> str:
        return self.module.code_for_node(node)


def _statements(root: cst.CSTNode) -> Iterator[cst.BaseStatement]:
    """Every statement under `root`, outer before inner."""
    stack: list[cst.CSTNode] = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.BaseStatement):
            yield node
        stack.extend(reversed(node.children))


def block_of(root: cst.CSTNode, statement: cst.BaseStatement) -> cst.IndentedBlock | None:
    """The indented block whose body holds `statement` directly."""
    for node in nodes(root):
        if isinstance(node, cst.IndentedBlock) and any(s is statement for s in node.body):
            return node
    return None


def nodes(root: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """Every node under `root`, `root` included."""
    stack: list[cst.CSTNode] = [root]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(node.children)


def names_in(root: cst.CSTNode) -> set[str]:
    """Every bare name used under `root` (to pick fresh names that shadow nothing)."""
    return {node.value for node in nodes(root) if isinstance(node, cst.Name)}


def name_in_use(root: cst.CSTNode, wanted: str) -> str:
    """`wanted`, or `wanted_2`, `wanted_3`... whichever is not used under `root`."""
    used = names_in(root)
    candidate, number = wanted, 1
    while candidate in used:
        number += 1
        candidate = f"{wanted}_{number}"
    return candidate


def exit_statement(body: cst.BaseSuite) -> cst.BaseSmallStatement | None:
    """The one statement of a branch that rejects: `raise ...`, `return ...` or `abort(...)`."""
    statements: Sequence[cst.CSTNode]
    if isinstance(body, cst.IndentedBlock):
        if len(body.body) != 1 or not isinstance(body.body[0], cst.SimpleStatementLine):
            return None
        statements = body.body[0].body
    else:
        statements = body.body
    if len(statements) != 1:
        return None
    only = statements[0]
    if isinstance(only, (cst.Raise, cst.Return)):
        return only
    if (
        isinstance(only, cst.Expr)
        and isinstance(only.value, cst.Call)
        and isinstance(only.value.func, cst.Name)
        and only.value.func.value == "abort"
    ):
        return only
    return None


def parse_statements(code: str, module: cst.Module) -> list[cst.BaseStatement]:
    """Statements parsed with the module's own indentation and newline settings."""
    parsed = cst.parse_module(code, config=module.config_for_parsing)
    return list(parsed.body)


def raised_from_none(rejection: cst.BaseSmallStatement) -> cst.BaseSmallStatement:
    """A copy of the rejection; a `raise X` gets `from None`, as it now sits in an `except` block
    whose database error is not what the client should see."""
    copy = rejection.deep_clone()
    if isinstance(copy, cst.Raise) and copy.exc is not None and copy.cause is None:
        return copy.with_changes(
            cause=cst.From(item=cst.Name("None"), whitespace_before_from=cst.SimpleWhitespace(" "))
        )
    return copy


def small_statement(code: str, module: cst.Module) -> cst.BaseSmallStatement:
    """One small statement (`abort(409)`, `raise X`) parsed with the module's settings."""
    line = cst.parse_statement(code + "\n", config=module.config_for_parsing)
    if not isinstance(line, cst.SimpleStatementLine) or len(line.body) != 1:
        raise ValueError(f"not one small statement: {code!r}")
    return line.body[0]


def wrap(
    template: str, statements: Sequence[cst.BaseStatement], module: cst.Module
) -> cst.BaseCompoundStatement:
    """`statements` as the body of the compound statement `template` (whose first body is `pass`),
    which takes over the first statement's leading comments and blank lines."""
    parsed = parse_statements(template, module)[0]
    if not isinstance(parsed, (cst.With, cst.Try)):
        raise ValueError(f"not a with/try template: {template!r}")
    body = list(statements)
    leading: Sequence[cst.EmptyLine] = ()
    first = body[0]
    if isinstance(first, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
        leading = first.leading_lines
        body[0] = first.with_changes(leading_lines=())
    return parsed.with_changes(body=cst.IndentedBlock(body), leading_lines=leading)


def bare_code(statement: cst.BaseStatement) -> str:
    """A statement's code without its leading comments and blank lines, stripped."""
    if isinstance(statement, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
        statement = statement.with_changes(leading_lines=())
    return cst.Module([]).code_for_node(statement).strip()
