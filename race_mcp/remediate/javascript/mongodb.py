"""MongoDB fixers for JavaScript/TypeScript (mongoose models, the `mongodb` driver).

- RC801 (findOne → decide → updateOne, or → change the document → `save()`): the decision moves
  into the write's filter, where the server checks it atomically, and the write's outcome decides.
  `doc.f < n` refusing becomes `f: { $gte: n }`; two fields of the document compared become
  `$expr`; anything else a compare-and-set on the value read (`f: doc.f`). `$set: { f: doc.f - n }`
  (or `doc.f -= n` before `save()`) becomes `$inc: { f: -n }`. An `updateOne` checks
  `matchedCount`; a `save()` becomes `findOneAndUpdate(filter, update, { new: true })` checked for
  null (the in-memory changes stay, so the response still shows them).
- RC802 (findOne → create): guidance, a unique index and error 11000 answered with 409.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ...findings import Finding
from .._fixers import Fixed, Guidance, register_text
from ._common import add_properties, check_exits, conjuncts, free_name, losing_answer
from ._examples import with_example
from ._libraries import library_of
from ._source import JsSource, Node, descendants

__all__ = ["fix_find_then_update", "guidance_only"]

_OPERATORS = {
    "<": "$lt",
    "<=": "$lte",
    ">": "$gt",
    ">=": "$gte",
    "===": "$eq",
    "==": "$eq",
    "!==": "$ne",
    "!=": "$ne",
}
_NEGATED = {
    "<": "$gte",
    "<=": "$gt",
    ">": "$lte",
    ">=": "$lt",
    "===": "$ne",
    "==": "$ne",
    "!==": "$eq",
    "!=": "$eq",
}
_MIRROR = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "===": "===", "==": "==", "!==": "!==", "!=": "!="}
_READS = ("findOne", "findById")
_FIELD = re.compile(r"^[A-Za-z_$][\w$]*$")
_GUIDANCE = "Put what the decision read into the write's filter and check the result:"


@dataclass
class Plan:
    filters: list[tuple[str, str]] = field(default_factory=list)  # ("stock", "{ $gte: n }")
    fields: set[str] = field(default_factory=set)  # fields the filter pins
    incs: dict[str, str] = field(default_factory=dict)  # field -> signed amount
    sets: dict[str, str] = field(default_factory=dict)  # field -> value code


def _read(source: JsSource, statement: Node) -> tuple[str, str] | None:
    """`const doc = await Model.findById(id)` (or `findOne`) -> ("doc", "Model")."""
    declarator = source.first(statement, "variable_declarator")
    target = declarator.child_by_field_name("name") if declarator is not None else None
    if target is None or target.type != "identifier":
        return None
    for call in source.calls(statement):
        method = source.method_of(call)
        callee = call.child_by_field_name("function")
        args = source.arguments(call)
        if method in _READS and callee is not None and args:
            receiver = callee.child_by_field_name("object")
            if receiver is None:
                return None
            return source.code(target), source.code(receiver)
    return None


def _field(source: JsSource, node: Node, doc: str) -> str | None:
    text = re.sub(r"^(?:Number|parseInt|parseFloat)\((.+)\)$", r"\1", source.code(node).strip())
    obj, dot, name = text.rpartition(".")
    return name if dot and obj == doc and _FIELD.match(name) else None


def _reads_doc(source: JsSource, node: Node, doc: str) -> bool:
    return any(n.type == "identifier" and source.code(n) == doc for n in descendants(node))


def _guard(source: JsSource, plan: Plan, condition: Node, doc: str, write_when_true: bool) -> None:
    """The check as filter entries: each comparison the write needs to hold (`a && b` when the
    write runs on true, `a || b` when it refuses on true), a compare-and-set for the rest."""
    for node in conjuncts(source, condition, "&&" if write_when_true else "||"):
        _comparison(source, plan, node, doc, write_when_true)


def _comparison(source: JsSource, plan: Plan, node: Node, doc: str, write_when_true: bool) -> None:
    """One comparison of the check as a filter entry (a compare-and-set when it is none)."""
    operator_node = node.child_by_field_name("operator") if node.type == "binary_expression" else None
    operator = source.code(operator_node) if operator_node is not None else ""
    left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
    if operator in _OPERATORS and left is not None and right is not None:
        name = _field(source, left, doc)
        if name is None and (name := _field(source, right, doc)) is not None:
            left, right, operator = right, left, _MIRROR[operator]
        mongo = (_OPERATORS if write_when_true else _NEGATED)[operator]
        other = _field(source, right, doc) if name is not None else None
        if name is not None and other is not None:  # two fields: compare with the other as read, pin it
            plan.filters.append((name, _condition(mongo, f"{doc}.{other}")))
            plan.fields.add(name)
            if other not in plan.fields:
                plan.filters.append((other, _condition("$eq", f"{doc}.{other}")))
                plan.fields.add(other)
            return
        if (
            name is not None
            and not _reads_doc(source, right, doc)
            and source.code(right) not in ("null", "undefined")
        ):
            plan.filters.append((name, _condition(mongo, source.code(right))))
            plan.fields.add(name)
            return
    for n in descendants(node):  # no translatable comparison: pin every field read to its value
        if n.type == "member_expression" and (name := _field(source, n, doc)) and name not in plan.fields:
            plan.filters.append((name, _condition("$eq", f"{doc}.{name}")))
            plan.fields.add(name)


def _condition(operator: str, value: str) -> str:
    # Always with the operator, `$eq` included: the analyzer (like a reader) takes a compared field
    # as re-checked at the write, a plain value only as the document's identity.
    return f"{{ {operator}: {value} }}"


def _negative(amount: str) -> str:
    return f"-{amount}" if re.fullmatch(r"[\w.$]+", amount) else f"-({amount})"


def _relative(source: JsSource, value: Node, name: str, doc: str) -> str | None:
    """`doc.stock - n` -> "-n" (the $inc amount) when it changes `name` by an amount."""
    if value.type != "binary_expression":
        return None
    operator = source.code(value.child_by_field_name("operator"))
    left, right = value.child_by_field_name("left"), value.child_by_field_name("right")
    if operator not in ("+", "-") or left is None or right is None or _field(source, left, doc) != name:
        return None
    if _reads_doc(source, right, doc):
        return None
    amount = source.code(right)
    return amount if operator == "+" else _negative(amount)


def _plan_update(source: JsSource, plan: Plan, update: Node, doc: str) -> bool:
    """Read `{ $set: {...}, $inc: {...} }`; False for an update this fixer does not rewrite."""
    for member in update.named_children:
        if member.type != "pair":
            return False
        key = source.code(member.child_by_field_name("key")).strip("\"'")
        value = member.child_by_field_name("value")
        if key not in ("$set", "$inc") or value is None or value.type != "object":
            return False
        for pair in value.named_children:
            if pair.type != "pair":
                return False
            name = source.code(pair.child_by_field_name("key")).strip("\"'")
            amount = pair.child_by_field_name("value")
            if key == "$inc":
                plan.incs[name] = source.code(amount)
            elif (relative := _relative(source, amount, name, doc)) is not None:
                plan.incs[name] = relative
            else:
                plan.sets[name] = source.code(amount)
                _pin_reads(source, plan, amount, doc)
    return True


def _pin_reads(source: JsSource, plan: Plan, value: Node, doc: str) -> None:
    """A value computed from the document (not `doc.f ± n`): pin the fields it read."""
    for n in descendants(value):
        if n.type == "member_expression" and (name := _field(source, n, doc)) and name not in plan.fields:
            plan.filters.append((name, _condition("$eq", f"{doc}.{name}")))
            plan.fields.add(name)


def _changes_before_save(source: JsSource, function: Node, doc: str, start: int, end: int) -> Plan | None:
    """`doc.f = v`, `doc.f += n`, `doc.f -= n`, `doc.f++` between the read and `doc.save()`."""
    plan = Plan()
    for node in descendants(function):
        if not start <= node.start_byte < end:
            continue
        if node.type in ("assignment_expression", "augmented_assignment_expression"):
            target = node.child_by_field_name("left")
            name = _field(source, target, doc) if target is not None else None
            if name is None:
                continue
            operator = source.code(node.child_by_field_name("operator") or node).strip()
            value = node.child_by_field_name("right")
            code = source.code(value) if value is not None else ""
            if node.type == "assignment_expression":
                relative = _relative(source, value, name, doc) if value is not None else None
                if relative is not None:
                    plan.incs[name] = relative
                else:
                    plan.sets[name] = code
                    _pin_reads(source, plan, value, doc)
            elif operator in ("+=", "-="):
                plan.incs[name] = code if operator == "+=" else _negative(code)
            else:
                return None
        elif node.type == "update_expression":
            name = _field(source, node.named_children[0], doc) if node.named_children else None
            if name is not None:
                plan.incs[name] = "1" if "++" in source.code(node) else "-1"
    return plan if plan.incs or plan.sets else None


def _update_text(plan: Plan) -> str:
    parts = []
    if plan.sets:
        parts.append("$set: { " + ", ".join(f"{k}: {v}" for k, v in plan.sets.items()) + " }")
    if plan.incs:
        parts.append("$inc: { " + ", ".join(f"{k}: {v}" for k, v in plan.incs.items()) + " }")
    return "{ " + ", ".join(parts) + " }"


def _checks(source: JsSource, plan: Plan, function: Node, doc: str, read_end: int, write: Node) -> None:
    for node in descendants(function):
        if node.type != "if_statement" or not read_end <= node.start_byte < write.start_byte:
            continue
        condition = node.child_by_field_name("condition")
        if condition is None or not _reads_doc(source, condition, doc):
            continue
        around = node.start_byte <= write.start_byte < node.end_byte
        consequence = node.child_by_field_name("consequence")
        in_consequence = (
            consequence is not None and consequence.start_byte <= write.start_byte < consequence.end_byte
        )
        if around and not in_consequence:
            continue  # the write is in the `else`: the check's negation... left to a person
        inner = condition.named_children[0] if condition.type == "parenthesized_expression" else condition
        if re.fullmatch(rf"!\s*{re.escape(doc)}|{re.escape(doc)}", source.code(inner)):
            continue  # an existence check: the filter's match decides it
        _guard(source, plan, inner, doc, write_when_true=around)


@register_text("javascript", "RC801")
def fix_find_then_update(text: str, finding: Finding) -> Fixed | Guidance:
    """RC801: the decision in the write's filter, the outcome checked (module docstring)."""
    guidance = Guidance(with_example(_GUIDANCE, "RC801", library_of(text, finding)))
    source = JsSource(text, finding.path)
    function = source.function_for(finding)
    reads = [s.line for s in finding.evidence if s.role == "read"]
    writes = [s.line for s in finding.evidence if s.role == "write"]
    if function is None or not reads or not writes:
        return guidance
    read_statement = source.statement_at(function, reads[0])
    write_statement = source.statement_at(function, writes[-1])
    read = _read(source, read_statement) if read_statement is not None else None
    if read is None or write_statement is None or read_statement is None:
        return guidance
    doc, model = read
    plan, call = _write_plan(source, function, doc, read_statement, write_statement)
    if plan is None:
        return guidance
    _checks(source, plan, function, doc, read_statement.end_byte, write_statement)
    if not plan.filters:
        return guidance
    rejections = check_exits(source, function, reads[0], writes[-1])
    thrown = f'throw new Error("{model} changed concurrently; nothing was updated");'
    answer, outcome = losing_answer(source, function, finding, rejections, thrown)
    indent = source.indent_of(write_statement)
    filters = ", ".join(f"{k}: {v}" for k, v in plan.filters)
    if call is None:  # doc.save()
        name = free_name("updated", source.names_used(function))
        update = f"{{ _id: {doc}._id, {filters} }}, {_update_text(plan)}, {{ new: true }}"
        new = f"const {name} = await {model}.findOneAndUpdate({update});\n{indent}if (!{name}) {answer}"
        described = "findOneAndUpdate"
    else:
        filter_node, update_node = source.arguments(call)[:2]
        if filter_node.type != "object":
            return guidance
        edits = [
            add_properties(source, filter_node, plan.filters),
            source.replace(update_node, _update_text(plan)),
        ]
        call_text = source.text_with(write_statement, edits).rstrip(";")
        name = free_name("result", source.names_used(function))
        new = f"const {name} = {call_text};\n{indent}if ({name}.matchedCount === 0) {answer}"
        described = "updateOne"
    return Fixed(
        source.apply([source.replace(write_statement, new)]),
        f"Moved the check into the {described} filter (`{filters}`) and checked its outcome.",
        safety="unsafe",
        note=f"A request that loses the race now gets {outcome} instead of writing over the change.",
    )


