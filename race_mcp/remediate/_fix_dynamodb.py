"""Fixers for DynamoDB races (RC401-RC404), boto3 and aioboto3 `Table` resources.

- RC401 (get_item → decide → write): the write gets a `ConditionExpression` that guards exactly
  what was read. An `x < amount` check over `SET x = :new` (with `:new` = read ± n) becomes
  `SET x = x - :n` guarded by `Attr("x").gte(amount)`; a "not there yet" check becomes
  `Attr(key).not_exists()`; anything else a compare-and-set on the attributes the decision read
  (`Attr("x").eq(item["x"])`). A failed condition (`ConditionalCheckFailedException`) gets the
  check's own rejection, or a 409 in the handler's framework.
- RC402 (unguarded decrement): `SET x = x - :n` gets `ConditionExpression="x >= :n"`.
- RC403, RC404: guidance (a `transact_write_items` translation or a dedup table needs a person).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor

from ..findings import Finding
from ._fixers import Fixed, Guidance, register
from ._locate import (
    COMPARISONS,
    MIRRORED,
    Located,
    block_of,
    exit_statement,
    nodes,
    parse_statements,
    raised_from_none,
    small_statement,
)

__all__ = ["fix_read_then_write", "fix_unguarded_decrement", "guidance_only"]

_BUILDER = {"<": "gte", "<=": "gt", ">": "lte", ">=": "lt"}  # the rejecting comparison → the guard
_SET_ONE = re.compile(r"^\s*SET\s+(?P<attr>\w+)\s*=\s*(?P<value>:\w+)\s*$", re.IGNORECASE)
_DECREMENT = re.compile(r"^\s*SET\s+(?P<attr>\w+)\s*=\s*(?P=attr)\s*-\s*(?P<value>:\w+)\s*$", re.IGNORECASE)
_RC401_GUIDANCE = (
    'Make the write conditional on what the decision read: `ConditionExpression=Attr("x").eq(item["x"])` '
    '(or a `version` attribute compared and bumped on each write, or `Attr("x").gte(amount)` with '
    "`SET x = x - :amount`), and turn `ConditionalCheckFailedException` into a 409."
)


@dataclass(frozen=True)
class DynamoCall:
    """`[x =] [await] table.<method>(**kwargs)` on one statement line."""

    statement: cst.SimpleStatementLine
    call: cst.Call
    method: str
    keywords: dict[str, cst.Arg]


def _dynamo_call(statement: cst.BaseStatement | None, methods: Sequence[str]) -> DynamoCall | None:
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return None
    for node in nodes(statement):
        if (
            isinstance(node, cst.Call)
            and isinstance(node.func, cst.Attribute)
            and node.func.attr.value in methods
            and all(arg.keyword is not None for arg in node.args)
        ):
            keywords = {arg.keyword.value: arg for arg in node.args if arg.keyword is not None}
            return DynamoCall(statement, node, node.func.attr.value, keywords)
    return None


def _subscript_key(expr: cst.BaseExpression, name: str) -> str | None:
    """`item["stock"]` → "stock" when `item` is `name`."""
    if not (
        isinstance(expr, cst.Subscript) and isinstance(expr.value, cst.Name) and expr.value.value == name
    ):
        return None
    if len(expr.slice) != 1 or not isinstance(expr.slice[0].slice, cst.Index):
        return None
    key = expr.slice[0].slice.value
    return (
        key.evaluated_value
        if isinstance(key, cst.SimpleString) and isinstance(key.evaluated_value, str)
        else None
    )


@dataclass(frozen=True)
class ItemRead:
    item: str  # the local holding the item
    response: str | None  # the local holding the whole get_item response, if any
    key_attribute: str | None


def _item_read(function: cst.FunctionDef, located: Located, lines: list[int]) -> ItemRead | None:
    """Which local holds the item the decision was made on (`item = table.get_item(...)["Item"]`,
    or `response = table.get_item(...)` then `item = response.get("Item")`)."""
    item = response = key = None
    for line in lines:
        statement = located.statement_at(function, line)
        if not isinstance(statement, cst.SimpleStatementLine) or not isinstance(
            statement.body[0], cst.Assign
        ):
            continue
        assign = statement.body[0]
        target = assign.targets[0].target
        if not isinstance(target, cst.Name):
            continue
        read = _dynamo_call(statement, ("get_item",))
        if read is not None:
            key = _first_key(read)
            if isinstance(assign.value, (cst.Call, cst.Await)) and read.call in (
                assign.value,
                getattr(assign.value, "expression", None),
            ):
                response = target.value
                continue
            item = target.value
        elif response is not None and re.fullmatch(
            rf"{response}(\[\s*['\"]Item['\"]\s*\]|\.get\(\s*['\"]Item['\"]\s*\))", located.code(assign.value)
        ):
            item = target.value
    if item is None and response is not None:
        item = _item_from_response(function, located, response)
    if item is None and response is None:
        return None
    return ItemRead(item or "", response, key)


def _item_from_response(function: cst.FunctionDef, located: Located, response: str) -> str | None:
    """`item = response.get("Item")` (or `response["Item"]`) anywhere in the function."""
    pattern = re.compile(rf"{response}(\[\s*['\"]Item['\"]\s*\]|\.get\(\s*['\"]Item['\"]\s*\))")
    for node in nodes(function):
        if (
            isinstance(node, cst.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0].target, cst.Name)
            and pattern.fullmatch(located.code(node.value))
        ):
            return node.targets[0].target.value
    return None


def _first_key(call: DynamoCall) -> str | None:
    key = call.keywords.get("Key")
    if key is None or not isinstance(key.value, cst.Dict) or not key.value.elements:
        return None
    first = key.value.elements[0]
    if isinstance(first, cst.DictElement) and isinstance(first.key, cst.SimpleString):
        if isinstance(first.value, cst.Dict):
            return None  # the client API's typed values ({"S": ...}): not handled here
        value = first.key.evaluated_value
        return value if isinstance(value, str) else None
    return None


@dataclass(frozen=True)
class Guard:
    condition: str  # builder code, e.g. `Attr("stock").gte(quantity)`
    rejection: cst.BaseSmallStatement | None
    update: tuple[str, str] | None = None  # (new UpdateExpression, the value's new code) for SET x = x - :n
    # True when a failed condition means exactly what the check rejects; a compare-and-set also
    # fails when the value changed but would still pass, which deserves "retry", not the check's answer.
    exact: bool = True


def _decide(
    function: cst.FunctionDef, located: Located, read: ItemRead, write: DynamoCall, lines: range
) -> Guard | None:
    checks = [
        node
        for node in nodes(function)
        if isinstance(node, cst.If) and located.line(node) in lines and exit_statement(node.body) is not None
    ]
    for check in checks:
        rejection = exit_statement(check.body)
        assert rejection is not None
        if _absent_check(check.test, read) and write.method == "put_item" and read.key_attribute:
            return Guard(f'Attr("{read.key_attribute}").not_exists()', rejection)
        for comparison in _ors(check.test):
            limit = _limit(comparison, read, located)
            if limit is not None:
                relative = _relative_update(write, read, limit[0], located)
                if relative is not None:
                    return Guard(f'Attr("{limit[0]}").{limit[1]}({limit[2]})', rejection, relative)
    attributes = _decided_attributes(function, located, read, write, checks)
    if not attributes:
        return None
    condition = " & ".join(f'Attr("{a}").eq({read.item}["{a}"])' for a in sorted(attributes))
    rejection = exit_statement(checks[0].body) if checks else None
    return Guard(condition, rejection, exact=False)


def _ors(test: cst.BaseExpression) -> list[cst.BaseExpression]:
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.Or):
        return _ors(test.left) + _ors(test.right)
    return [test]


def _absent_check(test: cst.BaseExpression, read: ItemRead) -> bool:
    """`"Item" in response` / `item is not None`: the check rejects when the item already exists."""
    if not isinstance(test, cst.Comparison) or len(test.comparisons) != 1:
        return False
    target = test.comparisons[0]
    if isinstance(target.operator, cst.In) and isinstance(test.left, cst.SimpleString):
        return (
            test.left.evaluated_value == "Item"
            and isinstance(target.comparator, cst.Name)
            and (target.comparator.value == read.response)
        )
    return (
        isinstance(target.operator, cst.IsNot)
        and isinstance(test.left, cst.Name)
        and test.left.value == read.item
        and isinstance(target.comparator, cst.Name)
        and target.comparator.value == "None"
    )


def _limit(comparison: cst.BaseExpression, read: ItemRead, located: Located) -> tuple[str, str, str] | None:
    """`item["stock"] < quantity` → ("stock", "gte", "quantity"): what must hold to pass."""
    if not isinstance(comparison, cst.Comparison) or len(comparison.comparisons) != 1:
        return None
    target = comparison.comparisons[0]
    symbol = COMPARISONS.get(type(target.operator))
    if symbol is None:
        return None
    left, right = comparison.left, target.comparator
    if _subscript_key(right, read.item) is not None:
        left, right, symbol = right, left, MIRRORED[symbol]
    attribute = _subscript_key(left, read.item)
    if attribute is None or read.item in {n.value for n in nodes(right) if isinstance(n, cst.Name)}:
        return None
    return attribute, _BUILDER[symbol], located.code(right)


def _relative_update(
    write: DynamoCall, read: ItemRead, attribute: str, located: Located
) -> tuple[str, str] | None:
    """`SET stock = :left` with `:left` = `item["stock"] - quantity`
    → ("SET stock = stock - :left", "quantity")."""
    expression = write.keywords.get("UpdateExpression")
    values = write.keywords.get("ExpressionAttributeValues")
    if write.method != "update_item" or expression is None or values is None:
        return None
    text = expression.value.evaluated_value if isinstance(expression.value, cst.SimpleString) else None
    match = _SET_ONE.match(text) if isinstance(text, str) else None
    if match is None or match.group("attr") != attribute or not isinstance(values.value, cst.Dict):
        return None
    for element in values.value.elements:
        if (
            isinstance(element, cst.DictElement)
            and isinstance(element.key, cst.SimpleString)
            and element.key.evaluated_value == match.group("value")
            and isinstance(element.value, cst.BinaryOperation)
            and isinstance(element.value.operator, (cst.Subtract, cst.Add))
            and _subscript_key(element.value.left, read.item) == attribute
        ):
            sign = "-" if isinstance(element.value.operator, cst.Subtract) else "+"
            return f"SET {attribute} = {attribute} {sign} {match.group('value')}", located.code(
                element.value.right
            )
    return None


def _decided_attributes(
    function: cst.FunctionDef, located: Located, read: ItemRead, write: DynamoCall, checks: list[cst.If]
) -> set[str] | None:
    """The item's attributes the decision and the written values read; None if one is read in a way
    a condition cannot pin down (`item.get("x", 0)`)."""
    roots: list[cst.CSTNode] = [*(check.test for check in checks), write.call]
    if not read.item:
        return None
    if any(
        isinstance(n, cst.Call)
        and isinstance(n.func, cst.Attribute)
        and isinstance(n.func.value, cst.Name)
        and n.func.value.value == read.item
        for n in nodes(function)
    ):
        return None
    attributes = {key for root in roots for n in nodes(root) if (key := _subscript_key(n, read.item))}  # type: ignore[arg-type]
    whole_item = any(isinstance(n, cst.Name) and n.value == read.item for n in nodes(write.call))
    if whole_item and not attributes:
        attributes = {key for n in nodes(function) if (key := _subscript_key(n, read.item))}  # type: ignore[arg-type]
    return attributes


def _framework_conflict(module: cst.Module) -> str | None:
    """A 409 in the handler's framework, when the file uses one whose idiom is a single statement."""
    code = module.code
    if re.search(r"^[ \t]*+from\s+fastapi\s+import\s+[^\n]*\bHTTPException\b", code, re.MULTILINE):
        return 'raise HTTPException(409, "changed concurrently; retry") from None'
    if re.search(r"^[ \t]*+from\s+flask\s+import\s+[^\n]*\babort\b", code, re.MULTILINE):
        return "abort(409)"
    return None


