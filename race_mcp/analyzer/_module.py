"""One parse of a module, indexed for the checkers: imports, module state, functions, classes, positions."""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider
from libcst.metadata.position_provider import PositionProvidingCodegenState

from ._limits import check_deadline

__all__ = ["ClassInfo", "ModuleIndex", "dotted_name", "walk"]

_LINE_END = re.compile(r"\r\n|\r|\n")

# Tokens and layout carry nothing a race checker looks at; skipping them halves the nodes walked.
_LAYOUT = (
    cst.BaseParenthesizableWhitespace,
    cst.EmptyLine,
    cst.TrailingWhitespace,
    cst.Newline,
    cst.Comment,
    cst.LeftParen,
    cst.RightParen,
    cst.LeftSquareBracket,
    cst.RightSquareBracket,
    cst.LeftCurlyBrace,
    cst.RightCurlyBrace,
    cst.Comma,
    cst.Dot,
    cst.Colon,
    cst.Semicolon,
    cst.AssignEqual,
    cst.BaseAugOp,
    cst.BaseBinaryOp,
    cst.BaseBooleanOp,
    cst.BaseCompOp,
    cst.BaseUnaryOp,
)


@functools.cache
def _child_fields(node_type: type[cst.CSTNode]) -> tuple[str, ...]:
    return tuple(field.name for field in dataclasses.fields(node_type))


def _children(node: cst.CSTNode) -> list[cst.CSTNode]:
    """A node's child nodes, read from its dataclass fields.

    `CSTNode.children` re-runs the node's visit-and-replace machinery on every call, which made
    whole-module passes over half of the analyzer's time on large trees.
    """
    children: list[cst.CSTNode] = []
    for name in _child_fields(type(node)):
        value = getattr(node, name)
        if isinstance(value, cst.CSTNode):
            if not isinstance(value, _LAYOUT):
                children.append(value)
        elif isinstance(value, tuple | list):
            children.extend(
                item for item in value if isinstance(item, cst.CSTNode) and not isinstance(item, _LAYOUT)
            )
    return children


def walk(root: cst.CSTNode, visitor: cst.CSTVisitor) -> None:
    """Visit `root`'s tree like `root.visit(visitor)`, read-only and much faster.

    Calls the same `visit_<Node>` / `leave_<Node>` methods and honours a `False` from `visit_*`
    (skip the children), for the nodes a checker cares about (layout and punctuation are passed
    over). Siblings come in field order, which is source order except for decorators, visited
    after the function's body. An explicit stack keeps deep trees off the recursion limit.
    """
    stack: list[tuple[cst.CSTNode, bool]] = [(root, False)]
    visited = 0
    while stack:
        visited += 1
        if visited % 4096 == 0:
            check_deadline()  # the analysis time budget (`_limits`)
        node, leaving = stack.pop()
        name = type(node).__name__
        if leaving:
            leave = getattr(visitor, f"leave_{name}", None)
            if leave is not None:
                leave(node)
            continue
        enter = getattr(visitor, f"visit_{name}", None)
        descend = enter(node) if enter is not None else None
        stack.append((node, True))
        if descend is not False:
            stack.extend((child, False) for child in reversed(_children(node)))


class _BudgetedPositionState(PositionProvidingCodegenState):
    def before_codegen(self, node: cst.CSTNode) -> None:
        check_deadline()
        super().before_codegen(node)


class _PositionsWithinBudget(PositionProvider):
    """libcst's positions, with the analysis deadline checked at every node generated.

    Resolving positions is one long call (about 0.1 ms per blank line on a slow machine), so a file
    of a million blank lines would otherwise outlast any budget checked only between statements.
    """

    def _gen_impl(self, module: cst.Module) -> None:
        state = _BudgetedPositionState(
            default_indent=module.default_indent, default_newline=module.default_newline, provider=self
        )
        module._codegen(state)


def dotted_name(expr: cst.BaseExpression) -> str | None:
    """`a.b.c` for a chain of names and attributes, else None."""
    if isinstance(expr, cst.Name):
        return expr.value
    if isinstance(expr, cst.Attribute):
        base = dotted_name(expr.value)
        return f"{base}.{expr.attr.value}" if base else None
    return None


@dataclass
class ClassInfo:
    """A class defined at module level: its methods, class attributes and base classes."""

    node: cst.ClassDef
    methods: dict[str, cst.FunctionDef] = field(default_factory=dict)
    attributes: dict[str, cst.BaseExpression] = field(default_factory=dict)
    bases: list[str] = field(default_factory=list)


