"""SQLAlchemy (RC3xx, and RC2xx for Core tables): `session.get` / `query` / `select` -> change ->
`commit()` without `with_for_update()`; `update(M).where(...).values(...)` guarded or not; inserts
by `session.add(Model(...))` or `insert(t)` after an absence check."""

from __future__ import annotations

import re
from typing import Any

from ...core import model
from ...core.effects import ALL, TRANSACTION_LOCK, CallContext, Effect
from ...core.state import ROWS_DELETED
from ._common import DUPLICATE_HANDLERS, is_true, keywords, positional, walk
from ._orm_facts import OrmFacts, OrmRecognizerParts
from ._orm_new_rows import set_columns

__all__ = ["INTEGRITY_ERRORS", "SqlAlchemyMixin", "row_lock"]

INTEGRITY_ERRORS = ("IntegrityError", "UniqueViolation", "UniqueViolationError")
SESSION_NAME = re.compile(r"(session|sess|db)\b|^s$", re.IGNORECASE)
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
_VERBS = ("select", "update", "insert", "delete")
# Methods that refine a statement (or a legacy `Query`) held in a local, or run it: `query =
# query.with_for_update()` keeps building the SELECT the local holds (`relocked`).
_REFINING = frozenset(
    {
        "where",
        "filter",
        "filter_by",
        "order_by",
        "limit",
        "offset",
        "options",
        "join",
        "outerjoin",
        "distinct",
        "execution_options",
        "with_for_update",
        "first",
        "one",
        "one_or_none",
        "all",
        "scalar",
    }
)
# The key of a statement's read: a model's rows or a Core table (not a row built in memory).
_STATEMENT_KEY = re.compile(r"orm:\w+|sql:[\w.]+")
# Calls that send pending inserts, so raise their duplicate-key error (`_flush_handled`).
_RAISES_DUPLICATE = frozenset({"flush", "commit", "add", "add_all", "create", "save", "execute"})
_CATCH_ALL = frozenset({"Exception", "BaseException"})

Calls = list[tuple[str, model.Call]]


def row_lock(target: str) -> Effect:
    """`FOR UPDATE` on rows of `target` (a model name, or `sql:<table>` for a Core table): it
    protects reads of that model only, until the commit."""
    key = target if target.startswith("sql:") else f"orm:{target}"
    return Effect("lock", region=f"{TRANSACTION_LOCK}:{key}")


def _flask_query(base: model.Expr) -> bool:
    """`Model.query` (Flask-SQLAlchemy's query property on a model class, capitalised)."""
    return (
        isinstance(base, model.Attribute)
        and base.attr == "query"
        and isinstance(base.value, model.Name)
        and base.value.id[:1].isupper()
    )


