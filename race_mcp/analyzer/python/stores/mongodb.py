"""MongoDB (RC8xx): pymongo (sync, and `AsyncMongoClient`) and motor, reached as `db.orders`,
`db["orders"]`, `client.shop.orders`, `db.get_collection("orders")` or a name bound to one of those.

- RC801: `find_one` -> decide in Python -> `update_one` / `update_many` / `replace_one` /
  `find_one_and_update` whose filter does not repeat what the decision read. A filter that
  compares a field (`{"stock": {"$gte": 1}}`), matches a version field, or matches the old value of
  a field the update changes (`{"status": "pending"}` with `$set: {"status": "paid"}`) guards the
  fields it names, provided the result is looked at (`modified_count`, `matched_count`, the
  document `find_one_and_update` returns): an unmatched filter otherwise changes nothing silently.
- RC802: `insert_one` / `insert_many` after a `find_one` / `count_documents` check, unless the
  looked-up fields carry a unique index (`create_index(..., unique=True)` in the module or the
  project; `_id` always) or the insert handles `DuplicateKeyError`. An upsert decides on the
  server.

A transaction (`with session.start_transaction():`, a `with_transaction` callback) turns a
concurrent read-modify-write of one document into a write conflict, so it protects RC801; two
inserts of different documents never conflict, so it does not protect RC802.
"""

from __future__ import annotations

import ast
import weakref
from typing import Any

from ...core import model
from ...core.effects import ALL, TRANSACTION_LOCK, CallContext, Effect
from ...core.stores import StoreSpec, register
from ._common import (
    INSERT_OUTCOME,
    ModuleFacts,
    StoreRecognizer,
    dict_items,
    is_true,
    keywords,
    literal_string,
    positional,
    walk,
)

__all__ = ["MongoRecognizer", "unique_indexes"]

_READS = frozenset({"find_one", "count_documents"})
_UPDATES = frozenset(
    {"update_one", "update_many", "replace_one", "find_one_and_update", "find_one_and_replace"}
)
_DELETES = frozenset({"delete_one", "delete_many", "find_one_and_delete"})
_INSERTS = frozenset({"insert_one", "insert_many"})
# Operators that change a field relative to its current value (the server computes it): only a
# decision on the old document makes them racy, a value merely read and copied does not.
_RELATIVE = frozenset(
    {
        "$inc",
        "$mul",
        "$min",
        "$max",
        "$push",
        "$addToSet",
        "$pull",
        "$pullAll",
        "$pop",
        "$unset",
        "$currentDate",
    }
)
_VERSION_FIELDS = frozenset(
    {"version", "ver", "revision", "lock_version", "row_version", "etag", "updated_at", "__v"}
)
_IDENTITY = frozenset({"_id", "id", "pk"})
_COUNTS = frozenset({"modified_count", "matched_count", "deleted_count", "upserted_id", "raw_result"})
_DUPLICATE_KEY = ("DuplicateKeyError",)
_GENERIC_ATTRIBUTES = frozenset({"collection", "coll", "col", "_collection", "_coll", "table"})
# Writes of document-store wrappers (pymongo's legacy `update`/`insert`/`remove`, Eve and superdesk
# resource services and models: `patch(id, updates)`, `update(filter, updates)`, `post(docs)`):
# method names far too common to trust alone, so they count only on a receiver the same function
# also calls `find_one` on, or one built by `get_resource_service(...)`.
_WRAPPER_UPDATES = frozenset({"update", "patch", "replace", "system_update", "find_and_modify"})
_WRAPPER_INSERTS = frozenset({"insert", "post"})
_WRAPPER_DELETES = frozenset({"remove", "delete", "delete_action"})
_WRAPPER_READS = frozenset({"find_one", "find_one_by_id"})
_SERVICE_FACTORIES = frozenset({"get_resource_service", "get_model"})


def _fields(expr: model.Expr | None) -> dict[str, model.Expr]:
    """A filter or update document's top-level string keys and their values."""
    return {key: value for k, value in dict_items(expr) if (key := literal_string(k)) is not None}


