"""A readable, stable text of the program model: for tests (source in, expected text out) and debugging.

One line per statement, four spaces per block level, Python-like so a reader recognises the source,
but showing what the model made of it:

- operations in prefix form with the model's normalised operator: `(is row None)`, `(not x)`,
  `(and a b c)`, `(+ "a" b)`, so `x == None` and `x is None` read alike;
- calls under their resolved name when the front-end knew it: `django.db.transaction.atomic()`;
  otherwise the callee as written (`self.repo.save(x)`, `q.filter(a=1).first()`);
- what the model keeps opaque in angle brackets with its children: `<lambda q>`, `<starred xs>`,
  `<def outer.<locals>.inner @cache>`, `<import>`;
- a comprehension as `[element for iterables... if conditions...]` (`{key: value for ...}` for a
  dict); its targets are not in the model.

`dump(node)` takes a function, class, module, statement, block or expression; `expression(expr)`
renders one expression (also a cheap text of a callee or a lock for messages).
"""

from __future__ import annotations

from collections.abc import Iterable

from .model import (
    Arg,
    Assert,
    Assign,
    Attribute,
    Await,
    Branch,
    Call,
    ClassModel,
    Collection,
    Conditional,
    Delete,
    Eval,
    Expr,
    Function,
    If,
    Jump,
    Literal,
    Loop,
    ModuleModel,
    Name,
    Node,
    Opaque,
    OpaqueStatement,
    Operation,
    Raise,
    Return,
    Statement,
    Subscript,
    Template,
    Try,
    Walrus,
    With,
)

__all__ = ["dump", "expression"]

_INDENT = "    "


def dump(node: Node | ModuleModel | tuple[Statement, ...]) -> str:
    """The text of a function, class, module, statement, block or expression (no trailing newline)."""
    lines: list[str] = []
    if isinstance(node, tuple):
        _block(node, 0, lines)
    elif isinstance(node, Function):
        _function(node, 0, lines)
    elif isinstance(node, ClassModel):
        _class(node, 0, lines)
    elif isinstance(node, ModuleModel):
        _module(node, lines)
    elif isinstance(node, Statement):
        _statement(node, 0, lines)
    elif isinstance(node, Expr):
        lines.append(expression(node))
    else:
        raise TypeError(f"cannot dump {type(node).__name__}")
    return "\n".join(lines)


def _module(module: ModuleModel, lines: list[str]) -> None:
    _block(module.body, 0, lines)
    for function in module.functions.values():
        lines.append("")
        _function(function, 0, lines)


def _class(model: ClassModel, depth: int, lines: list[str]) -> None:
    pad = _INDENT * depth
    lines.extend(f"{pad}@{expression(decorator)}" for decorator in model.decorators)
    lines.append(f"{pad}class {model.name}({', '.join(model.bases)}):")
    _block(model.body, depth + 1, lines)


def _function(function: Function, depth: int, lines: list[str]) -> None:
    pad = _INDENT * depth
    lines.extend(f"{pad}@{expression(decorator)}" for decorator in function.decorators)
    keyword = "async def" if function.is_async else "def"
    lines.append(f"{pad}{keyword} {function.qualname}({', '.join(function.params)}):")
    _block(function.body, depth + 1, lines)


def _block(block: Iterable[Statement], depth: int, lines: list[str]) -> None:
    for statement in block:
        _statement(statement, depth, lines)


def _statement(node: Statement, depth: int, lines: list[str]) -> None:
    pad = _INDENT * depth
    if isinstance(node, If | Loop | Branch | With | Try):
        _compound(node, depth, lines)
    elif isinstance(node, Assign):
        lines.append(pad + _assign(node))
    elif isinstance(node, Eval):
        lines.append(pad + expression(node.value))
    elif isinstance(node, Return | Raise):
        lines.append(pad + _exit(node))
    elif isinstance(node, Delete):
        lines.append(f"{pad}del {_joined(node.targets)}")
    elif isinstance(node, Assert):
        message = "" if node.message is None else f", {expression(node.message)}"
        lines.append(f"{pad}assert {expression(node.test)}{message}")
    elif isinstance(node, Jump):
        lines.append(pad + node.kind)
    elif isinstance(node, OpaqueStatement):
        parts = [node.kind, *([node.name] if node.name else []), *map(expression, node.children)]
        lines.append(f"{pad}<{' '.join(parts)}>")
    else:
        lines.append(f"{pad}<{type(node).__name__}>")


def _assign(node: Assign) -> str:
    targets = " = ".join(expression(target) for target in node.targets)
    if node.value is None:
        return f"declare {targets}"
    if node.op is not None:
        return f"{targets} {node.op}= {expression(node.value)}"
    return f"{targets} = {expression(node.value)}"


def _exit(node: Return | Raise) -> str:
    keyword = "return" if isinstance(node, Return) else "raise"
    text = keyword if node.value is None else f"{keyword} {expression(node.value)}"
    if isinstance(node, Raise) and node.cause is not None:
        text += f" from {expression(node.cause)}"
    return text


