"""String values of model expressions: what a recognizer reads as SQL text, a Redis key or a route.

`string_value` answers the text of a string expression, as far as it is known without running the
code: literals; f-strings with each hole as `?`; `+` of known parts (an unknown part is left out);
`"..." % args` and `"...".format(...)` as their template; `text("...")`, `dedent("...")`,
`sql.SQL("...")`, `literal_column("...")` as their argument; names bound to string constants in
the function (the interpreter's flow-sensitive `strings` first, else the function's own assignments
in source order, `+=` appending), the module, or a class (`Queries.SELECT`, `self.SELECT`,
`cls.SELECT`, inherited from a base class of the same module).
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping

from ..core.model import (
    Assign,
    Attribute,
    Block,
    Branch,
    Call,
    ClassModel,
    Expr,
    Function,
    If,
    Literal,
    Loop,
    ModuleModel,
    Name,
    Operation,
    Statement,
    Template,
    Try,
    With,
)

__all__ = ["function_strings", "string_value"]

# Calls whose first argument is the text they wrap: SQLAlchemy `text`, `textwrap.dedent`,
# psycopg's `sql.SQL`, SQLAlchemy `literal_column`.
_WRAPPERS = frozenset({"text", "dedent", "literal_column", "SQL", "sql"})
# Names defined through each other (`A = B`, `B = A + "x"`) end here instead of looping.
_MAX_DEPTH = 20
# Per function, for as long as the function (its module's model) lives.
_FUNCTION_STRINGS: weakref.WeakKeyDictionary[Function, dict[str, str]] = weakref.WeakKeyDictionary()


def string_value(
    expr: Expr | None,
    module: ModuleModel,
    *,
    function: Function | None = None,
    strings: Mapping[str, str] | None = None,
    self_class: str | None = None,
) -> str | None:
    """The text of `expr` (see the module docstring), or None when it is not a known string.

    `function` is the function `expr` appears in (its assignments and owner class are used),
    `strings` the interpreter's current string locals (they win over the function's assignments),
    `self_class` the class `self` stands for when it is not the function's own (a row's model).
    """
    if expr is None:
        return None
    return _Evaluator(module, function, strings, self_class).value(expr, 0)


def function_strings(function: Function, module: ModuleModel) -> dict[str, str]:
    """Names the function binds to string values, by its assignments in source order (`=` sets,
    `+=` appends); computed once per function."""
    known = _FUNCTION_STRINGS.get(function)
    if known is None:
        known = {}
        evaluator = _Evaluator(module, function, known, None, building=True)
        for assign in _assignments(function.body):
            _bind(assign, evaluator, known)
        _FUNCTION_STRINGS[function] = known
    return known


def _bind(assign: Assign, evaluator: _Evaluator, known: dict[str, str]) -> None:
    if assign.value is None or len(assign.targets) != 1 or not isinstance(assign.targets[0], Name):
        return
    name = assign.targets[0].id
    text = evaluator.value(assign.value, 0)
    if assign.op is None:
        if text is None:
            known.pop(name, None)
        else:
            known[name] = text
    elif assign.op == "+" and name in known and text is not None:
        known[name] += text


def _assignments(block: Block) -> list[Assign]:
    """Every assignment of a function body in source order, nested blocks included (not nested
    functions: they are other functions)."""
    found: list[Assign] = []
    pending: list[Statement] = list(reversed(block))
    while pending:
        statement = pending.pop()
        if isinstance(statement, Assign):
            found.append(statement)
            continue
        inner: list[Block] = []
        if isinstance(statement, If | Loop):
            inner = [statement.body, statement.orelse]
        elif isinstance(statement, With):
            inner = [statement.body]
        elif isinstance(statement, Try):
            inner = [statement.body, *(h.body for h in statement.handlers), statement.orelse, statement.final]
        elif isinstance(statement, Branch):
            inner = list(statement.arms)
        for nested in reversed(inner):
            pending.extend(reversed(nested))
    return found


class _Evaluator:
    def __init__(
        self,
        module: ModuleModel,
        function: Function | None,
        strings: Mapping[str, str] | None,
        self_class: str | None,
        *,
        building: bool = False,
    ) -> None:
        self.building = building  # computing `function_strings` of `function` itself
        self.module = module
        self.function = function
        self.strings = strings
        self.self_class = self_class or (function.owner_class if function is not None else None)

    def value(self, expr: Expr, depth: int) -> str | None:
        """`depth` counts the names and attributes followed so far (not the operators: SQL is often
        built from dozens of `+` pieces)."""
        if isinstance(expr, Literal):
            return expr.value if isinstance(expr.value, str) else None
        if isinstance(expr, Template):
            return expr.text
        if isinstance(expr, Operation):
            return self.operation(expr, depth)
        if isinstance(expr, Call):
            return self.call(expr, depth)
        if depth >= _MAX_DEPTH:
            return None
        if isinstance(expr, Name):
            return self.name(expr.id, depth + 1)
        if isinstance(expr, Attribute) and isinstance(expr.value, Name):
            return self.class_attribute(expr.value.id, expr.attr, depth + 1)
        return None

    def operation(self, expr: Operation, depth: int) -> str | None:
        """`a + b + c` (a left-leaning chain, read without recursion): the known parts joined;
        `"..." % args`: the template."""
        if len(expr.operands) != 2:
            return None
        if expr.op == "%":
            return self.value(expr.operands[0], depth)
        if expr.op != "+":
            return None
        parts: list[Expr] = []
        node: Expr = expr
        while isinstance(node, Operation) and node.op == "+" and len(node.operands) == 2:
            parts.append(node.operands[1])
            node = node.operands[0]
        parts.append(node)
        known = [text for part in reversed(parts) if (text := self.value(part, depth)) is not None]
        return "".join(known) if known else None

    def call(self, expr: Call, depth: int) -> str | None:
        func = expr.func
        if isinstance(func, Attribute) and func.attr == "format":
            return self.value(func.value, depth)  # `"... {} ...".format(x)`: the template
        if expr.args and (expr.name or "").rsplit(".", 1)[-1] in _WRAPPERS:
            return self.value(expr.args[0].value, depth)
        return None

    def name(self, name: str, depth: int) -> str | None:
        if self.strings is not None and name in self.strings:
            return self.strings[name]
        function = self.function
        if function is not None and name in function.locals:
            # A local not bound to a string (yet, while the function's own strings are computed).
            return None if self.building else function_strings(function, self.module).get(name)
        constant = self.module.assignments.get(name)
        return None if constant is None else self.value(constant, depth)

    def class_attribute(self, owner: str, attribute: str, depth: int) -> str | None:
        """`Queries.SELECT`, `self.SELECT` / `cls.SELECT` (the class `self` stands for)."""
        if owner in ("self", "cls") and self.self_class is not None:
            owner = self.self_class
        seen: set[str] = set()
        pending = [owner]
        while pending:
            name = pending.pop()
            info: ClassModel | None = self.module.classes.get(name)
            if info is None or name in seen:
                continue
            seen.add(name)
            value = info.attributes.get(attribute)
            if value is not None:
                return self.value(value, depth)
            # Bases of the same module, by their last name (`class Q(BaseQueries)`).
            pending.extend(reversed([base.rsplit(".", 1)[-1] for base in info.bases]))
        return None
