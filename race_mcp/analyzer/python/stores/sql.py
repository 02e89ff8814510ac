"""Raw SQL (RC2xx): statements passed as strings to any driver or wrapper.

Any call whose first argument (or `query=`/`sql=`/`statement=`) is SQL text is a SQL call, whatever
the driver: sqlite3, psycopg, asyncpg, `databases`, SQLAlchemy `text()`, a team's own wrapper. The
text is parsed (`_sql_text`) just enough to know the statement kind, its tables, the columns a write
sets and the columns its WHERE constrains, and the locking clauses.
"""

from __future__ import annotations

import ast
import re
import weakref
from bisect import bisect_left
from dataclasses import dataclass
from typing import Any

from ...core import model
from ...core.effects import ALL, CallContext, Effect
from ...core.state import ANY_COLUMN
from ...core.stores import StoreSpec, register
from ._common import (
    DUPLICATE_HANDLERS,
    INSERT_OUTCOME,
    REFUSED_OUTCOME,
    ModuleFacts,
    StoreRecognizer,
    dotted,
    positional,
)
from ._sql_text import SqlStatement, parse_sql, row_writes, unique_columns

__all__ = ["INTEGRITY_ERRORS", "SqlRecognizer", "function_traits"]

_SQL_KEYWORDS = ("query", "sql", "statement", "operation", "stmt")
INTEGRITY_ERRORS = ("IntegrityError", "UniqueViolation", "UniqueViolationError", "DuplicateKeyError")
# Builders that wrap a statement's text: the call that executes the statement is what counts.
_WRAPPERS = ("text", "literal_column", "SQL", "sql", "Composed")
_TEXT_WRAPPERS = (*_WRAPPERS, "dedent")
# Drivers that commit every statement on its own unless a transaction is opened explicitly.
_AUTOCOMMIT_DRIVERS = frozenset({"asyncpg", "databases", "django"})
_TRANSACTION_DECORATOR = re.compile(r"\.(transaction|atomic)\b")
_TRANSACTION_RECEIVER = re.compile(r"(tx|transaction|txn)\b")
_BEGINS = re.compile(r"\.(transaction|begin|begin_nested|atomic)\(")
_CONNECTION = re.compile(r"(self\.)?(conn|connection|con|cnx|db_conn)")
_WORD = re.compile(r"\w+")
# Statements that declare unique columns; most modules have none, and then no string is read.
_DDL = re.compile(r"create\s++(?:unique\s++index|(?:temp\w*+\s++)?table)")  # on lowercased text


@dataclass(frozen=True)
class FunctionTraits:
    """What a function's code says about its statements, read once from its `ast` (no comments)."""

    autocommit: bool  # `conn.autocommit = True`, `isolation_level=None`, `set_session(autocommit=...)`
    reads_rowcount: bool  # `.rowcount`, or a `RETURNING` clause whose rows are looked at


# Per function, for as long as the function (its module's model) lives.
_TRAITS: weakref.WeakKeyDictionary[model.Function, FunctionTraits] = weakref.WeakKeyDictionary()


def function_traits(function: model.Function) -> FunctionTraits:
    cached = _TRAITS.get(function)
    if cached is not None:
        return cached
    autocommit = rowcount = False
    origin = function.origin
    for node in ast.walk(origin) if isinstance(origin, ast.AST) else ():
        if isinstance(node, ast.keyword | ast.Assign):
            autocommit = autocommit or _sets_autocommit(node)
        elif isinstance(node, ast.Attribute):
            rowcount = rowcount or node.attr == "rowcount"
            autocommit = autocommit or node.attr == "set_session"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            autocommit = autocommit or "AUTOCOMMIT" in node.value
            rowcount = rowcount or "returning" in node.value.lower()
        elif isinstance(node, ast.Name):
            rowcount = rowcount or "returning" in node.id.lower()
    traits = _TRAITS[function] = FunctionTraits(autocommit, rowcount)
    return traits


def _sets_autocommit(node: ast.keyword | ast.Assign) -> bool:
    """`autocommit=True` / `isolation_level=None`, as a keyword or assigned to an attribute."""
    if isinstance(node, ast.keyword):
        names, value = [node.arg], node.value
    else:
        names = [t.attr for t in node.targets if isinstance(t, ast.Attribute)]
        value = node.value
    if not isinstance(value, ast.Constant):
        return False
    return ("autocommit" in names and value.value is True) or (
        "isolation_level" in names and value.value is None
    )


