"""SQL fixers for JavaScript/TypeScript (`pg`, `mysql2`): RC201, read then UPDATE of the same row.

The SELECT's decision moves into the UPDATE's WHERE, where the database checks it atomically, and
the row count is checked:

    const { rows } = await pool.query("SELECT balance FROM accounts WHERE id = $1", [id]);
    if (rows[0].balance < amount) return res.status(400).send(...);
    await pool.query("UPDATE accounts SET balance = $1 WHERE id = $2", [rows[0].balance - amount, id]);

becomes an UPDATE of `balance = balance - $1 WHERE id = $2 AND balance >= $3` whose `rowCount`
(mysql2: `affectedRows`) is checked, answering as the check does (on a route: 409). A SET that
assigns a value computed from the read becomes relative (`x = x - $n`) when it is `read ± n`,
otherwise the UPDATE compares the column with the value read (compare-and-set). A check that is no
simple comparison of a column becomes that compare-and-set too. Other SQL rules: guidance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ...findings import Finding
from .._fixers import Fixed, Guidance, register_text
from ._common import Rejection, check_exits, conjuncts, free_name, is_typescript, losing_answer
from ._examples import with_example
from ._libraries import library_of
from ._source import Edit, JsSource, Node, descendants, unquote
from ._sql_rows import column_of, derived_locals, reads_row, row_expressions

__all__ = ["fix_select_then_update", "sql_guidance"]

_UPDATE = re.compile(
    r"^(?P<head>\s*UPDATE\s+(?P<table>[\w.\"`]+)\s+SET\s+(?P<set>.+?)\s+WHERE\s+)(?P<where>.+?)"
    r"(?P<tail>\s+RETURNING\s+.*?)?(?P<end>\s*;?\s*)$",
    re.IGNORECASE | re.DOTALL,
)
_SET_ONE = re.compile(r"^\s*(?P<col>\w+)\s*=\s*(?P<value>.+?)\s*$", re.DOTALL)
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "===": "===", "==": "==", "!==": "!==", "!=": "!="}
_NEGATE = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "===": "<>", "==": "<>", "!==": "=", "!=": "="}
_SQL_OP = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "===": "=", "==": "=", "!==": "<>", "!=": "<>"}
_RC201_MESSAGE = "Move the decision into the UPDATE and check the row count:"


@dataclass
class Update:
    statement: Node
    call: Node
    literal: Node  # the SQL string
    params: Node | None  # the array literal of parameters
    match: re.Match[str]
    dollar: bool  # `$n` placeholders (pg), else `?` (mysql2)
    extra: list[str] = field(default_factory=list)  # parameter codes the rewrite adds


def _update_call(source: JsSource, statement: Node) -> Update | None:
    for call in source.calls(statement):
        args = source.arguments(call)
        if not args or args[0].type not in ("string", "template_string"):
            continue
        text = unquote(source.code(args[0]))
        match = _UPDATE.match(text) if text is not None else None
        if match is None:
            continue
        params = args[1] if len(args) > 1 and args[1].type == "array" else None
        if len(args) > 1 and params is None:
            return None
        dollar = "$" in match.string or "?" not in match.string
        return Update(statement, call, args[0], params, match, dollar)
    return None


@dataclass
class Guard:
    parts: list[str] = field(default_factory=list)  # SQL conditions appended to the WHERE
    checked: set[str] = field(default_factory=set)  # columns the parts compare


class _Builder:
    def __init__(self, source: JsSource, update: Update, rows: set[str]) -> None:
        self.source, self.update, self.rows = source, update, rows
        self.guard = Guard()
        existing = [] if update.params is None else update.params.named_children
        self.param_codes = [source.code(p) for p in existing]

    def placeholder(self, code: str) -> str:
        """A parameter for `code` (reusing a `$n` that already carries it)."""
        if re.fullmatch(r"-?\d+(\.\d+)?", code):
            return code
        if self.update.dollar:
            all_codes = self.param_codes + self.update.extra
            if code in all_codes:
                return f"${all_codes.index(code) + 1}"
            self.update.extra.append(code)
            return f"${len(self.param_codes) + len(self.update.extra)}"
        self.update.extra.append(code)
        return "?"

    def comparison(self, node: Node, write_runs_when_true: bool) -> bool:
        """Add `node` (`rows[0].x OP expr`) as a WHERE condition; False when it is not one."""
        if node.type != "binary_expression":
            return False
        left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
        operator = self.source.code(node.child_by_field_name("operator"))
        if left is None or right is None or operator not in _FLIP:
            return False
        column = column_of(self.source, left, self.rows)
        if column is None and (column := column_of(self.source, right, self.rows)) is not None:
            left, right, operator = right, left, _FLIP[operator]
        if column is None:
            return False
        if column in self.guard.checked:
            return True  # pinned to the value read, which passed this check: nothing to add
        sql_operator = _SQL_OP[operator] if write_runs_when_true else _NEGATE[operator]
        other = column_of(self.source, right, self.rows)
        if other is not None:  # `rows[0].uses < rows[0].max_uses`: two columns of the same row
            self.guard.parts.append(f"{column} {sql_operator} {other}")
            self.guard.checked |= {column, other}
            return True
        if reads_row(self.source, right, self.rows):
            return False
        value = self.source.code(right)
        if value in ("null", "undefined"):
            return False
        self.guard.parts.append(f"{column} {sql_operator} {self.placeholder(value)}")
        self.guard.checked.add(column)
        return True

    def compare_and_set(self, column: str, row: str) -> None:
        if column not in self.guard.checked:
            # Null-safe equality: a NULL read must match NULL (`=` would never match it).
            equal = "IS NOT DISTINCT FROM" if self.update.dollar else "<=>"
            self.guard.parts.append(f"{column} {equal} {self.placeholder(f'{row}.{column}')}")
            self.guard.checked.add(column)

    def columns_read(self, node: Node) -> dict[str, str]:
        found = {}
        for n in descendants(node):
            if n.type == "member_expression" and (col := column_of(self.source, n, self.rows)):
                found[col] = self.source.code(n.child_by_field_name("object"))
        return found


def _relative_set(builder: _Builder, derived: dict[str, Node]) -> tuple[str, list[Edit]] | None:
    """The SET clause with each `col = $n` whose `$n` is `row.col ± x` made `col = col ± $n` (the
    parameter becomes `x`); other assignments from the read get a compare-and-set. None if a SET
    is not a plain `col = value` list."""
    source, update = builder.source, builder.update
    assignments = update.match.group("set").split(",")
    params = [] if update.params is None else update.params.named_children
    new_assignments, edits = [], []
    for assignment in assignments:
        match = _SET_ONE.match(assignment)
        if match is None:
            return None
        column, value = match.group("col"), match.group("value")
        index = _param_index(value, update, assignments, assignment)
        param = params[index] if index is not None and index < len(params) else None
        expression = (
            derived.get(source.code(param), param)
            if param is not None and param.type == "identifier"
            else param
        )
        if expression is None or not reads_row(source, expression, builder.rows):
            new_assignments.append(assignment.strip())
            continue
        relative = _relative(source, expression, column, builder.rows)
        if relative is not None and param is not None:
            sign, delta = relative
            new_assignments.append(f"{column} = {column} {sign} {value}")
            edits.append(source.replace(param, delta))
            if index is not None:
                builder.param_codes[index] = delta
        else:
            new_assignments.append(assignment.strip())
            for col, row in builder.columns_read(expression).items():
                builder.compare_and_set(col, row)
    return ", ".join(new_assignments), edits


def _param_index(value: str, update: Update, assignments: list[str], assignment: str) -> int | None:
    if update.dollar:
        match = re.fullmatch(r"\$(\d+)", value.strip())
        return int(match.group(1)) - 1 if match else None
    if value.strip() != "?":
        return None
    return ",".join(assignments[: assignments.index(assignment)]).count("?")


def _relative(source: JsSource, expression: Node, column: str, rows: set[str]) -> tuple[str, str] | None:
    """`rows[0].balance - amount` -> ("-", "amount") when it changes `column` by an amount."""
    if expression.type != "binary_expression":
        return None
    operator = source.code(expression.child_by_field_name("operator"))
    left, right = expression.child_by_field_name("left"), expression.child_by_field_name("right")
    if operator not in ("-", "+") or left is None or right is None:
        return None
    if column_of(source, left, rows) == column and not reads_row(source, right, rows):
        return operator, source.code(right)
    return None


def _sql_text(update: Update, set_clause: str, guard: Guard) -> str:
    match = update.match
    where = match.group("where")
    if re.search(r"\bOR\b", where, re.IGNORECASE):
        where = f"({where})"
    head = match.group("head").replace(match.group("set"), set_clause, 1)
    conditions = " AND ".join([where, *guard.parts])
    return head + conditions + (match.group("tail") or "") + match.group("end")


def _count_check(source: JsSource, update: Update, function: Node, answer: str) -> Edit | None:
    """`await pool.query(...)` -> `const result = await ...; if (result.rowCount === 0) answer`."""
    statement = update.statement
    mysql = "mysql" in source.text and not update.dollar
    indent = source.indent_of(statement)
    if statement.type == "expression_statement":
        name = free_name("result", source.names_used(function))
        target = f"[{name}]" if mysql else name
        call_text = source.code(statement).rstrip(";")
        declaration = f"const {target} = {call_text};"
    elif statement.type == "lexical_declaration":
        declarator = source.first(statement, "variable_declarator")
        target_node = declarator.child_by_field_name("name") if declarator is not None else None
        if target_node is None:
            return None
        if target_node.type == "identifier" and not mysql:
            name = source.code(target_node)
        elif target_node.type == "array_pattern" and mysql and target_node.named_children:
            name = source.code(target_node.named_children[0])
        else:
            return None
        declaration = source.code(statement)
    else:
        return None
    counted = "affectedRows" if mysql else "rowCount"
    if mysql and is_typescript(source.path):
        # mysql2's typings give `execute` a union (rows or a header): only the header counts rows.
        name = f"({name} as {{ affectedRows: number }})"
    text = f"{declaration}\n{indent}if ({name}.{counted} === 0) {answer}"
    return source.replace(statement, text)


@register_text("javascript", "RC201")
def fix_select_then_update(text: str, finding: Finding) -> Fixed | Guidance:
    """RC201: the decision in the UPDATE's WHERE, the row count checked (module docstring)."""
    # In the file's query builder where it has one (knex), else as a pg query.
    guidance = with_example(_RC201_MESSAGE, "RC201", library_of(text, finding))
    source = JsSource(text, finding.path)
    function = source.function_for(finding)
    reads = [s.line for s in finding.evidence if s.role == "read"]
    writes = [s.line for s in finding.evidence if s.role == "write"]
    if function is None or not reads or not writes:
        return Guidance(guidance)
    read_statement = source.statement_at(function, reads[0])
    write_statement = source.statement_at(function, writes[-1])
    update = _update_call(source, write_statement) if write_statement is not None else None
    rows = row_expressions(source, read_statement, function) if read_statement is not None else set()
    if update is None or not rows or read_statement is None:
        return Guidance("The read and the UPDATE are not plain query calls with literal SQL. " + guidance)
    builder = _Builder(source, update, rows)
    rejections = check_exits(source, function, reads[0], writes[-1])
    # The SET first: a parameter it makes relative (`$1` now carries `amount`) is reused by the checks.
    relative = _relative_set(builder, derived_locals(source, function, rows))
    if relative is None:
        return Guidance(guidance)
    _add_checks(source, builder, function, read_statement, update, rejections)
    if not builder.guard.parts:
        return Guidance(guidance)
    set_clause, param_edits = relative
    answer, outcome = losing_answer(
        source,
        function,
        finding,
        rejections,
        f'throw new Error("{update.match.group("table")} changed concurrently; nothing was updated");',
    )
    edits = _write_edits(source, update, set_clause, param_edits, builder.guard)
    counted = _count_check(source, update, function, answer)
    if counted is None:
        return Guidance(guidance)
    inner = source.text_with(update.statement, edits)
    whole = counted.text.replace(source.code(update.statement), inner, 1)
    return Fixed(
        source.apply([Edit(counted.start, counted.end, whole)]),
        f"Moved the check into the UPDATE (`{' AND '.join(builder.guard.parts)}`) and checked the row count.",
        safety="unsafe",
        note=f"A request that loses the race now gets {outcome} instead of overwriting the row.",
    )


