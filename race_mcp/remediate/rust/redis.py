"""Redis fixers for Rust (redis-rs `AsyncCommands` on a connection local: `con.get(&key)`...).

- RC501, a claim (`get`/`exists` → "already there" rejection → `set(k, v)` of a value not read):
  the SET becomes `set_nx`, and a lost claim answers with the check's own rejection.
- RC501, a claim on a set (`sismember` → rejection → `sadd`): SADD's count decides.
- RC501 / RC502, a counter (`let n: i64 = con.get(&k)` → check → `set(&k, n ± d)` or `incr(&k, d)`):
  the read becomes the atomic step, `con.incr::<_, _, i64>(&k, ±d).await? ∓ d` (the value before
  it, so the check and later uses read as before), the separate write goes, and each rejection
  first gives the step back (`con.incr::<_, _, ()>(&k, ∓d)`).
- RC503 and the rest: guidance in Rust (an atomic pipeline, a Lua script).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ...analyzer.rust._syntax import Node
from ...findings import Finding
from .._fixers import Fixed, Guidance, register_text
from ._source import Edit, RustSource, apply_edits, descendants, free_name

__all__ = ["fix_counter", "fix_read_then_set", "guidance_only"]

_RC501_GUIDANCE = """Let Redis decide in one command and look at its answer:

    // a claim: SET NX answers whether this request won
    let won: bool = con.set_nx(&key, owner).await?;
    if !won {
        return Err(AppError::Taken);
    }
    // a counter: INCRBY/DECRBY return the new value; undo and refuse past the limit
    let left: i64 = con.decr(&key, 1).await?;
    if left < 0 {
        let _: () = con.incr(&key, 1).await?;
        return Err(AppError::SoldOut);
    }

Several keys or a condition on another value: a Lua script
(`redis::Script::new(LUA).key(&key).arg(n).invoke_async(&mut con)`)."""

_RC503_GUIDANCE = """Send INCR and EXPIRE as one MULTI/EXEC, so a key never lives without its expiry:

    let (count,): (i64,) = redis::pipe()
        .atomic()
        .incr(&key, 1)
        .expire(&key, 60).ignore()
        .query_async(&mut con)
        .await?;

Or `SET key 0 EX 60 NX` once, then INCR (the expiry is set with the key)."""


@dataclass(frozen=True)
class _Command:
    """`con.method(key, rest..)` in one statement."""

    call: Node
    connection: str
    method: str
    key: str
    rest: list[Node]


def _command(source: RustSource, statement: Node, methods: tuple[str, ...]) -> _Command | None:
    for node in descendants(statement):
        if node.type != "call_expression":
            continue
        function = node.child_by_field_name("function")
        if function is None or function.type != "field_expression":
            continue
        method = source.code(function.child_by_field_name("field"))
        receiver = function.child_by_field_name("value")
        arguments = node.child_by_field_name("arguments").named_children
        if method in methods and receiver is not None and receiver.type == "identifier" and arguments:
            return _Command(node, source.code(receiver), method, _key(source, arguments[0]), arguments[1:])
    return None


def _key(source: RustSource, node: Node) -> str:
    return re.sub(r"\s+", "", source.code(node)).lstrip("&")


def _statements(source: RustSource, finding: Finding) -> tuple[Node, Node, Node] | None:
    function = source.function(finding)
    write_line = next((e.line for e in finding.evidence if e.role == "write"), None)
    if function is None or write_line is None:
        return None
    read = source.statement_at(function, finding.line)
    write = source.statement_at(function, write_line)
    return (function, read, write) if read is not None and write is not None else None


def _removal(source: RustSource, statement: Node) -> Edit:
    """The statement's whole line(s), when it stands alone on them."""
    start = source.data.rfind(b"\n", 0, statement.start_byte) + 1
    end = source.data.find(b"\n", statement.end_byte)
    end = len(source.data) if end < 0 else end + 1
    return Edit(start, end, "")


@register_text("rust", "RC501")
def fix_read_then_set(text: str, finding: Finding) -> Fixed | Guidance:
    source = RustSource(text)
    found = _statements(source, finding)
    if found is None:
        return Guidance(_RC501_GUIDANCE)
    function, read, write = found
    counter = _counter(source, function, read, write, ("set",))
    if counter is not None:
        return counter
    return _claim(source, function, read, write) or Guidance(_RC501_GUIDANCE)


@register_text("rust", "RC502")
def fix_counter(text: str, finding: Finding) -> Fixed | Guidance:
    source = RustSource(text)
    found = _statements(source, finding)
    if found is None:
        return Guidance(_RC501_GUIDANCE)
    function, read, write = found
    return _counter(source, function, read, write, ("incr", "decr")) or Guidance(_RC501_GUIDANCE)


