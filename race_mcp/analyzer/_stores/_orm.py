"""ORMs (RC3xx): Django and SQLAlchemy.

Django: `Model.objects.get()` → change → `.save()` without `select_for_update()` in `atomic()`;
`select_for_update()` outside `atomic()`; `get_or_create` / exists-then-create on non-unique fields.
SQLAlchemy: `session.get` / `query` / `select` → change → `commit()` without `with_for_update()`.

Querysets are lazy: `select_for_update()` locks when the queryset is evaluated (`.get()`, `.first()`,
`get_object_or_404(qs)`), so a queryset built outside `atomic()` and evaluated inside it is fine.
A row lock protects rows that exist; it cannot protect the absence a check-then-create relies on.
"""

from __future__ import annotations

import re

import libcst as cst

from .._effects import ALL, TRANSACTION_LOCK, CallContext, Effect
from .._module import ClassInfo, ModuleIndex, walk

__all__ = ["OrmRecognizer"]

# Queryset methods that return another (unevaluated) queryset.
_DJANGO_LAZY = {
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
}
# Queryset methods that run a query and return rows or values.
_DJANGO_EVALUATING = {
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
}
_DJANGO_WRITES = {"update", "create", "bulk_create", "get_or_create", "update_or_create", "delete"}
_MANAGERS = ("objects", "_default_manager", "_base_manager")
_INTEGRITY_ERRORS = ("IntegrityError", "UniqueViolation", "UniqueViolationError")
_LOOKUP_GUARDS = ("gte", "gt", "lte", "lt", "exact", "isnull", "in")
_SESSION_NAME = re.compile(r"(session|sess|db)\b|^s$", re.IGNORECASE)
_WHERE_ATTRIBUTE = re.compile(
    r"\b(?:[A-Z]\w*|\w+\.c)\.(\w+)\s*(?:>=|<=|==|!=|>|<|\.is_|\.in_)"  # `M.x >= n`, Core `t.c.x >= n`
)
# Calls on a session that run a statement built with `select(...)` and return its rows.
_SESSION_EXECUTE = {
    "execute",
    "scalars",
    "scalar",
    "scalar_one",
    "scalar_one_or_none",
    "stream",
    "stream_scalars",
}
# Real Session methods, so that `session.get_<thing>()` accessors of a team's own wrapper are not them.
_SESSION_OWN = {"get_bind", "get_one", "get_transaction", "get_nested_transaction"}
_ACCESSOR = re.compile(r"^(?:(get)|(update|set))_(\w+)$")
# Only an ORM session's own wrapper methods are accessors (`db.fetch_one(sql)` is a SQL driver).
_ACCESSOR_RECEIVER = re.compile(r"(?:^|[._])session$", re.IGNORECASE)
_FIELD_FACTORY = re.compile(r"(Field|Column|mapped_column|ForeignKey|relationship)$")
# Over untrusted code each scan must be linear: a lazy scan for `unique=True` stops at the next
# opener of its kind (instead of every opener re-scanning the same stretch), and an unclosed
# constraint runs to the end of the text. tests/test_analyzer_budgets.py feeds each its worst case.
_UNIQUE_INDEX = re.compile(r"Index\(((?:(?!Index\()[^\n])*?)\bunique\s*=\s*True")
_UNIQUE_COLUMN = re.compile(
    r"Column\(\s*['\"](\w+)['\"](?:(?!Column\()[^)])*?(?:unique|primary_key)\s*=\s*True"
)
_CONSTRAINT_ARGS = re.compile(r"(?:UniqueConstraint|PrimaryKeyConstraint)\(([^)]*+)(?:\)|\Z)")
_WORD = re.compile(r"\w+")


def _chain(call: cst.Call) -> tuple[cst.BaseExpression, list[tuple[str, cst.Call]]]:
    """`A.objects.filter(x=1).first()` → (`A.objects`, [("filter", ...), ("first", ...)])."""
    methods: list[tuple[str, cst.Call]] = []
    node: cst.BaseExpression = call
    while isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
        methods.append((node.func.attr.value, node))
        node = node.func.value
    methods.reverse()
    return node, methods


