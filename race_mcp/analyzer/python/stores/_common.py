"""What every Python store recognizer shares: source text of model nodes, per-module facts, query
chains and arguments read off `model.Call`s, and the check that every effect names a registered store.

Recognizers look at the program model first (`model.Call`, its `Arg`s, `Literal`s, `Collection`s);
the standard library `ast` node kept in `origin` is read only for the source text of a node (a
Redis key, a file path) and for a few scans of a function or module (DDL strings, rowcounts read).
"""

from __future__ import annotations

import ast
import re
import weakref
from collections.abc import Iterator
from dataclasses import fields
from functools import lru_cache
from typing import Any

from ...core import model
from ...core.effects import CallContext, Effect
from ...core.stores import spec

__all__ = [
    "INSERT_OUTCOME",
    "ModuleFacts",
    "StoreRecognizer",
    "calls_in",
    "chain",
    "dict_items",
    "dotted",
    "echoed_keywords",
    "is_true",
    "keywords",
    "literal_string",
    "module_of",
    "positional",
    "walk",
]

# What an insert after an absence check leads to, in every store that has inserts (SQL, ORM, MongoDB).
INSERT_OUTCOME = "concurrent requests all find nothing and all insert, so duplicates are created"
# What a handler around an insert on a unique key may catch to answer the duplicate: the drivers'
# unique-violation errors, their bases, or anything (a bare `except:` lowers to `Exception`).
DUPLICATE_HANDLERS = (
    "IntegrityError",
    "UniqueViolation",
    "UniqueViolationError",
    "DuplicateKeyError",
    "DatabaseError",
    "DBAPIError",
    "Exception",
    "BaseException",
)
REFUSED_OUTCOME = (
    "the unique constraint refuses the duplicate, but the losing request fails with an unhandled "
    "IntegrityError (a server error or a crashed task) instead of an answer: insert without the "
    "pre-check and turn the duplicate-key error into the response"
)

# Line ends as `ast` counts them (`str.splitlines` also splits on form feeds and other separators).
_LINES = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


@lru_cache(maxsize=64)
def _split_lines(source: str) -> tuple[str, ...]:
    """A module's lines, split once: every store recognizer of every file's analysis that meets the
    module (its own, or a helper's module it calls into) slices the same text. The same string
    object comes back each time, so the lookup hashes it once and compares it by identity."""
    return tuple(_LINES.findall(source))


class SourceText:
    """A module's source, sliced by `ast` positions (1-based lines, UTF-8 byte columns)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._lines: tuple[str, ...] | None = None

    @property
    def lines(self) -> tuple[str, ...]:
        if self._lines is None:
            self._lines = _split_lines(self.source)
        return self._lines

    def _cut(self, line: int, start: int | None, end: int | None) -> str:
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        if text.isascii():
            return text[start:end]
        return text.encode()[start:end].decode(errors="replace")

    def segment(self, node: ast.AST | None) -> str:
        """The source text of an `ast` node ("" for a node without a position)."""
        first = getattr(node, "lineno", None)
        last = getattr(node, "end_lineno", None)
        if first is None or last is None:
            return ""
        start, end = node.col_offset, node.end_col_offset  # type: ignore[union-attr]
        if first == last:
            return self._cut(first, start, end)
        parts = [self._cut(first, start, None)]
        parts += [self._cut(line, None, None) for line in range(first + 1, last)]
        parts.append(self._cut(last, None, end))
        return "".join(parts)


class ModuleFacts:
    """One module as the recognizers see it: its model, its text, and what is declared in it."""

    def __init__(self, module: model.ModuleModel) -> None:
        self.module = module
        self.text = SourceText(module.source)
        self.source = module.source
        self.classes = module.classes
        self.assignments = module.assignments
        self.imports = module.imports

    def code(self, node: model.Node | ast.AST | None) -> str:
        """The source text of a model node (through its `origin`) or of an `ast` node."""
        if isinstance(node, model.Node):
            node = node.origin if isinstance(node.origin, ast.AST) else None
        return self.text.segment(node)

    def block(self, node: model.Node) -> str:
        """The whole source lines a node spans (a class body scanned for constraints): cheaper than
        its exact text, and the same to a pattern that looks for declarations inside it."""
        span = node.span
        return "".join(self.text.lines[span.line - 1 : max(span.end_line, span.line)])

    def name_text(self, expr: model.Expr | None) -> str:
        """A receiver's text: `self.session` from the model when it is a dotted name (most are),
        the source otherwise (`(await session.scalars(q))`)."""
        return dotted(expr) or self.code(expr)

    def qualify(self, expr: model.Expr | None) -> str | None:
        """The qualified name of a name or dotted attribute, through the module's imports."""
        if isinstance(expr, model.Call):
            return expr.name
        text = dotted(expr)
        if text is None:
            return None
        head, dot, rest = text.partition(".")
        resolved = self.imports.get(head)
        return resolved + dot + rest if resolved else text


def module_of(context: Any) -> model.ModuleModel:
    """A recognizer factory's argument: the lowered module, or a front-end context holding it."""
    if isinstance(context, model.ModuleModel):
        return context
    module = getattr(context, "module", None)
    if isinstance(module, model.ModuleModel):
        return module
    raise TypeError(f"a Python store recognizer needs a lowered module, not {type(context).__name__}")


