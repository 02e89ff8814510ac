"""ORMs (RC3xx): Django here, SQLAlchemy in `_sqlalchemy`.

Django: `Model.objects.get()` -> change -> `.save()` without `select_for_update()` in `atomic()`;
`select_for_update()` outside `atomic()`; `get_or_create` / exists-then-create on non-unique fields.

Querysets are lazy: `select_for_update()` locks when the queryset is evaluated (`.get()`, `.first()`,
`get_object_or_404(qs)`), so a queryset built outside `atomic()` and evaluated inside it is fine.
A row lock protects rows that exist; it cannot protect the absence a check-then-create relies on.
"""

from __future__ import annotations

import re
from typing import Any

from ...core import model
from ...core.effects import ALL, TRANSACTION_LOCK, CallContext, Effect
from ...core.idempotent import bound_once, one_way, same_for_every_racer
from ...core.state import EXISTENCE, Access
from ...core.stores import StoreSpec, register
from ._active_record import ActiveRecordMixin
from ._common import (
    DUPLICATE_HANDLERS,
    INSERT_OUTCOME,
    REFUSED_OUTCOME,
    StoreRecognizer,
    calls_in,
    chain,
    dotted,
    echoed_keywords,
    keywords,
    literal_string,
    positional,
)
from ._drf_serializers import serializer_save
from ._orm_claims import claimed_row
from ._orm_counts import increment_lost, update_count
from ._orm_facts import OrmFacts, field_names
from ._orm_members import tests_another_object
from ._orm_new_rows import (
    NEW_ROW,
    VALIDATIONS,
    built_row_model,
    cast_row_model,
    django_model,
    drawn_defaults,
    drawn_fields,
    drawn_unset,
    model_known,
    saved_as_copy,
    saved_as_new,
    set_columns,
    validation_read,
)
from ._orm_own_rows import OWN_ROW, inserted_row, own_row_lookup, transaction_unit
from ._orm_rows import LOADED, LoadedRow, loaded_rows
from ._orm_updates import spread_columns, update_values
from ._sqlalchemy import INTEGRITY_ERRORS, SESSION_NAME, SqlAlchemyMixin, row_lock

__all__ = ["OrmRecognizer"]

# Queryset methods that return another (unevaluated) queryset.
# Unique fields of third-party models that applications query directly (their declarations are
# not in the project): DRF's `Token.user` is a OneToOneField, so `Token.objects.get_or_create(
# user=u)` cannot duplicate (paperless, issue 11 review). Keyed by the imported qualified name.
THIRD_PARTY_UNIQUE: dict[str, tuple[str, ...]] = {
    "rest_framework.authtoken.models.Token": ("user", "user_id", "key"),
    "django.contrib.auth.models.User": ("username",),
    "django.contrib.auth.models.Group": ("name",),
    "django.contrib.sites.models.Site": ("domain",),
    "django.contrib.sessions.models.Session": ("session_key",),
    "django_celery_beat.models.PeriodicTask": ("name",),
    "rest_framework_simplejwt.token_blacklist.models.OutstandingToken": ("jti",),
    "rest_framework_simplejwt.token_blacklist.models.BlacklistedToken": ("token", "token_id"),
}
_DJANGO_LAZY = frozenset(
    [
        "all",
        "filter",
        "exclude",
        "select_for_update",
        "select_related",
        "prefetch_related",
        "order_by",
        "only",
        "defer",
        "none",
        "distinct",
        "annotate",
        "using",
        "get_queryset",
        "alias",
        "reverse",
    ]
)
# Queryset methods that run a query and return rows or values.
_DJANGO_EVALUATING = frozenset(
    [
        "get",
        "first",
        "last",
        "earliest",
        "latest",
        "exists",
        "count",
        "aggregate",
        "values",
        "values_list",
        "in_bulk",
        "iterator",
        "afirst",
        "aget",
        "aexists",
        "acount",
    ]
)
_DJANGO_WRITES = frozenset({"update", "create", "bulk_create", "get_or_create", "update_or_create", "delete"})
_LOOKUP_GUARDS = ("gte", "gt", "lte", "lt", "exact", "isnull", "in")
_FILTERING = ("get", "filter", "exclude", "get_or_create", "update_or_create", "first", "filter_by")
# Creates keyed on a related object a `hasattr` probe looked for (`related_probe`).
_RELATED_CREATES = frozenset({"create", "get_or_create", "update_or_create"})
# Manager methods of Django's auth models that insert a user.
_USER_CREATES = frozenset({"create_user", "create_superuser"})
_GET_OBJECT = ("get_object_or_404", "get_list_or_404", "aget_object_or_404")
_REFRESH = ("refresh_from_db", "arefresh_from_db")
# What a row built from a loaded parent (`Check(project=project)`) writes of that parent: its set
# of children, a column no attribute test names (`core/writes.py` `_unrelated`).
_CHILDREN = frozenset({"<children>"})

