"""Raw SQL (RC2xx): statements passed as strings to any driver or wrapper.

Any call whose first argument (or `query=`/`sql=`/`statement=`) is SQL text is a SQL call, whatever
the driver: sqlite3, psycopg, asyncpg, `databases`, SQLAlchemy `text()`, a team's own wrapper. The
text is parsed just enough to know the statement kind, its tables, the columns a write sets and
the columns its WHERE constrains, and the locking clauses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import libcst as cst

from .._effects import ALL, CallContext, Effect
from .._module import ModuleIndex, walk

__all__ = ["SqlRecognizer", "SqlStatement", "parse_sql", "unique_columns"]

_SQL_KEYWORDS = ("query", "sql", "statement", "operation", "stmt")
# The text under analysis is untrusted, and Python's `re` backtracks: every pattern here must be
# linear in the text. The rules used: a repeated class that a later item cannot need back is
# possessive (`*+`, `++`); a pattern that could start at every offset of a long run starts only
# where the run starts (a lookbehind); a scan for a closing character cannot fail at the end of the
# text (`(?:\)|\Z)`: an unclosed group runs to the end), so a thousand openers cost one scan, not a
# thousand. tests/test_analyzer_budgets.py feeds each pattern its worst case.
_COMMENT = re.compile(r"--[^\n]*+|/\*(?:.*?\*/|.*+)", re.DOTALL)  # an unclosed /* runs to the end
_IDENT = r'[\w."`\[\]]++'
_FROM_TABLES = re.compile(rf"\b(?:from|join)\s+({_IDENT})")
_UPDATE = re.compile(
    rf"^update\s+(?:only\s+)?({_IDENT})\s+(?:as\s+\w+\s+|\w+\s+)?set\s+(.*?)(?:\s+where\s+(.*?))?(?:\s+returning\s+.*)?$"
)
_INSERT = re.compile(rf"^(?:insert|replace)\s+(?:or\s+\w+\s+)?into\s+({_IDENT})")
_DELETE = re.compile(rf"^delete\s+from\s+({_IDENT})(?:\s+where\s+(.*?))?(?:\s+returning\s+.*)?$")
# A column is the run of name characters before a comparison, from its first letter (`t.col`,
# not `1col`'s digit). Matching starts only where such a run starts and never gives characters back.
_WHERE_COLUMNS = re.compile(
    r"(?<![\w.])(?:[^\W_a-z]|\.)*+([a-z_][\w.]*+)\s*+(?:=|<>|!=|<=|>=|<|>|\bis\b|\bin\b|\blike\b|\bbetween\b)"
)
_FOR_UPDATE = re.compile(r"\bfor\s+(?:no\s+key\s+)?(?:update|share)\b")
_LOCKING = re.compile(
    r"^begin\s+(?:immediate|exclusive)\b|isolation\s+level\s+serializable|^lock\s+(?:table\s+)?\w|"
    r"pg_advisory_xact_lock|pg_advisory_lock|\bget_lock\s*\("
)
_CONFLICT = re.compile(
    r"\bon\s+conflict\b|^insert\s+or\s+(?:ignore|replace)\b|\bon\s+duplicate\s+key\b|\bwhere\s+not\s+exists\b"
)
_VERSION_COLUMNS = frozenset(
    {"version", "ver", "revision", "lock_version", "row_version", "etag", "updated_at", "xmin"}
)
_UNIQUE_INLINE = re.compile(r"(\w++)\s++[^,()]*?\b(?:unique|primary\s+key)\b")
# Applied to a statement cut after its last ")", so the greedy body ends at once (see unique_columns).
_CREATE_TABLE = re.compile(rf"create\s+table\s+(?:if\s+not\s+exists\s+)?({_IDENT})\s*\((.*)\)", re.DOTALL)
_UNIQUE_CLAUSE = re.compile(r"\b(?:unique|primary\s+key)\s*\(([^)]*+)(?:\)|\Z)")
_UNIQUE_INDEX = re.compile(
    rf"create\s+unique\s+index\s+(?:if\s+not\s+exists\s+)?\w+\s+on\s+({_IDENT})\s*\(([^)]*+)(?:\)|\Z)"
)
# `SET a = a + 1` / `WHERE redeemed_by IS NULL`: a column compared or changed relative to itself.
_ARITHMETIC_COLUMNS = re.compile(r"(?<!\w)(\w++)\s*+[-+]")
_CLAIMED_COLUMNS = re.compile(r"(?<!\w)(\w++)\s*+(?:is\s+null|=\s*+[?$:%'\w])")


def _name(raw: str) -> str:
    """`"public"."Accounts"` → `accounts`."""
    return raw.strip('"`[]').split(".")[-1].strip('"`[]').lower()


def _normalise(text: str) -> str:
    return " ".join(_COMMENT.sub(" ", text).lower().split()).rstrip(";")


def _split_top(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [part.strip() for part in parts if part.strip()]


@dataclass(frozen=True)
class SqlStatement:
    kind: str  # select, update, insert, delete, begin, commit, rollback, lock, other
    tables: tuple[str, ...] = ()
    set_columns: frozenset[str] = frozenset()
    where_columns: frozenset[str] = frozenset()
    for_update: bool = False
    locking: bool = False
    on_conflict: bool = False
    arithmetic: bool = False
    returning: bool = False
    claim: bool = False  # `SET redeemed_by = ? WHERE redeemed_by IS NULL`: a one-way state transition

    @property
    def guarded(self) -> bool:
        """The WHERE re-checks what the SET changes (or a version), so the write is a compare-and-set."""
        if self.kind == "insert":
            return self.on_conflict
        return bool(self.where_columns & (self.set_columns | _VERSION_COLUMNS))


def parse_sql(text: str) -> SqlStatement | None:
    """Just enough of a SQL statement to reason about races; None if it is not SQL."""
    sql = _normalise(text)
    if not sql:
        return None
    first = sql.split(" ", 1)[0]
    locking = bool(_LOCKING.search(sql))
    if first == "with":
        main = next((k for k in ("update", "insert", "delete") if f" {k} " in f" {sql} "), "select")
        tables = tuple(_name(t) for t in _FROM_TABLES.findall(sql))
        return SqlStatement(main, tables, locking=locking, for_update=bool(_FOR_UPDATE.search(sql)))
    if first == "select":
        tables = tuple(dict.fromkeys(_name(t) for t in _FROM_TABLES.findall(sql)))
        where = sql.split(" where ", 1)[1] if " where " in sql else ""
        return SqlStatement(
            "select",
            tables,
            where_columns=frozenset(c.split(".")[-1] for c in _WHERE_COLUMNS.findall(where)),
            for_update=bool(_FOR_UPDATE.search(sql)),
            locking=locking,
        )
    if first == "update":
        match = _UPDATE.match(sql)
        if match is None:
            return SqlStatement("update", locking=locking)
        table, assignments, where = match.group(1), match.group(2), match.group(3) or ""
        columns, arithmetic = set(), False
        for assignment in _split_top(assignments):
            column, _, value = assignment.partition("=")
            column = column.strip().split(".")[-1].strip('"`')
            columns.add(column)
            arithmetic = arithmetic or column in _ARITHMETIC_COLUMNS.findall(value)
        # One pass over the WHERE for all columns (a search per column was quadratic in the text).
        claim = bool(columns & set(_CLAIMED_COLUMNS.findall(where)))
        return SqlStatement(
            "update",
            (_name(table),),
            frozenset(columns),
            frozenset(c.split(".")[-1] for c in _WHERE_COLUMNS.findall(where)),
            arithmetic=arithmetic,
            returning=" returning " in sql,
            locking=locking,
            claim=claim and not arithmetic,
        )
    if first in ("insert", "replace"):
        match = _INSERT.match(sql)
        tables = (_name(match.group(1)),) if match else ()
        return SqlStatement("insert", tables, on_conflict=bool(_CONFLICT.search(sql)), locking=locking)
    if first == "delete":
        match = _DELETE.match(sql)
        tables = (_name(match.group(1)),) if match else ()
        where = match.group(2) or "" if match else ""
        return SqlStatement(
            "delete",
            tables,
            where_columns=frozenset(c.split(".")[-1] for c in _WHERE_COLUMNS.findall(where)),
            returning=" returning " in sql,
        )
    if first in ("begin", "start"):
        return SqlStatement("begin", locking=locking)
    if first in ("commit", "end", "rollback", "abort"):
        return SqlStatement("commit")
    if first in ("lock", "set") or locking:
        return SqlStatement("lock" if locking else "other", locking=locking)
    return None


def unique_columns(texts: list[str]) -> dict[str, set[str]]:
    """Columns with a UNIQUE or PRIMARY KEY constraint, per table, from DDL strings in the module."""
    unique: dict[str, set[str]] = {}
    for text in texts:
        # One string often holds a whole schema: parse it statement by statement.
        statements = [sql[: sql.rfind(")") + 1] for sql in _COMMENT.sub(" ", text).lower().split(";")]
        for table, body in (m for sql in statements for m in _CREATE_TABLE.findall(sql)):
            columns = unique.setdefault(_name(table), set())
            for part in _split_top(body):
                clause = _UNIQUE_CLAUSE.search(part)
                if clause and part.split()[0] in ("unique", "primary", "constraint"):
                    columns.update(c.strip().strip('"`') for c in clause.group(1).split(","))
                elif (inline := _UNIQUE_INLINE.match(part)) is not None:
                    columns.add(inline.group(1).strip('"`'))
        for table, cols in (m for sql in statements for m in _UNIQUE_INDEX.findall(sql)):
            unique.setdefault(_name(table), set()).update(c.strip().strip('"`') for c in cols.split(","))
    return unique


class _Strings(cst.CSTVisitor):
    def __init__(self) -> None:
        self.texts: list[str] = []

    def visit_SimpleString(self, node: cst.SimpleString) -> None:
        value = node.evaluated_value
        if isinstance(value, str) and "create" in value.lower():
            self.texts.append(value)


_INTEGRITY_ERRORS = ("IntegrityError", "UniqueViolation", "UniqueViolationError", "DuplicateKeyError")


_WRAPPERS = ("text", "literal_column", "SQL", "sql", "Composed")
# Drivers that commit every statement on its own unless a transaction is opened explicitly.
# Indentation is `[ \t]`, not `\s`: `^\s*` tried at every line start of a run of blank lines is quadratic.
_AUTOCOMMIT_DRIVERS = re.compile(r"^[ \t]*+(?:import|from)\s+(?:asyncpg|databases|django)\b", re.MULTILINE)
_AUTOCOMMIT_SETTINGS = re.compile(
    r"autocommit\s*=\s*True|isolation_level\s*=\s*None|set_session\(\s*autocommit|[\"']AUTOCOMMIT[\"']"
)


class SqlRecognizer:
    """Calls that carry SQL text."""

    def __init__(self, index: ModuleIndex) -> None:
        self.index = index
        strings = _Strings()
        walk(index.module, strings)
        self.unique = unique_columns(strings.texts)
        source = index.source
        self.autocommit_driver = bool(_AUTOCOMMIT_DRIVERS.search(source))
        self._function_text: dict[cst.FunctionDef, str] = {}
        # Most modules never say SERIALIZABLE: then no call needs its code generated to look for it.
        self.mentions_serializable = "serializable" in source.lower()
        # Module-level engines and connections configured for SERIALIZABLE isolation.
        self.serializable = {
            name
            for name, value in index.assignments.items()
            if self.mentions_serializable and "serializable" in index.module.code_for_node(value).lower()
        }

    def text_of(self, function: cst.FunctionDef) -> str:
        """The function's code without comments (a comment saying "rowcount" checks nothing)."""
        if function not in self._function_text:
            code = self.index.module.code_for_node(function)
            self._function_text[function] = re.sub(r"#[^\n]*", "", code)
        return self._function_text[function]

    def autocommit(self, call: cst.Call, ctx: CallContext) -> bool:
        """Each statement commits on its own: asyncpg, `databases`, Django, or autocommit turned on
        in the function being analysed (or the root that called it)."""
        if self.autocommit_driver:
            return True
        functions = [ctx.interpreter.frames[0].function, ctx.interpreter.frame.function]
        # A team's own wrapper (`db.execute(sql)`) may switch autocommit on inside itself.
        wrapper = ctx.interpreter.model.resolve_callee(call, ctx.interpreter.frame)
        if wrapper is not None:
            functions.append(wrapper[0])
        return any(_AUTOCOMMIT_SETTINGS.search(self.text_of(function)) for function in functions)

    def checks_result(self, call: cst.Call, ctx: CallContext) -> bool:
        """A guarded write only guards if someone looks at how many rows it changed."""
        if ctx.interpreter.result_used(call):
            return True
        text = self.text_of(ctx.interpreter.frame.function)
        return ".rowcount" in text or "RETURNING" in text.upper()

    def transactional(self, function: cst.FunctionDef) -> bool:
        """`@database.transaction()` (databases), `@transaction.atomic`, `@db.atomic()`..."""
        return any(
            re.search(r"\.(transaction|atomic)\b", self.index.module.code_for_node(d.decorator))
            for d in function.decorators
        )

    def sql_of(self, call: cst.Call, ctx: CallContext) -> SqlStatement | None:
        candidates = [arg.value for arg in call.args if arg.keyword is None][:1]
        candidates += [arg.value for arg in call.args if arg.keyword and arg.keyword.value in _SQL_KEYWORDS]
        for expr in candidates:
            text = ctx.string(expr)
            if text is not None and (statement := parse_sql(text)) is not None:
                return statement
        return None

    def effects(self, call: cst.Call, ctx: CallContext) -> list[Effect] | None:
        func = call.func
        if isinstance(func, cst.Attribute) and func.attr.value in ("commit", "rollback") and not call.args:
            # `conn.commit()`, `await session.commit()`: the end of an implicit or explicit transaction.
            return [Effect("commit")]
        if (
            isinstance(func, cst.Attribute)
            and func.attr.value == "start"
            and re.search(r"(tx|transaction|txn)\b", self.index.module.code_for_node(func.value))
        ):
            return [Effect("begin")]  # asyncpg: `tx = conn.transaction(); await tx.start()`
        if (self.index.qualify(func) or "").split(".")[-1] in _WRAPPERS:
            return []  # `text("...")` builds a statement; the call that executes it is what counts
        code = self.index.module.code_for_node(call) if self.mentions_serializable else ""
        if re.search(r"serializable", code, re.IGNORECASE) and not self.sql_of(call, ctx):
            # `conn.set_isolation_level(SERIALIZABLE)`, `execution_options(isolation_level=...)`
            return [Effect("lock")]
        statement = self.sql_of(call, ctx)
        if statement is None:
            return None
        effects: list[Effect] = []
        if statement.locking:
            effects.append(Effect("lock"))
        if statement.kind == "select":
            # Under autocommit a row lock ends with its own statement unless a transaction is open.
            if statement.for_update and (ctx.state.in_transaction or not self.autocommit(call, ctx)):
                effects.append(Effect("lock"))
            effects += [
                Effect("read", f"sql:{t}", detail=statement.where_columns, bind_receiver=True)
                for t in statement.tables
            ]
        elif statement.kind in ("update", "delete"):
            # A DELETE claims rows: of two concurrent deletes only one removes the row. Either guard
            # holds only if the caller looks at the rowcount.
            claims = statement.guarded or statement.kind == "delete"
            guard = ALL if claims and self.checks_result(call, ctx) else frozenset()
            for table in statement.tables:
                effects += [
                    Effect(
                        "write",
                        f"sql:{table}",
                        "RC201",
                        guard,
                        columns=statement.set_columns,
                        claim=statement.claim and guard >= ALL,
                    ),
                    Effect("store_write", "sql", autocommit=self.autocommit(call, ctx)),
                ]
        elif statement.kind == "insert":
            for table in statement.tables:
                guard = (
                    ALL
                    if statement.on_conflict or ctx.interpreter.catching(_INTEGRITY_ERRORS)
                    else (frozenset(self.unique.get(table, ())))
                )
                effects += [
                    Effect("write", f"sql:{table}", "RC203", guard, needs_check=True),
                    Effect("store_write", "sql", autocommit=self.autocommit(call, ctx)),
                ]
        elif statement.kind == "begin":
            effects.append(Effect("begin"))
        elif statement.kind == "commit":
            effects.append(Effect("commit"))
        return effects

    def enter(self, expr: cst.BaseExpression, ctx: CallContext) -> list[Effect] | None:
        """`with conn:` (sqlite3), `async with conn.transaction():`, `with engine.begin() as conn:`."""
        text = ctx.interpreter.index.module.code_for_node(expr)
        if re.search(r"\.(transaction|begin|begin_nested|atomic)\(", text) or re.fullmatch(
            r"(self\.)?(conn|connection|con|cnx|db_conn)", text
        ):
            effects = [Effect("begin")]
            names = set(re.findall(r"\w+", text))
            if "serializable" in text.lower() or names & self.serializable:
                effects.append(Effect("lock"))
            return effects
        return None