@dataclass
class ModuleIndex:
    """What the checkers need to know about one module, computed once per file."""

    module: cst.Module
    source: str
    lines: list[str]
    imports: dict[str, str] = field(default_factory=dict)
    assignments: dict[str, cst.BaseExpression] = field(default_factory=dict)
    functions: dict[str, cst.FunctionDef] = field(default_factory=dict)
    classes: dict[str, ClassInfo] = field(default_factory=dict)
    function_names: dict[str, cst.Name] = field(default_factory=dict)
    module_statements: list[cst.BaseStatement] = field(default_factory=list)

    @classmethod
    def build(cls, module: cst.Module, source: str) -> ModuleIndex:
        # Python's line ends only: str.splitlines also breaks at \x0c, \x1c-\x1e, \x85 and U+2028/9,
        # which a comment may hold, and the evidence would then quote other lines than it names.
        index = cls(module=module, source=source, lines=_LINE_END.split(source))
        index._collect(module.body)
        return index

    @functools.cached_property
    def positions(self) -> Mapping[cst.CSTNode, CodeRange]:
        """Resolved on first use: most files never produce a finding, and positions are costly."""
        return MetadataWrapper(self.module, unsafe_skip_copy=True).resolve(_PositionsWithinBudget)

    # -- positions and text -------------------------------------------------------------------
    def line_of(self, node: cst.CSTNode) -> int:
        return self.positions[node].start.line

    def function_line(self, name: str) -> int | None:
        """The `def` line of a module-level function or `Class.method`."""
        node = self.function_names.get(name)
        return self.line_of(node) if node is not None else None

    def column_of(self, node: cst.CSTNode) -> int:
        """1-based column (libcst's are 0-based)."""
        return self.positions[node].start.column + 1

    def code_at(self, line: int) -> str:
        return self.lines[line - 1].strip() if 1 <= line <= len(self.lines) else ""

    # -- names ----------------------------------------------------------------------------------
    def qualify(self, expr: cst.BaseExpression) -> str | None:
        """The dotted name of `expr` with its first part resolved through the imports."""
        name = dotted_name(expr)
        if name is None:
            return None
        head, _, rest = name.partition(".")
        if head in self.imports:
            head = self.imports[head]
        return f"{head}.{rest}" if rest else head

    # -- collection -----------------------------------------------------------------------------
    def _collect(self, body: Sequence[cst.BaseStatement]) -> None:
        for statement in body:
            self.module_statements.append(statement)
            if isinstance(statement, cst.FunctionDef):
                self.functions[statement.name.value] = statement
                self.function_names[statement.name.value] = statement.name
            elif isinstance(statement, cst.ClassDef):
                self._collect_class(statement)
            elif isinstance(statement, cst.SimpleStatementLine):
                for small in statement.body:
                    self._collect_small(small)
            elif isinstance(statement, cst.If | cst.Try):
                # `try: import x except ImportError: ...` and `if TYPE_CHECKING:` blocks.
                self._collect(list(_nested_statements(statement)))

    def _collect_small(self, small: cst.BaseSmallStatement) -> None:
        if isinstance(small, cst.Import):
            for alias in small.names:
                full = dotted_name(alias.name) or ""
                if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                    self.imports[alias.asname.name.value] = full
                else:
                    head = full.split(".")[0]
                    self.imports[head] = head
        elif isinstance(small, cst.ImportFrom) and not isinstance(small.names, cst.ImportStar):
            if small.relative or small.module is None:
                return
            package = dotted_name(small.module) or ""
            for alias in small.names:
                name = dotted_name(alias.name) or ""
                local = name
                if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                    local = alias.asname.name.value
                self.imports[local] = f"{package}.{name}"
        elif isinstance(small, cst.Assign):
            for target in small.targets:
                if isinstance(target.target, cst.Name):
                    self.assignments[target.target.value] = small.value
        elif (
            isinstance(small, cst.AnnAssign)
            and small.value is not None
            and isinstance(small.target, cst.Name)
        ):
            self.assignments[small.target.value] = small.value

    def _collect_class(self, node: cst.ClassDef) -> None:
        info = ClassInfo(node=node, bases=[self.qualify(arg.value) or "" for arg in node.bases])
        self.classes[node.name.value] = info
        if not isinstance(node.body, cst.IndentedBlock):
            return
        for statement in node.body.body:
            if isinstance(statement, cst.FunctionDef):
                info.methods[statement.name.value] = statement
                qualified = f"{node.name.value}.{statement.name.value}"
                self.function_names[qualified] = statement.name
            elif isinstance(statement, cst.SimpleStatementLine):
                for small in statement.body:
                    if isinstance(small, cst.Assign):
                        for target in small.targets:
                            if isinstance(target.target, cst.Name):
                                info.attributes[target.target.value] = small.value
                    elif (
                        isinstance(small, cst.AnnAssign)
                        and small.value is not None
                        and isinstance(small.target, cst.Name)
                    ):
                        info.attributes[small.target.value] = small.value


def _nested_statements(node: cst.If | cst.Try) -> list[cst.BaseStatement]:
    blocks: list[cst.BaseSuite] = [node.body]
    if isinstance(node, cst.If):
        orelse = node.orelse
        while orelse is not None:
            blocks.append(orelse.body)
            orelse = orelse.orelse if isinstance(orelse, cst.If) else None
    else:
        blocks.extend(handler.body for handler in node.handlers)
        if node.orelse is not None:
            blocks.append(node.orelse.body)
    statements: list[cst.BaseStatement] = []
    for block in blocks:
        if isinstance(block, cst.IndentedBlock):
            statements.extend(block.body)
    return statements