Calls = list[tuple[str, model.Call]]
# The model, the `select_for_update()` call if any, and the fields its filters pin (compared, or
# equal to a value: what an `.update()` of the queryset may re-check).
Queryset = tuple[str, model.Node | None, frozenset[str]]


def _fields(calls: Calls) -> set[str]:
    """Field names a Django query filters on: `email__iexact=` -> `email`."""
    names: set[str] = set()
    for method, call in calls:
        if method in _FILTERING:
            for key in keywords(call):
                names |= field_names(key) if key != "defaults" else set()
    return names


def _guarded_fields(calls: Calls) -> set[str]:
    """Fields the query's filter constrains with a comparison: `balance__gte=amount` -> `balance`."""
    names = set()
    for method, call in calls:
        if method in ("filter", "exclude"):
            for key in keywords(call):
                parts = key.split("__")
                if (len(parts) > 1 and parts[-1] in _LOOKUP_GUARDS) or key in ("version", "revision"):
                    names.add(parts[0])
    return names


def _equal_fields(calls: Calls) -> set[str]:
    """Fields a `filter()` pins to one value: `next_report_date=profile.next_report_date`."""
    return {key for method, call in calls if method == "filter" for key in keywords(call) if "__" not in key}


def _is_f_expression(call: model.Call) -> bool:
    """Django's `F("balance")` (or `models.F(...)`): a column the database reads at the write."""
    func = call.func
    name = func.id if isinstance(func, model.Name) else func.attr if isinstance(func, model.Attribute) else ""
    return name == "F"


def _keyword_is(call: model.Call, name: str, value: bool) -> bool:
    """`call(..., name=True)` with that literal (`commit=False`, `ignore_conflicts=True`)."""
    given = call.keyword(name)
    return isinstance(given, model.Literal) and given.value is value


def _is_database_subquery(call: model.Call) -> bool:
    """`Subquery(qs.values("n"))` / `Exists(qs)`: the database evaluates the inner queryset inside
    the outer statement (`Model.objects.update(n=Subquery(...))` is one UPDATE), so no row is read
    by the application (netbox's counter refresh, issue 11 review)."""
    func = call.func
    name = func.id if isinstance(func, model.Name) else func.attr if isinstance(func, model.Attribute) else ""
    return name in ("Subquery", "Exists")


# The signed-cookie sessions of web frameworks: dict-like, never a database session.
_WEB_SESSIONS = frozenset({"flask.session", "quart.session", "sanic.session", "flask.globals.session"})


def _web_session(receiver: model.Expr, ctx: CallContext) -> bool:
    """`session.get(KEY)` where `session` is Flask's or Quart's, or `request.session` (Django,
    Starlette): a per-user cookie dict, not SQLAlchemy's `Session.get(Model, pk)`."""
    if isinstance(receiver, model.Name):
        return ctx.module().imports.get(receiver.id, "") in _WEB_SESSIONS
    return (
        isinstance(receiver, model.Attribute)
        and receiver.attr == "session"
        and isinstance(receiver.value, model.Name)
        and receiver.value.id == "request"
    )


def _is_self(expr: model.Expr) -> bool:
    return isinstance(expr, model.Name) and expr.id == "self"


