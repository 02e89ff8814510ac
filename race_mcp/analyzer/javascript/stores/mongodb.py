"""MongoDB from JavaScript: mongoose models (`User.findOne(...)` then `User.create(...)`,
`findOneAndUpdate` with a guarded filter or `$inc`) and the `mongodb` driver
(`db.collection("orders").findOne(...)`). Calls are rewritten as pymongo's (`find_one`,
`insert_one`, `find_one_and_update`) and judged by the MongoDB recognizer (RC801, RC802).

A receiver is a collection when it is a mongoose model (bound to `mongoose.model(...)` / `model(...)`
in the module, or a capitalised name imported from the project's own files) or a driver collection
(`x.collection("name")`). Unique fields come from schema declarations (`email: { unique: true }`)
and `createIndex(..., { unique: true })` in the module.
"""

from __future__ import annotations

import re
from typing import Any

from ...core import model
from ...core.effects import ALL, TRANSACTION_LOCK, CallContext, Effect
from ...core.stores import add_recognizer
from ...python.stores.mongodb import MongoFacts, MongoRecognizer
from ._calls import SpanText, as_keywords, imported_text, local_value, rewritten

__all__ = ["JsMongoRecognizer"]

_METHODS = {
    "findOne": "find_one",
    "findById": "find_one",
    "exists": "find_one",
    "countDocuments": "count_documents",
    "create": "insert_one",
    "insertOne": "insert_one",
    "insertMany": "insert_many",
    "updateOne": "update_one",
    "updateMany": "update_many",
    "replaceOne": "replace_one",
    "findOneAndUpdate": "find_one_and_update",
    "findByIdAndUpdate": "find_one_and_update",
    "findOneAndReplace": "find_one_and_replace",
    "deleteOne": "delete_one",
    "deleteMany": "delete_many",
    "findOneAndDelete": "find_one_and_delete",
}
# `email: { type: String, unique: true }` in a schema; `createIndex({ email: 1 }, { unique: true })`.
_SCHEMA_UNIQUE = re.compile(r"([A-Za-z_$][\w$]*)\s*:\s*\{[^{}]*?\bunique\s*:\s*true")
_INDEX_UNIQUE = re.compile(
    r"createIndex\(\s*\{\s*['\"]?([\w.$]+)['\"]?\s*:[^}]*\}\s*,\s*\{[^}]*unique\s*:\s*true"
)

# `db.collection("users").createIndex({ email: 1 }, { unique: true })`: the collection named.
_COLLECTION_INDEX_UNIQUE = re.compile(
    r"collection\(\s*['\"]([\w.$-]+)['\"]\s*\)\s*\.createIndex\(\s*\{\s*['\"]?([\w.$]+)['\"]?\s*:[^}]*\}\s*,"
    r"\s*\{[^}]*unique\s*:\s*true"
)
_SESSION_CALLS = {
    "startTransaction": (Effect("begin"), Effect("lock")),
    "commitTransaction": (Effect("commit"),),
    "abortTransaction": (Effect("commit"),),
}
# A schema saved with `optimisticConcurrency: true` checks the document's version on every save.
_OPTIMISTIC = re.compile(r"optimisticConcurrency\s*:\s*true")


def _is_session(receiver: model.Expr | None) -> bool:
    """`session` / `this.session`: TypeORM's query runners share the method names, not the semantics."""
    if isinstance(receiver, model.Attribute):
        receiver = model.Name(receiver.attr, span=receiver.span)
    return isinstance(receiver, model.Name) and "session" in receiver.id.lower()


def _with_transaction_callback(function: model.Function) -> bool:
    """`function` is written as the callback of a `withTransaction(...)` call (its tree-sitter node
    is an argument of that call)."""
    node: Any = function.origin
    arguments: Any = getattr(node, "parent", None)
    if arguments is None or arguments.type != "arguments":
        return False
    call: Any = arguments.parent
    if call is None or call.type != "call_expression":
        return False
    callee = call.child_by_field_name("function")
    prop = callee.child_by_field_name("property") if callee is not None else None
    return prop is not None and prop.text == b"withTransaction"


def _is_model(expr: model.Expr, module: model.ModuleModel) -> bool:
    if not isinstance(expr, model.Name):
        return False
    bound = module.assignments.get(expr.id)
    if isinstance(bound, model.Call) and (bound.name or "").split(".")[-1] == "model":
        return True
    source = module.imports.get(expr.id, "")
    return source.startswith(".") and expr.id[:1].isupper()


