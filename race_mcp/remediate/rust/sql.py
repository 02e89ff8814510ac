"""SQL fixers for Rust (sqlx functions and macros, tokio-postgres), PostgreSQL placeholders (`$n`).

- RC201 (SELECT → decide → UPDATE):
  - the SELECT runs inside a transaction (`let mut tx = pool.begin()`, `client.transaction()`):
    `FOR UPDATE` is appended to it, so the row stays locked until the commit;
  - otherwise the UPDATE becomes a compare-and-set: `AND col IS NOT DISTINCT FROM $n` for each
    column it sets that the SELECT read, bound to the value read (`.bind(&balance)`, a `query!`
    argument, `&balance` in tokio-postgres' parameter slice), and its row count is looked at: no
    row changed answers with the check's own rejection (`return Err(AppError::Insufficient);`).
- RC202, RC203, and shapes the rewrite cannot read (SQL outside a literal, `?` placeholders, no
  rejection to answer with): guidance with the Rust code.
"""

from __future__ import annotations

import re

from ...analyzer.python.stores._sql_text import SqlStatement, parse_sql
from ...analyzer.rust._syntax import Node
from ...findings import Finding
from .._fixers import Fixed, Guidance, register_text
from ._source import Edit, RustSource, apply_edits, descendants

__all__ = ["fix_select_then_update", "guidance_only"]

_STRINGS = ("string_literal", "raw_string_literal")
_SELECT_LIST = re.compile(r"^\s*SELECT\s+(?P<columns>.+?)\s+FROM\s", re.IGNORECASE | re.DOTALL)
_PLACEHOLDER = re.compile(r"\$(\d+)")
_BEGIN = re.compile(r"\.\s*(?:begin|transaction)\s*\(\s*\)")

_RC201_GUIDANCE = """Make the UPDATE its own check and look at the row count:

    let done = sqlx::query("UPDATE accounts SET balance = balance - $1 WHERE id = $2 AND balance >= $1")
        .bind(amount)
        .bind(id)
        .execute(&pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(AppError::Insufficient);
    }

Or read with `SELECT ... FOR UPDATE` on a transaction (`let mut tx = pool.begin().await?;`,
`.fetch_one(&mut *tx)`, `tx.commit().await?`) so the row stays locked until the write commits."""

_RC202_GUIDANCE = """Run the statements that belong together in one transaction:

    let mut tx = pool.begin().await?;
    sqlx::query("UPDATE balances SET amount = amount - $1 WHERE id = $2").bind(amount).bind(from)
        .execute(&mut *tx).await?;
    sqlx::query("UPDATE balances SET amount = amount + $1 WHERE id = $2").bind(amount).bind(to)
        .execute(&mut *tx).await?;
    tx.commit().await?;

With tokio-postgres: `let tx = client.transaction().await?;` ... `tx.commit().await?;`."""

_RC203_GUIDANCE = """Let a unique index decide, and answer its duplicate-key error:

    // CREATE UNIQUE INDEX users_email ON users (email);
    match sqlx::query("INSERT INTO users (email) VALUES ($1)").bind(&email).execute(&pool).await {
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Err(AppError::Exists),
        other => { other?; }
    }

Or `INSERT ... ON CONFLICT (email) DO NOTHING` and treat `rows_affected() == 0` as "exists"."""


def _sql_literal(source: RustSource, statement: Node, kind: str) -> tuple[Node, str, SqlStatement] | None:
    """The first string literal in `statement` whose SQL is a `kind` statement, its SQL, its parse."""
    for node in descendants(statement):
        if node.type in _STRINGS:
            sql = _unquote(source.code(node))
            parsed = parse_sql(sql) if sql is not None else None
            if sql is not None and parsed is not None and parsed.kind == kind:
                return node, sql, parsed
    return None


def _unquote(literal: str) -> str | None:
    match = re.fullmatch(r'(?s)r?(#*)"(.*)"\1', literal)
    return match.group(2) if match else None