def _conditional(
    module: cst.Module, write: DynamoCall, guard: Guard, on_conflict: cst.BaseSmallStatement | None
) -> cst.BaseStatement:
    """The write with the condition, inside `try` when a failed condition gets its own answer."""
    call = write.call
    existing = write.keywords.get("ConditionExpression")
    condition = cst.parse_expression(guard.condition, config=module.config_for_parsing)
    args = list(call.args)
    if existing is not None:
        combined = cst.BinaryOperation(
            left=existing.value,
            operator=cst.BitAnd(),
            right=condition,
        )
        args = [a.with_changes(value=combined) if a is existing else a for a in args]
    else:
        template = args[-1]
        last = template.with_changes(
            keyword=cst.Name("ConditionExpression"), value=condition, comma=template.comma
        )
        args = [*args[:-1], args[-1].with_changes(comma=_comma_like(args)), last]
    if guard.update is not None:
        args = _with_update(args, guard.update, module)
    new_call = call.with_changes(args=args)
    statement = write.statement.deep_replace(call, new_call)
    assert isinstance(statement, cst.SimpleStatementLine)
    if on_conflict is None:
        return statement
    wrapped = parse_statements(
        "try:\n    pass\nexcept ClientError as error:\n"
        '    if error.response["Error"]["Code"] != "ConditionalCheckFailedException":\n'
        "        raise\n    pass\n",
        module,
    )[0]
    assert isinstance(wrapped, cst.Try)
    handler = wrapped.handlers[0]
    assert isinstance(handler.body, cst.IndentedBlock)
    answer = cst.SimpleStatementLine([raised_from_none(on_conflict)])
    handler = handler.with_changes(body=handler.body.with_changes(body=[handler.body.body[0], answer]))
    return wrapped.with_changes(
        body=cst.IndentedBlock([statement.with_changes(leading_lines=())]),
        handlers=[handler],
        leading_lines=statement.leading_lines,
    )


