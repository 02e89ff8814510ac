"""The program model: what a function does, as far as races care, in terms no language owns.

Front-ends (`analyzer/python/`, later JavaScript/TypeScript and Rust) lower each function of a
module to this model; one interpreter (`core/interpret.py`) runs over it for every language. The
model is a small, closed tree (Semgrep's IL taught the idea; unlike its three-address code we keep
expressions nested, because the interpreter evaluates them recursively and the evidence lines of a
finding are the source's own lines):

- statements: `Assign`, `Eval`, `Delete`, `Assert`, `Return`, `Raise`, `Jump`, `If`, `Loop`,
  `Branch` (switch/match), `With` (a scoped context: a lock, a transaction, a file), `Try`, and
  `OpaqueStatement` for what the front-end does not model (never silently dropped: its
  sub-expressions are still evaluated for their effects);
- expressions: `Name`, `Attribute`, `Subscript`, `Call`, `Await`, `Literal`, `Template` (an
  f-string or template literal), `Operation` (operators, comparisons, boolean logic, `not`),
  `Conditional`, `Collection` (tuple, list, dict, set literals and comprehensions), `Walrus` (an
  assignment inside an expression) and `Opaque` (lambdas, unknown syntax: children evaluated, no
  value flows out).

Every node carries its `Span` in the original file. `origin` keeps the front-end's own node, opaque
to the core: a language's store recognizers look at it for shapes the model does not keep (keyword
arguments of a DynamoDB call, a chained query builder).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple
from typing import Literal as TypingLiteral

__all__ = [
    "Arg",
    "Assert",
    "Assign",
    "Attribute",
    "Await",
    "Block",
    "Branch",
    "Call",
    "ClassModel",
    "Collection",
    "Conditional",
    "Delete",
    "EntryPoint",
    "Eval",
    "Expr",
    "Function",
    "Handler",
    "If",
    "Jump",
    "Literal",
    "Loop",
    "ModuleModel",
    "Name",
    "Node",
    "Opaque",
    "OpaqueStatement",
    "Operation",
    "Raise",
    "Return",
    "Span",
    "Statement",
    "Subscript",
    "Template",
    "Try",
    "Walrus",
    "With",
    "WithItem",
]


class Span(NamedTuple):
    """1-based lines, 0-based columns, as the source shows them; `end_*` exclusive of nothing.

    A named tuple rather than a frozen dataclass: every model node has one, and building frozen
    dataclasses (four `object.__setattr__` calls each) was a fifth of the Python lowering's time.
    Immutable, hashable and compared by value all the same."""

    line: int
    column: int = 0
    end_line: int = 0
    end_column: int = 0


NO_SPAN = Span(0)


# Nodes compare by identity: two `x` at different places are different reads. `eq=False` keeps the
# default hash, so nodes can key dictionaries (the interpreter's existence tests, recognizer notes).
@dataclass(eq=False)
class Node:
    span: Span = field(default=NO_SPAN, kw_only=True)
    origin: Any = field(default=None, kw_only=True, repr=False)


# -- expressions ---------------------------------------------------------------------------------
@dataclass(eq=False)
class Expr(Node):
    pass


@dataclass(eq=False)
class Name(Expr):
    id: str


@dataclass(eq=False)
class Attribute(Expr):
    value: Expr
    attr: str


@dataclass(eq=False)
class Subscript(Expr):
    """`value[index]`; `key` is the index's text when it is a string literal (`row["balance"]`)."""

    value: Expr
    index: Expr
    key: str | None = None


@dataclass(eq=False)
class Arg(Node):
    value: Expr
    keyword: str | None = None
    star: TypingLiteral["", "*", "**"] = ""


@dataclass(eq=False)
class Call(Expr):
    """A call; `name` is the callee's qualified name when the front-end can tell (imports resolved:
    `django.db.transaction.atomic`, `boto3.resource`), else its dotted text (`self.repo.save`)."""

    func: Expr
    args: tuple[Arg, ...] = ()
    name: str | None = None

    @property
    def method(self) -> str | None:
        return self.func.attr if isinstance(self.func, Attribute) else None

    @property
    def receiver(self) -> Expr | None:
        return self.func.value if isinstance(self.func, Attribute) else None

    def positional(self, position: int) -> Expr | None:
        values = [arg.value for arg in self.args if arg.keyword is None and not arg.star]
        return values[position] if position < len(values) else None

    def keyword(self, name: str) -> Expr | None:
        return next((arg.value for arg in self.args if arg.keyword == name), None)


