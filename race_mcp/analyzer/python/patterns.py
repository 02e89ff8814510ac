"""Python rules read off a module's shape rather than a path through it: RC601 (a money-moving POST
handler with no idempotency key), RC404 (a stream consumer acting on every record, unguarded) and
RC602 (an event handed to a handler without the claim the module takes before it elsewhere; judged
for every language in `core/claims.py`).

RC601 also uses what the interpreter counted on the handler's paths (`persisted_writes`, `claims`).
"""

from __future__ import annotations

import ast
import builtins
import re
import weakref
from collections.abc import Iterable

from ..core import model
from ..core.claims import CLAIMS, unclaimed_handlers
from ..core.idempotency import (
    IDEMPOTENCY_WORDS,
    KEY_WORDS,
    MONEY_WORDS,
    PROVIDER_CALL,
    moves_ownership,
    names_a_thing_it_did_not_create,
)
from ..core.interpret import Interpreter
from ..core.state import Direct, Step
from ..core.walk import statements

__all__ = ["idempotency_finding", "stream_consumers", "unclaimed_handlers"]

# The money words, the key words and the payment providers are every language's (core/idempotency.py).
_MONEY_WORDS = MONEY_WORDS
_KEY_WORDS = KEY_WORDS
_IDEMPOTENCY_WORDS = IDEMPOTENCY_WORDS
# The patterns below run over untrusted code, and `re` backtracks: each is written to be linear
# (tests/test_analyzer_budgets.py feeds each its worst case).
# A key the client sends: a header name, a body field or META key written as a string literal. The
# lookahead checks once that the literal closes; the key word is then found by one forward scan.
_KEY_STRING = re.compile(rf"""(['"])(?=[^'"\n]*+\1)[^'"\n]*?(?:{_KEY_WORDS})""", re.IGNORECASE)
# A check that this request's effect was already applied, on the entity the route names.
# Indentation is `[ \t]`: `^\s*` re-scans a run of blank lines from each of its line starts.
_STATUS_CHECK = re.compile(
    r"^[ \t]*+(?:el)?if\b[^\n]*(?:\.|\[['\"])(?:status|state|processed|is_processed|paid|is_paid|completed|"
    r"settled|captured|fulfilled|used|redeemed)\b",
    re.MULTILINE,
)
_PROVIDER_CALL = PROVIDER_CALL
_CLAIMS = CLAIMS  # RC602's claim methods (core/claims.py)
_WRITE_VERBS = ("POST", "PUT", "PATCH")
_VIEW_BASE = re.compile(r"(View|ViewSet|APIView|Endpoint)$")
_VIEW_WRITE_METHODS = {"post": "POST", "put": "PUT", "patch": "PATCH", "create": "POST"}


class _Text:
    """Source text of model nodes by their spans (lines as Python counts them); one per module
    (`_text`), since RC601 is asked about every root of a module."""

    def __init__(self, module: model.ModuleModel) -> None:
        self.lines = re.split(r"\r\n|\r|\n", module.source)

    def of(self, node: model.Node) -> str:
        span = node.span
        if not 0 < span.line <= len(self.lines):
            return ""
        if span.end_line <= span.line:
            return self.lines[span.line - 1][span.column : span.end_column or None]
        parts = [self.lines[span.line - 1][span.column :], *self.lines[span.line : span.end_line - 1]]
        parts.append(
            self.lines[span.end_line - 1][: span.end_column] if span.end_line <= len(self.lines) else ""
        )
        return "\n".join(parts)

    def function(self, function: model.Function) -> str:
        """The function's code from its first decorator to its last line."""
        first = min([function.span.line, *(d.span.line for d in function.decorators)])
        return "\n".join(self.lines[first - 1 : function.span.end_line or function.span.line])

    def body(self, function: model.Function) -> str:
        if not function.body:
            return ""
        first = function.body[0].span.line
        return "\n".join(self.lines[first - 1 : function.span.end_line or first])


_TEXTS: weakref.WeakKeyDictionary[model.ModuleModel, _Text] = weakref.WeakKeyDictionary()


def _text(module: model.ModuleModel) -> _Text:
    text = _TEXTS.get(module)
    if text is None:
        text = _TEXTS[module] = _Text(module)
    return text