class StoreRecognizer:
    """Base of the Python recognizers: per-module facts (a helper of another file runs with its own
    module's), and effects checked against the store registry before the interpreter sees them."""

    facts_type: type[ModuleFacts] = ModuleFacts

    def __init__(self, context: Any) -> None:
        self.home = self.facts_type(module_of(context))
        self._others: dict[int, ModuleFacts] = {}

    def facts(self, ctx: CallContext | None) -> ModuleFacts:
        module = ctx.module() if ctx is not None else self.home.module
        if module is self.home.module:
            return self.home
        facts = self._others.get(id(module))
        if facts is None or facts.module is not module:
            facts = self._others[id(module)] = self.facts_type(module)
        return facts

    def effects(self, call: model.Call, ctx: CallContext) -> list[Effect] | None:
        effects = self.recognize(call, ctx)
        if effects:
            check_effects(effects)
        return effects

    def recognize(self, call: model.Call, ctx: CallContext) -> list[Effect] | None:
        raise NotImplementedError


_KEYED = frozenset({"read", "write", "direct"})


def check_effects(effects: list[Effect]) -> None:
    """Every store key a recognizer emits names a registered store (`spec` raises a `KeyError`
    naming the known ones): an unregistered prefix would silently become in-process state."""
    for effect in effects:
        if effect.kind in _KEYED:
            spec(effect.key.partition(":")[0])
        elif effect.kind == "store_write":
            spec(effect.key)


# -- reading calls ---------------------------------------------------------------------------------
def walk(nodes: model.Block | tuple[model.Node, ...]) -> Iterator[model.Node]:
    """Every model node under `nodes` (statements, expressions, arguments), depth first."""
    stack: list[Any] = list(reversed(nodes))
    while stack:
        node = stack.pop()
        if isinstance(node, tuple):
            stack.extend(reversed(node))
            continue
        if not isinstance(node, model.Node):
            continue
        yield node
        for name in _child_fields(type(node)):
            value = getattr(node, name)
            if value is not None:
                stack.append(value)


# Per function: its calls in `walk` order (recognizers that scan a body once per call they see,
# like a `hasattr` probe looking for the create after it, read this list instead of a fresh walk).
_CALLS: weakref.WeakKeyDictionary[model.Function, tuple[model.Call, ...]] = weakref.WeakKeyDictionary()


def calls_in(function: model.Function) -> tuple[model.Call, ...]:
    """Every call in `function`'s body (nested functions and lambdas included), as `walk` meets them."""
    found = _CALLS.get(function)
    if found is None:
        found = _CALLS[function] = tuple(node for node in walk(function.body) if isinstance(node, model.Call))
    return found


_ECHOED: weakref.WeakKeyDictionary[model.Function, frozenset[str]] = weakref.WeakKeyDictionary()


def echoed_keywords(function: model.Function) -> frozenset[str]:
    """The names some call in `function` passes as a keyword of the same name (`order=order`)."""
    found = _ECHOED.get(function)
    if found is None:
        found = _ECHOED[function] = frozenset(
            arg.keyword
            for call in calls_in(function)
            for arg in call.args
            if arg.keyword is not None and isinstance(arg.value, model.Name) and arg.value.id == arg.keyword
        )
    return found


_FIELDS: dict[type, tuple[str, ...]] = {}


def _child_fields(kind: type) -> tuple[str, ...]:
    names = _FIELDS.get(kind)
    if names is None:
        skip = {"span", "origin", "annotations", "decorators", "methods", "attributes"}
        names = _FIELDS[kind] = tuple(f.name for f in fields(kind) if f.name not in skip)
    return names


def chain(call: model.Call) -> tuple[model.Expr, list[tuple[str, model.Call]]]:
    """`A.objects.filter(x=1).first()` -> (`A.objects`, [("filter", ...), ("first", ...)])."""
    methods: list[tuple[str, model.Call]] = []
    node: model.Expr = call
    while isinstance(node, model.Call) and isinstance(node.func, model.Attribute):
        methods.append((node.func.attr, node))
        node = node.func.value
    methods.reverse()
    return node, methods


def keywords(call: model.Call) -> dict[str, model.Expr]:
    return {arg.keyword: arg.value for arg in call.args if arg.keyword is not None}


def positional(call: model.Call) -> list[model.Expr]:
    return [arg.value for arg in call.args if arg.keyword is None and not arg.star]


def is_true(expr: model.Expr | None) -> bool:
    return isinstance(expr, model.Literal) and expr.value is True


def literal_string(expr: model.Expr | None) -> str | None:
    return expr.value if isinstance(expr, model.Literal) and isinstance(expr.value, str) else None


def dict_items(expr: model.Expr | None) -> list[tuple[model.Expr, model.Expr]]:
    """A dict literal's (key, value) pairs; `**spread` entries (lowered as a `None` key and an
    `Opaque("unpack")` value) are left out."""
    if not isinstance(expr, model.Collection) or expr.kind != "dict":
        return []
    elements = expr.elements
    pairs = [(elements[i], elements[i + 1]) for i in range(0, len(elements) - 1, 2)]
    return [(k, v) for k, v in pairs if not (isinstance(v, model.Opaque) and v.kind == "unpack")]


def dotted(expr: model.Expr | None) -> str | None:
    """`a.b.c` for a name or a chain of attributes on one, else None."""
    parts: list[str] = []
    while isinstance(expr, model.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if not isinstance(expr, model.Name):
        return None
    parts.append(expr.id)
    return ".".join(reversed(parts))
