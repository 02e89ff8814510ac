"""ORMs (RC3xx): Django and SQLAlchemy.

Django: `Model.objects.get()` → change → `.save()` without `select_for_update()` in `atomic()`;
`select_for_update()` outside `atomic()`; `get_or_create` / exists-then-create on non-unique fields.
SQLAlchemy: `session.get` / `query` / `select` → change → `commit()` without `with_for_update()`.
"""

from __future__ import annotations

import re

import libcst as cst

from .._effects import ALL, CallContext, Effect
from .._module import ClassInfo, ModuleIndex

__all__ = ["OrmRecognizer"]

_DJANGO_READS = {
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
    "all",
    "filter",
    "exclude",
    "select_for_update",
    "select_related",
    "prefetch_related",
    "order_by",
    "only",
    "defer",
    "in_bulk",
    "get_queryset",
    "none",
    "distinct",
    "annotate",
    "iterator",
}
_SQLALCHEMY_READS = {
    "first",
    "one",
    "one_or_none",
    "all",
    "scalar",
    "scalar_one",
    "scalar_one_or_none",
    "filter",
    "filter_by",
    "where",
    "order_by",
    "limit",
    "get",
    "options",
    "with_for_update",
    "populate_existing",
    "join",
    "outerjoin",
    "execution_options",
}
_MANAGERS = ("objects", "_default_manager", "_base_manager")
_INTEGRITY_ERRORS = ("IntegrityError", "UniqueViolation", "UniqueViolationError")
_LOOKUP_GUARDS = ("gte", "gt", "lte", "lt", "exact", "isnull", "in")
_SESSION_NAME = re.compile(r"(session|sess|db)\b|^s$", re.IGNORECASE)
_WHERE_ATTRIBUTE = re.compile(r"\b[A-Z]\w*\.(\w+)\s*(?:>=|<=|==|!=|>|<|\.is_|\.in_)")


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


def _fields(calls: list[tuple[str, cst.Call]]) -> set[str]:
    """Field names a Django query filters on: `email__iexact=` → `email`."""
    names = set()
    for method, call in calls:
        if method in ("get", "filter", "exclude", "get_or_create", "update_or_create", "first"):
            names |= {key.split("__")[0] for key in _keywords(call) if key != "defaults"}
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


