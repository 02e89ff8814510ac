"""In-process state fixers for Rust (RC101/RC102), for three shapes with one sound rewrite each:

- a guard taken for the read and another for the write (`*m.lock().unwrap()` twice, `.read()`
  then `.write()`): one guard, taken for writing before the read and dropped after the write
  (`let mut stock = state.stock.lock().unwrap(); .. *stock = left - 1; drop(stock);`). A std
  guard is not held across an `.await` (the future would not be `Send`): then, guidance.
- an atomic `load` then `store`: `fetch_add`/`fetch_sub` for `n ± k` with nothing decided in
  between, else `fetch_update` whose closure refuses what the checks refuse (`None`), so the value
  the checks then test is the one the update saw;
- DashMap `get(&k)`/`contains_key(&k)` rejection then `insert(k, v)`: the entry API, which holds the
  shard lock from the check to the insert.
Anything else: the Rust guidance of `guidance.py`.
"""

from __future__ import annotations

import re

from ...analyzer.rust._syntax import Node
from ...findings import Finding
from .._fixers import Fixed, Guidance, register_text
from ._source import Edit, RustSource, apply_edits, free_name
from .guidance import memory_guidance

__all__ = ["fix_shared_state"]

# `P.lock().unwrap()`, `P.write().expect("..")`, `P.lock().await`: a guard taken on place P.
_GUARD = re.compile(
    r"(?P<place>[\w.]+)\.(?P<kind>lock|read|write)\(\)(?P<tail>\.await|\.unwrap\(\)|\.expect\(\"[^\"]*\"\))"
)
_EXCLUSIVE = {"lock": "lock", "read": "write", "write": "write"}


@register_text("rust", "RC101", "RC102")
def fix_shared_state(text: str, finding: Finding) -> Fixed | Guidance:
    source = RustSource(text)
    function = source.function(finding)
    write_line = next((e.line for e in finding.evidence if e.role == "write"), None)
    read = source.statement_at(function, finding.line) if function is not None else None
    write = source.statement_at(function, write_line) if function is not None and write_line else None
    container = _sibling_holding(read, write) if read is not None and write is not None else None
    if function is None or read is None or container is None:
        return memory_guidance(text, finding)
    # A write nested in a later statement (`if left > 0 { *m.lock().unwrap() = left - 1; }`) is
    # handled by the one-guard rewrite through that statement; the others need siblings.
    strategies = (_one_guard, _atomic, _entry) if container == write else (_one_guard,)
    for strategy in strategies:
        fixed = strategy(source, function, read, container)
        if fixed is not None:
            return fixed
    return memory_guidance(text, finding)


def _sibling_holding(read: Node, write: Node) -> Node | None:
    """The statement of `read`'s block that is or contains `write`."""
    current: Node | None = write
    while current is not None and current.parent != read.parent:
        current = current.parent
    return current if current is not None and current.start_byte > read.start_byte else None


def _between(source: RustSource, read: Node, write: Node) -> str:
    return source.data[read.start_byte : write.end_byte].decode("utf-8")


def _one_guard(source: RustSource, function: Node, read: Node, write: Node) -> Fixed | None:
    read_guard = _GUARD.search(source.code(read))
    if read_guard is None:
        return None
    place = read_guard.group("place")
    # The write takes its own temporary guard, or writes through a guard a `let` between took.
    acquisition = write
    for candidate in [*_siblings_between(read, write), write]:
        if any(m.group("place") == place for m in _GUARD.finditer(source.code(candidate))):
            acquisition = candidate
            break
    write_guards = [m for m in _GUARD.finditer(source.code(acquisition)) if m.group("place") == place]
    hoisted_name = source.bound_name(acquisition) if acquisition.type == "let_declaration" else None
    if not write_guards or (acquisition.type == "let_declaration" and hoisted_name is None):
        return None
    if acquisition is not write and hoisted_name is None:
        return None
    last = _last_use(source, acquisition, hoisted_name) if hoisted_name else write
    tail = write_guards[0].group("tail")
    tokio = tail == ".await"
    if not tokio and ".await" in _between(source, read, last):
        return None  # a std guard must not live across an await
    kind = _EXCLUSIVE[write_guards[0].group("kind")]
    acquire = f"{place}.{kind}(){tail}"
    name = hoisted_name or free_name(place.rsplit(".", 1)[-1], source.identifiers(function))
    indent = source.indent_of(read)
    read_code = source.code(read).replace(read_guard.group(0), name, 1)
    edits = [Edit(read.start_byte, read.end_byte, f"let mut {name} = {acquire};\n{indent}{read_code}")]
    if hoisted_name is not None:  # `let mut seats = P.write().unwrap();` now happens before the read
        start = source.data.rfind(b"\n", 0, acquisition.start_byte) + 1
        edits.append(Edit(start, acquisition.end_byte + 1, ""))
        edits.append(Edit(last.end_byte, last.end_byte, f"\n{source.indent_of(last)}drop({name});"))
    else:
        write_code = source.code(write)
        for match in write_guards:
            write_code = write_code.replace(match.group(0), name)
        edits.append(Edit(write.start_byte, write.end_byte, f"{write_code}\n{indent}drop({name});"))
    return Fixed(
        apply_edits(source.text, edits),
        f"Took one {kind} guard on `{place}` before the read and held it to the write "
        f"(dropped after it): the check and the write happen under the same lock.",
        note="The lock now covers the statements between the read and the write too; keep them short.",
    )


