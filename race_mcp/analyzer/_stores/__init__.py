"""Recognizers for the stores races live in, and the store rules that need no interpretation."""

from __future__ import annotations

import re

import libcst as cst

from .._effects import Recognizer
from .._engine import Interpreter
from .._frameworks import Handler
from .._module import ModuleIndex
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
_IDEMPOTENCY_WORDS = re.compile(r"idempot|request_id|client_token|dedup|nonce|x-request-id", re.IGNORECASE)


def idempotency_finding(index: ModuleIndex, handler: Handler, interpreter: Interpreter) -> Direct | None:
    """RC601: a money-moving POST handler that writes unconditionally and takes no idempotency key."""
    route = handler.route or ""
    verb = route.split(" ", 1)[0]
    if verb not in ("POST", "", "PUT|POST", "POST|PUT") and not verb.startswith("POST"):
        return None
    if not _MONEY_WORDS.search(f"{handler.name} {route}"):
        return None
    if interpreter.unguarded_writes == 0:
        return None
    code = index.module.code_for_node(handler.function)
    if _IDEMPOTENCY_WORDS.search(code) or any(_IDEMPOTENCY_WORDS.search(p) for p in params(handler.function)):
        return None
    return Direct("RC601", route or handler.name, (Step(handler.function.name, "handler", 0),))


class _StreamConsumers(cst.CSTVisitor):
    """`for record in event["Records"]:` loops in functions that take an `event`."""

    def __init__(self) -> None:
        self.loops: list[tuple[cst.FunctionDef, cst.For]] = []
        self._functions: list[cst.FunctionDef] = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._functions.append(node)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self._functions.pop()

    def visit_For(self, node: cst.For) -> None:
        if not self._functions:
            return
        function = self._functions[-1]
        if "event" not in params(function):
            return
        source = node.iter
        if isinstance(source, cst.Call) and isinstance(source.func, cst.Attribute):
            source = source.func.value if source.func.attr.value == "get" else source
        text = cst.Module([]).code_for_node(node.iter)
        if "Records" in text and "event" in text:
            self.loops.append((function, node))


_WRITE_CALLS = re.compile(
    r"\.(put_item|update_item|delete_item|execute|send_message|publish|post|create|save|add|incr\w*|set|"
    r"charge|refund|transfer|insert\w*)\s*\("
)
_DEDUP_EVIDENCE = re.compile(
    r"attribute_not_exists|idempot|dedup|processed|already_seen|seen_ids", re.IGNORECASE
)


def check_module_patterns(index: ModuleIndex) -> list[Direct]:
    """RC404: stream / queue consumers that act on every record with no deduplication."""
    visitor = _StreamConsumers()
    index.module.visit(visitor)
    directs = []
    for function, loop in visitor.loops:
        body = index.module.code_for_node(loop.body)
        whole = index.module.code_for_node(function)
        if _WRITE_CALLS.search(body) and not _DEDUP_EVIDENCE.search(whole):
            directs.append(Direct("RC404", "stream", (Step(loop, "loop", 0),)))
    return directs