class SqlAlchemyMixin(OrmRecognizerParts):
    """The SQLAlchemy half of the ORM recognizer (`OrmRecognizer` supplies `facts` and `insert`)."""

    def sqlalchemy_base(
        self, base: model.Expr, calls: Calls, facts: OrmFacts
    ) -> tuple[str, str, Calls] | None:
        """(verb, model, the calls after it) for `select(M)...`, `update(M)...`, `session.query(M)...`."""
        if calls and calls[0][0] == "query":
            args = positional(calls[0][1])
            if args and isinstance(args[0], model.Name):
                name = args[0].id
                if name[:1].isupper() and SESSION_NAME.search(facts.name_text(base)):
                    return "query", name, calls[1:]
            return None
        if _flask_query(base) and calls:
            # Flask-SQLAlchemy: `Author.query.filter_by(name=n).first()` queries the model.
            return "query", base.value.id, calls  # type: ignore[attr-defined]
        if not isinstance(base, model.Call) or not base.args:
            return None
        first = base.args[0].value
        table = facts.core_table(first)
        if table is not None:
            target = f"sql:{table}"  # Core: the same table raw SQL strings name
        elif isinstance(first, model.Name):
            target = first.id
        else:
            return None
        name = base.name or ""
        verb = name.split(".")[-1]
        if verb in _VERBS and (name.startswith(("sqlalchemy.", "sqlmodel.")) or name == verb):
            return verb, target, calls
        return None

    def _where(self, calls: Calls, facts: OrmFacts) -> set[str]:
        """Attributes a statement's WHERE compares: `M.x >= n`, `filter_by(x=...)`."""
        names: set[str] = set()
        for method, call in calls:
            if method in ("where", "filter", "filter_by"):
                names |= set(_WHERE_ATTRIBUTE.findall(facts.code(call)))
                names |= set(keywords(call)) if method == "filter_by" else set()
        return names

    def _flush_on_commit(self, key: str, name: str, ctx: CallContext) -> None:
        """Changed objects of `name` are written at commit; `version_id_col` makes that write a CAS.
        The interpreter's commit writes the dirty keys listed in the `flush-on-commit` note."""
        if name not in self.facts(ctx).versioned:
            ctx.notes.setdefault("flush-on-commit", set()).add(key)

    def sqlalchemy_statement(self, verb: str, name: str, calls: Calls, ctx: CallContext) -> list[Effect]:
        core = name.startswith("sql:")
        key = name if core else f"orm:{name}"
        if verb in ("select", "query"):
            terminal = calls[-1][0] if calls else ""
            if verb == "query" and terminal == "delete":
                return self.sqlalchemy_delete(key)
            if verb == "query" and terminal == "update":
                return self.sqlalchemy_update(key, calls, calls[-1][1], ctx)
            self._flush_on_commit(key, name, ctx)
            effects = [row_lock(name)] if any(method == "with_for_update" for method, _ in calls) else []
            detail = {"pk"} if verb == "query" and terminal == "get" else self._where(calls, self.facts(ctx))
            return [*effects, Effect("read", key, detail=frozenset(detail))]
        if verb == "update":
            values = next((c for m, c in calls if m == "values"), None)
            return self.sqlalchemy_update(key, calls, values, ctx, rule="RC201" if core else "RC304")
        if verb == "insert":
            methods = " ".join(m for m, _ in calls)
            guard = (
                ALL
                if ctx.catching(INTEGRITY_ERRORS) or "on_conflict" in methods
                else frozenset(self.unique_of(name, ctx))
            )
            if core:
                return [*self.insert(key, guard, ctx, rule="RC203"), Effect("store_write", "sql")]
            return self.insert(key, guard, ctx)
        return []

    def relocked(self, base: model.Expr, calls: Calls, ctx: CallContext) -> list[Effect] | None:
        """`query = query.with_for_update()` on a local holding a `select(M)` built earlier (often
        only when a helper's `for_update` flag says so): the SELECT that runs is the locking one,
        so the rows are read again with the row lock held (the first read only built it)."""
        if not isinstance(base, model.Name) or not ctx.receiver or not calls:
            return None
        if not any(m == "with_for_update" for m, _ in calls) or not all(m in _REFINING for m, _ in calls):
            return None
        statements = [a for a in ctx.receiver if _STATEMENT_KEY.fullmatch(a.key)]
        if not statements:
            return None
        where = self._where(calls, self.facts(ctx))
        effects: list[Effect] = []
        for access in {a.key: a for a in statements}.values():
            name = access.key.removeprefix("orm:")
            effects += [row_lock(name), Effect("read", access.key, detail=access.detail | where)]
        return effects

    def sqlalchemy_update(
        self, key: str, calls: Calls, values: model.Call | None, ctx: CallContext, *, rule: str = "RC304"
    ) -> list[Effect]:
        """`update(M).where(...).values(...)` / `query(M).filter(...).update({...})`."""
        facts = self.facts(ctx)
        set_names: set[str] = set()
        if values is not None:
            set_names = set(keywords(values))
            for arg in values.args:
                if isinstance(arg.value, model.Collection) and arg.value.kind == "dict":
                    code = facts.code(arg.value)
                    set_names |= set(re.findall(r"\b[A-Z]\w*\.(\w+)\s*:", code))
                    set_names |= set(re.findall(r"['\"](\w+)['\"]\s*:", code))
            ctx.args.extend(a for arg in values.args for a in ctx.evaluate(arg.value))
        guard = ALL if set_names & self._where(calls, facts) else frozenset()
        return [Effect("write", key, rule, guard), Effect("store_write", "sql")]

    @staticmethod
    def sqlalchemy_delete(key: str) -> list[Effect]:
        """`query(M).filter_by(...).delete()`: the rows go, whatever their columns held. Its filter
        is applied again at the write, so a check that only found the row (`if solution:`) cannot
        go stale: a row another request deleted first is not deleted twice (`_unrelated`)."""
        deleted = frozenset({ROWS_DELETED})
        return [Effect("write", key, "RC304", columns=deleted), Effect("store_write", "sql")]

    def session_call(self, method: str, call: model.Call, ctx: CallContext) -> list[Effect] | None:
        args = positional(call)
        if method == "get" and args and isinstance(args[0], model.Name) and args[0].id[:1].isupper():
            name = args[0].id
            key = f"orm:{name}"
            self._flush_on_commit(key, name, ctx)
            effects = [row_lock(name)] if is_true(keywords(call).get("with_for_update")) else []
            return [*effects, Effect("read", key, detail=frozenset({"pk"}))]
        if method == "add" and args:
            created = self._constructed_model(args[0], ctx)
            if created is None:
                return []
            guard = ALL if ctx.catching(INTEGRITY_ERRORS) else frozenset(self.unique_of(created, ctx))
            given = set_columns(args[0]) if isinstance(args[0], model.Call) else None
            return self.insert(f"orm:{created}", guard, ctx, handled=_flush_handled(ctx), given=given)
        if method == "flush":
            return self.flush(ctx)
        if method in _SESSION_EXECUTE:
            # The statement runs here: this call is the read (the `select(...)` only built it).
            reads: dict[str, Any] = {a.key: a for a in ctx.args if a.key.startswith("orm:")}
            return [Effect("read", key, detail=a.detail) for key, a in reads.items()] or None
        return self.accessor(method, call, ctx)

    def flush(self, ctx: CallContext) -> list[Effect]:
        """`session.flush()` writes pending changes inside the transaction (no commit, locks kept)."""
        flushed = ctx.notes.get("flush-on-commit", set())
        effects = []
        for key, change in list(ctx.state.dirty.items()):
            if key in flushed:
                del ctx.state.dirty[key]
                derived = change.steps[-1].role == "change"
                if derived:
                    ctx.args.append(change)
                written = frozenset() if derived else change.written
                effects.append(Effect("write", key, "RC304", needs_check=not derived, overwrites=written))
        return effects

    def _constructed_model(self, created: model.Expr, ctx: CallContext) -> str | None:
        facts = self.facts(ctx)
        name: str | None = None
        if isinstance(created, model.Call) and isinstance(created.func, model.Name):
            name = created.func.id
        elif isinstance(created, model.Name):
            name = facts.built.get((ctx.function().qualname, created.id))
        if name == "cls":
            # A model's own class method (`Alias.create` overriding the mixin's): `cls(**kw)` is a
            # row of the class the method runs for (a mixin's copy already names its class).
            name = ctx.self_class()
        return name if name is not None and (name in facts.classes or name[:1].isupper()) else None

    def accessor(self, method: str, call: model.Call, ctx: CallContext) -> list[Effect] | None:
        """A team's own session wrapper: `session.get_balance(id)` reads, `update_balance()` writes."""
        match = _ACCESSOR.match(method)
        if match is None or method in _SESSION_OWN or call.receiver is None:
            return None
        if not _ACCESSOR_RECEIVER.search(self.facts(ctx).name_text(call.receiver)):
            return None
        if any(ctx.string(arg.value) is not None for arg in call.args):
            return None  # a statement or a key passed as text: not an accessor
        key = f"orm:{match.group(3)}"
        if match.group(1):
            return [Effect("read", key)]
        return [Effect("write", key, "RC304")]


def _flush_handled(ctx: CallContext) -> bool:
    """`session.add(row)` sends no INSERT: the duplicate-key error is raised by a later flush or
    commit, often in a `try` of its own (`add` then `try: commit() except IntegrityError:`). A
    handler of it in the function adding or in the handler that called it is taken to cover it.
    A catch-all (`except Exception:`) counts only around a statement that sends the insert (a
    flush, a commit, an add or create): around a signature check it handles no duplicate key."""
    bodies = {id(ctx.function()): ctx.function().body, id(ctx.root()): ctx.root().body}
    for body in bodies.values():
        for node in walk(body):
            if not isinstance(node, model.Try):
                continue
            caught = {name for handler in node.handlers for name in handler.types}
            if caught & set(DUPLICATE_HANDLERS) - _CATCH_ALL:
                return True
            if caught & _CATCH_ALL and any(
                isinstance(n, model.Call) and n.method in _RAISES_DUPLICATE for n in walk(node.body)
            ):
                return True
    return False
