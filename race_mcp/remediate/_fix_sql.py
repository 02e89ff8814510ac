"""Fixers for raw SQL races (RC201-RC203), in the idiom of the driver the file uses.

- RC201: the read-decide-write becomes one guarded UPDATE: `SET col = col - ? WHERE id = ? AND
  col >= ?` (the negation of the check, evaluated by the database on the current row), with the
  rowcount checked and answered with the check's own rejection. Later writes of the same handler
  join it in one transaction.
- RC202: the writes are wrapped in one transaction.
- RC203: with the CREATE TABLE in the same file, the looked-up column gets UNIQUE and the INSERT's
  IntegrityError becomes the check's rejection (unsafe: existing databases need a migration).

Anything else is declined with guidance, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor

from ..findings import Finding
from ._fixers import Fixed, Guidance, register
from ._locate import (
    COMPARISONS,
    MIRRORED,
    Located,
    bare_code,
    block_of,
    exit_statement,
    name_in_use,
    nodes,
    parse_statements,
    raised_from_none,
    wrap,
)

__all__ = ["detect_driver", "fix_check_then_insert", "fix_select_then_update", "fix_unatomic_writes"]

_Item = TypeVar("_Item", cst.Arg, cst.Element)
Driver = Literal["sqlite3", "psycopg", "psycopg2", "asyncpg", "databases", "wrapper"]

# The source is untrusted and `re` backtracks, so each pattern here is linear in it: indentation is
# `[ \t]*+` (`^\s*` re-scans a run of blank lines from each line start), repeated classes a later
# item cannot need back are possessive, and a run of spaces is tried once, from where it starts
# (`(?<!\s)`). tests/test_analyzer_budgets.py feeds each pattern its worst case.
_DRIVER_IMPORTS: tuple[tuple[Driver, re.Pattern[str]], ...] = (
    ("asyncpg", re.compile(r"^[ \t]*+(?:import|from)\s+asyncpg\b", re.MULTILINE)),
    ("databases", re.compile(r"^[ \t]*+(?:import|from)\s+databases\b", re.MULTILINE)),
    ("psycopg2", re.compile(r"^[ \t]*+(?:import|from)\s+psycopg2\b", re.MULTILINE)),
    ("psycopg", re.compile(r"^[ \t]*+(?:import|from)\s+psycopg\b", re.MULTILINE)),
    ("sqlite3", re.compile(r"^[ \t]*+(?:import|from)\s+sqlite3\b", re.MULTILINE)),
)
# The demo shop's wrapper (race_mcp/demo/_store.py): `execute` returns the number of rows changed,
# `transaction()` yields the statements to run inside it, and it sits on sqlite3.
_WRAPPER_IMPORT = re.compile(r"^[ \t]*+from\s+(?:race_mcp\.demo)?\.?_store\s+import\b", re.MULTILINE)

_UPDATE = re.compile(
    r"^(?P<head>\s*UPDATE\s+(?P<table>\w+)\s+SET\s+)(?P<column>\w+)\s*=\s*+(?P<value>.+?)"
    r"(?P<where>(?<!\s)\s++WHERE\s++(?P<condition>.*\S))\s*$",
    re.IGNORECASE | re.DOTALL,
)
_RELATIVE = re.compile(r"^(?P<column>\w+)\s*[-+]\s*(?:\?|%s|\$\d+|\d+)$")
_PLACEHOLDER = re.compile(r"\?|%s|\$(\d+)")
_SELECT = re.compile(
    r"^\s*SELECT\s++(?P<columns>.+?)(?<!\s)\s++FROM\s++(?P<table>\w++)(?:\s++WHERE\s++(?P<where>.+))?$",
    re.IGNORECASE | re.DOTALL,
)
_INSERT = re.compile(r"^\s*INSERT\s+INTO\s+(?P<table>\w+)", re.IGNORECASE)
_WRITE_SQL = re.compile(r"^\s*(UPDATE|INSERT|DELETE)\b", re.IGNORECASE)
_EQUALITY_COLUMNS = re.compile(r"(?<!\w)(\w++)\s*+=\s*+(?:\?|%s|\$\d+)")
# Limits are orderings; an `==` check (`if balance == 0: return`) is left to a person.
_NEGATED = {"<": ">=", "<=": ">", ">": "<=", ">=": "<"}
_INTEGRITY_ERROR: dict[Driver, tuple[str, str]] = {
    "sqlite3": ("sqlite3", "IntegrityError"),
    "wrapper": ("sqlite3", "IntegrityError"),
    "asyncpg": ("asyncpg", "UniqueViolationError"),
    "psycopg": ("psycopg.errors", "UniqueViolation"),
    "psycopg2": ("psycopg2.errors", "UniqueViolation"),
}
_FOR_UPDATE_GUIDANCE = (
    "Move the decision into SQL (`UPDATE ... SET x = x - :n WHERE id = :id AND x >= :n` and check "
    "the rowcount); where it cannot move, read the row with `SELECT ... FOR UPDATE` inside the "
    "transaction that writes it (PostgreSQL/MySQL), or `BEGIN IMMEDIATE` on SQLite, which has no row locks."
)


def detect_driver(module: cst.Module) -> Driver | None:
    """The one database driver the file uses, or None when it uses none or several."""
    code = module.code
    found = [driver for driver, pattern in _DRIVER_IMPORTS if pattern.search(code)]
    if _WRAPPER_IMPORT.search(code) and set(found) <= {"sqlite3"}:
        return "wrapper"  # it sits on sqlite3, which the file may import for its IntegrityError
    return found[0] if len(found) == 1 else None


def _rowcount_driver(module: cst.Module) -> Driver | None:
    """Like `detect_driver`, but psycopg 2 and 3 in one file agree on `cursor.rowcount`."""
    found = [driver for driver, pattern in _DRIVER_IMPORTS if pattern.search(module.code)]
    if sorted(found) == ["psycopg", "psycopg2"]:
        return "psycopg"
    return detect_driver(module)


# --- pieces of a statement -----------------------------------------------------------------------


@dataclass(frozen=True)
class SqlCall:
    """A statement `[await] recv.method(sql, *params)` or `recv.method(sql, (params,))`."""

    statement: cst.SimpleStatementLine
    call: cst.Call
    receiver: str
    string: cst.SimpleString
    sql: str
    params: tuple[cst.BaseExpression, ...]
    packed: bool  # params in one tuple/list argument (DB-API) rather than as separate arguments
    awaited: bool
    assigned: cst.BaseAssignTargetExpression | None

    def param_codes(self, module: cst.Module) -> list[str]:
        return [module.code_for_node(p) for p in self.params]


def sql_call(statement: cst.BaseStatement | None) -> SqlCall | None:
    """The SQL call a simple statement makes, if it is one call with a literal SQL string."""
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return None
    small = statement.body[0]
    assigned: cst.BaseAssignTargetExpression | None = None
    if isinstance(small, cst.Expr):
        value = small.value
    elif isinstance(small, cst.Assign) and len(small.targets) == 1:
        value, assigned = small.value, small.targets[0].target
    else:
        return None
    awaited = isinstance(value, cst.Await)
    if isinstance(value, cst.Await):
        value = value.expression
    if not isinstance(value, cst.Call) or not isinstance(value.func, cst.Attribute):
        return None
    if not isinstance(value.func.value, cst.Name) or not value.args:
        return None
    first = value.args[0]
    if first.keyword is not None or not isinstance(first.value, cst.SimpleString):
        return None
    text = first.value.evaluated_value
    if not isinstance(text, str) or first.value.raw_value != text:
        return None  # escapes inside the literal: rewriting it is not worth the risk
    rest = [arg for arg in value.args[1:]]
    if any(arg.keyword is not None or arg.star for arg in rest):
        return None
    packed = len(rest) == 1 and isinstance(rest[0].value, (cst.Tuple, cst.List))
    if packed:
        container = rest[0].value
        assert isinstance(container, (cst.Tuple, cst.List))
        params = tuple(element.value for element in container.elements)
    else:
        params = tuple(arg.value for arg in rest)
    return SqlCall(
        statement, value, value.func.value.value, first.value, text, params, packed, awaited, assigned
    )


def _with_sql(call: SqlCall, sql: str, params: Sequence[str], module: cst.Module) -> cst.Call:
    """The same call with new SQL text and parameters, keeping the argument layout."""
    quote = call.string.quote
    if quote in sql:
        raise ValueError("quote inside SQL")
    string = cst.SimpleString(f"{call.string.prefix}{quote}{sql}{quote}")
    values = [cst.parse_expression(code, config=module.config_for_parsing) for code in params]
    first = call.call.args[0].with_changes(value=string)
    if call.packed:
        container = call.call.args[1].value
        assert isinstance(container, (cst.Tuple, cst.List))
        old = [e for e in container.elements if isinstance(e, cst.Element)]
        if len(old) != len(container.elements):
            raise ValueError("starred parameters")
        elements = _relayout(old, values, one_tuple=isinstance(container, cst.Tuple))
        return call.call.with_changes(
            args=[first, call.call.args[1].with_changes(value=container.with_changes(elements=elements))]
        )
    if not call.params:
        comma = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
        return call.call.with_changes(
            args=[first.with_changes(comma=comma), *(cst.Arg(value) for value in values)]
        )
    args = _relayout(list(call.call.args[1:]), values, one_tuple=False)
    if first.comma is cst.MaybeSentinel.DEFAULT:
        first = first.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
    return call.call.with_changes(args=[first, *args])


def _relayout(old: list[_Item], values: list[cst.BaseExpression], *, one_tuple: bool) -> list[_Item]:
    """Arguments (or tuple elements) with new values, commas and line breaks taken from the old ones."""
    middle = (
        old[-2]
        if len(old) >= 2
        else old[-1].with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
    )
    items: list[_Item] = []
    for index, value in enumerate(values):
        if index == len(values) - 1:
            template = old[-1]
        elif index < len(old) - 1:
            template = old[index]
        else:
            template = middle
        items.append(template.with_changes(value=value))
    if len(values) == 1 and one_tuple and isinstance(old[-1].comma, cst.MaybeSentinel):
        items[0] = items[0].with_changes(comma=cst.Comma())  # a one-tuple needs its comma
    return items


# --- RC201 ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadBinding:
    """What the read bound: a row (`row["col"]`, `row[0]`) or scalars (`quantity`, `(a, b) = ...`)."""

    columns: tuple[str, ...]
    row_name: str | None
    scalars: dict[str, str]  # local name -> column

    def refers_to(self, expr: cst.BaseExpression, column: str) -> bool:
        if isinstance(expr, cst.Name):
            return self.scalars.get(expr.value) == column
        if not (isinstance(expr, cst.Subscript) and isinstance(expr.value, cst.Name)):
            return False
        if expr.value.value != self.row_name or len(expr.slice) != 1:
            return False
        index = expr.slice[0].slice
        if not isinstance(index, cst.Index):
            return False
        key = index.value
        if isinstance(key, cst.SimpleString):
            return key.evaluated_value == column
        if isinstance(key, cst.Integer):
            position = int(key.value)
            return position < len(self.columns) and self.columns[position] == column
        return False


def _read_binding(statement: cst.BaseStatement | None) -> ReadBinding | None:
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return None
    assign = statement.body[0]
    if not isinstance(assign, (cst.Assign, cst.AnnAssign)):
        return None
    target = assign.targets[0].target if isinstance(assign, cst.Assign) else assign.target
    value = assign.value
    if value is None:
        return None
    strings = [n for n in nodes(value) if isinstance(n, cst.SimpleString)]
    select = next(
        (
            m
            for s in strings
            if isinstance(s.evaluated_value, str) and (m := _SELECT.match(s.evaluated_value))
        ),
        None,
    )
    if select is None:
        return None
    columns = tuple(c.strip().split(".")[-1].lower() for c in select.group("columns").split(","))
    code = cst.Module([]).code_for_node(value)
    scalar = re.search(r"\.(fetchval|fetch_val)\(", code) or re.search(r"\[0\]\s*$", code)
    if isinstance(target, cst.Name):
        if scalar:
            return ReadBinding(columns, None, {target.value: columns[0]})
        return ReadBinding(columns, target.value, {})
    if isinstance(target, (cst.Tuple, cst.List)):
        names = [e.value.value if isinstance(e.value, cst.Name) else "" for e in target.elements]
        return ReadBinding(columns, None, {n: c for n, c in zip(names, columns, strict=False) if n})
    return None


@dataclass(frozen=True)
class Decision:
    """The check the handler makes on the row, and how it rejects."""

    statement: cst.If
    guard_sql: str  # the condition the row must still meet, e.g. `balance >= ?`
    guard_value: str | None  # the code of the value the guard compares with, if any
    rejection: cst.BaseSmallStatement


def _decision(
    function: cst.FunctionDef, located: Located, binding: ReadBinding, column: str, lines: range
) -> Decision | None:
    """The `if` between the read and the write that rejects on the column (the evidence may point
    at a later `if`, so look at each)."""
    for node in nodes(function):
        if not isinstance(node, cst.If) or located.line(node) not in lines:
            continue
        rejection = exit_statement(node.body)
        if rejection is None or node.orelse is not None:
            continue
        for comparison in _comparisons(node.test):
            found = _guard(comparison, binding, column, located)
            if found is not None:
                return Decision(node, found[0], found[1], rejection)
    return None


def _comparisons(test: cst.BaseExpression) -> list[cst.Comparison]:
    """The comparisons a rejecting `if` ORs together (any one of them rejects)."""
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.Or):
        return _comparisons(test.left) + _comparisons(test.right)
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
        return [test]
    return []


def _guard(
    comparison: cst.Comparison, binding: ReadBinding, column: str, located: Located
) -> tuple[str, str | None] | None:
    """The SQL condition under which the row passes this (rejecting) comparison."""
    target = comparison.comparisons[0]
    operator, right = target.operator, target.comparator
    if isinstance(operator, cst.IsNot) and isinstance(right, cst.Name) and right.value == "None":
        return (f"{column} IS NULL", None) if binding.refers_to(comparison.left, column) else None
    symbol = COMPARISONS.get(type(operator))
    if symbol is None:
        return None
    left = comparison.left
    if binding.refers_to(right, column):
        left, right, symbol = right, left, MIRRORED[symbol]
    if not binding.refers_to(left, column) or _mentions_read(right, binding):
        return None
    return f"{column} {_NEGATED[symbol]} {{}}", located.code(right)


def _mentions_read(expr: cst.BaseExpression, binding: ReadBinding) -> bool:
    names = {n.value for n in nodes(expr) if isinstance(n, cst.Name)}
    return bool(names & ({binding.row_name} | set(binding.scalars)))


def _relative_value(
    value: cst.BaseExpression, binding: ReadBinding, column: str, function: cst.FunctionDef, located: Located
) -> tuple[str, str] | None:
    """`row["col"] - amount` (directly or through a local) → ("-", "amount")."""
    if isinstance(value, cst.Name):
        assigned = _single_assignment(function, value.value)
        if assigned is None:
            return None
        value = assigned
    if not isinstance(value, cst.BinaryOperation) or not binding.refers_to(value.left, column):
        return None
    if isinstance(value.operator, cst.Subtract):
        sign = "-"
    elif isinstance(value.operator, cst.Add):
        sign = "+"
    else:
        return None
    if _mentions_read(value.right, binding):
        return None
    return sign, located.code(value.right)


def _single_assignment(function: cst.FunctionDef, name: str) -> cst.BaseExpression | None:
    values = [
        node.value
        for node in nodes(function)
        if isinstance(node, cst.Assign)
        and len(node.targets) == 1
        and isinstance(node.targets[0].target, cst.Name)
        and node.targets[0].target.value == name
    ]
    return values[0] if len(values) == 1 else None


@dataclass(frozen=True)
class GuardedUpdate:
    sql: str
    params: list[str]


def _guarded_update(
    call: SqlCall,
    column_value: tuple[str, str] | None,
    decision: Decision | None,
    module: cst.Module,
) -> GuardedUpdate | None:
    """The UPDATE with its SET made relative and the decision's guard added to its WHERE."""
    match = _UPDATE.match(call.sql)
    if match is None or "," in match.group("value") or re.search(r"\bRETURNING\b", call.sql, re.I):
        return None
    column, value = match.group("column"), match.group("value").strip()
    params = call.param_codes(module)
    numbered = "$" in call.sql
    placeholders = _PLACEHOLDER.findall(call.sql)
    if len(placeholders) != len(params):
        return None
    set_sql = value
    if column_value is not None:
        sign, amount = column_value
        if not _PLACEHOLDER.fullmatch(value):
            return None
        slot = int(placeholders[0]) - 1 if numbered else 0
        params[slot] = amount
        set_sql = f"{column} {sign} {value}"
    elif not (_RELATIVE.match(value) or (decision and "NULL" in decision.guard_sql)):
        return None  # an absolute value the fixer cannot relate to the row
    where = match.group("where")
    already = decision is not None and re.search(
        re.escape(decision.guard_sql.split("{}")[0].strip()) + r"\s*(?:\?|%s|\$\d+|NULL)", where, re.I
    )
    if decision is not None and not already:
        guard = decision.guard_sql
        if decision.guard_value is not None:
            if numbered:
                existing = [i for i, code in enumerate(params) if code == decision.guard_value]
                if existing:
                    slot_text = f"${existing[0] + 1}"
                else:
                    params.append(decision.guard_value)
                    slot_text = f"${len(params)}"
            else:
                params.append(decision.guard_value)
                slot_text = "%s" if "%s" in call.sql else "?"
            guard = guard.format(slot_text)
        where = f"{where} AND {guard}"
    sql = f"{match.group('head')}{column} = {set_sql}{where}"
    return GuardedUpdate(sql, params)