def _add_checks(
    source: JsSource,
    builder: _Builder,
    function: Node,
    read_statement: Node,
    update: Update,
    rejections: list[Rejection],
) -> bool:
    """Every check between the read and the write (or around the write) as WHERE conditions."""
    for node in descendants(function):
        if (
            node.type != "if_statement"
            or not read_statement.end_byte <= node.start_byte < update.statement.start_byte
        ):
            continue
        condition = node.child_by_field_name("condition")
        if condition is None or not reads_row(source, condition, builder.rows):
            continue
        around = node.start_byte <= update.statement.start_byte < node.end_byte
        refuses = any(r.check is node for r in rejections)
        if not (around or refuses):
            continue
        consequence = node.child_by_field_name("consequence")
        in_consequence = (
            consequence is not None
            and consequence.start_byte <= update.statement.start_byte < consequence.end_byte
        )
        runs_when_true = around and in_consequence
        for comparison in conjuncts(source, condition, "&&" if runs_when_true else "||"):
            if not builder.comparison(comparison, runs_when_true):
                for column, row in builder.columns_read(comparison).items():
                    builder.compare_and_set(column, row)
    return True


def _write_edits(
    source: JsSource, update: Update, set_clause: str, param_edits: list[Edit], guard: Guard
) -> list[Edit]:
    quote = source.code(update.literal)[0]
    sql = _sql_text(update, set_clause, guard)
    edits = [source.replace(update.literal, f"{quote}{sql}{quote}"), *param_edits]
    if update.extra:
        if update.params is None:
            edits.append(
                Edit(update.literal.end_byte, update.literal.end_byte, f", [{', '.join(update.extra)}]")
            )
        else:
            members = update.params.named_children
            at = members[-1].end_byte if members else update.params.start_byte + 1
            joined = ", ".join(update.extra)
            edits.append(Edit(at, at, f", {joined}" if members else joined))
    return edits


_MESSAGES = {
    "RC202": "Issue the writes that belong together in one transaction, on one client of the pool:",
    "RC203": "Let a UNIQUE constraint decide and insert without checking first:",
}


@register_text("javascript", "RC202", "RC203", "RC2")
def sql_guidance(text: str, finding: Finding) -> Fixed | Guidance:
    """Other SQL rules: which writes belong together, or which column is unique, needs a person."""
    message = _MESSAGES.get(finding.rule_id) or finding.fix or "Make the check and the write one statement."
    return Guidance(with_example(message, finding.rule_id, library_of(text, finding)))