def _append_to_sql(source: RustSource, literal: Node, addition: str) -> Edit:
    """`addition` at the end of the literal's SQL (before a closing `;` and the quote)."""
    code = source.code(literal)
    closing = len(code) - len(code.rstrip("#")) + 1
    body_end = literal.end_byte - closing
    body = source.data[literal.start_byte : body_end].decode()
    trimmed = len(body.rstrip().rstrip(";").rstrip())
    at = literal.start_byte + len(body[:trimmed].encode())
    return Edit(at, at, addition)


def _transaction_name(source: RustSource, function: Node, read: Node) -> str | None:
    """The transaction the read runs on: `let mut tx = pool.begin().await?;` before it, named in it."""
    for node in descendants(function):
        if node.type == "let_declaration" and node.end_byte <= read.start_byte:
            value = node.child_by_field_name("value")
            name = source.bound_name(node)
            begins = name and value is not None and _BEGIN.search(source.code(value))
            if begins and name in source.identifiers(read):
                return name
    return None


@register_text("rust", "RC201")
def fix_select_then_update(text: str, finding: Finding) -> Fixed | Guidance:
    source = RustSource(text)
    function = source.function(finding)
    write_line = next((e.line for e in finding.evidence if e.role == "write"), None)
    if function is None or write_line is None:
        return Guidance(_RC201_GUIDANCE)
    read = source.statement_at(function, finding.line)
    write = source.statement_at(function, write_line)
    selected = _sql_literal(source, read, "select") if read is not None else None
    if read is None or write is None or selected is None:
        return Guidance(_RC201_GUIDANCE)
    transaction = _transaction_name(source, function, read)
    if transaction is not None:
        fixed = apply_edits(text, [_append_to_sql(source, selected[0], " FOR UPDATE")])
        return Fixed(
            fixed,
            f"Locked the rows the SELECT reads with FOR UPDATE inside the transaction `{transaction}`: "
            "a concurrent request waits at its read until this one commits.",
        )
    return _compare_and_set(source, function, read, write, selected[1]) or Guidance(_RC201_GUIDANCE)


def _compare_and_set(
    source: RustSource, function: Node, read: Node, write: Node, select_sql: str
) -> Fixed | None:
    updated = _sql_literal(source, write, "update")
    row = source.bound_name(read)
    if updated is None or row is None or write.type != "expression_statement":
        return None
    literal, sql, statement = updated
    numbers = [int(n) for n in _PLACEHOLDER.findall(sql)]
    if not numbers or " where " not in f" {sql.lower()} " or "returning" in sql.lower():
        return None
    rejection = next(iter(source.rejections(function, read.end_byte, write.start_byte)), None)
    if rejection is None:
        return None
    # An UPDATE whose WHERE already re-checks what it sets only needs its row count looked at.
    columns = [] if statement.guarded else sorted(statement.set_columns & _selected_columns(select_sql))
    olds = [(column, _old_value(source, function, read, row, column, select_sql)) for column in columns]
    if not (olds or statement.guarded) or any(old is None for _, old in olds):
        return None
    conditions = "".join(
        f" AND {column} IS NOT DISTINCT FROM ${number}"
        for number, (column, _) in enumerate(olds, start=max(numbers) + 1)
    )
    arguments = _argument_edits(source, write, literal, [old for _, old in olds if old]) if olds else []
    if arguments is None:
        return None
    # The statement's own edits first (offsets relative to it), then the statement replaced whole.
    inner = [
        Edit(e.start - write.start_byte, e.end - write.start_byte, e.text)
        for e in [_append_to_sql(source, literal, conditions), *arguments]
    ]
    statement_code = apply_edits(source.code(write), inner)
    kind = "sqlx" if "sqlx::" in statement_code or "query!" in statement_code else "postgres"
    edits = [_count_check(source, function, write, statement_code, source.code(rejection.exit), kind)]
    table = ", ".join(sorted(statement.tables))
    made = (
        f"Made the UPDATE of `{table}` conditional on {', '.join(columns)} still being what the SELECT read"
        if columns
        else f"Looked at the row count of the guarded UPDATE of `{table}`"
    )
    return Fixed(
        apply_edits(source.text, edits),
        made + ", and answered a lost race (no row changed) with the check's own rejection.",
        note="Under contention the losing request now gets the check's rejection; retrying the read "
        "would let it succeed when the new value still allows it.",
    )