@dataclass(eq=False)
class Await(Expr):
    value: Expr


@dataclass(eq=False)
class Literal(Expr):
    """A constant: `str`, `bytes`, `int`, `float`, `bool` or `None` (`null`/`undefined` too)."""

    value: str | bytes | int | float | bool | None


@dataclass(eq=False)
class Template(Expr):
    """An f-string / template literal: text parts and the expressions in its holes, in order."""

    parts: tuple[str | Expr, ...]

    @property
    def text(self) -> str:
        """The text with each hole shown as `?` (how keys such as `f"rate:{user}"` read)."""
        return "".join(part if isinstance(part, str) else "?" for part in self.parts)


@dataclass(eq=False)
class Operation(Expr):
    """Operators in one node: `op` is the source's spelling, normalised across languages:
    arithmetic (`+ - * / // % **`), comparison (`== != < <= > >= is is-not in not-in`),
    boolean (`and or not`), unary `-`. `x is None`, `x === null` and `x == None` all lower to
    `Operation("is", (x, Literal(None)))`; JavaScript's `!x` to `Operation("not", (x,))`."""

    op: str
    operands: tuple[Expr, ...]


@dataclass(eq=False)
class Conditional(Expr):
    test: Expr
    body: Expr
    orelse: Expr


@dataclass(eq=False)
class Collection(Expr):
    """A literal or comprehension: `kind` is tuple/list/set/dict/comprehension. `elements` are
    evaluated for their values (a dict's keys and values alternate; a comprehension's element, or
    key and value); `conditions` are tests (a comprehension's `if` clauses); `sources` are a
    comprehension's iterables, in order, evaluated before the rest."""

    kind: TypingLiteral["tuple", "list", "set", "dict", "comprehension"]
    elements: tuple[Expr, ...] = ()
    conditions: tuple[Expr, ...] = ()
    sources: tuple[Expr, ...] = ()


@dataclass(eq=False)
class Walrus(Expr):
    target: Expr
    value: Expr


@dataclass(eq=False)
class Opaque(Expr):
    """Syntax the front-end does not model (a lambda, a starred expression, a yield). `children`
    are evaluated for their effects; `carries` says whether their reads flow into the value."""

    kind: str
    children: tuple[Expr, ...] = ()
    carries: bool = False


# -- statements ----------------------------------------------------------------------------------
@dataclass(eq=False)
class Statement(Node):
    pass


Block = tuple[Statement, ...]


@dataclass(eq=False)
class Assign(Statement):
    """`targets = value`; `op` for augmented assignment (`x += 1` has op `+` and one target)."""

    targets: tuple[Expr, ...]
    value: Expr | None
    op: str | None = None


@dataclass(eq=False)
class Eval(Statement):
    """An expression statement: its value is thrown away (a rowcount nobody reads guards nothing)."""

    value: Expr


@dataclass(eq=False)
class Delete(Statement):
    targets: tuple[Expr, ...]


@dataclass(eq=False)
class Assert(Statement):
    test: Expr
    message: Expr | None = None


@dataclass(eq=False)
class Return(Statement):
    value: Expr | None = None


@dataclass(eq=False)
class Raise(Statement):
    value: Expr | None = None
    cause: Expr | None = None


@dataclass(eq=False)
class Jump(Statement):
    kind: TypingLiteral["break", "continue"]


@dataclass(eq=False)
class If(Statement):
    test: Expr
    body: Block
    orelse: Block = ()


@dataclass(eq=False)
class Loop(Statement):
    """`while test:` (`iterable` None) or `for target in iterable:`; `is_async` for `async for`."""

    body: Block
    test: Expr | None = None
    target: Expr | None = None
    iterable: Expr | None = None
    orelse: Block = ()
    is_async: bool = False