def _guarded_fields(filters: dict[str, model.Expr], changed: set[str]) -> set[str]:
    """The fields a filter re-checks at the write: compared with an operator, a version, or the old
    value of a field the update changes (a state transition)."""
    guarded = set()
    for name, value in filters.items():
        operator = any(key.startswith("$") for key in _fields(value))
        if name.startswith("$"):
            continue
        if operator or name in _VERSION_FIELDS or (name in changed and name not in _IDENTITY):
            guarded.add(name)
    return guarded


def _update_fields(update: model.Expr | None) -> tuple[set[str], bool]:
    """The fields an update document changes, and whether it only changes them relative to their
    current value (`$inc`, `$push`...). A replacement document changes every field it names."""
    document = _fields(update)
    if not any(key.startswith("$") for key in document):
        return set(document), False
    changed: set[str] = set()
    for value in document.values():
        changed |= {field.split(".")[0] for field in _fields(value)}
    return changed, all(operator in _RELATIVE for operator in document)


def _unique_spec(keys: model.Expr | None) -> set[str]:
    """`"email"`, `[("email", 1), ("tenant", 1)]`: the fields an index covers."""
    name = literal_string(keys)
    if name is not None:
        return {name}
    fields = set()
    if isinstance(keys, model.Collection):
        for element in keys.elements:
            first = (
                element.elements[0] if isinstance(element, model.Collection) and element.elements else element
            )
            field = literal_string(first)
            if field is not None:
                fields.add(field)
    return fields


class MongoFacts(ModuleFacts):
    def __init__(self, module: model.ModuleModel) -> None:
        super().__init__(module)
        self._locals: dict[int, tuple[model.Function, dict[str, model.Expr]]] = {}
        self.unique = unique_indexes(module, self)
        self.callbacks = self._transaction_callbacks()

    def nodes(self) -> list[model.Node]:
        found = list(walk(self.module.body))
        for function in self.module.functions.values():
            found.extend(walk(function.body))
        return found

    def _transaction_callbacks(self) -> set[str]:
        """Functions passed to `session.with_transaction(callback)`: they run inside a transaction."""
        if "with_transaction" not in self.source:
            return set()
        names = set()
        for node in self.nodes():
            if isinstance(node, model.Call) and node.method == "with_transaction" and node.args:
                callback = node.args[0].value
                if isinstance(callback, model.Opaque) and callback.kind == "lambda":
                    # `lambda s: self._move(s, sku)`: the functions the lambda calls run inside it.
                    targets = [n.func for n in walk(callback.children) if isinstance(n, model.Call)]
                else:
                    targets = [callback]
                names |= {name for target in targets if (name := _last_name(target))}
        return names

    def local_bindings(self, function: model.Function) -> dict[str, model.Expr]:
        """`orders = db.orders` inside a function: the last value each local name is bound to."""
        cached = self._locals.get(id(function))
        if cached is None or cached[0] is not function:
            bound: dict[str, model.Expr] = {}
            for node in walk(function.body):
                if isinstance(node, model.Assign) and node.value is not None and node.op is None:
                    for target in node.targets:
                        if isinstance(target, model.Name):
                            bound[target.id] = node.value
            cached = self._locals[id(function)] = (function, bound)
        return cached[1]

    def self_binding(self, owner: str | None, attribute: str) -> model.Expr | None:
        """`self.orders = db["orders"]` in the owner class's `__init__`."""
        info = self.classes.get(owner) if owner else None
        init = info.methods.get("__init__") if info else None
        if init is None:
            return None
        for node in walk(init.body):
            if isinstance(node, model.Assign) and node.value is not None:
                for target in node.targets:
                    if (
                        isinstance(target, model.Attribute)
                        and target.attr == attribute
                        and isinstance(target.value, model.Name)
                        and target.value.id == "self"
                    ):
                        return node.value
        return None


def _last_name(expr: model.Expr) -> str | None:
    """`callback` -> callback, `self._move` -> _move."""
    if isinstance(expr, model.Name):
        return expr.id
    return expr.attr if isinstance(expr, model.Attribute) else None