def _changed_test(driver: Driver, call: SqlCall, result: str) -> str:
    """The condition that means the guarded write changed nothing, in the driver's terms."""
    if driver == "wrapper":
        return f"not {result}"
    if driver == "asyncpg":
        return f'{result} == "UPDATE 0"'
    if driver == "databases":
        return f"{result} is None"
    return f"{result}.rowcount == 0"


def _is_cursor(name: str) -> bool:
    return bool(re.fullmatch(r"(\w+_)?(cur|cursor|curs)", name))


@register("RC201")
def fix_select_then_update(module: cst.Module, finding: Finding) -> Fixed | Guidance:
    """RC201: one guarded UPDATE with the rowcount checked (see the module docstring)."""
    driver = _rowcount_driver(module)
    if driver is None:
        return Guidance("The file uses no single known SQL driver. " + _FOR_UPDATE_GUIDANCE)
    located = Located(module)
    function = located.function(finding)
    reads = [step.line for step in finding.evidence if step.role == "read"]
    writes = [step.line for step in finding.evidence if step.role == "write"]
    if function is None or not reads or not writes:
        return Guidance(_FOR_UPDATE_GUIDANCE)
    write = sql_call(located.statement_at(function, writes[-1]))
    binding = _read_binding(located.statement_at(function, reads[0]))
    if write is None or binding is None or write.assigned is not None:
        return Guidance(
            "The read or the write is not a plain SQL call in this function. " + _FOR_UPDATE_GUIDANCE
        )
    match = _UPDATE.match(write.sql)
    if match is None:
        return Guidance("The write is not a single-column `UPDATE ... WHERE`. " + _FOR_UPDATE_GUIDANCE)
    column = match.group("column").lower()
    decision = _decision(function, located, binding, column, range(reads[0], writes[-1]))
    if decision is None and any(step.role == "check" for step in finding.evidence):
        return Guidance(
            f"The check on `{column}` is not a plain comparison of the value read. " + _FOR_UPDATE_GUIDANCE
        )
    value_index = int(_PLACEHOLDER.findall(write.sql)[0] or 1) - 1 if write.params else -1
    column_value = (
        _relative_value(write.params[value_index], binding, column, function, located)
        if value_index >= 0 and _PLACEHOLDER.fullmatch(match.group("value").strip())
        else None
    )
    update = _guarded_update(write, column_value, decision, module)
    if update is None:
        return Guidance(
            f"The new value of `{column}` is not `<read value> ± <amount>`, so the decision cannot move "
            "into the UPDATE mechanically. " + _FOR_UPDATE_GUIDANCE
        )
    if driver == "databases" and decision is not None:
        update = GuardedUpdate(f"{update.sql} RETURNING {column}", update.params)
    try:
        new_call = _with_sql(write, update.sql, update.params, module)
    except ValueError:
        return Guidance(_FOR_UPDATE_GUIDANCE)
    if driver == "databases" and decision is not None:
        assert isinstance(new_call.func, cst.Attribute)
        new_call = new_call.with_changes(func=new_call.func.with_changes(attr=cst.Name("fetch_val")))
    replacement = _checked_write(write, new_call, decision, driver, function, module)
    block = block_of(function, write.statement)
    if block is None:
        return Guidance(_FOR_UPDATE_GUIDANCE)
    index = next(i for i, s in enumerate(block.body) if s is write.statement)
    body = list(block.body)
    later = _later_writes(body, index)
    new_body = body[:index] + replacement + body[index + 1 :]
    bound = {name for name in (binding.row_name, *binding.scalars) if name}
    if decision is None and _count_uses(function, bound) == _count_uses(
        located.statement_at(function, reads[0]) or function, bound
    ) + _count_uses(write.statement, bound):
        # A plain lost update: once the database does the arithmetic, the read is dead.
        read = located.statement_at(function, reads[0])
        new_body = [s for s in new_body if s is not read]
    note = ""
    if later:
        wrapped = _transaction(
            driver, write.receiver, new_body[index : later + len(replacement)], function, module
        )
        if wrapped is not None:
            new_body = [*new_body[:index], wrapped, *new_body[later + len(replacement) :]]
            note = " The writes that follow it now commit in the same transaction."
    patched = module.deep_replace(block, block.with_changes(body=new_body))
    assert isinstance(patched, cst.Module)
    target = f"`{match.group('table')}.{column}`"
    if decision is None:
        summary = f"Let the database compute {target} in the UPDATE instead of writing back a stale read."
    else:
        summary = (
            f"Made the UPDATE of {target} conditional on `{decision.guard_sql.format('?')}` and answered "
            "a lost race (no row changed) with the check's own rejection."
        )
    return Fixed(
        patched,
        summary + note,
        safety="safe",
        note="The check before the UPDATE stays as a fast path; the guarded UPDATE decides.",
    )