def _last_use(source: RustSource, declaration: Node, name: str) -> Node:
    """The last sibling statement after `declaration` that names `name` (where to drop it)."""
    last = declaration
    sibling = declaration.next_named_sibling
    while sibling is not None:
        if name in source.identifiers(sibling):
            last = sibling
        sibling = sibling.next_named_sibling
    return last


def _atomic(source: RustSource, function: Node, read: Node, write: Node) -> Fixed | None:
    """`let n = P.load(o1); [checks] P.store(v, o2);` → `fetch_add` / `fetch_update`."""
    loaded = re.fullmatch(
        r"let\s+(?:mut\s+)?(\w+)(?:\s*:\s*[\w:<>]+)?\s*=\s*([\w.:]+)\.load\((.+)\);", source.code(read)
    )
    stored = re.fullmatch(r"([\w.:]+)\.store\((.+),\s*([\w:]+)\s*\);", source.code(write))
    if loaded is None or stored is None or loaded.group(2) != stored.group(1):
        return None
    name, place, fetch_order = loaded.groups()
    value, set_order = stored.group(2).strip(), stored.group(3)
    between = [s for s in _siblings_between(read, write)]
    rejections = source.rejections(function, read.end_byte, write.start_byte)
    conditions = [source.code(r.check.child_by_field_name("condition")) for r in rejections]
    if any(".await" in c or "return" in c for c in conditions) or len(rejections) != len(between):
        return None
    step = re.fullmatch(rf"{re.escape(name)}\s*([+-])\s*(\w+)", value)
    order = fetch_order if fetch_order == set_order else "std::sync::atomic::Ordering::SeqCst"
    if step is not None and not rejections:
        method = "fetch_add" if step.group(1) == "+" else "fetch_sub"
        replacement = f"{place}.{method}({step.group(2)}, {order})"
    else:
        refuse = " || ".join(f"({c})" for c in conditions) or "false"
        closure = f"|{name}| if {refuse} {{ None }} else {{ Some({value}) }}"
        replacement = (
            f"{place}.fetch_update({set_order}, {fetch_order}, {closure}).unwrap_or_else(|{name}| {name})"
        )
    value_node = read.child_by_field_name("value")
    start = source.data.rfind(b"\n", 0, write.start_byte) + 1
    edits = [
        Edit(value_node.start_byte, value_node.end_byte, replacement),
        Edit(start, write.end_byte + 1, ""),
    ]
    return Fixed(
        apply_edits(source.text, edits),
        f"Made the load and store of `{place}` one atomic read-modify-write; `{name}` still holds the "
        "value before it, so what follows reads as before.",
    )


def _siblings_between(read: Node, write: Node) -> list[Node]:
    found = []
    sibling = read.next_named_sibling
    while sibling is not None and sibling != write:
        if sibling.type not in ("line_comment", "block_comment"):
            found.append(sibling)
        sibling = sibling.next_named_sibling
    return found


def _entry(source: RustSource, function: Node, read: Node, write: Node) -> Fixed | None:
    """`if P.get(&k).is_some() { reject } P.insert(k, v);` → `match P.entry(k) { .. }`."""
    if read.type != "expression_statement" or _siblings_between(read, write):
        return None
    check = read.named_children[0] if read.named_children else None
    if check is None or check.type != "if_expression" or check.child_by_field_name("alternative") is not None:
        return None
    condition = source.code(check.child_by_field_name("condition"))
    probe = re.fullmatch(r"([\w.]+)\.(?:get\((.+)\)\.is_some\(\)|contains_key\((.+)\))", condition.strip())
    inserted = re.fullmatch(r"([\w.]+)\.insert\((.+?),\s*(.+)\);", source.code(write), re.DOTALL)
    if probe is None or inserted is None or probe.group(1) != inserted.group(1):
        return None
    key = (probe.group(2) or probe.group(3)).strip().lstrip("&")
    if key != inserted.group(2).strip() or "DashMap" not in source.text:
        return None
    place, value = inserted.group(1), inserted.group(3)
    consequence = source.code(check.child_by_field_name("consequence"))
    indent = source.indent_of(read)
    entry = "dashmap::mapref::entry::Entry"
    text = (
        f"match {place}.entry({key}) {{\n"
        f"{indent}    {entry}::Occupied(_) => {textwrap_block(consequence, indent)}\n"
        f"{indent}    {entry}::Vacant(slot) => {{\n{indent}        slot.insert({value});\n{indent}    }}\n"
        f"{indent}}}"
    )
    return Fixed(
        apply_edits(source.text, [Edit(read.start_byte, write.end_byte, text)]),
        f"Replaced the get/insert on `{place}` with its entry API: the shard stays locked from the "
        "check to the insert.",
    )


def textwrap_block(block: str, indent: str) -> str:
    """A `{ .. }` block re-indented one level deeper (it moves into a match arm)."""
    lines = block.split("\n")
    return "\n".join([lines[0], *(("    " + line) if line.strip() else line for line in lines[1:])])