def collection_name(
    expr: model.Expr, facts: MongoFacts, function: model.Function | None, owner: str | None, depth: int = 0
) -> str | None:
    """The collection a receiver denotes: `db.orders`, `db["orders"]`, `db.get_collection("orders")`,
    or a local, module-level name or `self` attribute bound to one of those."""
    if depth > 4:
        return None
    if isinstance(expr, model.Await):
        expr = expr.value
    if isinstance(expr, model.Subscript) and expr.key is not None:
        return expr.key
    if isinstance(expr, model.Call) and expr.method == "get_collection":
        args = positional(expr)
        return literal_string(args[0]) if args else None
    if isinstance(expr, model.Attribute):
        if isinstance(expr.value, model.Name) and expr.value.id == "self":
            bound = facts.self_binding(owner, expr.attr)
            if bound is not None:
                return collection_name(bound, facts, None, owner, depth + 1)
        return None if expr.attr in _GENERIC_ATTRIBUTES else expr.attr
    if isinstance(expr, model.Name):
        bound = facts.local_bindings(function).get(expr.id) if function is not None else None
        if bound is None:
            bound = facts.assignments.get(expr.id)
        if bound is not None and bound is not expr:
            return collection_name(bound, facts, None, owner, depth + 1)
        return expr.id
    return None


def unique_indexes(module: model.ModuleModel, facts: ModuleFacts | None = None) -> dict[str, set[str]]:
    """Fields with a unique index per collection, from `create_index(keys, unique=True)` and
    `create_indexes([IndexModel(keys, unique=True), ...])` anywhere in the module."""
    if "unique" not in module.source:
        return {}
    facts = facts if isinstance(facts, MongoFacts) else None
    scan = facts or _Scanner(module)
    unique: dict[str, set[str]] = {}
    for node in scan.nodes():
        if not isinstance(node, model.Call) or node.receiver is None:
            continue
        specs: list[model.Call] = []
        if node.method in ("create_index", "ensure_index"):
            specs = [node]
        elif node.method == "create_indexes":
            listed = positional(node)
            elements = listed[0].elements if listed and isinstance(listed[0], model.Collection) else ()
            specs = [e for e in elements if isinstance(e, model.Call)]
        fields = set()
        for index in specs:
            if is_true(keywords(index).get("unique")):
                keys = positional(index)
                fields |= _unique_spec(keys[0] if keys else keywords(index).get("keys"))
        if fields:
            owner = _enclosing_class(node, module)
            name = collection_name(node.receiver, scan, None, owner) if isinstance(scan, MongoFacts) else None
            name = name or _plain_collection(node.receiver)
            if name is not None:
                unique.setdefault(name, set()).update(fields)
    return unique


class _Scanner(ModuleFacts):
    """The module walk `unique_indexes` needs, for a caller without recognizer facts (the project
    index)."""

    def nodes(self) -> list[model.Node]:
        found = list(walk(self.module.body))
        for function in self.module.functions.values():
            found.extend(walk(function.body))
        return found


def _plain_collection(expr: model.Expr) -> str | None:
    if isinstance(expr, model.Subscript):
        return expr.key
    if isinstance(expr, model.Attribute):
        return None if expr.attr in _GENERIC_ATTRIBUTES else expr.attr
    return expr.id if isinstance(expr, model.Name) else None


def _enclosing_class(node: model.Node, module: model.ModuleModel) -> str | None:
    """The class whose method holds `node` (for `self.orders.create_index(...)` in `__init__`)."""
    line = node.span.line
    for name, info in module.classes.items():
        if info.span.line <= line <= info.span.end_line:
            return name
    return None