def _checked_write(
    write: SqlCall,
    new_call: cst.Call,
    decision: Decision | None,
    driver: Driver,
    function: cst.FunctionDef,
    module: cst.Module,
) -> list[cst.BaseStatement]:
    """The write with its result kept and, when there was a decision, checked."""
    value: cst.BaseExpression = cst.Await(new_call) if write.awaited else new_call
    small = write.statement.body[0]
    if decision is None:
        assert isinstance(small, cst.Expr)
        return [write.statement.with_changes(body=[small.with_changes(value=value)])]
    if driver in ("sqlite3", "psycopg", "psycopg2") and _is_cursor(write.receiver):
        statement = write.statement.with_changes(body=[cst.Expr(value)])
        result = write.receiver
    else:
        result = name_in_use(function, "updated")
        statement = write.statement.with_changes(
            body=[cst.Assign(targets=[cst.AssignTarget(cst.Name(result))], value=value)]
        )
    test = _changed_test(driver, write, result)
    rejection = decision.rejection.deep_clone()
    check = parse_statements(f"if {test}:\n    pass\n", module)[0]
    assert isinstance(check, cst.If)
    check = check.with_changes(body=cst.IndentedBlock([cst.SimpleStatementLine([rejection])]))
    return [statement, check]


def _count_uses(root: cst.CSTNode, bound: set[str]) -> int:
    return sum(1 for n in nodes(root) if isinstance(n, cst.Name) and n.value in bound)


