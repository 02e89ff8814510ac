"""A file written under a name another request can claim, removed when the row claiming it fails.

The shape (NetBox's script upload, issue 22543): a request stores the upload at its own name
(`storage.save(upload.name, upload)`, `open(path, "wb")`), then inserts the row that claims the
name; when the insert fails on the unique key (`except IntegrityError`), its cleanup removes the
file. A concurrent request that won the insert had its file at that very name: the loser first
overwrote it, then deletes it, and the winner's row points at nothing. The cleanup is safe when it
first asks whether a row still references the path (`if not Doc.objects.filter(path=p).exists():`),
or when the name is the request's own (a uuid, a token, a temporary file).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from ...core import model
from ._common import walk

__all__ = ["is_storage_delete", "is_storage_save", "unclaimed_cleanup"]

Code = Callable[[model.Node], str]

# Names no other request shares: generated per request.
_OWN_NAME = re.compile(
    r"uuid|token|secrets\.|random|mkstemp|tempfile|NamedTemporary|mkdtemp|time\(|now\(|hash|digest",
    re.IGNORECASE,
)
# Calls that insert the row claiming the name (`Model.objects.create`, `row.save()`, a serializer's
# `super().create(...)`, SQL `INSERT`).
_INSERTS = frozenset({"create", "save", "insert", "insert_one", "bulk_create", "get_or_create", "add"})
# Queries a cleanup asks before removing: does a row still reference the path?
_REFERENCE_QUERIES = frozenset({"exists", "filter", "count", "first", "find_one", "scalar"})
_REMOVE_FUNCTIONS = frozenset({"os.remove", "os.unlink", "shutil.rmtree"})


def _is_storage(receiver: model.Expr | None, code: Code) -> bool:
    return receiver is not None and "storage" in code(receiver).lower()


def is_storage_save(call: model.Call, code: Code) -> bool:
    """`storage.save(name, content)` on a Django-style storage (`default_storage`, `self.storage`)."""
    return call.method == "save" and len(call.args) >= 2 and _is_storage(call.receiver, code)


def is_storage_delete(call: model.Call, code: Code) -> bool:
    return call.method == "delete" and len(call.args) == 1 and _is_storage(call.receiver, code)


def _removes(call: model.Call, code: Code) -> bool:
    if is_storage_delete(call, code) or (call.name or "") in _REMOVE_FUNCTIONS:
        return True
    return call.method in ("unlink", "rmtree") and call.receiver is not None


def _inserts(block: model.Block, code: Code) -> bool:
    return any(
        isinstance(node, model.Call) and node.method in _INSERTS and not _is_storage(node.receiver, code)
        for node in walk(block)
    )


def _asks_references(test: model.Expr) -> bool:
    return any(isinstance(node, model.Call) and node.method in _REFERENCE_QUERIES for node in walk((test,)))


def _removals(block: model.Block, code: Code, guarded: bool = False) -> Iterator[tuple[model.Call, bool]]:
    """Removal calls in a cleanup block, each with whether an enclosing test asked for references."""
    for statement in block:
        if isinstance(statement, model.If):
            inner = guarded or _asks_references(statement.test)
            yield from _removals(statement.body, code, inner)
            yield from _removals(statement.orelse, code, inner)
        elif isinstance(statement, model.Try):
            for part in (statement.body, *(h.body for h in statement.handlers), statement.final):
                yield from _removals(part, code, guarded)
        elif isinstance(statement, model.With | model.Loop):
            yield from _removals(statement.body, code, guarded)
        elif isinstance(statement, model.Eval | model.Assign):
            for node in walk((statement,)):
                if isinstance(node, model.Call) and _removes(node, code):
                    yield node, guarded


def _own_name(path: model.Expr, function: model.Function, code: Code) -> bool:
    """The path is built from something unique to the request, here or where its local was bound."""
    if _OWN_NAME.search(code(path)):
        return True
    if not isinstance(path, model.Name):
        return False
    return any(
        isinstance(node, model.Assign)
        and node.value is not None
        and any(isinstance(t, model.Name) and t.id == path.id for t in node.targets)
        and bool(_OWN_NAME.search(code(node.value)))
        for node in walk(function.body)
    )


def unclaimed_cleanup(
    write: model.Call, path: model.Expr, function: model.Function, code: Code
) -> model.Call | None:
    """The removal that a failed unique insert after `write` runs on a shared name, unasked."""
    if _own_name(path, function, code):
        return None
    for node in walk(function.body):
        if not isinstance(node, model.Try) or node.span.end_line < write.span.line:
            continue
        if not any("IntegrityError" in handler.types for handler in node.handlers):
            continue
        if not _inserts(node.body, code):
            continue
        for cleanup in (*(handler.body for handler in node.handlers), node.final):
            for removal, guarded in _removals(cleanup, code):
                if not guarded and removal.span.line > write.span.line:
                    return removal
    return None