class OrmRecognizer(SqlAlchemyMixin, ActiveRecordMixin, StoreRecognizer):
    facts_type = OrmFacts

    def facts(self, ctx: CallContext | None) -> OrmFacts:
        facts = StoreRecognizer.facts(self, ctx)
        assert isinstance(facts, OrmFacts)
        return facts

    def unique_of(self, name: str, ctx: CallContext) -> set[str]:
        """Unique fields of a model (or `sql:<table>` Core table) declared here or in the project,
        or of a well-known third-party model imported by name (`THIRD_PARTY_UNIQUE`)."""
        unique = set(self.facts(ctx).unique.get(name, ()))
        unique |= set(THIRD_PARTY_UNIQUE.get(ctx.module().imports.get(name, ""), ()))
        if not name.startswith("sql:"):
            # Every model has a primary key: a row looked up by it and then inserted collides on it
            # (models of other modules included, when no project index says more).
            unique.add("pk")
        unique |= {field for owner, field in ctx.notes.get("orm-one-to-one", ()) if owner == name}
        project = ctx.facts()
        lookup = getattr(project, "unique_fields", None) if project is not None else None
        if callable(lookup):
            unique |= set(lookup(name) or ())
        return unique

    # -- the interpreter's optional questions ---------------------------------------------------
    def transactional(self, function: model.Function) -> bool:
        """`@transaction.atomic` (Django) wraps the whole function in one transaction."""
        facts = self.home
        assert isinstance(facts, OrmFacts)
        if function.qualname in facts.atomic_methods:
            return True
        return any(
            facts.is_atomic(d) or (isinstance(d, model.Call) and facts.wraps_atomic(d))
            for d in function.decorators
        )

    def owns_chain(self, call: model.Call) -> bool:
        facts = self.home
        assert isinstance(facts, OrmFacts)
        base, calls = chain(call)
        if facts.model_of(base, "?") is not None or self.sqlalchemy_base(base, calls, facts) is not None:
            return True
        return bool(calls) and calls[0][0] == "get_queryset" and _is_self(base)

    def enter(self, expr: model.Expr, ctx: CallContext) -> list[Effect] | None:
        """`with Session(serializable_engine) as s:`: every transaction of that session is SERIALIZABLE."""
        facts = self.facts(ctx)
        if not isinstance(expr, model.Call) or not facts.serializable:
            return None
        names = {n for arg in expr.args for n in re.findall(r"\w+", facts.code(arg.value))}
        if isinstance(expr.func, model.Name):
            names.add(expr.func.id)
        return [Effect("lock")] if names & facts.serializable else None

    def loaded_rows(
        self, function: model.Function, owner: str | None, project: Any, *, forwarded: bool = False
    ) -> list[LoadedRow]:
        """Parameters of a root that stand for rows its caller loaded (`_orm_rows`)."""
        facts = self.home
        assert isinstance(facts, OrmFacts)
        return loaded_rows(function, owner, facts, project, forwarded=forwarded)

    # -- effects --------------------------------------------------------------------------------
    def recognize(self, call: model.Call, ctx: CallContext) -> list[Effect] | None:
        if _is_f_expression(call):
            return [Effect("atomic")]  # `F("balance") - amount`: the database computes the value
        if _is_database_subquery(call):
            return []
        if isinstance(call.func, model.Name) and call.func.id == "hasattr":
            return self.related_probe(call, ctx)
        facts = self.facts(ctx)
        built = self.built_row(call, facts, ctx)
        if built is not None:
            return built
        if call.method is None and call.args:
            cast = cast_row_model(call, facts, ctx)
            if cast is not None:
                return [Effect("read", f"orm:{cast}")]
        base, calls = chain(call)
        self_class = ctx.self_class()
        if calls and _is_self(base) and calls[0][0] == "get_queryset":
            base, calls = calls[0][1], calls[1:]
        found = facts.model_of(base, self_class)
        if found is not None and calls:
            return self.django_query(found, calls, ctx, None)
        if found is not None and isinstance(base, model.Call):
            return self.django_query(found, [("all", base)], ctx, None)  # `self.get_queryset()` alone
        if (
            len(calls) == 1
            and calls[0][0] == "get_object"
            and _is_self(base)
            and self_class in facts.view_models
        ):
            return [Effect("read", f"orm:{facts.view_models[self_class]}")]  # DRF `self.get_object()`
        if (call.name or "").split(".")[-1] in _GET_OBJECT:
            return self.get_object_or_404(call, ctx)
        queryset = self._queryset_alias(base, calls, ctx)
        if queryset is not None:
            return self.django_query(queryset[0], calls, ctx, queryset)
        receiver = call.receiver
        # `pdf.save(path)`, `image.save(path)`, a `FieldFile.save(name, content)`: a save given a
        # positional argument writes a file, not the row (`Model.save()` takes keywords only).
        if call.method == "save" and isinstance(receiver, model.Name) and not positional(call):
            serialized = serializer_save(self, call, ctx)  # a DRF serializer's create or update
            if serialized is not None:
                return serialized
        if call.method == "save" and ctx.receiver and receiver is not None and not positional(call):
            if _keyword_is(call, "commit", False):
                return []  # `form.save(commit=False)` builds the instance in memory only
            built = next((a for a in ctx.receiver if a.key.endswith(NEW_ROW)), None)
            if built is not None:  # on some path a row built here: that path inserts
                return self.save_built(built, ctx)
            if saved_as_new(call, ctx):
                return []  # under `row._state.adding`: never runs for a row loaded from the database
            origin = next((a for a in ctx.receiver if a.key.startswith("orm:")), None)
            if origin is not None and (saved_as_copy(call, ctx) or _keyword_is(call, "force_insert", True)):
                # After `row.pk = None`, or forced: an INSERT of a new row, no write-back of the
                # source. The local is the new row from then on, this run's own (`_orm_own_rows`).
                own = f"{origin.key.partition('#')[0]}{OWN_ROW}"
                return [
                    Effect("read", own, detail=transaction_unit(ctx), inserts_only=True, bind_receiver=True)
                ]
            if origin is not None:
                return self.django_save(origin.key, receiver, ctx, call)
        if call.method in VALIDATIONS and ctx.receiver:
            origin = next((a for a in ctx.receiver if a.key.endswith(NEW_ROW)), None)
            if origin is not None:
                name = origin.key[4 : -len(NEW_ROW)]
                known = model_known(name, facts, ctx.facts())
                unique = self.unique_of(name, ctx) - drawn_unset(origin, self.facts(ctx), ctx)
                return validation_read(origin, unique, known)
        if call.method in _REFRESH and ctx.receiver and isinstance(receiver, model.Name):
            origin = next((a for a in ctx.receiver if a.key.startswith("orm:")), None)
            if origin is not None:
                return self.refresh(origin.key, call, ctx)
        sqlalchemy = self.sqlalchemy_base(base, calls, facts)
        if sqlalchemy is not None:
            return self.sqlalchemy_statement(*sqlalchemy, ctx)
        relocked = self.relocked(base, calls, ctx)
        if relocked is not None:
            return relocked
        if (
            call.method is not None
            and receiver is not None
            and SESSION_NAME.search(facts.name_text(receiver))
            and not _web_session(receiver, ctx)
        ):
            return self.session_call(call.method, call, ctx)
        return self.active_record(call, base, calls, ctx)

    def built_row(self, call: model.Call, facts: OrmFacts, ctx: CallContext) -> list[Effect] | None:
        """`account = Account(email=e)`: a row built in memory, bound to its own key (`_orm_new_rows`)."""
        func = call.func  # the last name first: most calls are no capitalised constructor
        if call.method == "__class__":
            return self.copied_row(call, ctx)
        if isinstance(func, model.Attribute):
            if not func.attr[:1].isupper():
                return None
        elif not isinstance(func, model.Name) or not func.id[:1].isupper():
            return None
        name = (dotted(call.func) or "").rpartition(".")[2]
        if not name[:1].isupper() or not ctx.result_used(call):
            return None
        found = built_row_model(call, facts, ctx)
        if found is None:
            return None
        # The rows it is built from (`Check(project=project)`), for its save (`save_built`).
        parents = [a for a in ctx.args if a.key.startswith("orm:") and not a.key.endswith(NEW_ROW)]
        if parents:
            ctx.notes.setdefault("orm-built-from", {})[call] = parents
        # Inserts only: a helper handing the built row back returns that row, not its arguments
        # (`slip = slip_of(parcel)`), and its save is no unit of work of an existing row.
        detail = drawn_fields(call) | transaction_unit(ctx)  # a reload after its save: `_orm_own_rows`
        return [Effect("read", f"orm:{found}{NEW_ROW}", detail=detail, inserts_only=True)]

    @staticmethod
    def copied_row(call: model.Call, ctx: CallContext) -> list[Effect] | None:
        """`copy = source.__class__(**fields)`: a new instance of a loaded row's model (a copy
        helper's), a row built in memory as `Model(**fields)` is; its save is an INSERT, never the
        write-back of the source row it was filled from (wagtail's task state copies, issue 11)."""
        source = next((a for a in ctx.receiver if a.key.startswith("orm:")), None)
        if source is None or not ctx.result_used(call):
            return None
        name = source.key.removesuffix(NEW_ROW)
        copied = frozenset({f"{_COPIED}{source.steps[0].order}"}) if source.steps else frozenset()
        return [Effect("read", f"{name}{NEW_ROW}", detail=copied, inserts_only=True)]

    def save_built(self, built: Access, ctx: CallContext) -> list[Effect]:
        """`account.save()` of a row built in memory: an INSERT, as `Account.objects.create()` is.
        A row built from a loaded one (`Check(project=project)`) adds to what a decision on that
        row may have counted (`if project.num_checks() >= limit:`): the insert races such a
        decision as a write of the parent's children would. A decision that counted them (a
        related manager's count in the test, `board.pin_set.count()`, is a check of this model) or
        may have (the parent's own method) races it; one on the parent's plain columns
        (`if project.owner_id != user.id:`) does not: a new child changes none of them."""
        origin = built.key
        change = ctx.state.dirty.pop(origin, None)  # its attributes are written by the insert itself
        key = origin[: -len(NEW_ROW)]
        guard = ALL if ctx.catching(INTEGRITY_ERRORS) else frozenset(self.unique_of(key[4:], ctx))
        parents = {
            a.key: a for a in ctx.notes.get("orm-built-from", {}).get(built.steps[0].node, ()) if a.key != key
        }
        ctx.args.extend(parents.values())
        children = frozenset() if key in ctx.state.checks else _CHILDREN
        decided = [
            Effect("write", parent, "RC301", needs_check=True, overwrites=children) for parent in parents
        ]
        # A copy's source row was found, not looked for: a test of it (`if source.approved:`, the
        # fields the copy helper picks) decided nothing about a missing row the copy could duplicate.
        check = ctx.state.checks.get(key)
        of_copied = (
            check is not None and bool(check.steps) and f"{_COPIED}{check.steps[0].order}" in built.detail
        )
        if of_copied and check is not None and guard != ALL:
            guard = guard | check.detail | frozenset({"<row copied>"})
        built_by = built.steps[0].node
        given = set_columns(built_by) if isinstance(built_by, model.Call) else None
        if given is not None and change is not None:
            given |= change.written  # `row.code = ...` before the save
        return [*decided, *self.insert(key, guard, ctx, handled=of_copied, given=given)]

    def related_probe(self, call: model.Call, ctx: CallContext) -> list[Effect] | None:
        """`hasattr(order, "invoice_settings")` before `InvoiceSettings.objects.create(order=order)`
        (or `InvoiceSettings(order=order)`, a row built to be saved) in the same function:
        Django's reverse one-to-one accessor queries the related row (a missing one raises,
        hasattr says False), so the probe is the existence check of an exists-then-create. A
        reverse accessor returning one row exists only for a OneToOneField, so the key the create
        pins is unique even when the model is declared elsewhere (noted for `unique_of`). A probe
        not followed by such a create keyed by a field named after the object, or of an attribute
        the function calls as a method, is duck typing: no effect."""
        args = positional(call)
        attribute = literal_string(args[1]) if len(args) == 2 else None
        if attribute is None or not isinstance(args[0], model.Name):
            return None
        probed = args[0].id
        facts = self.facts(ctx)
        function = ctx.function()
        if probed not in echoed_keywords(function):
            return None  # no create here is keyed `probed=probed`: nothing the probe decides
        body_calls = calls_in(function)
        if any(_calls_method(node, probed, attribute) for node in body_calls):
            return None  # `hasattr(f, "process_image")` then `f.process_image()`: duck typing
        for node in body_calls:
            if node.method in _RELATED_CREATES:
                base, calls = chain(node)
                found = facts.model_of(base, ctx.self_class()) if len(calls) == 1 else None
            else:  # `InvoiceSettings(order=order)`, saved by whoever receives it
                found = built_row_model(node, facts, ctx)
            if found is None:
                continue
            # The foreign key is named after the object (`checkout=checkout`), not a value field
            # given the probed object (`spec=filter`, a string or a Filter).
            fields = {
                k for k, v in keywords(node).items() if isinstance(v, model.Name) and v.id == probed == k
            }
            if fields and model_known(found, facts, ctx.facts()) and not fields <= self.unique_of(found, ctx):
                # The model's declaration was read and the field the create pins is no one-to-one
                # (`spec = CharField()`): there is no reverse accessor, the probe is duck typing
                # (`hasattr(spec, "apply")`: a Spec object or a spec string) and decides no row.
                continue
            if fields:
                ctx.notes.setdefault("orm-one-to-one", set()).update((found, f) for f in fields)
                for access in ctx.args:  # the probe tested the related row, not the probed one
                    check = ctx.state.checks.get(access.key)
                    if check is not None and check.steps[-1].node is args[0]:
                        del ctx.state.checks[access.key]
                return [Effect("read", f"orm:{found}", detail=frozenset(fields) | EXISTENCE)]
        return None

    def get_object_or_404(self, call: model.Call, ctx: CallContext) -> list[Effect] | None:
        """`get_object_or_404(Model, ...)` or `get_object_or_404(queryset, ...)`: evaluates the query.
        A model of another module counts when the project declares it a Django model (netbox's
        `get_object_or_404(Prefix, pk=pk)`: the row whose methods the view then calls)."""
        args = positional(call)
        if not args:
            return None
        detail = frozenset(name for key in keywords(call) for name in field_names(key))
        facts = self.facts(ctx)
        if isinstance(args[0], model.Name) and (
            args[0].id in facts.classes or django_model(args[0].id, facts, ctx) is not None
        ):
            return [Effect("read", f"orm:{args[0].id}", detail=detail)]
        querysets = self._querysets(ctx)
        origin = next((a for a in ctx.args if _holds_queryset(a) and a.steps[0].node in querysets), None)
        if origin is None:
            return None
        found, locking, _ = querysets[origin.steps[0].node]
        return [
            *self.row_lock(found, locking, ctx, evaluated=True),
            Effect("read", f"orm:{found}", detail=detail),
        ]

    @staticmethod
    def _querysets(ctx: CallContext) -> dict[Any, Queryset]:
        """Unevaluated querysets built so far in this root: node -> (model, its select_for_update)."""
        querysets: dict[Any, Queryset] = ctx.notes.setdefault("orm-querysets", {})
        return querysets

    def _queryset_alias(self, base: model.Expr, calls: Calls, ctx: CallContext) -> Queryset | None:
        """`locked.get()` on a local that holds a queryset built earlier. Not on a value read
        from its rows: `doc.title`, or a dict built from it (`fmt = {"t": doc.title}`), carries
        the queryset's read as its first step too, and `fmt.update({...})` or `fmt.get(k)` is a
        dict's method, no UPDATE of the model (`_holds_queryset`)."""
        if not calls or not isinstance(base, model.Name) or not ctx.receiver:
            return None
        if not all(m in _DJANGO_LAZY or m in _DJANGO_EVALUATING or m in _DJANGO_WRITES for m, _ in calls):
            return None
        origin = ctx.receiver[0]
        return self._querysets(ctx).get(origin.steps[0].node) if _holds_queryset(origin) else None

    def row_lock(
        self, name: str, locking: model.Node | None, ctx: CallContext, *, evaluated: bool
    ) -> list[Effect]:
        """`select_for_update()`: a row lock inside `atomic()`; evaluated outside it, RC302."""
        if locking is None:
            return []
        if ctx.state.in_transaction:
            return [row_lock(name)]
        if not evaluated:
            return []  # a lazy queryset: decided where it is evaluated
        deferred = ctx.function() is ctx.root() and ctx.root().name in self.facts(ctx).called
        # A helper called elsewhere in this file is judged in its callers' transactions, not alone.
        # The developer meant to lock: RC302 reports the mistake, RC301 would report the same bug again.
        direct = [] if deferred else [Effect("direct", f"orm:{name}", "RC302", node=locking)]
        return [*direct, row_lock(name)]

    def django_query(
        self, name: str, calls: Calls, ctx: CallContext, queryset: Queryset | None
    ) -> list[Effect]:
        methods = [method for method, _ in calls]
        terminal, terminal_call = calls[-1]
        locking: model.Node | None = next((c for m, c in calls if m == "select_for_update"), None)
        if locking is None and queryset is not None:
            locking = queryset[1]
        lazy = terminal in _DJANGO_LAZY
        effects = self.row_lock(name, locking, ctx, evaluated=not lazy)
        pinned = frozenset(_guarded_fields(calls) | _equal_fields(calls))
        if queryset is not None:
            pinned |= queryset[2]
        if lazy:
            held = locking if not ctx.state.in_transaction else None
            self._querysets(ctx)[terminal_call] = (name, held, pinned)
        key = f"orm:{name}"
        detail = frozenset(_fields(calls))
        if terminal == "update":
            # `filter(id=p.id, next_date=p.next_date).update(next_date=...)`: a filter on a column the
            # UPDATE sets is a compare-and-set (an optimistic lock), here or on the queryset's local.
            guard = ALL if set(keywords(terminal_call)) & pinned else frozenset()
            ctx.args.extend(update_values(terminal_call, key, ctx))
            if queryset is not None:
                # `qs = X.objects.filter(...); qs.update(n=F("n") + 1)` is one UPDATE, as the chained
                # form: the lazy queryset only names the rows written, it read none of their values.
                ctx.receiver.clear()
            # A compare-and-set to a new state (`filter(status="requested").update(status="sent")`):
            # a retry fails the transition instead of repeating what follows it (RC601).
            claim = bool(guard) and not any(_computed(v) for v in keywords(terminal_call).values())
            spread = spread_columns(terminal_call, ctx.function().body) or frozenset()
            columns = frozenset(keywords(terminal_call)) | spread
            write = Effect(
                "write",
                key,
                "RC301",
                guard,
                columns=columns,
                claim=claim,
                same_value=_same_values(terminal_call, ctx, key),
            )
            return [*effects, write, *update_count(key, detail | pinned, terminal_call, guard, ctx)]
        if terminal in _USER_CREATES:
            terminal = "create"  # `User.objects.create_user(email=...)`: Django's auth managers insert
        if terminal in ("create", "bulk_create"):
            # `bulk_create(..., ignore_conflicts=True)` is INSERT .. ON CONFLICT DO NOTHING: the
            # statement names the unique key it relies on, as catching IntegrityError does.
            ignoring = _keyword_is(terminal_call, "ignore_conflicts", True)
            deduplicated = ignoring or ctx.catching(INTEGRITY_ERRORS)
            guard = ALL if deduplicated else frozenset(self.unique_of(name, ctx))
            lost = [] if ignoring else increment_lost(key, ctx)
            # `doc = X.objects.create(...)` in a transaction: the value is the new row, its own.
            kept = terminal == "create" and ctx.result_used(terminal_call)
            own = inserted_row(name, ctx) if kept else []
            # The new row's key is the database's draw: a lookup or insert keyed by it is this
            # request's alone (a profile created for a user inserted a line before).
            drawn = [Effect("fresh")] if kept else []
            given = set_columns(terminal_call) if terminal == "create" else None
            return [*effects, *lost, *self.insert(key, guard, ctx, given=given), *own, *drawn]
        if terminal in ("get_or_create", "update_or_create"):
            # `get_or_create(**{field: value})`: which field is looked up is not in the code.
            unknown = any(arg.star == "**" for arg in terminal_call.args)
            # Keyed by a value no other request holds (a row inserted a line before, a random draw).
            fresh = any(
                arg.keyword not in (None, "defaults") and ctx.fresh(arg.value) for arg in terminal_call.args
            )
            if (
                not (detail & self.unique_of(name, ctx))
                and not unknown
                and not fresh
                and not ctx.catching(INTEGRITY_ERRORS)
            ):
                effects.append(Effect("direct", key, "RC303"))
            return [*effects, Effect("read", key, detail=detail)]
        if terminal == "exists":
            # `if qs.exists(): qs.update(...)`: that rows match decides nothing the UPDATE, which
            # applies the same filter again, does not re-check.
            detail |= EXISTENCE
        if not lazy and own_row_lookup(name, calls, ctx, NEW_ROW):
            # A row this run inserted in the transaction still open, reloaded by its key.
            reload = Effect("read", f"{key}{OWN_ROW}", detail=transaction_unit(ctx), inserts_only=True)
            return [*effects, reload]
        if lazy or terminal in _DJANGO_EVALUATING or "get" in methods:
            return [*effects, Effect("read", key, detail=detail)]
        return effects

    def insert(
        self,
        key: str,
        guard: frozenset[str],
        ctx: CallContext,
        *,
        rule: str = "RC303",
        handled: bool = False,
        given: frozenset[str] | None = None,
    ) -> list[Effect]:
        """A create after a check: a row lock taken by the check cannot cover the row that is missing.
        A check on a row handed in already loaded (`if parent.credits >= cost:`) looked for no
        absence: the new row duplicates nothing it decided on (its change races as RC301/RC304).
        `given`: the columns the insert sets, when the code spells them out; the model's unique
        fields it leaves to a random `default=` are drawn for this row alone (`drawn_defaults`)."""
        # A unique key with nothing catching its violation: reported, at low severity.
        refused = guard != ALL and not handled and not ctx.catching(DUPLICATE_HANDLERS)
        check = ctx.state.checks.get(key)
        if check is not None and check.steps and check.steps[0].role == LOADED and guard != ALL:
            guard = guard | check.detail | frozenset({"<row handed in>"})
            refused = False
        drawn: frozenset[str] = frozenset()
        if given is not None and check is not None and key.startswith("orm:"):
            drawn = drawn_defaults(key[4:], self.facts(ctx), ctx) - given
        write = Effect("write", key, rule, guard, needs_check=True, refused=refused, drawn=drawn)
        region = f"{TRANSACTION_LOCK}:{key}"
        if ctx.region_held(region):
            return [Effect("unlock", region=region), write, Effect("lock", region=region)]
        return [write]

    def refresh(self, key: str, call: model.Call, ctx: CallContext) -> list[Effect]:
        """`obj.refresh_from_db()`: the row is read again (and pending changes dropped), so what
        follows works on a fresh copy, protected if a row lock is held now; with
        `from_queryset=M.objects.select_for_update()` inside `atomic()` the refresh takes the
        lock itself. `refresh_from_db(fields=[...])` reloads some columns only: the copy's other
        columns stay as loaded, so it is no fresh read of the row."""
        options = keywords(call)
        if "fields" in options:
            return []
        ctx.state.dirty.pop(key, None)
        source = options.get("from_queryset")
        locking = isinstance(source, model.Call) and "select_for_update" in [m for m, _ in chain(source)[1]]
        effects = [row_lock(key.partition(":")[2])] if locking and ctx.state.in_transaction else []
        return [*effects, Effect("read", key, bind_receiver=True)]

    def django_save(
        self, key: str, receiver: model.Expr, ctx: CallContext, call: model.Call | None = None
    ) -> list[Effect]:
        """`obj.save()`: racy when the saved change was computed from the read, or decided on it.
        `save(update_fields=[...])` writes those columns only (`_update_fields`)."""
        alias = receiver.id if isinstance(receiver, model.Name) else None
        state = ctx.state
        check = state.checks.get(key)
        if check is not None and tests_another_object(check, key[4:], self.facts(ctx), ctx.facts()):
            del state.checks[key]  # `if form.is_bound: form.save()`: the form was tested, no column
        change = state.dirty.pop(key, None)
        claimed = claimed_row(key, alias, change, ctx)
        return [*self._saved(key, alias, change, ctx, call), *claimed]

    def _saved(
        self, key: str, alias: str | None, change: Access | None, ctx: CallContext, call: model.Call | None
    ) -> list[Effect]:
        state = ctx.state
        fields = _update_fields(call, ctx)
        if change is not None and fields is not None and change.written and not change.written & fields:
            state.dirty[key] = change  # none of the changed attributes is saved: still pending
            change = None
        atomic = alias is not None and alias in state.atomic_aliases
        derived = change is not None and change.steps[-1].role == "change" and not atomic
        if derived:
            ctx.args.append(change)
        # An F() expression or a blind overwrite loses no update; only a decision on the stale row races.
        written = change.written if change is not None and not derived else frozenset()
        # Every attribute saved was set to a value every request sets (`core/idempotent.py`).
        same = change is not None and not derived and change.same_value
        if fields is not None and not derived:
            written = written & fields if written else fields
            guard = _helper_decision(key, fields, ctx)
            return [
                Effect("write", key, "RC301", guard, needs_check=True, overwrites=written, same_value=same)
            ]
        full = fields is None and not (call is not None and "update_fields" in keywords(call))
        stale = _stale_copy(key, written, ctx) if full and not derived and written else None
        if stale is not None:
            # A full save of a row this code loaded writes back every column, the stale copies of
            # those other code of the project writes (a ping's status) included: a lost update.
            ctx.args.append(stale)
            return [Effect("write", key, "RC301", overwrites=written)]
        return [Effect("write", key, "RC301", needs_check=not derived, overwrites=written, same_value=same)]


