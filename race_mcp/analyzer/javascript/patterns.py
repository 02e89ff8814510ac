"""RC404 in JavaScript: a Lambda consumer of DynamoDB Streams / SQS records (`for (const record of
event.Records)`) that acts on every record with no deduplication: a redelivered batch applies
each record again. The vocabulary of what counts as acting (writes, sends, charges) and as
deduplication (a processed-records table, an idempotency key, `attribute_not_exists`) is the
Python rule's; JavaScript's camelCase names are matched in snake case (`putItem` -> `put_item`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ..core import model
from ..core.state import Direct, Step
from ..core.walk import expressions, statements
from ..python.patterns import _DEDUP_EVIDENCE, _HELPER_DEPTH, _SIDE_EFFECTS
from .stores._calls import snake_case

__all__ = ["stream_consumers"]


def _is_records(expr: model.Expr | None, event: str) -> bool:
    """`event.Records`, `event["Records"]`, `event.Records ?? []`."""
    if isinstance(expr, model.Operation) and expr.op == "or" and expr.operands:
        return _is_records(expr.operands[0], event)
    if isinstance(expr, model.Attribute):
        return expr.attr == "Records" and isinstance(expr.value, model.Name) and expr.value.id == event
    if isinstance(expr, model.Subscript):
        return expr.key == "Records" and isinstance(expr.value, model.Name) and expr.value.id == event
    return False


_ITERATING = frozenset({"map", "forEach", "flatMap"})
_PerRecord = tuple[model.Node, model.Block]  # the loop or call that runs per record, and that code


def _consumer_loops(
    module: model.ModuleModel, function: model.Function
) -> list[tuple[model.Node, model.Block]]:
    """Where `function` acts on each record, with the code run per record: `for (const r of
    event.Records)` loops, and callbacks of `event.Records.map(...)` / `.forEach(...)` (often under
    `Promise.all`)."""
    if not function.params:
        return []
    event = function.params[0]
    batches: set[str] = set()
    loops: list[_PerRecord] = []

    def is_batch(expr: model.Expr | None) -> bool:
        return _is_records(expr, event) or (isinstance(expr, model.Name) and expr.id in batches)

    for statement in statements(function.body):
        if isinstance(statement, model.Assign) and _is_records(statement.value, event):
            batches.update(t.id for t in statement.targets if isinstance(t, model.Name))
        elif isinstance(statement, model.Loop) and statement.iterable is not None:
            if is_batch(statement.iterable):
                loops.append((statement, statement.body))
            continue
        for expr in expressions(statement):
            if isinstance(expr, model.Call) and expr.method in _ITERATING and is_batch(expr.receiver):
                callback = _callback(module, expr.positional(0))
                if callback is not None:
                    loops.append((expr, callback.body))
    return loops


def _callback(module: model.ModuleModel, expr: model.Expr | None) -> model.Function | None:
    """The function an inline `(record) => ...` argument was lowered to (found by its span)."""
    if isinstance(expr, model.Opaque) and expr.kind == "function":
        return next((f for f in module.functions.values() if f.span == expr.span), None)
    if isinstance(expr, model.Name):
        return module.functions.get(expr.id)
    return None


def _all_expressions(block: model.Block) -> Iterator[model.Expr]:
    for statement in statements(block):
        yield from expressions(statement)


def _vocabulary(nodes: Iterable[model.Expr]) -> tuple[list[str], list[str]]:
    """(names called, identifiers and strings mentioned)."""
    called: list[str] = []
    words: list[str] = []
    for node in nodes:
        if isinstance(node, model.Call):
            last = (node.name or "").rsplit(".", 1)[-1]
            if last:
                called.append(last)
        elif isinstance(node, model.Name):
            words.append(node.id)
        elif isinstance(node, model.Attribute):
            words.append(node.attr)
        elif isinstance(node, model.Literal) and isinstance(node.value, str):
            words.append(node.value)
        elif isinstance(node, model.Template):
            words.append(node.text)
    return called, words


def _reached(module: model.ModuleModel, body: model.Block) -> tuple[list[str], list[str]]:
    called, words = _vocabulary(_all_expressions(body))
    seen: set[str] = set()
    top = {name: f for name, f in module.functions.items() if "." not in name}
    for _ in range(_HELPER_DEPTH):
        helpers = [top[name] for name in set(called) - seen if name in top]
        seen.update(called)
        for helper in helpers:
            more_called, more_words = _vocabulary(_all_expressions(helper.body))
            called += more_called
            words += more_words
    return called, words


def _counters(function: model.Function) -> frozenset[str]:
    """Local names only ever set to numbers (`let processed = 0; processed += 1`): a count of
    handled records says nothing of which were handled before, whatever it is called."""
    numeric: set[str] = set()
    other: set[str] = set()
    for statement in statements(function.body):
        if not isinstance(statement, model.Assign) or statement.op is not None:
            continue
        value = statement.value
        is_number = isinstance(value, model.Literal) and type(value.value) in (int, float)
        for target in statement.targets:
            if isinstance(target, model.Name):
                (numeric if is_number else other).add(target.id)
    return frozenset(numeric - other)


# The v2 SDK's DocumentClient writes (`doc.put(params).promise()`, `doc.update(...)`): verbs that
# stand alone in JavaScript where boto3 spells `put_item` / `update_item`.
_DOCUMENT_CLIENT_WRITES = frozenset({"put", "update", "transactWrite", "batchWrite"})


def _acts(name: str) -> bool:
    """A call that changes something: `putItem`, `send`, `doc.update`, and a project's verb-first
    helpers (`chargeCard`, `sendReceipt`: camelCase names lead with their verb)."""
    if name in _DOCUMENT_CLIENT_WRITES:
        return True
    words = snake_case(name)
    return bool(_SIDE_EFFECTS.fullmatch(words) or _SIDE_EFFECTS.fullmatch(words.split("_")[0]))


def stream_consumers(module: model.ModuleModel) -> list[Direct]:
    """RC404: consumers that act on every record with no deduplication."""
    if "Records" not in module.source:
        return []
    directs = []
    for function in module.functions.values():
        for loop, body in _consumer_loops(module, function):
            called, words = _reached(module, body)
            if not any(_acts(name) for name in called):
                continue
            _, outside = _vocabulary(_all_expressions(function.body))
            counters = _counters(function)
            evidence = (word for word in (*words, *outside) if word not in counters)
            if not any(_DEDUP_EVIDENCE.search(snake_case(word)) for word in evidence):
                directs.append(Direct("RC404", "stream", (Step(loop, "loop", 0),)))
    return directs
