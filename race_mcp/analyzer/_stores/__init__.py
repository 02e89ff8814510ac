"""Recognizers for the stores races live in, and the store rules that need no interpretation."""

from __future__ import annotations

import builtins
import re

import libcst as cst

from .._effects import Recognizer
from .._engine import Interpreter
from .._frameworks import Handler
from .._module import ModuleIndex, walk
from .._scopes import params
from .._state import Direct, Step
from ._dynamodb import DynamoRecognizer
from ._fs import FileRecognizer
from ._orm import OrmRecognizer
from ._redis import RedisRecognizer
from ._sql import SqlRecognizer

__all__ = ["STORE_MARKERS", "build_recognizers", "check_module_patterns", "idempotency_finding"]

# A file that mentions none of these talks to no store this analyzer knows.
STORE_MARKERS = (
    "SELECT",
    "select",
    "UPDATE",
    "INSERT",
    "DELETE",
    "objects",
    "session",
    "_item",
    "redis",
    "cache",
    "exists(",
    "isfile(",
    "isdir(",
    "Records",
    "open(",
    "mkdir",
    "rename",
    "execute",
    "incr",
)


def build_recognizers(index: ModuleIndex) -> list[Recognizer]:
    """Most specific first: ORM query chains before SQL text before Redis and file names."""
    return [
        OrmRecognizer(index),
        DynamoRecognizer(index),
        SqlRecognizer(index),
        RedisRecognizer(index),
        FileRecognizer(index),
    ]


_MONEY_WORDS = re.compile(
    r"pay|charge|transfer|withdraw|refund|redeem|checkout|order|purchase|deposit|top_?up|payout|"
    r"capture|donat|tip\b|gift|subscribe|booking|reserve",
    re.IGNORECASE,
)
_KEY_WORDS = r"idempot|request[_-]?id|client[_-]?token|dedup|nonce"
_IDEMPOTENCY_WORDS = re.compile(_KEY_WORDS, re.IGNORECASE)
# The patterns below run over untrusted code, and `re` backtracks: each is written to be linear
# (tests/test_analyzer_budgets.py feeds each its worst case).
# A key the client sends: a header name, a body field or META key written as a string literal. The
# lookahead checks once that the literal closes; the key word is then found by one forward scan
# (two greedy scans around the word re-scanned the literal for every occurrence of a key word).
_KEY_STRING = re.compile(rf"""(['"])(?=[^'"\n]*+\1)[^'"\n]*?(?:{_KEY_WORDS})""", re.IGNORECASE)
# A check that this request's effect was already applied, on the entity the route names.
# Indentation is `[ \t]`: `^\s*` re-scans a run of blank lines from each of its line starts.
_STATUS_CHECK = re.compile(
    r"^[ \t]*+(?:el)?if\b[^\n]*(?:\.|\[['\"])(?:status|state|processed|is_processed|paid|is_paid|completed|"
    r"settled|captured|fulfilled|used|redeemed)\b",
    re.MULTILINE,
)
# Payment providers: a call into their SDK moves money even when nothing is stored. A dotted name
# is tried once, from its start, up to its first provider (the atomic group): every later provider
# in the same name ends at the same place, so re-scanning from each would be quadratic.
_PROVIDER_CALL = re.compile(
    r"(?<![\w.])(?>[\w.]*?\b(?:stripe|braintree|paypalrestsdk|adyen|razorpay|mollie|square)\.)[\w.]*+\(|"
    r"\.(?:charge|capture|payout|refund|create_transfer|create_payment)\w*+\(",
    re.IGNORECASE,
)
_WRITE_VERBS = ("POST", "PUT", "PATCH")
_VIEW_BASE = re.compile(r"(View|ViewSet|APIView|Endpoint)$")
_VIEW_WRITE_METHODS = {"post": "POST", "put": "PUT", "patch": "PATCH", "create": "POST"}