class SqlFacts(ModuleFacts):
    def __init__(self, module: model.ModuleModel) -> None:
        super().__init__(module)
        source = module.source
        lowered = source.lower()
        self.unique = unique_columns(self._ddl_strings(lowered)) if "create" in lowered else {}
        self.autocommit_driver = any(q.split(".")[0] in _AUTOCOMMIT_DRIVERS for q in self.imports.values())
        # Most modules never say SERIALIZABLE: then no call needs its code read to look for it.
        self.mentions_serializable = "serializable" in lowered
        # Module-level engines and connections configured for SERIALIZABLE isolation.
        self.serializable = {
            name
            for name, value in self.assignments.items()
            if self.mentions_serializable and "serializable" in self.code(value).lower()
        }

    def _ddl_strings(self, lowered: str) -> list[str]:
        """String constants on the lines that hold DDL (a descent that skips every node whose lines
        hold none: a schema string in a large class costs its path, not the class)."""
        found: set[int] = set()
        line, counted = 1, 0
        for match in _DDL.finditer(lowered):  # line numbers counted once over the text, not per match
            line += lowered.count("\n", counted, match.start())
            counted = match.start()
            found.add(line)
        if not found:
            return []
        lines = sorted(found)
        stack = [s.origin for s in self.module.body if isinstance(s.origin, ast.AST)]
        texts = []
        while stack:
            node = stack.pop()
            first = getattr(node, "lineno", None)
            if first is not None:
                last = getattr(node, "end_lineno", None) or first
                at = bisect_left(lines, first)
                if at == len(lines) or lines[at] > last:
                    continue
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    texts.append(node.value)
                    continue
            stack.extend(ast.iter_child_nodes(node))
        return texts


class SqlRecognizer(StoreRecognizer):
    """Calls that carry SQL text."""

    facts_type = SqlFacts
    # DB-API rows are tuples: `(n,) = cur.fetchone()` and `row[0]` are columns of the SELECT list
    # (`Access.selected`). A JavaScript driver's result is an array of rows instead.
    positional_rows = True

    def facts(self, ctx: CallContext | None) -> SqlFacts:
        facts = super().facts(ctx)
        assert isinstance(facts, SqlFacts)
        return facts

    def autocommit(self, call: model.Call, ctx: CallContext) -> bool:
        """Each statement commits on its own: asyncpg, `databases`, Django, or autocommit turned on
        in the function being analysed (or the root that called it)."""
        if self.facts(ctx).autocommit_driver:
            return True
        functions = [ctx.root(), ctx.function()]
        # A team's own wrapper (`db.execute(sql)`) may switch autocommit on inside itself.
        wrapper = ctx.resolve(call)
        if wrapper is not None:
            functions.append(wrapper)
        return any(function_traits(function).autocommit for function in functions)

    def checks_result(self, call: model.Call, ctx: CallContext) -> bool:
        """A guarded write only guards if someone looks at how many rows it changed."""
        return ctx.result_used(call) or function_traits(ctx.function()).reads_rowcount

    def transactional(self, function: model.Function) -> bool:
        """`@database.transaction()` (databases), `@transaction.atomic`, `@db.atomic()`..."""
        for decorator in function.decorators:
            target = decorator.func if isinstance(decorator, model.Call) else decorator
            if _TRANSACTION_DECORATOR.search(dotted(target) or ""):
                return True
        return False

    def sql_of(self, call: model.Call, ctx: CallContext) -> SqlStatement | None:
        # The statement comes first (`cur.execute(sql)`), or after the connection in a team's own
        # wrapper (`query_db(conn, sql, params)`).
        candidates = positional(call)[:2]
        candidates += [arg.value for arg in call.args if arg.keyword in _SQL_KEYWORDS]
        for expr in candidates:
            text = _string(expr, ctx)
            if text is not None and (statement := parse_sql(text)) is not None:
                return statement
        return None

    def recognize(self, call: model.Call, ctx: CallContext) -> list[Effect] | None:
        method = call.method
        if method in ("commit", "rollback") and not call.args:
            # `conn.commit()`, `await session.commit()`: the end of an implicit or explicit transaction.
            return [Effect("commit")]
        facts = self.facts(ctx)
        if method == "start" and _TRANSACTION_RECEIVER.search(facts.name_text(call.receiver)):
            return [Effect("begin")]  # asyncpg: `tx = conn.transaction(); await tx.start()`
        if (call.name or "").split(".")[-1] in _WRAPPERS:
            return []  # `text("...")` builds a statement; the call that executes it is what counts
        statement = self.sql_of(call, ctx)
        if statement is None:
            if facts.mentions_serializable and "serializable" in facts.code(call).lower():
                # `conn.set_isolation_level(SERIALIZABLE)`, `execution_options(isolation_level=...)`
                return [Effect("lock")]
            return None
        effects = [Effect("lock")] if statement.locking else []
        if statement.kind == "select":
            return effects + self.select(statement, call, ctx)
        if statement.kind in ("update", "delete"):
            return effects + self.update(statement, call, ctx)
        if statement.kind == "insert":
            return effects + self.insert(statement, call, ctx)
        if statement.kind == "begin":
            effects.append(Effect("begin"))
        elif statement.kind == "commit":
            effects.append(Effect("commit"))
        return effects

    def select(self, statement: SqlStatement, call: model.Call, ctx: CallContext) -> list[Effect]:
        effects = []
        # Under autocommit a row lock ends with its own statement unless a transaction is open.
        if statement.for_update and (ctx.state.in_transaction or not self.autocommit(call, ctx)):
            effects.append(Effect("lock"))
        selected = self.selected(statement)
        return effects + [
            Effect("read", f"sql:{t}", detail=statement.where_columns, bind_receiver=True, selected=selected)
            for t in statement.tables
        ]

    def selected(self, statement: SqlStatement) -> frozenset[str]:
        """The columns a row of `statement` holds by position: its SELECT list, or any for `*`."""
        if not self.positional_rows:
            return frozenset()
        return statement.selected if statement.selected is not None else frozenset({ANY_COLUMN})

    def update(self, statement: SqlStatement, call: model.Call, ctx: CallContext) -> list[Effect]:
        effects: list[Effect] = []
        # Asked for DELETEs only: reading the root makes an inlined helper's run depend on it.
        settles = statement.kind == "delete" and ctx.root_is_entry()
        for write in row_writes(statement, self.checks_result(call, ctx), settles=settles):
            effects += [write, Effect("store_write", "sql", autocommit=self.autocommit(call, ctx))]
        return effects

    def insert(self, statement: SqlStatement, call: model.Call, ctx: CallContext) -> list[Effect]:
        effects: list[Effect] = []
        for table in statement.tables:
            guard = (
                ALL
                if statement.on_conflict or ctx.catching(INTEGRITY_ERRORS)
                else frozenset(self.unique_of(table, ctx))
            )
            # A unique key with nothing catching its violation: reported, at low severity.
            refused = guard != ALL and not ctx.catching(DUPLICATE_HANDLERS)
            effects += [
                Effect("write", f"sql:{table}", "RC203", guard, needs_check=True, refused=refused),
                Effect("store_write", "sql", autocommit=self.autocommit(call, ctx)),
            ]
        return effects

    def unique_of(self, table: str, ctx: CallContext) -> set[str]:
        """Unique columns of `table`: DDL in this module, or anywhere in the project (migrations)."""
        own = self.facts(ctx).unique
        if table in own:
            # The module creates the table itself: its schema is the one it runs against (another
            # module's CREATE TABLE of the same name, a safe twin or a test's, says nothing of it).
            return set(own[table])
        unique: set[str] = set()
        project = _project_unique(ctx)
        if project is not None:
            unique |= set(project.get(table, ()))
        return unique

    def enter(self, expr: model.Expr, ctx: CallContext) -> list[Effect] | None:
        """`with conn:` (sqlite3), `async with conn.transaction():`, `with engine.begin() as conn:`."""
        facts = self.facts(ctx)
        text = facts.name_text(expr)
        if not (_BEGINS.search(text) or _CONNECTION.fullmatch(text)):
            return None
        effects = [Effect("begin")]
        if "serializable" in text.lower() or set(_WORD.findall(text)) & facts.serializable:
            effects.append(Effect("lock"))
        return effects