def _comma_like(args: list[cst.Arg]) -> cst.Comma:
    if len(args) >= 2 and isinstance(args[-2].comma, cst.Comma):
        return args[-2].comma
    return cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))


def _with_update(args: list[cst.Arg], update: tuple[str, str], module: cst.Module) -> list[cst.Arg]:
    expression, value_code = update
    value_name = re.search(r":\w+", expression)
    out = []
    for arg in args:
        if arg.keyword is not None and arg.keyword.value == "UpdateExpression":
            assert isinstance(arg.value, cst.SimpleString)
            arg = arg.with_changes(value=cst.SimpleString(f"{arg.value.quote}{expression}{arg.value.quote}"))
        elif arg.keyword is not None and arg.keyword.value == "ExpressionAttributeValues":
            assert isinstance(arg.value, cst.Dict) and value_name is not None
            elements = [
                e.with_changes(value=cst.parse_expression(value_code, config=module.config_for_parsing))
                if isinstance(e, cst.DictElement)
                and isinstance(e.key, cst.SimpleString)
                and e.key.evaluated_value == value_name.group(0)
                else e
                for e in arg.value.elements
            ]
            arg = arg.with_changes(value=arg.value.with_changes(elements=elements))
        out.append(arg)
    return out


def _with_imports(module: cst.Module, *imports: tuple[str, str]) -> cst.Module:
    context = CodemodContext()
    for source, name in imports:
        AddImportsVisitor.add_needed_import(context, source, name)
    return AddImportsVisitor(context).transform_module(module)


