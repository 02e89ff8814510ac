"""ORM fixers for Rust (RC304: a row read, decided on, written back from what was read).

- diesel, `diesel::update(target).set(col.eq(row.col ± n)).execute(conn)`: the target gets
  `.filter(col.eq(row.col))` for each column it sets from the row, and the row count answers with
  the check's own rejection (`if changed == 0 { return Ok(false); }`);
- sea-orm, an `ActiveModel` made from the row, changed (`active.col = Set(row.col - n)`) and saved
  with `active.update(db)`: the save becomes `m::Entity::update(active).filter(m::Column::Col.eq(seen))`
  with `seen` the value read, taken before the row is moved into the model; no row matched is
  `DbErr::RecordNotUpdated`, returned by the `?` already there.
`save_changes`, `save()` and creates after a lookup get the guidance in `guidance.py`.
"""

from __future__ import annotations

import re

from ...analyzer.rust._syntax import Node
from ...findings import Finding
from .._fixers import Fixed, Guidance, register_text
from ._source import Edit, RustSource, apply_edits, descendants, free_name
from .guidance import orm_guidance

__all__ = ["fix_orm_update"]

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
def fix_orm_update(text: str, finding: Finding) -> Fixed | Guidance:
    source = RustSource(text)
    fixed = _sea_orm_update(source, finding)
    return fixed if fixed is not None else _diesel_update(source, finding)


def _diesel_update(source: RustSource, finding: Finding) -> Fixed | Guidance:
    text = source.text
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
    function_code = source.code(function)
    assignments = [
        (c, f) for c, f in _assignments(source, setter, row) if not _optional(function_code, row, f)
    ]
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


# `let mut active: account::ActiveModel = found.clone().into();` (or `found.into()`).
_ACTIVE = re.compile(
    r"let\s+mut\s+(\w+)\s*:\s*((?:\w+::)*\w+)::ActiveModel\s*=\s*(\w+)(?:\.clone\(\))?\.into\(\)\s*;"
)
_SET_FIELD = re.compile(r"^\s*(\w+)\.(\w+)\s*=\s*Set\((.*)\)\s*;\s*$", re.DOTALL)


def _sea_orm_update(source: RustSource, finding: Finding) -> Fixed | None:
    function = source.function(finding)
    write_line = next((e.line for e in finding.evidence if e.role == "write"), None)
    read = source.statement_at(function, finding.line) if function is not None else None
    write = source.statement_at(function, write_line) if function is not None and write_line else None
    row = source.bound_name(read) if read is not None else None
    if function is None or read is None or write is None or row is None or read.parent != write.parent:
        return None
    active = None
    sets: list[tuple[str, str]] = []
    checked = " ".join(
        source.code(r.check.child_by_field_name("condition"))
        for r in source.rejections(function, read.end_byte, write.start_byte)
    )
    for statement in _between(read, write):
        code = source.code(statement)
        made = _ACTIVE.fullmatch(code)
        if made is not None and made.group(3) == row:
            active = (statement, made.group(1), made.group(2))
        field = _SET_FIELD.match(code)
        if active is None or field is None or field.group(1) != active[1]:
            continue
        # A column set from the row, or one the check looked at: compare it with what was read.
        read_here = rf"\b{re.escape(row)}\s*\.\s*{re.escape(field.group(2))}\b"
        if re.search(read_here, field.group(3)) or re.search(read_here, checked):
            sets.append((field.group(2), field.group(3)))
    if active is None or not sets:
        return None
    made_at, name, module = active
    # `active.update(db)`; `active.save(db)` too when its result (an ActiveModel) is not kept.
    verbs = "update|save" if write.type == "expression_statement" else "update"
    saved = re.fullmatch(rf"{re.escape(name)}\s*\.\s*(?:{verbs})\s*\((.+)\)", _call_text(source, write) or "")
    if saved is None:
        return None
    taken = source.identifiers(function)
    indent = source.indent_of(made_at)
    seen: list[tuple[str, str]] = []
    code = source.code(function)
    null_filters = []
    for column, _ in sets:
        if _optional(code, row, column):
            # `eq(None)` is `= NULL`, never true: only a check that refused `Some` says the value
            # read was NULL; any other optional column has no sound comparison here.
            if not re.search(rf"\b{re.escape(row)}\s*\.\s*{re.escape(column)}\s*\.\s*is_some\(\)", checked):
                return None
            null_filters.append(f".filter({module}::Column::{_camel(column)}.is_null())")
            continue
        variable = free_name(f"seen_{column}", taken)
        taken.add(variable)
        seen.append((column, variable))
    captures = "".join(f"let {v} = {row}.{f}.clone();\n{indent}" for f, v in seen)
    filters = "".join(f".filter({module}::Column::{_camel(f)}.eq({v}))" for f, v in seen)
    filters += "".join(null_filters)
    call = _call_node(write)
    assert call is not None
    replacement = f"{module}::Entity::update({name}){filters}.exec({saved.group(1)})"
    edits = [
        Edit(made_at.start_byte, made_at.start_byte, captures),
        Edit(call.start_byte, call.end_byte, replacement),
    ]
    listed = ", ".join(f for f, _ in sets)
    return Fixed(
        apply_edits(source.text, edits),
        f"Made the sea-orm update conditional on {listed} still being what `{row}` read "
        f"(`{module}::Entity::update(..).filter(..)`): a concurrent change makes it fail instead of "
        "being overwritten.",
        note="A lost race returns DbErr::RecordNotUpdated through the existing `?`; map it to the "
        "check's answer (or re-read and retry) where the handler answers errors.",
    )


def _optional(code: str, row: str, field: str) -> bool:
    """`row.field` is used as an `Option` in the function (`.is_some()`, `.is_none()`, `.map(`...)."""
    option_use = r"\s*\.\s*(?:is_some|is_none|map|unwrap|unwrap_or|as_ref|take|and_then)\b"
    return re.search(rf"\b{re.escape(row)}\s*\.\s*{re.escape(field)}{option_use}", code) is not None


def _between(read: Node, write: Node) -> list[Node]:
    found = []
    sibling = read.next_named_sibling
    while sibling is not None and sibling != write:
        found.append(sibling)
        sibling = sibling.next_named_sibling
    return found


def _call_node(statement: Node) -> Node | None:
    """The `x.update(db)` call of `x.update(db).await?;` / `let m = x.update(db).await?;`."""
    node = (
        statement.named_children[0]
        if statement.type == "expression_statement"
        else statement.child_by_field_name("value")
    )
    while node is not None and node.type in ("try_expression", "await_expression"):
        node = node.named_children[0] if node.named_children else None
    return node if node is not None and node.type == "call_expression" else None


def _call_text(source: RustSource, statement: Node) -> str | None:
    call = _call_node(statement)
    return source.code(call) if call is not None else None


def _camel(field: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in field.split("_"))
