"""The row a JavaScript SELECT read: the expressions that are it (`rows[0]`, `result.rows[0]`, a
`row` bound from them), the columns read off it, and the locals computed from it."""

from __future__ import annotations

import re

from ._source import JsSource, Node, descendants

__all__ = ["column_of", "derived_locals", "reads_row", "row_expressions"]

_NUMERIC_WRAPPERS = re.compile(
    r"^(?:Number|parseInt|parseFloat|BigInt)\((?P<inner>.+?)(?:,\s*\d+)?\)$", re.DOTALL
)


def row_expressions(source: JsSource, read_statement: Node, function: Node) -> set[str]:
    """Expressions that are the row read: `rows[0]`, `result.rows[0]`, `row` (`const [row] = rows`)."""
    declarator = source.first(read_statement, "variable_declarator")
    target = declarator.child_by_field_name("name") if declarator is not None else None
    rows: set[str] = set()
    if target is None:
        return rows
    code = source.code(target)
    if target.type == "identifier":
        rows |= {f"{code}.rows[0]", f"{code}[0][0]"}
    elif target.type == "object_pattern" and re.fullmatch(r"\{\s*rows\s*\}", code):
        rows.add("rows[0]")
    elif target.type == "array_pattern" and target.named_children[:1]:
        first = target.named_children[0]
        if first.type == "identifier":
            rows.add(f"{source.code(first)}[0]")
    collections = {r.removesuffix("[0]") for r in rows}
    for node in descendants(function):  # `const row = rows[0]`, `const [row] = rows`
        if node.type != "variable_declarator":
            continue
        name, value = node.child_by_field_name("name"), node.child_by_field_name("value")
        if name is None or value is None:
            continue
        if name.type == "identifier" and source.code(value) in rows:
            rows.add(source.code(name))
        elif name.type == "array_pattern" and source.code(value) in collections and name.named_children:
            rows.add(source.code(name.named_children[0]))
    return rows


def column_of(source: JsSource, node: Node, rows: set[str]) -> str | None:
    """`rows[0].balance`, `Number(row.balance)` -> "balance"."""
    text = source.code(node).strip()
    wrapped = _NUMERIC_WRAPPERS.match(text)
    text = wrapped.group("inner").strip() if wrapped else text
    obj, dot, column = text.rpartition(".")
    return column if dot and obj in rows and re.fullmatch(r"\w+", column) else None


def reads_row(source: JsSource, node: Node, rows: set[str]) -> bool:
    return any(source.code(n) in rows for n in descendants(node))


def derived_locals(source: JsSource, function: Node, rows: set[str]) -> dict[str, Node]:
    """Locals computed from the row (`const next = rows[0].balance - amount`): name -> value."""
    found = {}
    for node in descendants(function):
        if node.type == "variable_declarator":
            name, value = node.child_by_field_name("name"), node.child_by_field_name("value")
            if (
                name is not None
                and value is not None
                and name.type == "identifier"
                and reads_row(source, value, rows)
            ):
                found[source.code(name)] = value
    return found