@dataclass(eq=False)
class Branch(Statement):
    """`match`/`switch`: the subject is tested, then one arm (or none) runs. `patterns` holds, per
    arm, what its pattern evaluates (an `Opaque("pattern")` of the value expressions a `case`
    compares with), or None; a guard (`case x if cond:`) is an `If` around the arm's body."""

    subject: Expr
    arms: tuple[Block, ...]
    patterns: tuple[Expr | None, ...] = ()


@dataclass(eq=False)
class WithItem(Node):
    context: Expr
    target: Expr | None = None


@dataclass(eq=False)
class With(Statement):
    items: tuple[WithItem, ...]
    body: Block
    is_async: bool = False


@dataclass(eq=False)
class Handler(Node):
    """An exception handler; `types` are the caught classes' last names (`IntegrityError`), or
    `("Exception",)` for a bare `except:` / a JavaScript `catch`."""

    types: tuple[str, ...]
    body: Block
    name: str | None = None


@dataclass(eq=False)
class Try(Statement):
    body: Block
    handlers: tuple[Handler, ...] = ()
    orelse: Block = ()
    final: Block = ()


@dataclass(eq=False)
class OpaqueStatement(Statement):
    """A statement the front-end does not model (a nested class, `global`, unknown syntax).
    For a definition (kind `def` or `class`), `name` is the qualified name under which the
    module holds it (`outer.<locals>.inner` in `ModuleModel.functions`); its children are what the
    definition evaluates when it runs (decorators, defaults, bases)."""

    kind: str
    children: tuple[Expr, ...] = ()
    name: str | None = None


# -- functions, classes, modules -----------------------------------------------------------------
@dataclass(eq=False)
class Function(Node):
    """One function or method. `locals` are the names it binds (parameters included, names it
    declares global excluded); `globals` the names it declares global (`global x`)."""

    name: str
    qualname: str
    params: tuple[str, ...]
    body: Block
    is_async: bool = False
    owner_class: str | None = None
    decorators: tuple[Expr, ...] = ()
    annotations: dict[str, str] = field(default_factory=dict)
    locals: frozenset[str] = frozenset()
    globals: frozenset[str] = frozenset()


@dataclass(eq=False)
class ClassModel(Node):
    name: str
    bases: tuple[str, ...]
    methods: dict[str, Function] = field(default_factory=dict)
    attributes: dict[str, Expr] = field(default_factory=dict)
    decorators: tuple[Expr, ...] = ()
    # The class body as it runs at definition time (methods are `OpaqueStatement("def")` there).
    body: Block = ()


Runtime = TypingLiteral["event-loop", "thread-pool", "processes", "sequential"]
EntryKind = TypingLiteral["http", "task", "signal", "command", "middleware", "consumer", "graphql", "startup"]


@dataclass(frozen=True)
class EntryPoint:
    """How requests or messages reach a function, and how the runtime runs concurrent ones:
    `event-loop` (interleaves at awaits), `thread-pool` (anywhere, shared memory), `processes`
    (anywhere, no shared memory), `sequential` (one at a time in this process; stores still race)."""

    qualname: str
    kind: EntryKind
    runtime: Runtime
    route: str | None = None
    framework: str = ""


@dataclass(eq=False)
class ModuleModel:
    """One lowered module: its functions (module-level and methods), classes, module-level
    assignments (name -> value), imports (local name -> qualified name) and entry points.
    `body` is the module's own top-level code (a `def`/`class` there is an `OpaqueStatement`);
    what runs at import time (`app.include_router(...)`, `lock = Lock()`) is read from it."""

    path: str
    language: str
    source: str
    functions: dict[str, Function] = field(default_factory=dict)
    classes: dict[str, ClassModel] = field(default_factory=dict)
    assignments: dict[str, Expr] = field(default_factory=dict)
    imports: dict[str, str] = field(default_factory=dict)
    entry_points: list[EntryPoint] = field(default_factory=list)
    body: Block = ()
    # Every call in the module's own top-level code (`body`, decorators and defaults included,
    # class bodies and function bodies not), innermost first: route tables, `include_router`,
    # `signal.connect`, read without walking `body` again.
    calls: list[Call] = field(default_factory=list)

    def line_text(self, line: int) -> str:
        lines = self.source.splitlines()
        return lines[line - 1] if 0 < line <= len(lines) else ""