def _keywords(call: cst.Call) -> dict[str, cst.BaseExpression]:
    return {arg.keyword.value: arg.value for arg in call.args if arg.keyword is not None}


def _is_true(expr: cst.BaseExpression | None) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "True"


def _field(key: str) -> set[str]:
    """`email__iexact` → `email`; `holder_id` → `holder_id` and `holder` (a foreign key's column)."""
    name = key.split("__")[0]
    return {name, name[:-3]} if name.endswith("_id") and name != "_id" else {name}


def _fields(calls: list[tuple[str, cst.Call]]) -> set[str]:
    """Field names a Django query filters on: `email__iexact=` → `email`."""
    names: set[str] = set()
    for method, call in calls:
        if method in ("get", "filter", "exclude", "get_or_create", "update_or_create", "first", "filter_by"):
            for key in _keywords(call):
                names |= _field(key) if key != "defaults" else set()
    return names


def _guarded_fields(calls: list[tuple[str, cst.Call]]) -> set[str]:
    """Fields the query's filter constrains with a comparison: `balance__gte=amount` → `balance`."""
    names = set()
    for method, call in calls:
        if method in ("filter", "exclude"):
            for key in _keywords(call):
                parts = key.split("__")
                if (len(parts) > 1 and parts[-1] in _LOOKUP_GUARDS) or key in ("version", "revision"):
                    names.add(parts[0])
    return names


def _row_lock(model: str) -> Effect:
    """`FOR UPDATE` on rows of `model` (a model name, or `sql:<table>` for a Core table): it protects
    reads of that model only, until the commit."""
    key = model if model.startswith("sql:") else f"orm:{model}"
    return Effect("lock", region=f"{TRANSACTION_LOCK}:{key}")


class _ModelConstructions(cst.CSTVisitor):
    """`name = Model(...)` inside each function, so `session.add(name)` knows what it inserts."""

    def __init__(self, models: set[str]) -> None:
        self.models = models
        self.built: dict[tuple[cst.FunctionDef, str], str] = {}
        self.called: set[str] = set()
        self._functions: list[cst.FunctionDef] = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._functions.append(node)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self._functions.pop()

    def visit_Assign(self, node: cst.Assign) -> None:
        value = node.value
        if not self._functions or not isinstance(value, cst.Call) or not isinstance(value.func, cst.Name):
            return
        if value.func.value in self.models:
            for target in node.targets:
                if isinstance(target.target, cst.Name):
                    self.built[(self._functions[-1], target.target.value)] = value.func.value

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Name):
            self.called.add(func.value)
        elif (
            isinstance(func, cst.Attribute)
            and isinstance(func.value, cst.Name)
            and func.value.value in ("self", "cls")
        ):
            self.called.add(func.attr.value)