def idempotency_finding(
    module: model.ModuleModel,
    entry: model.EntryPoint | None,
    function: model.Function,
    owner: str | None,
    interpreter: Interpreter,
) -> Direct | None:
    """RC601: a money-moving POST handler that writes unconditionally and takes no idempotency key.

    `entry` is a routed handler; without one, `function` (a method of `owner`) is checked when it
    is a Django or DRF view (`@require_POST`, `@api_view(["POST"])`, `@action(methods=["post"])`,
    `post()`).
    """
    if entry is not None and entry.kind not in ("http", "graphql"):
        return None  # a signal receiver or a task answers no client that could resend with a key
    if (
        entry is not None
        and not function.decorators
        and re.search(rf"\b(?:Depends|Security)\(\s*{re.escape(function.name)}\b", module.source)
    ):
        return None  # a FastAPI dependency: the handler that depends on it is the one judged
    text = _text(module)
    if entry is not None:
        # A Django or DRF view is an entry point without a route: its decorators name its verbs.
        verbs = (not entry.route and _django_verbs(module, text, function, owner)) or _route_verbs(
            entry.route, function, owner
        )
        label = f"{entry.qualname} {entry.route or ''}"
    else:
        verbs = _django_verbs(module, text, function, owner)
        label = f"{owner or ''}.{function.name}"
    if not verbs & set(_WRITE_VERBS) or not _MONEY_WORDS.search(label):
        return None
    code = text.function(function)
    if moves_ownership(label, code):
        return None
    provider = _PROVIDER_CALL.search(code) is not None
    if interpreter.persisted_writes == 0 and not provider:
        return None
    if not provider and names_a_thing_it_did_not_create(
        label, code, interpreter.inserted, entry.route if entry is not None else None
    ):
        return None
    if interpreter.claims:
        return None  # a guarded state transition makes a retry fail instead of repeating the effect
    if _takes_client_key(text, function) or _STATUS_CHECK.search(code):
        return None
    where = entry.route if entry is not None and entry.route else label.strip()
    return Direct("RC601", where, (Step(function, "handler", 0),))


def _route_verbs(route: str | None, function: model.Function, owner: str | None) -> set[str]:
    """`POST /x` → {POST}; a class-based view's method without a known path → its method name."""
    if route:
        return set(route.split(" ", 1)[0].split("|"))
    name = function.name
    return {_VIEW_WRITE_METHODS.get(name, name.upper())} if owner else set(_WRITE_VERBS)


def _django_verbs(
    module: model.ModuleModel, text: _Text, function: model.Function, owner: str | None
) -> set[str]:
    """The HTTP methods a Django / DRF view accepts, from its decorators or its method name."""
    for decorator in function.decorators:
        target = decorator.func if isinstance(decorator, model.Call) else decorator
        name = _qualified(module, target).split(".")[-1]
        if name == "require_POST":
            return {"POST"}
        if name in ("require_GET", "require_safe"):
            return {"GET"}
        if name in ("require_http_methods", "api_view", "action") and isinstance(decorator, model.Call):
            methods = {m.upper() for m in re.findall(r"['\"](\w+)['\"]", text.of(decorator))}
            return (methods & {*_WRITE_VERBS, "GET"}) or {"GET"}
    info = module.classes.get(owner) if owner else None
    if info is not None and any(_VIEW_BASE.search(base) for base in info.bases):
        verb = _VIEW_WRITE_METHODS.get(function.name)
        return {verb} if verb else set()
    return set()