class MongoRecognizer(StoreRecognizer):
    facts_type = MongoFacts

    def facts(self, ctx: CallContext | None) -> MongoFacts:
        facts = super().facts(ctx)
        assert isinstance(facts, MongoFacts)
        return facts

    def transactional(self, function: model.Function) -> bool:
        """A callback of `session.with_transaction(...)` runs whole inside the transaction."""
        facts = self.home
        return isinstance(facts, MongoFacts) and function.name in facts.callbacks

    def in_callback(self, ctx: CallContext) -> bool:
        """In a `with_transaction` callback whose transaction holds no lock yet: its reads take
        part in the write-conflict check, as inside `with session.start_transaction():`."""
        callbacks = self.facts(ctx).callbacks
        if not callbacks or not ctx.state.in_transaction or ctx.region_held(TRANSACTION_LOCK):
            return False
        return ctx.function().name in callbacks or ctx.root().name in callbacks

    def enter(self, expr: model.Expr, ctx: CallContext) -> list[Effect] | None:
        """`with session.start_transaction():`: a transaction; its write conflicts protect
        read-modify-writes of one document until the commit at the block's end."""
        if isinstance(expr, model.Await):
            expr = expr.value
        if isinstance(expr, model.Call) and expr.method == "start_transaction":
            return [Effect("begin"), Effect("lock")]
        return None

    def key(self, call: model.Call, ctx: CallContext) -> str:
        facts = self.facts(ctx)
        receiver = call.receiver
        assert receiver is not None
        name = collection_name(receiver, facts, ctx.function(), ctx.self_class())
        return "mongo:" + (name or "".join(facts.code(receiver).split()))

    def recognize(self, call: model.Call, ctx: CallContext) -> list[Effect] | None:
        method = call.method
        if method is None or call.receiver is None:
            return None
        if method in _READS:
            detail = frozenset(k for k in _fields(_argument(call, 0, "filter")) if not k.startswith("$"))
            read = Effect("read", self.key(call, ctx), detail=detail)
            return [Effect("lock"), read] if self.in_callback(ctx) else [read]
        if method in _INSERTS:
            return self.insert(call, ctx)
        if method in _UPDATES:
            return self.update(call, ctx)
        if method in _DELETES:
            _only_written_values(call, ctx)
            guard = ALL if self.checks_result(call, ctx) else frozenset()
            return [Effect("write", self.key(call, ctx), "RC801", guard)]
        wrapper = _WRAPPER_UPDATES | _WRAPPER_INSERTS | _WRAPPER_DELETES
        if method in wrapper and self.is_document_store(call.receiver, ctx):
            if method in _WRAPPER_INSERTS:
                return self.insert(call, ctx)
            if method in _WRAPPER_DELETES:
                return [Effect("write", self.key(call, ctx), "RC801")]
            return self.update(call, ctx)
        return None

    def is_document_store(self, receiver: model.Expr, ctx: CallContext) -> bool:
        """A receiver the function also reads one document from (`item_model.find_one(f)` then
        `item_model.update(f, changes)`), or a resource service (`get_resource_service("x")`)."""
        facts = self.facts(ctx)
        function = ctx.function()
        text = facts.code(receiver)
        bound = facts.local_bindings(function).get(text) if isinstance(receiver, model.Name) else None
        for built in (receiver, bound):
            if isinstance(built, model.Call) and _last_part(built) in _SERVICE_FACTORIES:
                return True
        return text in _document_receivers(function, facts)

    def update(self, call: model.Call, ctx: CallContext) -> list[Effect]:
        key = self.key(call, ctx)
        _only_written_values(call, ctx)
        filters = _fields(_argument(call, 0, "filter"))
        update = _argument(call, 1, "replacement" if "replace" in (call.method or "") else "update")
        changed, relative = _update_fields(update)
        if is_true(keywords(call).get("upsert")):
            # The server decides whether the document exists: nothing stale to overwrite or duplicate.
            return [Effect("write", key, "RC801", ALL, needs_check=True)]
        compares = _guarded_fields(filters, changed) & changed
        guarded = _guarded_fields(filters, changed) if self.checks_result(call, ctx) else set()
        guard = ALL if guarded & _VERSION_FIELDS else frozenset(guarded)
        return [
            Effect(
                "write",
                key,
                "RC801",
                guard,
                needs_check=relative,
                columns=frozenset(changed),
                compares=frozenset(compares),
            )
        ]

    def insert(self, call: model.Call, ctx: CallContext) -> list[Effect]:
        """An insert after an absence check: guarded by a unique index on what was looked up, or by
        handling the duplicate; a transaction cannot cover the document that is missing."""
        key = self.key(call, ctx)
        if ctx.catching(_DUPLICATE_KEY):
            guard = ALL
        else:
            guard = frozenset(self.unique_of(key.partition(":")[2], ctx) | {"_id"})
        write = Effect("write", key, "RC802", guard, needs_check=True)
        if ctx.region_held(TRANSACTION_LOCK):
            return [Effect("unlock"), write, Effect("lock")]
        return [write]

    def unique_of(self, collection: str, ctx: CallContext) -> set[str]:
        unique = set(self.facts(ctx).unique.get(collection, ()))
        project = ctx.facts()
        found: Any = getattr(project, "mongo_unique", None) if project is not None else None
        if callable(found):
            found = found(collection)
        elif isinstance(found, dict):
            found = found.get(collection)
        return unique | set(found or ())

    def checks_result(self, call: model.Call, ctx: CallContext) -> bool:
        """A filtered write only guards if someone looks at whether it matched."""
        return ctx.result_used(call) or _reads_counts(ctx.function())