class OrmRecognizer:
    def __init__(self, index: ModuleIndex) -> None:
        self.index = index
        source = index.source
        self._mentions_constraints = "nique" in source or "Index(" in source
        self.unique = {name: self._unique_fields(info) for name, info in index.classes.items()}
        # SQLAlchemy Core: `accounts = Table("accounts", metadata, Column(...), ...)`.
        self.core_tables: dict[str, str] = {}
        for variable, value in index.assignments.items():
            if isinstance(value, cst.Call) and (index.qualify(value.func) or "").split(".")[-1] == "Table":
                first = value.args[0].value if value.args else None
                table = first.evaluated_value if isinstance(first, cst.SimpleString) else variable
                self.core_tables[variable] = str(table).lower()
                self.unique[f"sql:{self.core_tables[variable]}"] = self._core_unique(value)
        self.related = self._related_managers()
        self.view_models = {
            name: model for name, info in index.classes.items() if (model := self._view_model(info))
        }
        self.versioned = {
            name
            for name, info in index.classes.items()
            if "version_id_col" in index.module.code_for_node(info.node)
        }
        self.atomic_methods = self._atomic_methods()
        self.serializable = self._serializable_names()
        constructions = _ModelConstructions(set(index.classes))
        walk(index.module, constructions)
        self.built = constructions.built
        self.called = constructions.called

    # -- models ---------------------------------------------------------------------------------------
    def _unique_fields(self, info: ClassInfo) -> set[str]:
        """Fields declared unique: `unique=True`, primary keys, one-to-one fields, constraints."""
        unique = {"pk"}
        has_primary_key = False
        for name, value in info.attributes.items():
            if not isinstance(value, cst.Call):
                continue
            keywords = _keywords(value)
            if _is_true(keywords.get("primary_key")):
                has_primary_key = True
            factory = (self.index.qualify(value.func) or "").split(".")[-1]
            if (
                _is_true(keywords.get("unique"))
                or _is_true(keywords.get("primary_key"))
                or factory == "OneToOneField"
            ):
                unique.add(name)
        if not has_primary_key:
            unique.add("id")  # Django's implicit auto primary key
        # Constraints are spelled out in the class body; most modules have none to look for.
        text = self.index.module.code_for_node(info.node) if self._mentions_constraints else ""
        for group in re.findall(r"Unique(?:Constraint)?\(\s*(?:fields\s*=\s*)?[\[(]?([^)\]]*)", text):
            unique |= set(re.findall(r"['\"](\w+)['\"]", group))
        for group in re.findall(r"unique_together\s*=\s*([^\n]*)", text):
            unique |= set(re.findall(r"['\"](\w+)['\"]", group))
        for group in _UNIQUE_INDEX.findall(text):
            unique |= set(re.findall(r"['\"](\w+)['\"]", group)[1:])  # the first string is the index name
        return unique

    def _related_managers(self) -> dict[str, str]:
        """`question.choice_set` and `user.<related_name>` → the model the manager queries."""
        related: dict[str, str] = {}
        for name, info in self.index.classes.items():
            fields = [v for v in info.attributes.values() if isinstance(v, cst.Call)]
            if not any(_FIELD_FACTORY.search(self.index.qualify(v.func) or "") for v in fields):
                continue
            related[f"{name.lower()}_set"] = name
            for value in fields:
                related_name = _keywords(value).get("related_name")
                if isinstance(related_name, cst.SimpleString) and isinstance(
                    related_name.evaluated_value, str
                ):
                    related[related_name.evaluated_value] = name
        return related

    def _view_model(self, info: ClassInfo) -> str | None:
        """DRF views: `queryset = Event.objects.all()` or `model = Event`."""
        model = info.attributes.get("model")
        if isinstance(model, cst.Name) and model.value in self.index.classes:
            return model.value
        queryset = info.attributes.get("queryset")
        if isinstance(queryset, cst.Call):
            base, _ = _chain(queryset)
            return self.model_of(base, None)
        return None

    def _atomic_methods(self) -> set[cst.FunctionDef]:
        """Methods run inside `atomic()` by `@method_decorator(transaction.atomic, name=...)` on the class."""
        methods: set[cst.FunctionDef] = set()
        for info in self.index.classes.values():
            for decorator in info.node.decorators:
                call = decorator.decorator
                if not isinstance(call, cst.Call) or not self._wraps_atomic(call):
                    continue
                target = _keywords(call).get("name")
                name = target.evaluated_value if isinstance(target, cst.SimpleString) else None
                for method_name, method in info.methods.items():
                    if name in (None, "dispatch") or name == method_name:
                        methods.add(method)
        return methods

    def _is_atomic(self, expr: cst.BaseExpression) -> bool:
        target = expr.func if isinstance(expr, cst.Call) else expr
        return (self.index.qualify(target) or "").endswith("transaction.atomic")

    def _wraps_atomic(self, call: cst.Call) -> bool:
        """`method_decorator(transaction.atomic)` / `method_decorator(atomic, name="dispatch")`."""
        name = (self.index.qualify(call.func) or "").split(".")[-1]
        return name == "method_decorator" and bool(call.args) and self._is_atomic(call.args[0].value)

    def _serializable_names(self) -> set[str]:
        """Engines configured for SERIALIZABLE, and the session factories bound to them (transitively).

        A worklist over who mentions whom: re-scanning every assignment until nothing changed was
        quadratic in a chain of assignments (and generated each one's code once per pass).
        """
        if "serializable" not in self.index.source.lower():
            return set()
        names: set[str] = set()
        mentioned_by: dict[str, list[str]] = {}
        for name, value in self.index.assignments.items():
            code = self.index.module.code_for_node(value)
            if "serializable" in code.lower():
                names.add(name)
            for word in set(_WORD.findall(code)):
                mentioned_by.setdefault(word, []).append(name)
        pending = list(names)
        while pending:
            for user in mentioned_by.get(pending.pop(), ()):
                if user not in names:
                    names.add(user)
                    pending.append(user)
        return names

    def model_of(self, expr: cst.BaseExpression, self_class: str | None) -> str | None:
        """The model a manager or queryset expression queries."""
        if isinstance(expr, cst.Call):
            # `self.get_queryset()` of a DRF view
            func = expr.func
            if isinstance(func, cst.Attribute) and func.attr.value == "get_queryset" and self_class:
                return self.view_models.get(self_class)
            return None
        if not isinstance(expr, cst.Attribute):
            return None
        owner = expr.value
        if expr.attr.value in _MANAGERS:
            if isinstance(owner, cst.Name):
                if owner.value in ("cls", "self"):
                    return self_class
                return owner.value
            if (
                isinstance(owner, cst.Call)
                and isinstance(owner.func, cst.Name)
                and owner.func.value == "type"
            ):
                return self_class  # `type(self).objects`
            return None
        if (
            expr.attr.value == "queryset"
            and isinstance(owner, cst.Name)
            and owner.value == "self"
            and self_class
        ):
            return self.view_models.get(self_class)
        return self.related.get(expr.attr.value)

    def transactional(self, function: cst.FunctionDef) -> bool:
        """`@transaction.atomic` (Django) wraps the whole function in one transaction."""
        if function in self.atomic_methods:
            return True
        for d in function.decorators:
            decorator = d.decorator
            if self._is_atomic(decorator) or (
                isinstance(decorator, cst.Call) and self._wraps_atomic(decorator)
            ):
                return True
        return False

    def owns_chain(self, call: cst.Call) -> bool:
        base, calls = _chain(call)
        if self.model_of(base, "?") is not None or self._sqlalchemy_base(base, calls) is not None:
            return True
        return (
            bool(calls)
            and calls[0][0] == "get_queryset"
            and isinstance(base, cst.Name)
            and base.value == "self"
        )

    def enter(self, expr: cst.BaseExpression, ctx: CallContext) -> list[Effect] | None:
        """`with Session(serializable_engine) as s:`: every transaction of that session is SERIALIZABLE."""
        if isinstance(expr, cst.Call):
            names = {
                n for arg in expr.args for n in re.findall(r"\w+", self.index.module.code_for_node(arg.value))
            }
            if isinstance(expr.func, cst.Name):
                names.add(expr.func.value)
            if names & self.serializable:
                return [Effect("lock")]
        return None

    # -- effects --------------------------------------------------------------------------------------
    def effects(self, call: cst.Call, ctx: CallContext) -> list[Effect] | None:
        base, calls = _chain(call)
        self_class = ctx.interpreter.frame.self_class if ctx.interpreter.frames else None
        if calls and isinstance(base, cst.Name) and base.value == "self" and calls[0][0] == "get_queryset":
            base, calls = calls[0][1], calls[1:]
        model = self.model_of(base, self_class)
        if model is not None and calls:
            return self.django_query(model, calls, ctx, None)
        if model is not None and isinstance(base, cst.Call):
            return self.django_query(model, [("all", base)], ctx, None)  # `self.get_queryset()` alone
        if (
            len(calls) == 1
            and calls[0][0] == "get_object"
            and isinstance(base, cst.Name)
            and base.value == "self"
            and self_class in self.view_models
        ):
            return [Effect("read", f"orm:{self.view_models[self_class]}")]  # DRF `self.get_object()`
        if self._is_get_object(call):
            return self.get_object_or_404(call, ctx)
        queryset = self._queryset_alias(base, calls, ctx)
        if queryset is not None:
            return self.django_query(queryset[0], calls, ctx, queryset)
        func = call.func
        if isinstance(func, cst.Attribute) and func.attr.value == "save" and ctx.receiver:
            origin = next((a for a in ctx.receiver if a.key.startswith("orm:")), None)
            if origin is not None:
                return self.django_save(origin.key, func.value, ctx)
        sqlalchemy = self._sqlalchemy_base(base, calls)
        if sqlalchemy is not None:
            verb, model_name, rest = sqlalchemy
            return self.sqlalchemy_statement(verb, model_name, rest, ctx)
        if isinstance(func, cst.Attribute) and _SESSION_NAME.search(
            self.index.module.code_for_node(func.value)
        ):
            return self.session_call(func.attr.value, call, ctx)
        return None

    def _is_get_object(self, call: cst.Call) -> bool:
        name = self.index.qualify(call.func) or ""
        return name.split(".")[-1] in ("get_object_or_404", "get_list_or_404", "aget_object_or_404")

    def get_object_or_404(self, call: cst.Call, ctx: CallContext) -> list[Effect] | None:
        """`get_object_or_404(Model, ...)` or `get_object_or_404(queryset, ...)`: evaluates the query."""
        if not call.args:
            return None
        first = call.args[0].value
        detail = frozenset(name for k in _keywords(call) for name in _field(k))
        if isinstance(first, cst.Name) and first.value in self.index.classes:
            return [Effect("read", f"orm:{first.value}", detail=detail)]
        querysets = self._querysets(ctx)
        origin = next((a for a in ctx.args if a.steps and a.steps[0].node in querysets), None)
        if origin is None:
            return None
        model, locking = querysets[origin.steps[0].node]
        return [
            *self.row_lock(model, locking, ctx, evaluated=True),
            Effect("read", f"orm:{model}", detail=detail),
        ]

    def _querysets(self, ctx: CallContext) -> dict[cst.CSTNode, tuple[str, cst.CSTNode | None]]:
        """Unevaluated querysets built so far in this root: node → (model, its select_for_update)."""
        querysets: dict[cst.CSTNode, tuple[str, cst.CSTNode | None]] = ctx.interpreter.notes.setdefault(
            "orm-querysets", {}
        )
        return querysets

    def _queryset_alias(
        self, base: cst.BaseExpression, calls: list[tuple[str, cst.Call]], ctx: CallContext
    ) -> tuple[str, cst.CSTNode | None] | None:
        """`locked.get()` on a local that holds a queryset built earlier."""
        if not calls or not isinstance(base, cst.Name) or not ctx.receiver:
            return None
        if not all(m in _DJANGO_LAZY or m in _DJANGO_EVALUATING or m in _DJANGO_WRITES for m, _ in calls):
            return None
        querysets = self._querysets(ctx)
        origin = ctx.receiver[0]
        return querysets.get(origin.steps[0].node) if origin.steps else None

    def row_lock(
        self, model: str, locking: cst.CSTNode | None, ctx: CallContext, *, evaluated: bool
    ) -> list[Effect]:
        """`select_for_update()`: a row lock inside `atomic()`; evaluated outside it, RC302."""
        if locking is None:
            return []
        if ctx.state.in_transaction:
            return [_row_lock(model)]
        if not evaluated:
            return []  # a lazy queryset: decided where it is evaluated
        effects = (
            []
            if self._deferred_to_callers(ctx)
            else [Effect("direct", f"orm:{model}", "RC302", node=locking)]
        )
        # The developer meant to lock: RC302 reports the mistake, RC301 would report the same bug again.
        return [*effects, _row_lock(model)]

    def _deferred_to_callers(self, ctx: CallContext) -> bool:
        """A helper called elsewhere in this file is judged in its callers' transactions, not alone."""
        frames = ctx.interpreter.frames
        return len(frames) == 1 and frames[0].function.name.value in self.called

    def django_query(
        self,
        model: str,
        calls: list[tuple[str, cst.Call]],
        ctx: CallContext,
        queryset: tuple[str, cst.CSTNode | None] | None,
    ) -> list[Effect]:
        methods = [method for method, _ in calls]
        terminal, terminal_call = calls[-1]
        locking: cst.CSTNode | None = next((c for m, c in calls if m == "select_for_update"), None)
        if locking is None and queryset is not None:
            locking = queryset[1]
        lazy = terminal in _DJANGO_LAZY
        effects = self.row_lock(model, locking, ctx, evaluated=not lazy)
        if lazy:
            self._querysets(ctx)[terminal_call] = (model, locking if not ctx.state.in_transaction else None)
        key = f"orm:{model}"
        detail = frozenset(_fields(calls))
        unique = self.unique.get(model, set())
        if terminal == "update":
            updated = set(_keywords(terminal_call))
            guard = ALL if updated & _guarded_fields(calls) else frozenset()
            values = [a for arg in terminal_call.args for a in ctx.interpreter.eval(arg.value, ctx.state)]
            ctx.args.extend(values)
            return [*effects, Effect("write", key, "RC301", guard)]
        if terminal in ("create", "bulk_create"):
            guard = ALL if ctx.interpreter.catching(_INTEGRITY_ERRORS) else frozenset(unique)
            return [*effects, *self.insert(key, guard, ctx)]
        if terminal in ("get_or_create", "update_or_create"):
            # `get_or_create(**{field: value})`: which field is looked up is not in the code.
            unknown = any(arg.star == "**" for arg in terminal_call.args)
            if not (detail & unique) and not unknown and not ctx.interpreter.catching(_INTEGRITY_ERRORS):
                effects.append(Effect("direct", key, "RC303"))
            return [*effects, Effect("read", key, detail=detail)]
        if lazy or terminal in _DJANGO_EVALUATING or "get" in methods:
            return [*effects, Effect("read", key, detail=detail)]
        return effects

    def insert(
        self, key: str, guard: frozenset[str], ctx: CallContext, *, rule: str = "RC303"
    ) -> list[Effect]:
        """A create after a check: a row lock taken by the check cannot cover the row that is missing."""
        write = Effect("write", key, rule, guard, needs_check=True)
        region = f"{TRANSACTION_LOCK}:{key}"
        if ctx.interpreter.region(region) in ctx.state.locks:
            return [Effect("unlock", region=region), write, Effect("lock", region=region)]
        return [write]

    def django_save(self, key: str, receiver: cst.BaseExpression, ctx: CallContext) -> list[Effect]:
        """`obj.save()`: racy when the saved change was computed from the read, or decided on it."""
        alias = receiver.value if isinstance(receiver, cst.Name) else None
        state = ctx.state
        change = state.dirty.pop(key, None)
        atomic = alias is not None and alias in state.atomic_aliases
        derived = change is not None and change.steps[-1].role == "change" and not atomic
        if derived and change is not None:
            ctx.args.append(change)
        # An F() expression or a blind overwrite loses no update; only a decision on the stale row races.
        return [Effect("write", key, "RC301", needs_check=not derived)]

    # -- SQLAlchemy -----------------------------------------------------------------------------------
    def _core_unique(self, table: cst.Call) -> set[str]:
        """Unique columns of a Core `Table(...)`: `Column("email", unique=True)`, UniqueConstraint."""
        code = self.index.module.code_for_node(table)
        unique = set(_UNIQUE_COLUMN.findall(code))
        for group in _CONSTRAINT_ARGS.findall(code):
            unique |= set(re.findall(r"['\"](\w+)['\"]", group))
        return unique

    def core_table(self, expr: cst.BaseExpression) -> str | None:
        """The SQL name of a Core table that `expr` (`accounts`, `accounts.c.balance`) refers to."""
        while isinstance(expr, cst.Attribute):
            expr = expr.value
        return self.core_tables.get(expr.value) if isinstance(expr, cst.Name) else None

    def _sqlalchemy_base(
        self, base: cst.BaseExpression, calls: list[tuple[str, cst.Call]]
    ) -> tuple[str, str, list[tuple[str, cst.Call]]] | None:
        """(verb, model, the calls after it) for `select(M)...`, `update(M)...`, `session.query(M)...`."""
        if calls and calls[0][0] == "query":
            query = calls[0][1]
            if query.args and isinstance(query.args[0].value, cst.Name):
                model = query.args[0].value.value
                if model[:1].isupper() and _SESSION_NAME.search(self.index.module.code_for_node(base)):
                    return "query", model, calls[1:]
            return None
        if not isinstance(base, cst.Call) or not base.args:
            return None
        first = base.args[0].value
        table = self.core_table(first)
        if table is not None:
            model = f"sql:{table}"  # Core: the same table raw SQL strings name
        elif isinstance(first, cst.Name):
            model = first.value
        else:
            return None
        name = self.index.qualify(base.func) or ""
        verb = name.split(".")[-1]
        if verb in ("select", "update", "insert", "delete") and (
            name.startswith("sqlalchemy") or name == verb
        ):
            return verb, model, calls
        return None

    def _where(self, calls: list[tuple[str, cst.Call]]) -> set[str]:
        """Attributes a statement's WHERE compares: `M.x >= n`, `filter_by(x=...)`."""
        names: set[str] = set()
        for method, call in calls:
            if method in ("where", "filter", "filter_by"):
                names |= set(_WHERE_ATTRIBUTE.findall(self.index.module.code_for_node(call)))
                names |= set(_keywords(call)) if method == "filter_by" else set()
        return names

    def _flush_on_commit(self, key: str, model: str, ctx: CallContext) -> None:
        """Changed objects of `model` are written at commit; `version_id_col` makes that write a CAS."""
        if model not in self.versioned:
            ctx.interpreter.notes.setdefault("flush-on-commit", set()).add(key)

    def sqlalchemy_statement(
        self, verb: str, model: str, calls: list[tuple[str, cst.Call]], ctx: CallContext
    ) -> list[Effect]:
        core = model.startswith("sql:")
        key = model if core else f"orm:{model}"
        effects: list[Effect] = []
        if verb in ("select", "query"):
            terminal = calls[-1][0] if calls else ""
            if verb == "query" and terminal in ("update", "delete"):
                return self.sqlalchemy_update(key, calls, calls[-1][1], ctx)
            self._flush_on_commit(key, model, ctx)
            if any(method == "with_for_update" for method, _ in calls):
                effects.append(_row_lock(model))
            detail = self._where(calls)
            if verb == "query" and terminal == "get":
                detail = {"pk"}
            return [*effects, Effect("read", key, detail=frozenset(detail))]
        if verb == "update":
            values = next((c for m, c in calls if m == "values"), None)
            return self.sqlalchemy_update(key, calls, values, ctx, rule="RC201" if core else "RC304")
        if verb == "insert":
            code = " ".join(m for m, _ in calls)
            guard = (
                ALL
                if ctx.interpreter.catching(_INTEGRITY_ERRORS) or "on_conflict" in code
                else frozenset(self.unique.get(model, ()))
            )
            if core:
                return [*self.insert(key, guard, ctx, rule="RC203"), Effect("store_write", "sql")]
            return self.insert(key, guard, ctx)
        return []

    def sqlalchemy_update(
        self,
        key: str,
        calls: list[tuple[str, cst.Call]],
        values: cst.Call | None,
        ctx: CallContext,
        *,
        rule: str = "RC304",
    ) -> list[Effect]:
        """`update(M).where(...).values(...)` / `query(M).filter(...).update({...})`."""
        set_names: set[str] = set()
        if values is not None:
            set_names = set(_keywords(values))
            for arg in values.args:
                if isinstance(arg.value, cst.Dict):
                    code = self.index.module.code_for_node(arg.value)
                    set_names |= set(re.findall(r"\b[A-Z]\w*\.(\w+)\s*:", code))
                    set_names |= set(re.findall(r"['\"](\w+)['\"]\s*:", code))
            ctx.args.extend(a for arg in values.args for a in ctx.interpreter.eval(arg.value, ctx.state))
        guard = ALL if set_names & self._where(calls) else frozenset()
        return [Effect("write", key, rule, guard), Effect("store_write", "sql")]

    def session_call(self, method: str, call: cst.Call, ctx: CallContext) -> list[Effect] | None:
        if method == "get" and call.args and isinstance(call.args[0].value, cst.Name):
            model = call.args[0].value.value
            if model[:1].isupper():
                key = f"orm:{model}"
                self._flush_on_commit(key, model, ctx)
                effects = []
                if _is_true(_keywords(call).get("with_for_update")):
                    effects.append(_row_lock(model))
                return [*effects, Effect("read", key, detail=frozenset({"pk"}))]
        if method == "add" and call.args:
            created = self._constructed_model(call.args[0].value, ctx)
            if created is None:
                return []
            unique = frozenset(self.unique.get(created, ()))
            guard = ALL if ctx.interpreter.catching(_INTEGRITY_ERRORS) else unique
            return self.insert(f"orm:{created}", guard, ctx)
        if method == "flush":
            return self.flush(ctx)
        if method in _SESSION_EXECUTE:
            # The statement runs here: this call is the read (the `select(...)` only built it).
            reads = {a.key: a for a in ctx.args if a.key.startswith("orm:")}
            return [Effect("read", key, detail=a.detail) for key, a in reads.items()] or None
        return self.accessor(method, call, ctx)

    def flush(self, ctx: CallContext) -> list[Effect]:
        """`session.flush()` writes pending changes inside the transaction (no commit, locks kept)."""
        flushed = ctx.interpreter.notes.get("flush-on-commit", set())
        effects = []
        for key, change in list(ctx.state.dirty.items()):
            if key in flushed:
                del ctx.state.dirty[key]
                derived = change.steps[-1].role == "change"
                if derived:
                    ctx.args.append(change)
                effects.append(Effect("write", key, "RC304", needs_check=not derived))
        return effects

    def _constructed_model(self, created: cst.BaseExpression, ctx: CallContext) -> str | None:
        if isinstance(created, cst.Call) and isinstance(created.func, cst.Name):
            name = created.func.value
            return name if name in self.index.classes or name[:1].isupper() else None
        if isinstance(created, cst.Name) and ctx.interpreter.frames:
            return self.built.get((ctx.interpreter.frame.function, created.value))
        return None

    def accessor(self, method: str, call: cst.Call, ctx: CallContext) -> list[Effect] | None:
        """A team's own session wrapper: `session.get_balance(id)` reads, `update_balance()` writes."""
        match = _ACCESSOR.match(method)
        if match is None or method in _SESSION_OWN or not isinstance(call.func, cst.Attribute):
            return None
        if not _ACCESSOR_RECEIVER.search(self.index.module.code_for_node(call.func.value)):
            return None
        if any(ctx.string(arg.value) is not None for arg in call.args):
            return None  # a statement or a key passed as text: not an accessor
        key = f"orm:{match.group(3)}"
        if match.group(1):
            return [Effect("read", key)]
        return [Effect("write", key, "RC304")]