def _qualified(module: model.ModuleModel, expr: model.Expr) -> str:
    parts: list[str] = []
    while isinstance(expr, model.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if not isinstance(expr, model.Name):
        return ""
    head = module.imports.get(expr.id, expr.id)
    return ".".join([head, *reversed(parts)])


def _takes_client_key(text: _Text, function: model.Function) -> bool:
    """A key the client sends: a parameter, a header / body field read by name, a field of a body
    parameter, or a route dependency. A key the server invents per request deduplicates nothing."""
    names = [p for p in function.params if p not in ("self", "cls")]
    if any(_IDEMPOTENCY_WORDS.search(name) for name in names):
        return True
    if any(_IDEMPOTENCY_WORDS.search(text.of(d)) for d in function.decorators):
        return True
    body = text.body(function)
    if _KEY_STRING.search(body):
        return True
    fields = re.findall(r"\b(\w+)\.(\w+)", body)
    return any(base in names and _IDEMPOTENCY_WORDS.search(attr) for base, attr in fields)


# -- RC404 ----------------------------------------------------------------------------------------
# Calls that change something outside the process: store writes, messages, payments, HTTP posts.
# `dict.update()` / `queue.put()` alone are in-process, so those prefixes need a suffix.
_SIDE_EFFECTS = re.compile(
    r"(put|update|delete|send|publish|insert|create|upload|write)_\w+|send|publish|insert|create|delete|"
    r"upload|write|execute\w*|save|commit|post|charge|refund|transfer|credit|debit|notify|invoke|"
    r"enqueue|incr\w*|decr\w*|hset|set|sadd|lpush|rpush|zadd"
)
_DEDUP_EVIDENCE = re.compile(r"not_exists|idempot|dedup|processed|already_seen|seen_ids", re.IGNORECASE)
_HELPER_DEPTH = 3
_BUILTINS = frozenset(dir(builtins))


def _is_records(expr: model.Expr | None, event: str) -> bool:
    """`event["Records"]` or `event.get("Records", [])`."""
    if isinstance(expr, model.Subscript):
        return isinstance(expr.value, model.Name) and expr.value.id == event and expr.key == "Records"
    if isinstance(expr, model.Call) and expr.method == "get":
        receiver, first = expr.receiver, expr.positional(0)
        return (
            isinstance(receiver, model.Name)
            and receiver.id == event
            and isinstance(first, model.Literal)
            and first.value == "Records"
        )
    return False


class _Vocabulary:
    """The names called in some code, and its identifiers and string literals (not its comments)."""

    def __init__(self) -> None:
        self.called: list[str] = []
        self.words: list[str] = []

    def visit(self, nodes: Iterable[ast.AST]) -> None:
        for root in nodes:
            for node in ast.walk(root):
                self._add(node)

    def _add(self, node: ast.AST) -> None:
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute):
                self.called.append(func.attr)
            elif isinstance(func, ast.Name) and func.id not in _BUILTINS:  # `set()` changes nothing
                self.called.append(func.id)
        elif isinstance(node, ast.Name):
            self.words.append(node.id)
        elif isinstance(node, ast.Attribute):
            self.words.append(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            self.words.append(node.value)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            self.words.append(node.name)
        elif isinstance(node, ast.arg | ast.keyword) and node.arg:
            self.words.append(node.arg)


def _origins(nodes: Iterable[model.Node]) -> list[ast.AST]:
    return [node.origin for node in nodes if isinstance(node.origin, ast.AST)]


def _reached(module: model.ModuleModel, loop: model.Loop) -> tuple[list[str], list[str]]:
    """What the loop body and the module's functions it calls (a few levels deep) call and mention."""
    vocabulary = _Vocabulary()
    vocabulary.visit(_origins(loop.body))
    seen: set[str] = set()
    top = {name: f for name, f in module.functions.items() if "." not in name}
    for _ in range(_HELPER_DEPTH):
        helpers = [top[name] for name in set(vocabulary.called) - seen if name in top]
        seen.update(vocabulary.called)
        for helper in helpers:
            vocabulary.visit(_origins(helper.body))
            vocabulary.visit(_origins(helper.decorators))
    return vocabulary.called, vocabulary.words


def _consumer_loops(function: model.Function) -> list[model.Loop]:
    """Loops over the records of a Lambda event (the function's first parameter): over
    `event["Records"]`, `event.get("Records", [])`, or a local bound to either."""
    names = [name for name in function.params if name not in ("self", "cls")]
    if not names:
        return []
    event = names[0]
    batches: set[str] = set()
    loops: list[model.Loop] = []
    for statement in statements(function.body):
        if (
            isinstance(statement, model.Assign)
            and statement.op is None
            and _is_records(statement.value, event)
        ):
            batches.update(t.id for t in statement.targets if isinstance(t, model.Name))
        elif isinstance(statement, model.Loop) and statement.iterable is not None:
            source = statement.iterable
            if _is_records(source, event) or (isinstance(source, model.Name) and source.id in batches):
                loops.append(statement)
    return loops


def stream_consumers(module: model.ModuleModel) -> list[Direct]:
    """RC404: stream / queue consumers that act on every record with no deduplication; RC602:
    a handler that the module runs behind a claim in one place and without it in another."""
    directs = unclaimed_handlers(module)
    if "Records" not in module.source:
        return directs
    for function in module.functions.values():
        for loop in _consumer_loops(function):
            called, words = _reached(module, loop)
            if not any(_SIDE_EFFECTS.fullmatch(name) for name in called):
                continue
            outside = _Vocabulary()  # the rest of the consumer; its own name proves nothing
            outside.visit(_origins(function.body))
            outside.visit(_origins(function.decorators))
            if not any(_DEDUP_EVIDENCE.search(word) for word in (*words, *outside.words)):
                directs.append(Direct("RC404", "stream", (Step(loop, "loop", 0),)))
    return directs