class _JsMongoFacts(SpanText, MongoFacts):
    def __init__(self, module: model.ModuleModel) -> None:
        super().__init__(module)
        fields = set(_SCHEMA_UNIQUE.findall(module.source)) | set(_INDEX_UNIQUE.findall(module.source))
        if fields:  # a schema's unique fields hold for the models this module builds or uses
            for name in module.assignments.keys() | module.imports.keys():
                self.unique.setdefault(name, set()).update(fields)
        for collection, field in _COLLECTION_INDEX_UNIQUE.findall(module.source):
            self.unique.setdefault(collection, set()).add(field)


class JsMongoRecognizer(MongoRecognizer):
    facts_type = _JsMongoFacts
    markers = ("mongoose", "mongodb", "findOne", "collection(")

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self._imported: dict[str, str] = {}

    def effects(self, call: model.Call, ctx: CallContext) -> list[Effect] | None:
        if call.method == "save" and not call.args:
            return self.document_save(call, ctx)
        if call.method in _SESSION_CALLS and not call.args and _is_session(call.receiver):
            # `session.startTransaction()` ... `commitTransaction()`: writes to a document read in
            # between fail with a write conflict instead of being lost (as `start_transaction()`).
            return list(_SESSION_CALLS[call.method])
        method, receiver = _METHODS.get(call.method or ""), call.receiver
        if method is None or receiver is None:
            return None
        bound = local_value(receiver, ctx)  # `const seats = db.collection("seats")`
        if isinstance(bound, model.Call) and bound.method == "collection":
            receiver = rewritten(bound, bound.receiver or bound.func, "get_collection", bound.args)
        elif not _is_model(receiver, ctx.module()) or self._sql_model(ctx):
            return None
        args = call.args
        if call.method in ("findById", "findByIdAndUpdate") and args:  # an id, not a filter
            first = args[0]
            ident = model.Collection("dict", (model.Literal("_id"), first.value), span=first.span)
            args = (model.Arg(ident, span=first.span, origin=first.origin), *args[1:])
        options = args[2].value if len(args) > 2 else None
        extra = tuple(arg for arg in as_keywords(options) if arg.keyword == "upsert")
        return super().effects(rewritten(call, receiver, method, (*args[:2], *extra)), ctx)

    def _sql_model(self, ctx: CallContext) -> bool:
        """A capitalised name imported from the project is a mongoose model only when mongoose is
        somewhere: the files it comes from define Sequelize or TypeORM models and none mentions
        MongoDB (a Koa route file importing `../models/Bookmark`)."""
        source = ctx.module().source.lower()
        if "mongo" in source:
            return False
        imported = imported_text(ctx, self._imported)
        return "mongo" not in imported and ("sequelize" in imported or "typeorm" in imported)

    def transactional(self, function: model.Function) -> bool:
        """The callback of `session.withTransaction(async () => ...)` runs whole in the transaction."""
        return _with_transaction_callback(function)

    def in_callback(self, ctx: CallContext) -> bool:
        """In a `withTransaction` callback whose transaction holds no lock yet: reads take part in
        the write-conflict check (a concurrent write to the document aborts one transaction)."""
        if not ctx.state.in_transaction or ctx.region_held(TRANSACTION_LOCK):
            return False
        return _with_transaction_callback(ctx.function()) or _with_transaction_callback(ctx.root())

    def document_save(self, call: model.Call, ctx: CallContext) -> list[Effect] | None:
        """`doc.save()` on a mongoose document read earlier: racy when the saved change was computed
        from what was read (`doc.balance -= amount`), or decided on it (as Django's `obj.save()`)."""
        origin = next((a for a in ctx.receiver if a.key.startswith("mongo:")), None)
        if origin is None:
            return None
        if _OPTIMISTIC.search(ctx.module().source):  # the save fails with a VersionError instead
            return [Effect("write", origin.key, "RC801", ALL)]
        change = ctx.state.dirty.pop(origin.key, None)
        derived = change is not None and change.steps[-1].role == "change"
        if derived:
            ctx.args.append(change)
        written = change.written if change is not None and not derived else frozenset()
        return [Effect("write", origin.key, "RC801", needs_check=not derived, overwrites=written)]


add_recognizer("mongo", "javascript", JsMongoRecognizer)