def _later_writes(body: Sequence[cst.BaseStatement], index: int) -> int | None:
    """The index of the last SQL write after `body[index]` in the same block, if any."""
    last = None
    for position in range(index + 1, len(body)):
        call = sql_call(body[position])
        if call is not None and _WRITE_SQL.match(call.sql):
            last = position
    return last


# --- transactions (RC202, and RC201's later writes) ----------------------------------------------


class _Rename(cst.CSTTransformer):
    """Renames a variable (not attributes or keywords that happen to share its name)."""

    def __init__(self, old: str, new: str) -> None:
        self.old, self.new = old, new

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.Name:
        return updated_node.with_changes(value=self.new) if updated_node.value == self.old else updated_node

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.Attribute:
        return updated_node.with_changes(attr=original_node.attr)

    def leave_Arg(self, original_node: cst.Arg, updated_node: cst.Arg) -> cst.Arg:
        return updated_node.with_changes(keyword=original_node.keyword)


def _renamed(statement: cst.BaseStatement, old: str, new: str) -> cst.BaseStatement:
    renamed = statement.visit(_Rename(old, new))
    assert isinstance(renamed, cst.BaseStatement)
    return renamed


def _transaction(
    driver: Driver,
    receiver: str,
    statements: list[cst.BaseStatement],
    function: cst.FunctionDef,
    module: cst.Module,
) -> cst.BaseCompoundStatement | None:
    """`statements` inside one transaction in the driver's idiom, or None if there is no sound one."""
    if _is_cursor(receiver):
        return None  # the transaction belongs to the cursor's connection, which we cannot see here
    if driver in ("sqlite3", "psycopg", "psycopg2") and not _is_connection(receiver, function, module):
        return None  # a team's own wrapper: its transaction idiom is unknown
    body = list(statements)
    if driver == "wrapper":
        tx = name_in_use(function, "tx")
        header = f"async with {receiver}.transaction() as {tx}:"
        body = [_renamed(s, receiver, tx) for s in body]
    elif driver == "asyncpg" and "pool" in receiver.lower():
        conn = name_in_use(function, "conn")
        header = f"async with {receiver}.acquire() as {conn}, {conn}.transaction():"
        body = [_renamed(s, receiver, conn) for s in body]
    elif driver in ("asyncpg", "databases"):
        header = f"async with {receiver}.transaction():"
    elif driver == "psycopg":
        header = f"with {receiver}.transaction():"
    elif driver in ("sqlite3", "psycopg2"):
        if re.search(r"isolation_level\s*=\s*None|autocommit\s*=\s*True", module.code_for_node(function)):
            return None  # `with conn:` opens no transaction on an autocommit connection
        header = f"with {receiver}:"
        body = [s for s in body if not _is_commit(s, receiver)]
    else:
        return None
    if not body:
        return None
    return wrap(f"{header}\n    pass\n", body, module)


