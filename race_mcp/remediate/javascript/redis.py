"""Redis fixers for JavaScript/TypeScript (ioredis, node-redis v4): RC501, GET → decide → SET.

- Claim once (`const used = await r.get(k); if (used) return ...; await r.set(k, v)`, or the SET
  inside `if (!used) { ... }`): the SET moves into the check as `SET k v NX` (ioredis `"NX"`,
  node-redis `{ NX: true }`), whose reply decides: only the request that created the key goes on.
- Counters (`const n = Number(await r.get(k)) || 0; if (n >= 5) return ...; await r.set(k, n + 1)`):
  the GET becomes `INCRBY k d` (the value before it is the reply minus d, as the code expects),
  a refused request gives its increment back with `DECRBY`, and the SET goes; a TTL the SET gave
  (`"EX", 900`) is set once when the key is created (`SET k 0 EX 900 NX` before the INCRBY).
- Anything else: guidance with the JavaScript code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ...findings import Finding
from .._fixers import Fixed, Guidance, register_text
from ._common import Rejection, check_exits, exit_text
from ._examples import with_example
from ._source import Edit, JsSource, Node, descendants

__all__ = ["fix_get_then_set"]

_GUIDANCE = "Let Redis decide atomically instead of GET then SET:"
_NODE_REDIS = re.compile(r"""(?:from\s+|require\(\s*)["'](?:redis|@redis/client)["']""")
_IOREDIS = re.compile(r"""(?:from\s+|require\(\s*)["']ioredis["']""")
_STEP = re.compile(r"^(?P<name>\w+)\s*(?P<sign>[+-])\s*(?P<delta>.+)$", re.DOTALL)


@dataclass(frozen=True)
class RedisCall:
    call: Node
    client: str  # the receiver's code
    args: list[Node]
    awaited: bool


def _redis_call(source: JsSource, scope: Node, method: str) -> RedisCall | None:
    for call in source.calls(scope):
        callee = call.child_by_field_name("function")
        if source.method_of(call) != method or callee is None:
            continue
        receiver = callee.child_by_field_name("object")
        if receiver is None:
            continue
        awaited = call.parent is not None and call.parent.type == "await_expression"
        return RedisCall(call, source.code(receiver), source.arguments(call), awaited)
    return None


def _node_redis(source: JsSource, client: str) -> bool:
    """node-redis (options objects) rather than ioredis (string flags)."""
    declared = re.search(rf"\b{re.escape(client)}\s*=\s*(?:await\s+)?(\w+)\s*\(", source.text)
    if declared and declared.group(1) == "createClient":
        return True
    if re.search(rf"\b{re.escape(client)}\s*=\s*new\s+(?:IORedis|Redis)\b", source.text):
        return False
    return bool(_NODE_REDIS.search(source.text)) and not _IOREDIS.search(source.text)


def _with_nx(source: JsSource, write: RedisCall, node_redis: bool) -> str | None:
    """The SET call's text with NX added (None when it already has NX/XX/GET)."""
    text = source.code(write.call)
    if re.search(r"""["'](?:NX|XX|GET)["']|\b(?:NX|XX|GET)\s*:""", text, re.IGNORECASE):
        return None
    if not node_redis:
        return source.text_with(
            write.call, [Edit(write.args[-1].end_byte, write.args[-1].end_byte, ', "NX"')]
        )
    if len(write.args) == 3 and write.args[2].type == "object":
        options = write.args[2]
        members = [m for m in options.named_children if m.type != "comment"]
        at = members[-1].end_byte if members else options.start_byte + 1
        insert = ", NX: true" if members else " NX: true "
        return source.text_with(write.call, [Edit(at, at, insert)])
    if len(write.args) != 2:
        return None
    return source.text_with(
        write.call, [Edit(write.args[1].end_byte, write.args[1].end_byte, ", { NX: true }")]
    )


def _declared_inside(source: JsSource, block: Node, names: set[str]) -> bool:
    for node in descendants(block):
        if node.type == "variable_declarator":
            target = node.child_by_field_name("name")
            if target is not None and source.names_used(target) & names:
                return True
    return False


def _claim(
    source: JsSource,
    function: Node,
    read_var: str,
    write_statement: Node,
    write: RedisCall,
    checks: list[Node],
) -> list[Edit] | None:
    """The SET NX in the check's place; the separate SET goes."""
    set_nx = _with_nx(source, write, _node_redis(source, write.client))
    if set_nx is None:
        return None
    claimed = f"await {set_nx}" if write.awaited else set_nx
    for check in checks:
        condition = check.child_by_field_name("condition")
        text = source.code(condition).strip("() ") if condition is not None else ""
        consequence = check.child_by_field_name("consequence")
        inside = (
            consequence is not None
            and consequence.start_byte <= write_statement.start_byte < consequence.end_byte
        )
        if inside and re.fullmatch(rf"!\s*{re.escape(read_var)}|{re.escape(read_var)}\s*===?\s*null", text):
            if _declared_inside(source, consequence, source.names_used(write.call)):
                return None  # the value or key is computed inside the block: it cannot move up
            body = [c for c in consequence.named_children if c.type != "comment"]
            if body == [write_statement] and check.child_by_field_name("alternative") is None:
                return [source.replace(check, f"{claimed};")]  # nothing else hangs on the claim
            return [source.replace(condition, f"({claimed})"), _delete(source, write_statement)]
        if not inside and re.fullmatch(rf"{re.escape(read_var)}(\s*!==?\s*null)?", text):
            return [source.replace(condition, f"(!({claimed}))"), _delete(source, write_statement)]
    return None


def _delete(source: JsSource, statement: Node) -> Edit:
    """Remove a statement and its line (indentation and newline included)."""
    start = source.data.rfind(b"\n", 0, statement.start_byte) + 1
    end = source.data.find(b"\n", statement.end_byte)
    end = len(source.data) if end < 0 else end + 1
    return Edit(start, end, "")


def _unwrapped(value: str) -> str:
    """`String(n + 1)`, `(n + 1).toString()`, `Number(n) + 1` -> `n + 1`: the step, as a number."""
    value = value.strip()
    for pattern in (r"^String\((?P<v>.+)\)$", r"^\((?P<v>.+)\)\.toString\(\)$"):
        match = re.match(pattern, value, re.DOTALL)
        value = match.group("v").strip() if match else value
    return re.sub(r"^(?:Number|parseInt)\((\w+)\)", r"\1", value)


def _counter(
    source: JsSource,
    read: RedisCall,
    read_var: str,
    write_statement: Node,
    write: RedisCall,
    rejections: list[Rejection],
) -> tuple[list[Edit], str] | None:
    """GET → INCRBY (reply minus the step), compensate on refusal, drop the SET (module docstring)."""
    if len(write.args) < 2 or not read.awaited or source.code(read.args[0]) != source.code(write.args[0]):
        return None
    step = _STEP.match(_unwrapped(source.code(write.args[1])))
    if step is None or step.group("name") != read_var:
        return None
    delta = (
        step.group("delta") if re.fullmatch(r"[\w.]+", step.group("delta")) else f"({step.group('delta')})"
    )
    grow, shrink = ("incrby", "decrby") if step.group("sign") == "+" else ("decrby", "incrby")
    node_redis = _node_redis(source, read.client)
    if node_redis:
        grow, shrink = grow.replace("by", "By"), shrink.replace("by", "By")
    key, client = source.code(read.args[0]), read.client
    back = "-" if step.group("sign") == "+" else "+"
    counted = f"(await {client}.{grow}({key}, {delta})) {back} {delta}"
    alone = read.call.parent.parent is not None and read.call.parent.parent.type == "arguments"
    edits = [source.replace(read.call.parent, counted if alone else f"({counted})")]
    ttl = _ttl(source, write, node_redis)
    if ttl is not None:  # created with its TTL, once, before the first increment
        statement = source.statement_of(read.call) or read.call
        indent = source.indent_of(statement)
        edits.append(
            Edit(
                statement.start_byte, statement.start_byte, f"await {client}.set({key}, 0, {ttl});\n{indent}"
            )
        )
    for rejection in rejections:
        indent = source.indent_of(rejection.check)
        unit = source.unit()
        give_back = f"await {client}.{shrink}({key}, {delta});"
        body = f"{{\n{indent}{unit}{give_back}\n{indent}{unit}{exit_text(source, rejection)}\n{indent}}}"
        consequence = rejection.check.child_by_field_name("consequence")
        edits.append(source.replace(consequence, body))
    edits.append(_delete(source, write_statement))
    return edits, f"{grow}({key}, {delta})"


def _ttl(source: JsSource, write: RedisCall, node_redis: bool) -> str | None:
    """The SET's expiry as the arguments of a `SET k 0 ... NX` that creates the key with it."""
    extra = write.args[2:]
    if not extra:
        return None
    if node_redis and len(extra) == 1 and extra[0].type == "object":
        inner = source.code(extra[0]).strip("{} ")
        return f"{{ {inner}, NX: true }}"
    return ", ".join(source.code(a) for a in extra) + ', "NX"'


@register_text("javascript", "RC501", "RC5")
def fix_get_then_set(text: str, finding: Finding) -> Fixed | Guidance:
    """RC501: SET NX for a claim, INCRBY/DECRBY for a counter (module docstring)."""
    guidance = Guidance(with_example(_GUIDANCE, "RC501"))
    if finding.rule_id != "RC501":
        return Guidance(with_example(finding.fix or _GUIDANCE, "RC501"))
    source = JsSource(text, finding.path)
    function = source.function_for(finding)
    reads = [s.line for s in finding.evidence if s.role == "read"]
    writes = [s.line for s in finding.evidence if s.role == "write"]
    if function is None or not reads or not writes:
        return guidance
    read_statement = source.statement_at(function, reads[0])
    write_statement = source.statement_at(function, writes[-1])
    if read_statement is None or write_statement is None:
        return guidance
    read = _redis_call(source, read_statement, "get")
    write = _redis_call(source, write_statement, "set")
    declarator = source.first(read_statement, "variable_declarator")
    target = declarator.child_by_field_name("name") if declarator is not None else None
    if read is None or write is None or target is None or target.type != "identifier" or not write.args:
        return guidance
    read_var = source.code(target)
    checks = [
        n
        for n in descendants(function)
        if n.type == "if_statement" and read_statement.end_byte <= n.start_byte < write_statement.start_byte
    ]
    claim = _claim(source, function, read_var, write_statement, write, checks)
    if claim is not None and source.code(read.args[0]) == source.code(write.args[0]):
        return Fixed(
            source.apply(claim),
            "Claimed the key with SET NX in the check's place; only the request that created it goes on.",
        )
    rejections = check_exits(source, function, reads[0], writes[-1])
    counter = _counter(source, read, read_var, write_statement, write, rejections)
    if counter is None:
        return guidance
    edits, command = counter
    return Fixed(
        source.apply(edits),
        f"Counted with `{command}` (atomic; its reply decides) instead of GET then SET; a refused "
        "request gives its step back.",
        safety="unsafe" if len(write.args) > 2 else "safe",
        note="The key's TTL is now set once when it is created (a fixed window), not renewed by every SET."
        if len(write.args) > 2
        else "",
    )