def _only_written_values(call: model.Call, ctx: CallContext) -> None:
    """Reads that only the filter carries (`{"_id": doc["_id"]}`) say which document is written,
    not what is written: they make no lost update (a decision on them still counts, as a check)."""
    position = next(
        (i for i, arg in enumerate(call.args) if arg.keyword == "filter"),
        next((i for i, arg in enumerate(call.args) if arg.keyword is None and not arg.star), None),
    )
    arguments = ctx.arguments
    if position is None or position >= len(arguments):
        return
    written = {id(access) for i, values in enumerate(arguments) if i != position for access in values}
    filtering = {id(access) for access in arguments[position]} - written
    if filtering:
        ctx.args[:] = [access for access in ctx.args if id(access) not in filtering]


def _last_part(call: model.Call) -> str:
    return (call.name or call.method or "").split(".")[-1]


_RECEIVERS_CACHE: weakref.WeakKeyDictionary[model.Function, frozenset[str]] = weakref.WeakKeyDictionary()


def _document_receivers(function: model.Function, facts: MongoFacts) -> frozenset[str]:
    """The text of every receiver `find_one` is called on in the function."""
    cached = _RECEIVERS_CACHE.get(function)
    if cached is None:
        cached = frozenset(
            facts.code(node.receiver)
            for node in walk(function.body)
            if isinstance(node, model.Call) and node.method in _WRAPPER_READS and node.receiver is not None
        )
        _RECEIVERS_CACHE[function] = cached
    return cached


def _argument(call: model.Call, position: int, keyword: str) -> model.Expr | None:
    args = positional(call)
    return args[position] if position < len(args) else keywords(call).get(keyword)


# Per function, for as long as the function (its module's model) lives.
_COUNTS_CACHE: weakref.WeakKeyDictionary[model.Function, bool] = weakref.WeakKeyDictionary()


def _reads_counts(function: model.Function) -> bool:
    """`result.modified_count` (or `matched_count`, `deleted_count`) is read in the function."""
    cached = _COUNTS_CACHE.get(function)
    if cached is not None:
        return cached
    origin = function.origin
    nodes = ast.walk(origin) if isinstance(origin, ast.AST) else ()
    found = any(isinstance(node, ast.Attribute) and node.attr in _COUNTS for node in nodes)
    _COUNTS_CACHE[function] = found
    return found


register(
    StoreSpec(
        name="mongo",
        markers=(
            "find_one",
            "insert_one",
            "insert_many",
            "update_one",
            "update_many",
            "replace_one",
            "mongo",
        ),
        label=lambda name: f"MongoDB collection `{name}`",
        outcome="concurrent requests all read the same document and all write it back",
        insert_outcome=INSERT_OUTCOME,
        insert_rules=frozenset({"RC802"}),
        recognizers={"python": MongoRecognizer},
        default_rule="RC801",
    )
)