def _is_connection(receiver: str, function: cst.FunctionDef, module: cst.Module) -> bool:
    """`receiver` is a DB-API connection: annotated `Connection`, or made by `connect()` or by a
    function annotated to return one."""
    connection = r"(\w+\.)?Connection\b"
    for param in function.params.params:
        if param.name.value == receiver and param.annotation is not None:
            return bool(re.match(connection, module.code_for_node(param.annotation.annotation)))
    text = module.code_for_node(function)
    maker = _connection_maker(receiver, text)
    if maker is None:
        return False
    if maker == "connect":
        return True
    # The parameter scan stops at the next `def`, so repeated unclosed `def maker(` cannot each
    # re-scan the rest of the file.
    signature = rf"def\s+{re.escape(maker)}\((?:(?!def\s)[^)])*+\)\s*->\s*{connection}"
    return bool(re.search(signature, module.code))


def _connection_maker(receiver: str, text: str) -> str | None:
    """The function that made `receiver`: `conn = maker(...)` or `with maker(...) as conn`, the first.

    The `with` form is tried once per line, from the line's first call (an atomic group): any later
    call on the line closes before the same `) as conn`, and retrying from each call was quadratic.
    """
    name = re.escape(receiver)
    assigned = re.search(rf"\b{name}\s*=\s*(?P<call>[\w.]++)\(", text)
    first_call = r"^(?>[^\n]*?(?<![\w.])(?P<with>[\w.]++)\()"
    opened = re.search(rf"{first_call}[^\n]*\)\s+as\s+{name}\b", text, re.MULTILINE)
    found = [(m.start(group), m.group(group)) for m, group in ((assigned, "call"), (opened, "with")) if m]
    return min(found)[1].split(".")[-1] if found else None


