"""Small readings of model expressions the interpreter and the checks share."""

from __future__ import annotations

from collections.abc import Iterator

from . import model

__all__ = [
    "existence_subjects",
    "expressions",
    "looked_at",
    "nested_blocks",
    "own_attributes_read",
    "statements",
]


def existence_subjects(test: model.Expr) -> set[model.Node]:
    """The names an `if` only tests for presence: `row is None`, `not row`, `row`, `a and b`;
    calls too (`if not Model.get_by(...)`: a helper's returned row tested for presence)."""
    if isinstance(test, model.Name | model.Call):
        return {test}
    if isinstance(test, model.Operation):
        if test.op == "not" and len(test.operands) == 1:
            return existence_subjects(test.operands[0])
        if test.op in ("and", "or"):
            return set().union(*(existence_subjects(operand) for operand in test.operands))
        if (
            test.op in ("is", "is-not")
            and len(test.operands) == 2
            and isinstance(test.operands[0], model.Name | model.Call)
            and isinstance(test.operands[1], model.Literal)
            and test.operands[1].value is None
        ):
            return {test.operands[0]}
    return set()


def looked_at(expr: model.Expr) -> set[str]:
    """The string keys and attribute names along `a["x"].y["z"]`: what a decision looked at."""
    names: set[str] = set()
    while isinstance(expr, model.Subscript | model.Attribute):
        if isinstance(expr, model.Attribute):
            names.add(expr.attr)
        elif expr.key is not None:
            names.add(expr.key)
        expr = expr.value
    return names


def own_attributes_read(method: model.Function) -> frozenset[str] | None:
    """The attributes a method reads off its own object (`self.code` in `make_token`), when reading
    them is all it does with the object: None when it calls a method on the object or on one of its
    attributes (`self.count()`, `self.check_set.count()`: a query, perhaps of rows the caller
    changes), hands the object on (`helper(self)`, `return self`), sets an attribute of it, or
    reads none. The object is the method's first parameter named `self` (only Python binds row
    methods today: a JavaScript method's `this` is no parameter)."""
    if not method.params or method.params[0] != "self":
        return None
    me = method.params[0]
    read: set[str] = set()
    mentions = 0
    for statement in statements(method.body):
        if isinstance(statement, model.Assign) and any(_starts_at(t, me) for t in statement.targets):
            return None
        for node in expressions(statement):
            if isinstance(node, model.Call) and isinstance(node.func, model.Attribute):
                if _starts_at(node.func, me):
                    return None
            elif isinstance(node, model.Name) and node.id == me:
                mentions += 1
            elif (
                isinstance(node, model.Attribute)
                and isinstance(node.value, model.Name)
                and node.value.id == me
            ):
                mentions -= 1  # the name below it is counted next: a use through an attribute
                read.add(node.attr)
    return frozenset(read) if read and mentions == 0 else None


def _starts_at(expr: model.Expr, name: str) -> bool:
    """`self.a.b` or `self["k"]` starts at `self`."""
    while isinstance(expr, model.Attribute | model.Subscript):
        expr = expr.value
    return isinstance(expr, model.Name) and expr.id == name


def same_reference(a: model.Expr, b: model.Expr) -> bool:
    """The same name or attribute chain (`rel.order`, `order`), compared by structure."""
    if isinstance(a, model.Name) and isinstance(b, model.Name):
        return a.id == b.id
    if isinstance(a, model.Attribute) and isinstance(b, model.Attribute):
        return a.attr == b.attr and same_reference(a.value, b.value)
    return False


def statements(block: model.Block) -> Iterator[model.Statement]:
    """Every statement of `block` and the blocks nested in it, in source order."""
    stack = list(reversed(block))
    while stack:
        statement = stack.pop()
        yield statement
        for inner in reversed(nested_blocks(statement)):
            stack.extend(reversed(inner))


def nested_blocks(statement: model.Statement) -> list[model.Block]:
    """The blocks directly inside a statement (an `if`'s two branches, a `try`'s handlers...)."""
    if isinstance(statement, model.If | model.Loop):
        return [statement.body, statement.orelse]
    if isinstance(statement, model.Branch):
        return list(statement.arms)
    if isinstance(statement, model.With):
        return [statement.body]
    if isinstance(statement, model.Try):
        return [statement.body, *(h.body for h in statement.handlers), statement.orelse, statement.final]
    return []


def expressions(node: model.Node) -> Iterator[model.Expr]:
    """Every expression directly inside a statement or expression, and theirs, depth first."""
    stack: list[model.Node] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, model.Expr):
            yield current
        stack.extend(reversed(_children(current)))


def _children(node: model.Node) -> list[model.Node]:
    if isinstance(node, model.Attribute | model.Await):
        return [node.value]
    if isinstance(node, model.Subscript):
        return [node.value, node.index]
    if isinstance(node, model.Call):
        return [node.func, *(arg.value for arg in node.args)]
    if isinstance(node, model.Operation):
        return list(node.operands)
    if isinstance(node, model.Conditional):
        return [node.test, node.body, node.orelse]
    if isinstance(node, model.Collection):
        return [*node.sources, *node.elements, *node.conditions]
    if isinstance(node, model.Walrus):
        return [node.target, node.value]
    if isinstance(node, model.Opaque | model.OpaqueStatement):
        return list(node.children)
    if isinstance(node, model.Template):
        return [part for part in node.parts if not isinstance(part, str)]
    if isinstance(node, model.Assign):
        return [*node.targets, *([node.value] if node.value is not None else [])]
    if isinstance(node, model.Eval):
        return [node.value]
    if isinstance(node, model.Delete):
        return list(node.targets)
    if isinstance(node, model.Assert):
        return [e for e in (node.test, node.message) if e is not None]
    if isinstance(node, model.If):
        return [node.test]
    if isinstance(node, model.Raise):
        return [e for e in (node.value, node.cause) if e is not None]
    if isinstance(node, model.Return):
        return [node.value] if node.value is not None else []
    if isinstance(node, model.Loop):
        return [e for e in (node.test, node.target, node.iterable) if e is not None]
    if isinstance(node, model.Branch):
        return [node.subject, *(p for p in node.patterns if p is not None)]
    if isinstance(node, model.With):
        return [e for item in node.items for e in (item.context, item.target) if e is not None]
    return []