def _project_unique(ctx: CallContext) -> Any:
    """The project index's unique SQL columns per table (`CREATE UNIQUE INDEX` in migrations)."""
    facts = ctx.facts()
    return getattr(facts, "sql_unique", None) if facts is not None else None


def _string(expr: model.Expr, ctx: CallContext) -> str | None:
    """SQL text, also inside the builders that only wrap it: `text("...")`, `sql.SQL("...")`."""
    if isinstance(expr, model.Call) and (expr.name or "").split(".")[-1] in _TEXT_WRAPPERS:
        inner = positional(expr)
        return _string(inner[0], ctx) if inner else None
    return ctx.string(expr)


register(
    StoreSpec(
        name="sql",
        # Statement keywords in either case (`cur.execute("update t set ...")`), and the calls that
        # end or open a transaction without SQL text in the file (`conn.commit()`, `with conn:`).
        markers=(
            "SELECT",
            "select",
            "UPDATE",
            "update ",
            "INSERT",
            "insert ",
            "DELETE",
            "delete from",
            "execute",
            "fetch",
            "commit(",
            "rollback(",
            "transaction",
            "BEGIN",
            "begin",
            "conn",
        ),
        label=lambda name: f"table `{name}`",
        outcome=(
            "concurrent requests all see the old value and pass the check before any writes, "
            "so what it allows happens more than once"
        ),
        insert_outcome=INSERT_OUTCOME,
        refused_outcome=REFUSED_OUTCOME,
        insert_rules=frozenset({"RC203"}),
        recognizers={"python": SqlRecognizer},
        default_rule="RC201",
        multi_write_rule="RC202",
    )
)