def idempotency_finding(
    index: ModuleIndex,
    handler: Handler | None,
    interpreter: Interpreter,
    *,
    function: cst.FunctionDef | None = None,
    owner: str | None = None,
) -> Direct | None:
    """RC601: a money-moving POST handler that writes unconditionally and takes no idempotency key.

    `handler` is a routed handler; otherwise `function` (a method of `owner`) is checked when it is a
    Django or DRF view (`@require_POST`, `@api_view(["POST"])`, `@action(methods=["post"])`, `post()`).
    """
    if handler is not None:
        function, owner = handler.function, handler.owner_class
        verbs = _route_verbs(handler.route, function, owner)
        label = f"{handler.name} {handler.route or ''}"
    elif function is not None:
        verbs = _django_verbs(index, function, owner)
        label = f"{owner or ''}.{function.name.value}"
    else:
        return None
    if not verbs & set(_WRITE_VERBS) or not _MONEY_WORDS.search(label):
        return None
    code = index.module.code_for_node(function)
    if interpreter.persisted_writes == 0 and not _PROVIDER_CALL.search(code):
        return None
    if interpreter.claims:
        return None  # a guarded state transition makes a retry fail instead of repeating the effect
    if _takes_client_key(index, function) or _STATUS_CHECK.search(code):
        return None
    where = handler.route if handler is not None and handler.route else label.strip()
    return Direct("RC601", where, (Step(function.name, "handler", 0),))


def _route_verbs(route: str | None, function: cst.FunctionDef, owner: str | None) -> set[str]:
    """`POST /x` → {POST}; a class-based view's method without a known path → its method name."""
    if route:
        return set(route.split(" ", 1)[0].split("|"))
    name = function.name.value
    return {_VIEW_WRITE_METHODS.get(name, name.upper())} if owner else set(_WRITE_VERBS)


def _django_verbs(index: ModuleIndex, function: cst.FunctionDef, owner: str | None) -> set[str]:
    """The HTTP methods a Django / DRF view accepts, from its decorators or its method name."""
    for decorator in function.decorators:
        expr = decorator.decorator
        name = (index.qualify(expr.func if isinstance(expr, cst.Call) else expr) or "").split(".")[-1]
        if name == "require_POST":
            return {"POST"}
        if name in ("require_GET", "require_safe"):
            return {"GET"}
        if name in ("require_http_methods", "api_view", "action") and isinstance(expr, cst.Call):
            text = index.module.code_for_node(expr)
            methods = {m.upper() for m in re.findall(r"['\"](\w+)['\"]", text)} & {*_WRITE_VERBS, "GET"}
            return methods or {"GET"}
    info = index.classes.get(owner) if owner else None
    if info is not None and any(_VIEW_BASE.search(base) for base in info.bases):
        verb = _VIEW_WRITE_METHODS.get(function.name.value)
        return {verb} if verb else set()
    return set()


def _takes_client_key(index: ModuleIndex, function: cst.FunctionDef) -> bool:
    """A key the client sends: a parameter, a header / body field read by name, a field of a body
    parameter, or a route dependency. A key the server invents per request deduplicates nothing."""
    names = [p for p in params(function) if p not in ("self", "cls")]
    if any(_IDEMPOTENCY_WORDS.search(name) for name in names):
        return True
    if any(_IDEMPOTENCY_WORDS.search(index.module.code_for_node(d)) for d in function.decorators):
        return True
    body = index.module.code_for_node(function.body)
    if _KEY_STRING.search(body):
        return True
    fields = re.findall(r"\b(\w+)\.(\w+)", body)
    return any(base in names and _IDEMPOTENCY_WORDS.search(attr) for base, attr in fields)