def _claim(source: RustSource, function: Node, read: Node, write: Node) -> Fixed | None:
    """`exists`/`get`/`sismember` → rejection → `set`/`sadd` of a value that was not read."""
    checked = _command(source, read, ("get", "exists", "sismember"))
    written = _command(source, write, ("set", "sadd"))
    bound = source.bound_name(read)
    rejections = source.rejections(function, read.end_byte, write.start_byte)
    if checked is None or written is None or bound is None or not rejections:
        return None
    if checked.key != written.key or write.type != "expression_statement" or len(written.rest) != 1:
        return None
    if bound in source.identifiers(written.rest[0]) or (written.method == "sadd") != (
        checked.method == "sismember"
    ):
        return None
    if write.named_children[0].type not in ("try_expression", "await_expression"):
        return None
    exit_code = source.code(rejections[0].exit).rstrip(";") + ";"
    indent = source.indent_of(write)
    name = free_name("claimed" if written.method == "set" else "added", source.identifiers(function))
    call_text = source.code(written.call)
    if written.method == "set":
        function_node = written.call.child_by_field_name("function").child_by_field_name("field")
        start = function_node.start_byte - written.call.start_byte
        call_text = call_text[:start] + "set_nx" + call_text[start + len("set") :]
        declaration, test = f"let {name}: bool = ", f"!{name}"
        how = "SET NX claims the key"
    else:
        declaration, test = f"let {name}: i64 = ", f"{name} == 0"
        how = "SADD's count says whether this request added the member"
    statement = source.code(write).replace(source.code(written.call), call_text, 1).rstrip(";")
    replacement = f"{declaration}{statement};\n{indent}if {test} {{\n{indent}    {exit_code}\n{indent}}}"
    fixed = apply_edits(source.text, [Edit(write.start_byte, write.end_byte, replacement)])
    return Fixed(
        fixed,
        f"Made the write of `{written.key}` atomic with its check ({how}) and answered a lost race "
        "with the check's own rejection.",
    )


def _counter(
    source: RustSource, function: Node, read: Node, write: Node, methods: tuple[str, ...]
) -> Fixed | None:
    """`let n: T = con.get(&k)` → checks → `con.set(&k, n ± d)` / `con.incr(&k, d)`."""
    got = _command(source, read, ("get",))
    written = _command(source, write, methods)
    bound = source.bound_name(read)
    if got is None or written is None or bound is None or got.key != written.key or len(written.rest) != 1:
        return None
    if write.type != "expression_statement":
        return None
    delta = _delta(source, bound, written)
    if delta is None:
        return None
    declared = read.child_by_field_name("type")
    value_type = source.code(declared) if declared is not None else "i64"
    if value_type not in ("i64", "i32", "u64", "u32", "isize", "usize"):
        return None
    connection, key = got.connection, source.code(got.call.child_by_field_name("arguments").named_children[0])
    value = read.child_by_field_name("value")
    step = f"{connection}.incr::<_, _, {value_type}>({key}, {delta}).await? {_minus(delta)}"
    edits = [Edit(value.start_byte, value.end_byte, step), _removal(source, write)]
    for rejection in source.rejections(function, read.end_byte, write.start_byte):
        indent = source.indent_of(rejection.exit)
        undo = f"{connection}.incr::<_, _, ()>({key}, {_negated(delta)}).await?;\n{indent}"
        edits.append(Edit(rejection.exit.start_byte, rejection.exit.start_byte, undo))
    return Fixed(
        apply_edits(source.text, edits),
        f"Made the read of `{got.key}` the atomic INCRBY ({delta}) and gave the step back on each rejection; "
        f"`{bound}` still holds the value before it, so the checks read as before.",
        safety="unsafe",
        note="A missing key now counts from 0 (GET failed on nil before), and another reader may see "
        "the step before a rejection gives it back.",
    )


def _negated(delta: str) -> str:
    """`-1` for `1`, `1` for `-1`, `-(n)` otherwise."""
    if re.fullmatch(r"-?\d+", delta):
        return str(-int(delta))
    return delta[1:] if delta.startswith("-(") else f"-({delta})"


def _minus(delta: str) -> str:
    """The text that takes `delta` back off the new value: `- 1`, `+ 1`, `- (n)`."""
    if re.fullmatch(r"-?\d+", delta):
        number = int(delta)
        return f"- {number}" if number >= 0 else f"+ {-number}"
    return f"+ {delta[1:]}" if delta.startswith("-(") else f"- ({delta})"


def _delta(source: RustSource, bound: str, written: _Command) -> str | None:
    """`n + 1` / `n - d` written back (SET), or the INCR/DECR amount: the signed step as Rust text."""
    value = source.code(written.rest[0]).strip()
    if written.method in ("incr", "decr"):
        return value if written.method == "incr" else f"-{value}" if value.isdigit() else f"-({value})"
    match = re.fullmatch(rf"{re.escape(bound)}\s*([+-])\s*(\w+|\([^()]*\))", value)
    if match is None:
        return None
    sign, amount = match.groups()
    if bound in amount:
        return None
    return amount if sign == "+" else (f"-{amount}" if amount.isdigit() else f"-({amount})")


@register_text("rust", "RC503")
def guidance_only(text: str, finding: Finding) -> Fixed | Guidance:
    return Guidance(_RC503_GUIDANCE)
