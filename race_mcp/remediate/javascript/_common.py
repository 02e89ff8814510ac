"""Pieces every JavaScript fixer shares: object literals (read a property, add properties in the
literal's own layout), local bindings, the handler's conflict answer, and wrapping a statement in
`try`/`catch` for one error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ...findings import Finding
from ._source import Edit, JsSource, Node, descendants, unquote

__all__ = [
    "CONFLICT_MESSAGE",
    "Rejection",
    "add_properties",
    "check_exits",
    "conflict_answer",
    "conjuncts",
    "free_name",
    "is_typescript",
    "property_node",
    "property_value",
    "refusal",
    "resolve_local",
    "wrap_in_catch",
]

CONFLICT_MESSAGE = "changed concurrently; retry"
_EXITS = ("return_statement", "throw_statement")


def is_typescript(path: str) -> bool:
    return path.lower().endswith((".ts", ".tsx", ".mts", ".cts"))


def property_node(obj: Node, source: JsSource, name: str) -> Node | None:
    """The `pair` of an object literal whose key is `name` (`name:`, `"name":`)."""
    for child in obj.named_children:
        if child.type == "pair":
            key = child.child_by_field_name("key")
            text = source.code(key) if key is not None else ""
            if text == name or unquote(text) == name:
                return child
        elif child.type == "shorthand_property_identifier" and source.code(child) == name:
            return child
    return None


def property_value(obj: Node, source: JsSource, name: str) -> Node | None:
    pair = property_node(obj, source, name)
    if pair is None:
        return None
    return pair.child_by_field_name("value") if pair.type == "pair" else pair


def add_properties(source: JsSource, obj: Node, properties: list[tuple[str, str]]) -> Edit:
    """Add `key: value` pairs at the end of an object literal, laid out as the literal is (one line,
    or one property a line after the last one and any comment that ends its line)."""
    members = [c for c in obj.named_children if c.type != "comment"]
    if not members:
        inner = ", ".join(f"{k}: {v}" for k, v in properties)
        return source.replace(obj, "{ " + inner + " }")
    last = members[-1]
    if obj.start_point[0] == obj.end_point[0]:
        inner = "".join(f", {k}: {v}" for k, v in properties)
        return Edit(last.end_byte, last.end_byte, inner)
    tail = source.data[last.end_byte : obj.end_byte - 1].decode("utf-8")
    trailing_comma = tail.lstrip().startswith(",")
    comma = "" if trailing_comma else ","
    # The end of the last member's line: `a: 1, // why` keeps its comment on its own line.
    line_end = source.data.find(b"\n", last.end_byte, obj.end_byte)
    rest = source.data[last.end_byte : line_end].decode("utf-8") if line_end >= 0 else ""
    indent = source.indent_of(last)
    added = ",".join(f"\n{indent}{k}: {v}" for k, v in properties) + ("," if trailing_comma else "")
    if line_end < 0 or not re.fullmatch(r"\s*,?\s*(//.*|/\*.*\*/\s*)?", rest):
        # Something else follows on the line (`b: 2 }`): insert right after the member; its own
        # trailing comma, if any, then ends the last added property.
        return Edit(
            last.end_byte, last.end_byte, "," + ",".join(f"\n{indent}{k}: {v}" for k, v in properties)
        )
    return Edit(last.end_byte, line_end, comma + rest + added)


def resolve_local(source: JsSource, node: Node | None, scope: Node, depth: int = 3) -> Node | None:
    """Follow an identifier to the value it was declared with (`const params = {...}`), in `scope`
    or at the module level; other nodes are returned as they are."""
    while node is not None and node.type == "identifier" and depth > 0:
        name = source.code(node)
        found = None
        for root in (scope, source.root):
            for candidate in descendants(root):
                if candidate.type == "variable_declarator":
                    target = candidate.child_by_field_name("name")
                    if target is not None and source.code(target) == name:
                        found = candidate.child_by_field_name("value")
                        break
            if found is not None:
                break
        node, depth = found, depth - 1
    while node is not None and node.type in ("parenthesized_expression", "await_expression"):
        node = node.named_children[0] if node.named_children else None
    return node


def conjuncts(source: JsSource, condition: Node, joiner: str) -> list[Node]:
    """`a && b && (c)` split on `joiner` ("&&" or "||"), parentheses dropped, in source order;
    iterative, so a long chain cannot exhaust Python's stack."""
    found, stack = [], [condition]
    while stack:
        node = stack.pop()
        while node.type == "parenthesized_expression" and node.named_children:
            node = node.named_children[0]
        operator = node.child_by_field_name("operator") if node.type == "binary_expression" else None
        left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
        if (
            operator is not None
            and source.code(operator) == joiner
            and left is not None
            and right is not None
        ):
            stack += [right, left]
        else:
            found.append(node)
    return found


def free_name(preferred: str, taken: set[str]) -> str:
    name, n = preferred, 2
    while name in taken:
        name, n = f"{preferred}{n}", n + 1
    return name


@dataclass(frozen=True)
class Rejection:
    """What a check does when it refuses: the `if` and its exit statement."""

    check: Node
    exit: Node


def check_exits(source: JsSource, scope: Node, start_line: int, end_line: int) -> list[Rejection]:
    """`if (...) return/throw ...;` statements between two lines (the checks that refuse)."""
    found = []
    for node in descendants(scope):
        # A refusing check ends before the write; an `if` around the write is no refusal of it.
        if (
            node.type != "if_statement"
            or not start_line <= source.line(node) <= node.end_point[0] + 1 < end_line
        ):
            continue
        consequence = node.child_by_field_name("consequence")
        body = consequence
        if body is not None and body.type == "statement_block":
            statements = [c for c in body.named_children if c.type != "comment"]
            body = statements[-1] if statements else None
        if body is not None and body.type in _EXITS and node.child_by_field_name("alternative") is None:
            found.append(Rejection(node, body))
    return found