def _is_commit(statement: cst.BaseStatement, receiver: str) -> bool:
    return isinstance(statement, cst.SimpleStatementLine) and bare_code(statement) == f"{receiver}.commit()"


@register("RC202")
def fix_unatomic_writes(module: cst.Module, finding: Finding) -> Fixed | Guidance:
    """RC202: the writes of one function wrapped in one transaction."""
    guidance = Guidance(
        "Run these writes in one transaction so they commit or roll back together: `with conn:` "
        "(sqlite3), `async with conn.transaction():` (asyncpg, databases), `with conn.transaction():` "
        "(psycopg 3), `transaction.atomic()` (Django), `with engine.begin() as conn:` (SQLAlchemy)."
    )
    driver = detect_driver(module)
    located = Located(module)
    function = located.function(finding)
    lines = [step.line for step in finding.evidence if step.role == "write"]
    if driver is None or function is None or len(lines) < 2:
        return guidance
    first = located.statement_at(function, lines[0])
    last = located.statement_at(function, lines[-1])
    if first is None or last is None:
        return guidance
    block = block_of(function, first)
    calls = [sql_call(first), sql_call(last)]
    if block is None or not any(s is last for s in block.body) or calls[0] is None or calls[1] is None:
        return guidance  # the writes live in different blocks or helpers
    if calls[0].receiver != calls[1].receiver:
        return guidance
    body = list(block.body)
    start = next(i for i, s in enumerate(body) if s is first)
    end = next(i for i, s in enumerate(body) if s is last)
    wrapped = _transaction(driver, calls[0].receiver, body[start : end + 1], function, module)
    if wrapped is None:
        return Guidance(
            guidance.message + " This connection is in autocommit mode or reached through a cursor; "
            "open the transaction explicitly (`BEGIN` ... `COMMIT`)."
        )
    patched = module.deep_replace(block, block.with_changes(body=[*body[:start], wrapped, *body[end + 1 :]]))
    assert isinstance(patched, cst.Module)
    return Fixed(
        patched,
        f"Wrapped the writes of lines {lines[0]}-{lines[-1]} in one transaction.",
        note="A failure between the writes now rolls all of them back.",
    )