class OrmRecognizer:
    def __init__(self, index: ModuleIndex) -> None:
        self.index = index
        self.unique = {name: self._unique_fields(info) for name, info in index.classes.items()}

    # -- models ---------------------------------------------------------------------------------------
    def _unique_fields(self, info: ClassInfo) -> set[str]:
        unique = set()
        for name, value in info.attributes.items():
            if isinstance(value, cst.Call):
                keywords = _keywords(value)
                for flag in ("unique", "primary_key"):
                    flagged = keywords.get(flag)
                    if isinstance(flagged, cst.Name) and flagged.value == "True":
                        unique.add(name)
        text = self.index.module.code_for_node(info.node)
        for group in re.findall(r"Unique(?:Constraint)?\(\s*(?:fields\s*=\s*)?[\[(]?([^)\]]*)", text):
            unique |= set(re.findall(r"['\"](\w+)['\"]", group))
        for group in re.findall(r"unique_together\s*=\s*([^\n]*)", text):
            unique |= set(re.findall(r"['\"](\w+)['\"]", group))
        return unique

    def model_of(self, expr: cst.BaseExpression) -> str | None:
        if (
            isinstance(expr, cst.Attribute)
            and expr.attr.value in _MANAGERS
            and isinstance(expr.value, cst.Name)
        ):
            return expr.value.value
        return None

    def transactional(self, function: cst.FunctionDef) -> bool:
        """`@transaction.atomic` (Django) wraps the whole function in one transaction."""
        return any(
            (
                self.index.qualify(d.decorator.func if isinstance(d.decorator, cst.Call) else d.decorator)
                or ""
            ).endswith("transaction.atomic")
            for d in function.decorators
        )

    def owns_chain(self, call: cst.Call) -> bool:
        base, _ = _chain(call)
        return self.model_of(base) is not None or self._sqlalchemy_base(base) is not None

    # -- effects --------------------------------------------------------------------------------------
    def effects(self, call: cst.Call, ctx: CallContext) -> list[Effect] | None:
        base, calls = _chain(call)
        model = self.model_of(base)
        if model is not None and calls:
            return self.django_query(model, calls, ctx)
        if self._is_get_object(call) and call.args:
            first = call.args[0].value
            if isinstance(first, cst.Name):
                return [Effect("read", f"orm:{first.value}", detail=frozenset(_keywords(call)))]
        func = call.func
        if isinstance(func, cst.Attribute) and func.attr.value in ("save", "delete") and ctx.receiver:
            origin = next((a for a in ctx.receiver if a.key.startswith("orm:")), None)
            if origin is not None and func.attr.value == "save":
                return self.django_save(origin.key, func.value, ctx)
        sqlalchemy = self._sqlalchemy_base(base)
        if sqlalchemy is not None:
            return self.sqlalchemy_statement(sqlalchemy, calls, ctx)
        if isinstance(func, cst.Attribute) and _SESSION_NAME.search(
            self.index.module.code_for_node(func.value)
        ):
            return self.session_call(func.attr.value, call, ctx)
        return None

    def _is_get_object(self, call: cst.Call) -> bool:
        name = self.index.qualify(call.func) or ""
        return name.split(".")[-1] in ("get_object_or_404", "get_list_or_404")

    def django_query(self, model: str, calls: list[tuple[str, cst.Call]], ctx: CallContext) -> list[Effect]:
        methods = [method for method, _ in calls]
        terminal, terminal_call = calls[-1]
        effects: list[Effect] = []
        if "select_for_update" in methods:
            node = next(c for m, c in calls if m == "select_for_update")
            if ctx.state.in_transaction:
                effects.append(Effect("lock"))
            else:
                effects.append(Effect("direct", f"orm:{model}", "RC302", node=node))
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
            return [*effects, Effect("write", key, "RC303", guard, needs_check=True)]
        if terminal in ("get_or_create", "update_or_create"):
            if not (detail & unique) and not ctx.interpreter.catching(_INTEGRITY_ERRORS):
                effects.append(Effect("direct", key, "RC303"))
            return [*effects, Effect("read", key, detail=detail)]
        if terminal in _DJANGO_READS or terminal == "get":
            return [*effects, Effect("read", key, detail=detail)]
        return effects

    def django_save(self, key: str, receiver: cst.BaseExpression, ctx: CallContext) -> list[Effect]:
        alias = receiver.value if isinstance(receiver, cst.Name) else None
        state = ctx.state
        change = state.dirty.pop(key, None)
        if change is not None:
            ctx.args.append(change)
        guard = ALL if alias is not None and alias in state.atomic_aliases else frozenset()
        return [Effect("write", key, "RC301", guard)]

    # -- SQLAlchemy -----------------------------------------------------------------------------------
    def _sqlalchemy_base(self, base: cst.BaseExpression) -> tuple[str, str] | None:
        """(`select`/`update`/`insert`/`query`, model) for `select(M)`, `update(M)`, `session.query(M)`."""
        if not isinstance(base, cst.Call) or not base.args or not isinstance(base.args[0].value, cst.Name):
            return None
        model = base.args[0].value.value
        name = self.index.qualify(base.func) or ""
        verb = name.split(".")[-1]
        if verb in ("select", "update", "insert", "delete") and (
            name.startswith("sqlalchemy") or name == verb
        ):
            return verb, model
        if verb == "query" and isinstance(base.func, cst.Attribute):
            return "query", model
        return None

    def sqlalchemy_statement(
        self, base: tuple[str, str], calls: list[tuple[str, cst.Call]], ctx: CallContext
    ) -> list[Effect]:
        verb, model = base
        key = f"orm:{model}"
        code = " ".join(self.index.module.code_for_node(c) for _, c in calls[-1:]) or ""
        effects: list[Effect] = []
        if verb in ("select", "query"):
            ctx.interpreter.notes.setdefault("flush-on-commit", set()).add(key)
            if any(method == "with_for_update" for method, _ in calls):
                effects.append(Effect("lock"))
            return [*effects, Effect("read", key)]
        if verb == "update":
            values = next((c for m, c in calls if m == "values"), None)
            set_names = set(_keywords(values)) if values is not None else set()
            where = set(_WHERE_ATTRIBUTE.findall(code))
            guard = ALL if set_names & where else frozenset()
            if values is not None:
                ctx.args.extend(a for arg in values.args for a in ctx.interpreter.eval(arg.value, ctx.state))
            return [Effect("write", key, "RC304", guard), Effect("store_write", "sql")]
        if verb == "insert":
            guard = (
                ALL if ctx.interpreter.catching(_INTEGRITY_ERRORS) else frozenset(self.unique.get(model, ()))
            )
            return [Effect("write", key, "RC303", guard, needs_check=True)]
        return []

    def session_call(self, method: str, call: cst.Call, ctx: CallContext) -> list[Effect] | None:
        if method == "get" and call.args and isinstance(call.args[0].value, cst.Name):
            model = call.args[0].value.value
            if model[:1].isupper():
                key = f"orm:{model}"
                ctx.interpreter.notes.setdefault("flush-on-commit", set()).add(key)
                keywords = _keywords(call)
                effects = [Effect("lock")] if "with_for_update" in keywords else []
                return [*effects, Effect("read", key)]
        if method == "add" and call.args:
            created = call.args[0].value
            if isinstance(created, cst.Call) and isinstance(created.func, cst.Name):
                model = created.func.value
                guard = (
                    ALL
                    if ctx.interpreter.catching(_INTEGRITY_ERRORS)
                    else frozenset(self.unique.get(model, ()))
                )
                return [Effect("write", f"orm:{model}", "RC303", guard, needs_check=True)]
            return []
        return None