def _is_records(expr: cst.BaseExpression, event: str) -> bool:
    """`event["Records"]` or `event.get("Records", [])`."""
    if isinstance(expr, cst.Subscript) and isinstance(expr.value, cst.Name) and expr.value.value == event:
        index = expr.slice[0].slice if len(expr.slice) == 1 else None
        return isinstance(index, cst.Index) and _is_string(index.value, "Records")
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and expr.args:
        receiver = expr.func.value
        return (
            isinstance(receiver, cst.Name)
            and receiver.value == event
            and expr.func.attr.value == "get"
            and _is_string(expr.args[0].value, "Records")
        )
    return False


def _is_string(expr: cst.BaseExpression, text: str) -> bool:
    return isinstance(expr, cst.SimpleString) and expr.evaluated_value == text


class _StreamConsumers(cst.CSTVisitor):
    """Loops over the records of a Lambda event (the function's first parameter): over
    `event["Records"]`, `event.get("Records", [])`, or a local bound to either."""

    def __init__(self) -> None:
        self.loops: list[tuple[cst.FunctionDef, cst.For]] = []
        self._functions: list[tuple[cst.FunctionDef, str | None, set[str]]] = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        names = [name for name in params(node) if name not in ("self", "cls")]
        self._functions.append((node, names[0] if names else None, set()))

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self._functions.pop()

    def visit_Assign(self, node: cst.Assign) -> None:
        if self._functions and (event := self._functions[-1][1]) and _is_records(node.value, event):
            batches = self._functions[-1][2]
            batches.update(t.target.value for t in node.targets if isinstance(t.target, cst.Name))

    def visit_For(self, node: cst.For) -> None:
        if not self._functions:
            return
        function, event, batches = self._functions[-1]
        source = node.iter
        if event is not None and (
            _is_records(source, event) or (isinstance(source, cst.Name) and source.value in batches)
        ):
            self.loops.append((function, node))


class _Vocabulary(cst.CSTVisitor):
    """The names called in some code, and its identifiers and string literals (not its comments)."""

    def __init__(self) -> None:
        self.called: list[str] = []
        self.words: list[str] = []

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute):
            self.called.append(func.attr.value)
        elif isinstance(func, cst.Name) and func.value not in _BUILTINS:  # `set()` changes nothing
            self.called.append(func.value)

    def visit_Name(self, node: cst.Name) -> None:
        self.words.append(node.value)

    def visit_SimpleString(self, node: cst.SimpleString) -> None:
        self.words.append(node.value)

    def visit_FormattedStringText(self, node: cst.FormattedStringText) -> None:
        self.words.append(node.value)


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


def _reached(index: ModuleIndex, loop: cst.For) -> tuple[list[str], list[str]]:
    """What the loop body and the functions of this file it calls (a few levels deep) call and mention."""
    vocabulary = _Vocabulary()
    loop.body.visit(vocabulary)
    seen: set[str] = set()
    for _ in range(_HELPER_DEPTH):
        helpers = [index.functions[name] for name in set(vocabulary.called) - seen if name in index.functions]
        seen.update(vocabulary.called)
        for helper in helpers:
            helper.body.visit(vocabulary)
            for decorator in helper.decorators:
                decorator.visit(vocabulary)
    return vocabulary.called, vocabulary.words


def check_module_patterns(index: ModuleIndex) -> list[Direct]:
    """RC404: stream / queue consumers that act on every record with no deduplication."""
    if "Records" not in index.source:
        return []
    visitor = _StreamConsumers()
    walk(index.module, visitor)
    directs = []
    for function, loop in visitor.loops:
        called, words = _reached(index, loop)
        if not any(_SIDE_EFFECTS.fullmatch(name) for name in called):
            continue
        outside = _Vocabulary()  # the rest of the consumer; its own name proves nothing
        function.body.visit(outside)
        for decorator in function.decorators:
            decorator.visit(outside)
        if not any(_DEDUP_EVIDENCE.search(word) for word in (*words, *outside.words)):
            directs.append(Direct("RC404", "stream", (Step(loop, "loop", 0),)))
    return directs