def _write_plan(
    source: JsSource, function: Node, doc: str, read_statement: Node, write_statement: Node
) -> tuple[Plan | None, Node | None]:
    """The update the write makes, and its `updateOne` call (None for `doc.save()`)."""
    if write_statement.type != "expression_statement":
        return None, None
    for call in source.calls(write_statement):
        method = source.method_of(call)
        callee = call.child_by_field_name("function")
        receiver = callee.child_by_field_name("object") if callee is not None else None
        if method == "save" and receiver is not None and source.code(receiver) == doc:
            plan = _changes_before_save(
                source, function, doc, read_statement.end_byte, write_statement.start_byte
            )
            return plan, None
        args = source.arguments(call)
        if method == "updateOne" and len(args) == 2 and args[1].type == "object":
            plan = Plan()
            return (plan if _plan_update(source, plan, args[1], doc) else None), call
    return None, None


@register_text("javascript", "RC802", "RC8")
def guidance_only(text: str, finding: Finding) -> Fixed | Guidance:
    """RC802: which field is unique is the schema's decision; the example shows both halves."""
    if finding.rule_id == "RC802":
        message = (
            "Declare the looked-up field unique and insert directly, answering the duplicate-key "
            "error (code 11000) with 409, instead of checking with findOne first:"
        )
        return Guidance(with_example(message, "RC802", library_of(text, finding)))
    return Guidance(with_example(finding.fix or _GUIDANCE, "RC801", library_of(text, finding)))