# The detail marker of a row built as a copy of another (`source.__class__(**fields)`): the step
# order of the source row's read.
_COPIED = "<copy of read>:"


def _holds_queryset(value: Access) -> bool:
    """The value is a queryset itself (its one read the lazy query, tested perhaps), not a value
    read from its rows: reading `doc.created` off a row of `docs` adds a read step to the access."""
    return bool(value.steps) and all(step.role == "check" for step in value.steps[1:])


def _same_values(call: model.Call, ctx: CallContext, key: str) -> bool:
    """`update(last_used=now)`, `update(status=CLOSED)`: every column set to a value every request
    sets, the clock or a one-way column's only value (no `**kwargs` whose values are not seen;
    see `core/idempotent.py`)."""
    body = ctx.function().body
    facts = ctx.facts()

    def same(arg: model.Arg) -> bool:
        return same_for_every_racer(arg.value, lambda name: bound_once(name, body)) or one_way(
            facts, key, arg.keyword or "", arg.value
        )

    return (
        bool(call.args)
        and all(arg.keyword is not None and not arg.star for arg in call.args)
        and all(same(arg) for arg in call.args)
    )


def _stale_copy(key: str, changed: frozenset[str], ctx: CallContext) -> Access | None:
    """The load of the row a full `save()` writes back, when other live code of the project writes
    columns of its model by name that this code did not change (`project/_writers.py`); None
    otherwise, for a row handed in by a caller, and without the project index."""
    facts = ctx.facts()
    columns = getattr(facts, "stale_columns", None)
    if not callable(columns) or not columns(key.partition(":")[2], changed):
        return None
    return next((a for a in ctx.receiver if a.key == key and a.steps and a.steps[0].role == "read"), None)