def _replace_statement(
    module: cst.Module, function: cst.FunctionDef, old: cst.BaseStatement, new: cst.BaseStatement
) -> cst.Module | None:
    block = block_of(function, old)
    if block is None:
        return None
    patched = module.deep_replace(
        block, block.with_changes(body=[new if s is old else s for s in block.body])
    )
    return patched if isinstance(patched, cst.Module) else None


@register("RC401")
def fix_read_then_write(module: cst.Module, finding: Finding) -> Fixed | Guidance:
    """RC401: a ConditionExpression on what the decision read (see the module docstring)."""
    located = Located(module)
    function = located.function(finding)
    reads = [s.line for s in finding.evidence if s.role == "read"]
    writes = [s.line for s in finding.evidence if s.role == "write"]
    if function is None or not reads or not writes:
        return Guidance(_RC401_GUIDANCE)
    write = _dynamo_call(located.statement_at(function, writes[-1]), ("put_item", "update_item"))
    read = _item_read(function, located, reads)
    if write is None or read is None or read.key_attribute is None:
        return Guidance(
            "The read and the write are not plain `Table` calls in one function. " + _RC401_GUIDANCE
        )
    if isinstance(write.keywords.get("ConditionExpression", cst.Arg(cst.Name("x"))).value, cst.SimpleString):
        return Guidance("The write already has a string ConditionExpression; extend it. " + _RC401_GUIDANCE)
    guard = _decide(function, located, read, write, range(reads[0], writes[-1]))
    if guard is None:
        return Guidance(_RC401_GUIDANCE)
    conflict = guard.rejection
    if (conflict is None or not guard.exact) and finding.route and (answer := _framework_conflict(module)):
        conflict = small_statement(answer, module)
    new = _conditional(module, write, guard, conflict)
    patched = _replace_statement(module, function, write.statement, new)
    if patched is None:
        return Guidance(_RC401_GUIDANCE)
    imports = [("boto3.dynamodb.conditions", "Attr")]
    if conflict is not None:
        imports.append(("botocore.exceptions", "ClientError"))
    return Fixed(
        _with_imports(patched, *imports),
        f"Made the {write.method} conditional on `{guard.condition}`"
        + (
            ""
            if conflict is None
            else " and answered a failed condition as the check rejects."
            if guard.exact
            else " and answered a failed condition (the item changed since it was read) with a 409."
        ),
        note=""
        if conflict is not None
        else "A failed condition raises ClientError (ConditionalCheckFailedException).",
    )