def _selected_columns(sql: str) -> set[str]:
    match = _SELECT_LIST.match(sql)
    if match is None:
        return set()
    names = set()
    for part in match.group("columns").split(","):
        words = part.strip().split()
        if words and re.fullmatch(r"[\w.]+", words[0]):
            names.add(words[-1].split(".")[-1].lower() if len(words) in (1, 3) else words[0].lower())
    return names


def _old_value(
    source: RustSource, function: Node, read: Node, row: str, column: str, select_sql: str
) -> str | None:
    """The Rust expression holding the value the SELECT read for `column`."""
    read_code = source.code(read)
    if "query_scalar" in read_code and len(_selected_columns(select_sql)) == 1:
        return row
    pattern = re.compile(rf"^{re.escape(row)}\s*\.\s*(?:try_)?get\s*\(\s*\"{re.escape(column)}\"\s*\)")
    for node in descendants(function):
        if node.type == "let_declaration" and node.start_byte >= read.end_byte:
            value = node.child_by_field_name("value")
            name = source.bound_name(node)
            if name and value is not None and pattern.match(source.code(value)):
                return name
    if ("query!" in read_code or "query_as!" in read_code) and "fetch_one" in read_code:
        return f"{row}.{column}"
    return None


def _argument_edits(source: RustSource, write: Node, literal: Node, olds: list[str]) -> list[Edit] | None:
    """Bind the old values: `.bind(&v)` before sqlx's `.execute(`, a `query!` argument, or
    `&v` in tokio-postgres' parameter slice."""
    parent = literal.parent
    if parent is not None and parent.type == "token_tree":  # `query!("...", a, b)`
        close = parent.end_byte - 1
        return [Edit(close, close, "".join(f", {old}" for old in olds))]
    if parent is not None and parent.type == "arguments":
        arguments = parent.named_children
        if arguments and arguments[0] == literal and len(arguments) == 1:  # `sqlx::query("...")`
            executes = source.calls_named(write, "execute")
            if not executes:
                return None
            receiver = executes[-1].child_by_field_name("function").child_by_field_name("value")
            binds = "".join(f".bind(&{old})" for old in olds)
            return [Edit(receiver.end_byte, receiver.end_byte, binds)]
        if len(arguments) == 2 and arguments[1].type in ("array_expression", "reference_expression"):
            array = arguments[1]
            if array.type == "reference_expression":
                array = array.named_children[-1] if array.named_children else array
            if array.type != "array_expression":
                return None
            close = array.end_byte - 1
            separator = ", " if array.named_children else ""
            return [Edit(close, close, separator + ", ".join(f"&{old}" for old in olds))]
    return None


def _count_check(
    source: RustSource, function: Node, write: Node, statement: str, exit_code: str, kind: str
) -> Edit:
    """`stmt;` becomes `let changed = stmt;` and a test of the row count that answers like the check."""
    indent = source.indent_of(write)
    taken = source.identifiers(function)
    name = "changed" if "changed" not in taken else "rows_changed"
    test = f"{name}.rows_affected() == 0" if kind == "sqlx" else f"{name} == 0"
    exit_statement = exit_code if exit_code.rstrip().endswith(";") else exit_code + ";"
    check = f"\n{indent}if {test} {{\n{indent}    {exit_statement}\n{indent}}}"
    return Edit(write.start_byte, write.end_byte, f"let {name} = {statement}{check}")


@register_text("rust", "RC202", "RC203")
def guidance_only(text: str, finding: Finding) -> Fixed | Guidance:
    return Guidance(_RC202_GUIDANCE if finding.rule_id == "RC202" else _RC203_GUIDANCE)