def _calls_method(node: model.Node, owner: str, method: str) -> bool:
    """`owner.method(...)`: the attribute a `hasattr` probe asked for is a method, called."""
    return (
        isinstance(node, model.Call)
        and node.method == method
        and isinstance(node.receiver, model.Name)
        and node.receiver.id == owner
    )


def _computed(value: model.Expr) -> bool:
    """A value the database computes from the row (`F("n") + 1`, `Coalesce(F("n"), 0)`)."""
    return not isinstance(value, model.Literal | model.Name | model.Attribute)


def _update_fields(call: model.Call | None, ctx: CallContext | None = None) -> frozenset[str] | None:
    """The columns `save(update_fields=["name", "slug"])` writes; None for a full save (every
    column, from the copy in memory) or fields not written out in the call. A local bound once
    to such a literal (`fields = ("a", "b"); for f in fields: setattr(row, f, ...)`, then
    `save(update_fields=fields)`) names them too."""
    if call is None:
        return None
    value = keywords(call).get("update_fields")
    if isinstance(value, model.Name) and ctx is not None:
        value = bound_once(value.id, ctx.function().body)
    if not isinstance(value, model.Collection) or value.kind not in ("list", "tuple", "set"):
        return None
    names = [literal_string(element) for element in value.elements]
    return frozenset(n for n in names if n is not None) if names and None not in names else None