# --- RC203 ---------------------------------------------------------------------------------------


@register("RC203")
def fix_check_then_insert(module: cst.Module, finding: Finding) -> Fixed | Guidance:
    """RC203: UNIQUE on the looked-up column, and the INSERT's IntegrityError as the rejection."""
    guidance = Guidance(
        "Add a UNIQUE constraint (or unique index) on the looked-up column with a migration, then "
        "insert and turn the unique violation into the same rejection (or use `INSERT ... ON CONFLICT "
        "DO NOTHING` and check the rowcount); the SELECT alone cannot stop two requests inserting."
    )
    driver = detect_driver(module)
    located = Located(module)
    function = located.function(finding)
    reads = [step.line for step in finding.evidence if step.role in ("read", "check")]
    writes = [step.line for step in finding.evidence if step.role == "write"]
    if driver not in _INTEGRITY_ERROR or function is None or not reads or not writes:
        return guidance
    insert_statement = located.statement_at(function, writes[-1])
    insert = sql_call(insert_statement)
    read_sql = _select_text(located.statement_at(function, reads[0]))
    if insert is None or read_sql is None or (table := _INSERT.match(insert.sql)) is None:
        return guidance
    select = _SELECT.match(read_sql)
    where = select.group("where") if select else None
    columns = _EQUALITY_COLUMNS.findall(where or "")
    if select is None or len(columns) != 1 or select.group("table").lower() != table.group("table").lower():
        return Guidance(guidance.message + " (the lookup is not on one column of the inserted table)")
    column = columns[0]
    schema = _schema_string(module, table.group("table"))
    if schema is None:
        return guidance
    check = located.statement_at(function, reads[-1])
    handler_body = _duplicate_answer(check, insert.statement)
    if handler_body is None:
        return Guidance(guidance.message + " (the check's rejection is not one `raise`/`return`/`abort`)")
    block = block_of(function, insert.statement)
    unique_schema = _with_unique(schema, table.group("table"), column)
    if block is None or unique_schema is None:
        return guidance
    error_module, error_name = _INTEGRITY_ERROR[driver]
    guarded = wrap(
        f"try:\n    pass\nexcept {error_module}.{error_name}:\n    pass\n", [insert.statement], module
    )
    assert isinstance(guarded, cst.Try)
    handler = guarded.handlers[0].with_changes(
        body=cst.IndentedBlock([cst.SimpleStatementLine([handler_body])])
    )
    guarded = guarded.with_changes(handlers=[handler])
    body = [guarded if s is insert.statement else s for s in block.body]
    patched = module.deep_replace(block, block.with_changes(body=body))
    assert isinstance(patched, cst.Module)
    with_unique = patched.deep_replace(_find_string(patched, schema), _restring(schema, unique_schema))
    assert isinstance(with_unique, cst.Module)
    patched = with_unique
    context = CodemodContext()
    AddImportsVisitor.add_needed_import(context, error_module)
    patched = AddImportsVisitor(context).transform_module(patched)
    return Fixed(
        patched,
        f"Declared `{table.group('table')}.{column}` UNIQUE and turned a duplicate INSERT into the "
        "check's own rejection.",
        safety="unsafe",
        note=(
            f"Needs a migration on existing databases: `CREATE UNIQUE INDEX ON {table.group('table')} "
            f"({column})` (clean up existing duplicates first). The CREATE TABLE in this file only "
            "affects new databases."
        ),
    )