@register("RC402")
def fix_unguarded_decrement(module: cst.Module, finding: Finding) -> Fixed | Guidance:
    """RC402: `SET x = x - :n` only while `x >= :n`."""
    guidance = Guidance(
        'Add `ConditionExpression="x >= :n"` to the decrement (for `ADD x :negative`, rewrite it as '
        "`SET x = x - :n`) and turn `ConditionalCheckFailedException` into a 409."
    )
    located = Located(module)
    function = located.function(finding)
    if function is None:
        return guidance
    write = _dynamo_call(located.statement_at(function, finding.line), ("update_item",))
    if write is None or "ConditionExpression" in write.keywords:
        return guidance
    expression = write.keywords.get("UpdateExpression")
    text = (
        expression.value.evaluated_value
        if expression and isinstance(expression.value, cst.SimpleString)
        else None
    )
    match = _DECREMENT.match(text) if isinstance(text, str) else None
    if match is None:
        return guidance
    condition = f'"{match.group("attr")} >= {match.group("value")}"'
    conflict = _framework_conflict(module) if finding.route is not None else None
    on_conflict = small_statement(conflict, module) if conflict else None
    new = _conditional(module, write, Guard(condition, None), on_conflict)
    patched = _replace_statement(module, function, write.statement, new)
    if patched is None:
        return guidance
    if on_conflict is not None:
        patched = _with_imports(patched, ("botocore.exceptions", "ClientError"))
    return Fixed(
        patched,
        f"Guarded the decrement of `{match.group('attr')}` with `{condition.strip(chr(34))}`.",
        safety="unsafe",
        note="A decrement that would go below the amount now fails (ConditionalCheckFailedException)"
        + (" and answers 409." if on_conflict is not None else "; callers must handle it."),
    )


@register("RC403", "RC404")
def guidance_only(module: cst.Module, finding: Finding) -> Fixed | Guidance:
    """RC403/RC404: no mechanical fix is sound enough to emit."""
    if finding.rule_id == "RC403":
        return Guidance(
            "Write the items of one business change with `transact_write_items` (all or nothing, up to "
            "100 items), each with a ConditionExpression on what it depends on, and turn "
            "`TransactionCanceledException` into a 409."
        )
    return Guidance(
        "Stream and queue consumers see each record at least once: make the handler idempotent with a "
        "conditional put of the event id (`attribute_not_exists(event_id)`) in a dedup table, or a "
        "conditional update keyed by the record's sequence number, before the side effect."
    )
