"""Raw SQL text, parsed just enough to reason about races: the statement kind, its tables, the
columns a write sets and the columns its WHERE constrains, the locking clauses, and the unique
columns DDL declares. Pure text: no parser, no language (a JavaScript front-end reads the same SQL).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ...core.effects import ALL, Effect

__all__ = ["SqlStatement", "parse_sql", "unique_columns"]


# The text under analysis is untrusted, and Python's `re` backtracks: every pattern here must be
# linear in the text. The rules used: a repeated class that a later item cannot need back is
# possessive (`*+`, `++`); a pattern that could start at every offset of a long run starts only
# where the run starts (a lookbehind); a scan for a closing character cannot fail at the end of the
# text (`(?:\)|\Z)`: an unclosed group runs to the end), so a thousand openers cost one scan, not a
# thousand. tests/test_analyzer_budgets.py feeds each pattern its worst case (in the libcst
# analyzer, whose patterns these are).
_COMMENT = re.compile(r"--[^\n]*+|/\*(?:.*?\*/|.*+)", re.DOTALL)  # an unclosed /* runs to the end
_IDENT = r'[\w."`\[\]]++'
# A name followed by `(` is a set-returning function (`FROM unnest(...)`, `generate_series(..)`),
# not a table: the possessive name cannot shrink to let the look-ahead pass.
_FROM_TABLES = re.compile(rf"\b(?:from|join)\s+({_IDENT})(?!\s*+\()")
_CTE_NAMES = re.compile(r"(?:^with|,)\s++(?:recursive\s++)?(\w++)\s++as\s*+\(")
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
# One item of a SELECT list that names a column: `seats_left`, `e.seats_left`, `"Balance" AS b`.
_PLAIN_COLUMN = re.compile(r'([\w."`]++)(?:\s++(?:as\s++)?(\w++))?')


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
    # For a select: the columns its list names (with their aliases); None when an item is `*` or an
    # expression, so the row may hold any column.
    selected: frozenset[str] | None = None

    @property
    def compared(self) -> frozenset[str]:
        """The columns the statement sets and its WHERE re-checks (a compare-and-set on them)."""
        return self.set_columns & self.where_columns if self.kind == "update" else frozenset()

    @property
    def guarded(self) -> bool:
        """The WHERE re-checks what the SET changes (or a version), so the write is a compare-and-set."""
        if self.kind == "insert":
            return self.on_conflict
        return bool(self.where_columns & (self.set_columns | _VERSION_COLUMNS))


@lru_cache(maxsize=4096)
def parse_sql(text: str) -> SqlStatement | None:
    """Just enough of a SQL statement to reason about races; None if it is not SQL. Remembered:
    the SQL recognizer asks about the text of each call's first arguments on every path."""
    sql = _normalise(text)
    if not sql:
        return None
    first = sql.split(" ", 1)[0]
    locking = bool(_LOCKING.search(sql))
    if first == "with":
        main = next((k for k in ("update", "insert", "delete") if f" {k} " in f" {sql} "), "select")
        # The WITH clause's own names (`WITH batch AS (...)`) are no tables of the database.
        named = {_name(name) for name in _CTE_NAMES.findall(sql)}
        tables = tuple(t for t in (_name(t) for t in _FROM_TABLES.findall(sql)) if t not in named)
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
            selected=_selected_columns(sql),
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


def _selected_columns(sql: str) -> frozenset[str] | None:
    """The columns `select a, t.b as c from ...` returns: {a, b, c}; None for `*`, an expression
    (`count(*)`, `coalesce(b, 0)`) or a list this cannot find, where the row may hold any column."""
    head = sql[len("select ") :].split(" from ", 1)[0] if " from " in sql else ""
    head = head.removeprefix("distinct ").removeprefix("all ")
    names: set[str] = set()
    for item in _split_top(head):
        match = _PLAIN_COLUMN.fullmatch(item)
        if match is None or match.group(1).endswith("*"):
            return None
        names.add(_name(match.group(1)))
        if match.group(2):
            names.add(match.group(2))
    return frozenset(names) or None


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


def row_writes(statement: SqlStatement, result_checked: bool, *, settles: bool = False) -> list[Effect]:
    """The RC201 write of each table an UPDATE or DELETE touches. A DELETE claims rows (of two
    concurrent deletes only one removes the row) and a guarded UPDATE claims those its WHERE still
    matches; either claim holds only if the caller looks at the row count. A guarded transition to
    a new state (`SET used = true WHERE .. AND used = false`) whose count is read is a claim a retry
    fails instead of repeating what follows (RC601). `settles`: the root answers its framework, not
    a caller (an entry point): every racer's DELETE leaves the rows gone, so with nothing else done
    on the strength of the check (`core/idempotent.settled`) deleting twice is deleting once. A
    helper's `return True` after its DELETE lets each caller act on it (an invite used twice)."""
    claims = statement.guarded or statement.kind == "delete"
    guard = ALL if claims and result_checked else frozenset()
    return [
        Effect(
            "write",
            f"sql:{table}",
            "RC201",
            guard,
            columns=statement.set_columns,
            claim=statement.claim and guard >= ALL,
            compares=statement.compared,
            same_value=statement.kind == "delete" and settles,
        )
        for table in statement.tables
    ]