def _select_text(statement: cst.BaseStatement | None) -> str | None:
    if statement is None:
        return None
    for node in nodes(statement):
        value = node.evaluated_value if isinstance(node, cst.SimpleString) else None
        if isinstance(value, str) and _SELECT.match(value):
            return value
    return None


def _duplicate_answer(
    check: cst.BaseStatement | None, insert: cst.BaseStatement
) -> cst.BaseSmallStatement | None:
    """What a duplicate gets: the check's rejection, or nothing when the insert sits in `if not found:`."""
    if not isinstance(check, cst.If):
        return None
    if any(node is insert for node in nodes(check.body)):
        return cst.Pass()
    rejection = exit_statement(check.body)
    if rejection is None:
        return None
    return raised_from_none(rejection)


def _schema_string(module: cst.Module, table: str) -> cst.SimpleString | None:
    pattern = re.compile(rf"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?{re.escape(table)}\s*\(", re.I)
    strings = [node for node in nodes(module) if isinstance(node, cst.SimpleString)]
    for string in strings:
        value = string.evaluated_value
        if isinstance(value, str) and pattern.search(value) and string.raw_value == value:
            return string
    return None


def _find_string(module: cst.Module, like: cst.SimpleString) -> cst.SimpleString:
    return next(n for n in nodes(module) if isinstance(n, cst.SimpleString) and n.value == like.value)


def _with_unique(string: cst.SimpleString, table: str, column: str) -> str | None:
    """The schema text with UNIQUE added to `column`'s definition in `table`."""
    text = string.raw_value
    start = re.search(rf"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?{re.escape(table)}\s*\(", text, re.I)
    if start is None:
        return None
    # The definition up to its last non-space character, then the spaces before `,` or `)`.
    definition = re.compile(rf"(\(|,)(\s*{re.escape(column)}\s++)((?:[^,()]*[^,()\s])?)(\s*)(?=,|\))", re.I)
    found = definition.search(text, start.end() - 1)
    if found is None or re.search(r"\bUNIQUE\b|\bPRIMARY\s+KEY\b", found.group(3), re.I):
        return None
    end = found.end(3)
    return text[:end] + " UNIQUE" + text[end:]


def _restring(old: cst.SimpleString, raw: str) -> cst.SimpleString:
    return old.with_changes(value=old.prefix + old.quote + raw + old.quote)
