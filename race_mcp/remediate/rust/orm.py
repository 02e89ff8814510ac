"""diesel fixer for Rust (RC304: a row read with the query DSL, decided on, written back with
`diesel::update(target).set(col.eq(row.col ± n)).execute(conn)`).

The UPDATE becomes a compare-and-set: its target gets `.filter(col.eq(row.col))` for each column
it sets from the row, and the row count answers with the check's own rejection
(`if changed == 0 { return Ok(false); }`). `save_changes`, sea-orm's ActiveModels and creates
after a lookup get the guidance in `guidance.py`.
"""

from __future__ import annotations

import re

from ...analyzer.rust._syntax import Node
from ...findings import Finding
from .._fixers import Fixed, Guidance, register_text
from ._source import Edit, RustSource, apply_edits, descendants, free_name
from .guidance import orm_guidance

__all__ = ["fix_diesel_update"]

# `balance.eq(`, `accounts::balance.eq(` at the start of a `.set(..)` argument or tuple element.
_ASSIGNMENT = re.compile(r"^\s*((?:\w+::)*\w+)\s*\.\s*eq\s*\(")


def _update_call(source: RustSource, write: Node) -> tuple[Node, Node] | None:
    """`diesel::update(target)` in the statement, and its `.set(..)` call."""
    update = next((n for n in descendants(write) if _is_update(source, n)), None)
    sets = source.calls_named(write, "set")
    return (update, sets[-1]) if update is not None and sets else None


def _is_update(source: RustSource, node: Node) -> bool:
    if node.type != "call_expression":
        return False
    name = re.sub(r"\s+", "", source.code(node.child_by_field_name("function")))
    return name in ("diesel::update", "update")


def _assignments(source: RustSource, setter: Node, row: str) -> list[tuple[str, str]]:
    """(column path, row field) for each `col.eq(<value using row.col>)` the `.set(..)` makes."""
    arguments = setter.child_by_field_name("arguments").named_children
    elements = (
        arguments[0].named_children
        if len(arguments) == 1 and arguments[0].type == "tuple_expression"
        else arguments
    )
    found = []
    for element in elements:
        code = source.code(element)
        match = _ASSIGNMENT.match(code)
        if match is None:
            continue
        column = match.group(1)
        field = column.rsplit("::", 1)[-1]
        if re.search(rf"\b{re.escape(row)}\s*\.\s*{re.escape(field)}\b", code[match.end() :]):
            found.append((column, field))
    return found


@register_text("rust", "RC304")
def fix_diesel_update(text: str, finding: Finding) -> Fixed | Guidance:
    source = RustSource(text)
    function = source.function(finding)
    write_line = next((e.line for e in finding.evidence if e.role == "write"), None)
    read = source.statement_at(function, finding.line) if function is not None else None
    write = source.statement_at(function, write_line) if function is not None and write_line else None
    row = source.bound_name(read) if read is not None else None
    calls = _update_call(source, write) if write is not None else None
    if function is None or read is None or write is None or row is None or calls is None:
        return orm_guidance(text, finding)
    update, setter = calls
    target_arguments = update.child_by_field_name("arguments").named_children
    assignments = _assignments(source, setter, row)
    rejections = source.rejections(function, read.end_byte, write.start_byte)
    if (
        len(target_arguments) != 1
        or not assignments
        or not rejections
        or write.type != "expression_statement"
    ):
        return orm_guidance(text, finding)
    target = target_arguments[0]
    # A target that already compares a column it sets (`.filter(balance.ge(amount))`) is the
    # guard; it only needs its row count read.
    compared = source.code(target)
    filters = "".join(
        f".filter({column}.eq({row}.{field}))"
        for column, field in assignments
        if not re.search(rf"\b{re.escape(column)}\s*\.\s*(?:eq|ne|gt|ge|lt|le)\s*\(", compared)
    )
    statement = source.code(write)
    offset = target.end_byte - write.start_byte
    statement = statement[:offset] + filters + statement[offset:]
    indent = source.indent_of(write)
    name = free_name("changed", source.identifiers(function))
    exit_code = source.code(rejections[0].exit).rstrip(";") + ";"
    replacement = f"let {name} = {statement}\n{indent}if {name} == 0 {{\n{indent}    {exit_code}\n{indent}}}"
    listed = ", ".join(column for column, _ in assignments)
    made = (
        f"Made the diesel UPDATE conditional on {listed} still being what `{row}` read"
        if filters
        else "Looked at the row count of the guarded diesel UPDATE"
    )
    return Fixed(
        apply_edits(text, [Edit(write.start_byte, write.end_byte, replacement)]),
        made + ", and answered a lost race (no row changed) with the check's own rejection.",
        note="Under contention the losing request now gets the check's rejection; re-reading the row "
        "and retrying would let it succeed when the new value still allows it.",
    )