def _compound(node: If | Loop | Branch | With | Try, depth: int, lines: list[str]) -> None:
    pad = _INDENT * depth
    inner = depth + 1
    if isinstance(node, If):
        lines.append(f"{pad}if {expression(node.test)}:")
        _block(node.body, inner, lines)
        _else(node.orelse, depth, lines)
    elif isinstance(node, Loop):
        if node.iterable is None:
            test = "" if node.test is None else expression(node.test)
            lines.append(f"{pad}while {test}:")
        else:
            keyword = "async for" if node.is_async else "for"
            target = "?" if node.target is None else expression(node.target)
            lines.append(f"{pad}{keyword} {target} in {expression(node.iterable)}:")
        _block(node.body, inner, lines)
        _else(node.orelse, depth, lines)
    elif isinstance(node, Branch):
        lines.append(f"{pad}match {expression(node.subject)}:")
        for position, arm in enumerate(node.arms):
            pattern = node.patterns[position] if position < len(node.patterns) else None
            lines.append(f"{pad}{_INDENT}case {'_' if pattern is None else expression(pattern)}:")
            _block(arm, inner + 1, lines)
    elif isinstance(node, With):
        items = [
            expression(item.context) + ("" if item.target is None else f" as {expression(item.target)}")
            for item in node.items
        ]
        lines.append(f"{pad}{'async with' if node.is_async else 'with'} {', '.join(items)}:")
        _block(node.body, inner, lines)
    else:
        _try(node, depth, lines)


def _try(node: Try, depth: int, lines: list[str]) -> None:
    pad = _INDENT * depth
    lines.append(f"{pad}try:")
    _block(node.body, depth + 1, lines)
    for handler in node.handlers:
        name = "" if handler.name is None else f" as {handler.name}"
        types = handler.types[0] if len(handler.types) == 1 else f"({', '.join(handler.types)})"
        lines.append(f"{pad}except {types}{name}:")
        _block(handler.body, depth + 1, lines)
    _else(node.orelse, depth, lines)
    if node.final:
        lines.append(f"{pad}finally:")
        _block(node.final, depth + 1, lines)


def _else(block: tuple[Statement, ...], depth: int, lines: list[str]) -> None:
    if block:
        lines.append(f"{_INDENT * depth}else:")
        _block(block, depth + 1, lines)


def expression(node: Expr) -> str:
    """One expression as text (see the module docstring for the notation)."""
    if isinstance(node, Name):
        return node.id
    if isinstance(node, Attribute):
        return f"{expression(node.value)}.{node.attr}"
    if isinstance(node, Subscript):
        return f"{expression(node.value)}[{expression(node.index)}]"
    if isinstance(node, Call):
        callee = node.name if node.name is not None else expression(node.func)
        return f"{callee}({', '.join(_argument(arg) for arg in node.args)})"
    if isinstance(node, Literal):
        return repr(node.value)
    if isinstance(node, Operation):
        return f"({node.op} {' '.join(expression(operand) for operand in node.operands)})"
    if isinstance(node, Await):
        return f"await {expression(node.value)}"
    if isinstance(node, Template):
        parts = (part if isinstance(part, str) else "{" + expression(part) + "}" for part in node.parts)
        return 'f"' + "".join(parts) + '"'
    if isinstance(node, Conditional):
        test, body, orelse = (expression(part) for part in (node.test, node.body, node.orelse))
        return f"({body} if {test} else {orelse})"
    if isinstance(node, Collection):
        return _collection(node)
    if isinstance(node, Walrus):
        return f"({expression(node.target)} := {expression(node.value)})"
    if isinstance(node, Opaque):
        return "<" + " ".join([node.kind, *(expression(child) for child in node.children)]) + ">"
    return f"<{type(node).__name__}>"


def _argument(arg: Arg) -> str:
    if arg.keyword is not None:
        return f"{arg.keyword}={expression(arg.value)}"
    return arg.star + expression(arg.value)


def _collection(node: Collection) -> str:
    if node.kind == "comprehension":
        conditions = "".join(f" if {expression(test)}" for test in node.conditions)
        if len(node.elements) == 2:  # a dict comprehension's key and value
            key, value = (expression(element) for element in node.elements)
            return f"{{{key}: {value} for {_joined(node.sources)}{conditions}}}"
        return f"[{_joined(node.elements)} for {_joined(node.sources)}{conditions}]"
    if node.kind == "dict":
        pairs = zip(node.elements[::2], node.elements[1::2], strict=True)
        return "{" + ", ".join(f"{expression(key)}: {expression(value)}" for key, value in pairs) + "}"
    if node.kind == "tuple":
        inner = _joined(node.elements)
        return f"({inner},)" if len(node.elements) == 1 else f"({inner})"
    opener, closer = ("[", "]") if node.kind == "list" else ("{", "}")
    return opener + _joined(node.elements) + closer


def _joined(nodes: Iterable[Expr]) -> str:
    return ", ".join(expression(node) for node in nodes)
