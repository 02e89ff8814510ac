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

from ...core import model
from ...core.effects import CallContext, Effect
from ...core.stores import add_recognizer
from ...python.stores.mongodb import MongoFacts, MongoRecognizer
from ._calls import SpanText, as_keywords, local_value, rewritten

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


class JsMongoRecognizer(MongoRecognizer):
    facts_type = _JsMongoFacts
    markers = ("mongoose", "mongodb", "findOne", "collection(")

    def effects(self, call: model.Call, ctx: CallContext) -> list[Effect] | None:
        method, receiver = _METHODS.get(call.method or ""), call.receiver
        if method is None or receiver is None:
            return None
        bound = local_value(receiver, ctx)  # `const seats = db.collection("seats")`
        if isinstance(bound, model.Call) and bound.method == "collection":
            receiver = rewritten(bound, bound.receiver or bound.func, "get_collection", bound.args)
        elif not _is_model(receiver, ctx.module()):
            return None
        args = call.args
        if call.method in ("findById", "findByIdAndUpdate") and args:  # an id, not a filter
            first = args[0]
            ident = model.Collection("dict", (model.Literal("_id"), first.value), span=first.span)
            args = (model.Arg(ident, span=first.span, origin=first.origin), *args[1:])
        options = args[2].value if len(args) > 2 else None
        extra = tuple(arg for arg in as_keywords(options) if arg.keyword == "upsert")
        return super().effects(rewritten(call, receiver, method, (*args[:2], *extra)), ctx)


add_recognizer("mongo", "javascript", JsMongoRecognizer)