def _params(function: Node, source: JsSource) -> list[str]:
    params = function.child_by_field_name("parameters") or function.child_by_field_name("parameter")
    if params is None:
        return []
    if params.type == "identifier":
        return [source.code(params)]
    names = []
    for param in params.named_children:
        target = param.child_by_field_name("pattern") if param.type.endswith("parameter") else param
        names.append(source.code(target) if target is not None and target.type == "identifier" else "")
    return names


def _uses(source: JsSource, package: str) -> bool:
    return re.search(rf"""(?:from\s+|require\(\s*)["']{package}["']""", source.text) is not None


def conflict_answer(source: JsSource, function: Node, finding: Finding) -> str | None:
    """A 409 in the handler's framework: `ctx.throw(409, ...)` (Koa), `return c.json(..., 409)`
    (Hono), `return res.status(409).send(...)` (Express, Next.js pages, Fastify),
    `return NextResponse.json(..., { status: 409 })` (Next.js app router); None off a route."""
    if finding.route is None:
        return None
    params = _params(function, source)
    body = f'{{ error: "{CONFLICT_MESSAGE}" }}'
    if params and params[0] and _uses(source, "koa"):
        return f'{params[0]}.throw(409, "{CONFLICT_MESSAGE}");'
    if params and params[0] and _uses(source, "hono"):
        return f"return {params[0]}.json({body}, 409);"
    if len(params) >= 2 and params[1]:
        return f"return {params[1]}.status(409).send({body});"
    for response in ("NextResponse", "Response"):  # Next.js app router, web-standard handlers
        if re.search(rf"\b{response}\.json\(", source.text):
            return f"return {response}.json({body}, {{ status: 409 }});"
    return None


def wrap_in_catch(
    source: JsSource, statement: Node, function: Node, test: str, answer: str, edits: list[Edit]
) -> list[Edit] | None:
    """`statement` (with `inner_edits` applied) inside
    `try { ... } catch (error) { if (!(test)) throw error; answer }` (`!==` for one equality).

    `test` names the caught error `{error}`. A `const x = ...` statement becomes `let x;` before the
    `try` so later code still sees `x`; a destructuring declaration is not rewritten (None).
    """
    inner_edits = [e for e in edits if statement.start_byte <= e.start <= e.end <= statement.end_byte]
    outer_edits = [e for e in edits if e not in inner_edits]
    indent, unit = source.indent_of(statement), source.unit()
    error = free_name("error", source.names_used(function))
    inner = source.reindent(source.text_with(statement, inner_edits), indent, indent + unit)
    before = ""
    if statement.type in ("lexical_declaration", "variable_declaration"):
        declarators = [c for c in statement.named_children if c.type == "variable_declarator"]
        if len(declarators) != 1:
            return None
        name = declarators[0].child_by_field_name("name")
        value = declarators[0].child_by_field_name("value")
        if name is None or value is None or name.type != "identifier":
            return None
        before = f"let {source.code(name)};\n{indent}"
        value_edits = [e for e in inner_edits if value.start_byte <= e.start <= e.end <= value.end_byte]
        if len(value_edits) != len(inner_edits):
            return None
        value_text = source.reindent(source.text_with(value, value_edits), indent, indent + unit)
        inner = f"{source.code(name)} = {value_text};"
    typed = f"{error}: unknown" if is_typescript(source.path) else error
    caught = f"({error} as {{ name?: string; code?: string }})" if is_typescript(source.path) else error
    text = (
        f"{before}try {{\n{indent}{unit}{inner}\n{indent}}} catch ({typed}) {{\n"
        f"{indent}{unit}if ({_negated(test.format(error=caught))}) throw {error};\n"
        f"{indent}{unit}{answer}\n{indent}}}"
    )
    return [source.replace(statement, text), *outer_edits]


_ONE_EQUALITY = re.compile(r'(?P<left>[^=!&|"]+) === (?P<right>"[^"]*")')


def _negated(test: str) -> str:
    """`e.name !== "X"` for one equality (as a person writes it), else `!(test)`."""
    match = _ONE_EQUALITY.fullmatch(test)
    return f"{match['left']} !== {match['right']}" if match else f"!({test})"


def losing_answer(
    source: JsSource, function: Node, finding: Finding, rejections: list[Rejection], fallback: str
) -> tuple[str, str]:
    """The statement that answers a request losing the race, and how a patch note names it: the
    route's 409, else the refusing check's own answer, else `fallback` (a throw)."""
    conflict = conflict_answer(source, function, finding)
    if conflict:
        return conflict, "a 409"
    refused = refusal(source, rejections)
    if refused is not None:
        return refused, "the check's answer"
    return fallback, "an error"


def refusal(source: JsSource, rejections: list[Rejection]) -> str | None:
    """What the code answers when its one refusing check fails; None when several checks refuse
    differently (a failed atomic write could mean any of them: the caller's generic answer)."""
    answers = {exit_text(source, r) for r in rejections}
    return answers.pop() if len(answers) == 1 else None


def exit_text(source: JsSource, rejection: Rejection) -> str:
    """The exit statement's text, on one line when it fits."""
    text = source.code(rejection.exit)
    return re.sub(r"\s*\n\s*", " ", text) if len(text) < 160 and "`" not in text else text