def _helper_decision(key: str, fields: frozenset[str], ctx: CallContext) -> frozenset[str]:
    """A blind save narrowed to `fields` after a decision made in another function that named no
    attribute of the row (`check, allowed = load_for(request, code); if not allowed: raise`):
    a permission helper's verdict decides nothing about the columns written, and a narrowed save
    no longer writes back the columns the decision could have been about. The decision is then
    covered (a guard on what it looked at); a decision on one of `fields`, or made in the saving
    function itself (`if voucher.is_valid():`), still races."""
    check = ctx.state.checks.get(key)
    if check is None or check.checked & fields:
        return frozenset()
    decided = next((step for step in reversed(check.steps) if step.role == "check"), None)
    span = ctx.function().span
    if decided is None or check.checked or span.line <= decided.line <= span.end_line:
        return frozenset()
    return frozenset(check.detail) | frozenset({"<narrowed save>"})


register(
    StoreSpec(
        name="orm",
        # The pipeline builds a store's recognizer only for a file that mentions one of its markers:
        # besides managers and sessions, querysets reached through related managers
        # (`wishlist.lines.filter(...)`), rows saved after a helper elsewhere loaded them, `F()`.
        markers=(
            "objects",
            "_manager",
            "session",
            "select",
            "execute",
            "query",
            "get_object",
            ".filter(",
            ".exclude(",
            ".all(",
            ".get(",
            ".first(",
            "create(",
            ".update(",
            ".delete(",
            ".save(",
            "db.",
            "F(",
        ),
        label=lambda name: f"`{name}` rows",
        outcome=(
            "concurrent requests all load the same row and pass the check before any saves, "
            "so what it allows happens more than once"
        ),
        insert_outcome=INSERT_OUTCOME,
        refused_outcome=REFUSED_OUTCOME,
        insert_rules=frozenset({"RC303"}),
        plural=True,
        attribute_rows=True,
        recognizers={"python": OrmRecognizer},
        default_rule="RC304",
        per_row=True,
    )
)
