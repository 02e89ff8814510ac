"""Fixers for ORM races (RC301-RC304): Django and SQLAlchemy.

- RC301 (Django get → change → save): the `save()` becomes one conditional queryset update,
  `Model.objects.filter(pk=obj.pk, field__gte=amount).update(field=F("field") - amount)`, whose
  row count is checked with the check's own rejection; without a check, a plain `F()` update.
- RC302 (`select_for_update()` outside a transaction): the locked read through the save in
  `with transaction.atomic():`.
- RC303 (get_or_create / check-then-create on a non-unique field): guidance; it needs a unique
  constraint and a migration.
- RC304 (SQLAlchemy read → change → commit): the read takes the row lock: `session.get(M, id,
  with_for_update=True)`, or `.with_for_update()` on the query.
"""

from __future__ import annotations

import re
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
    bare_code,
    block_of,
    exit_statement,
    name_in_use,
    nodes,
    parse_statements,
    wrap,
)

__all__ = [
    "fix_django_get_then_save",
    "fix_django_lock_outside_atomic",
    "fix_sqlalchemy_lock",
    "guidance_unique",
]

# The rejecting comparison → the lookup the row must still satisfy.
_LOOKUPS = {"<": "gte", "<=": "gt", ">": "lte", ">=": "lt"}
_RC301_GUIDANCE = (
    "Let the database decide: `updated = Model.objects.filter(pk=obj.pk, field__gte=amount)"
    '.update(field=F("field") - amount)` and reject when `updated == 0`; or read with '
    "`select_for_update()` inside `transaction.atomic()` and repeat the check on the locked row."
)


def _with_imports(module: cst.Module, *imports: tuple[str, str]) -> cst.Module:
    context = CodemodContext()
    for source, name in imports:
        AddImportsVisitor.add_needed_import(context, source, name)
    return AddImportsVisitor(context).transform_module(module)


def _field_of(expr: cst.BaseExpression, instance: str) -> str | None:
    """`wallet.points` → "points" when `wallet` is `instance`."""
    if isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name) and expr.value.value == instance:
        return expr.attr.value
    return None


@dataclass(frozen=True)
class DjangoRead:
    instance: str
    manager: str  # `Wallet.objects`, or `type(obj).objects` when the model is not named
    lookups: str  # the read's own lookups (`owner=request.user`), else `pk=obj.pk`


def _django_read(statement: cst.BaseStatement | None, located: Located) -> DjangoRead | None:
    if not isinstance(statement, cst.SimpleStatementLine) or not isinstance(statement.body[0], cst.Assign):
        return None
    assign = statement.body[0]
    target = assign.targets[0].target
    if not isinstance(target, cst.Name) or not isinstance(assign.value, cst.Call):
        return None
    code = located.code(assign.value)
    keywords = [a for a in assign.value.args if a.keyword is not None]
    positional = [a for a in assign.value.args if a.keyword is None]
    own = ", ".join(f"{a.keyword.value}={located.code(a.value)}" for a in keywords if a.keyword)
    by_pk = f"pk={target.value}.pk"
    if (named := re.fullmatch(r"(\w+)\.objects\.get\(.*\)", code, re.DOTALL)) is not None and not positional:
        return DjangoRead(target.value, f"{named.group(1)}.objects", own or by_pk)
    if (named := re.match(r"(\w+)\.objects\.", code)) is not None:
        return DjangoRead(target.value, f"{named.group(1)}.objects", by_pk)
    if (shortcut := re.match(r"get_object_or_404\(\s*(\w+)\s*,", code)) is not None and len(positional) == 1:
        return DjangoRead(target.value, f"{shortcut.group(1)}.objects", own or by_pk)
    if re.search(r"\.get\(|\.first\(\)|\.last\(\)", code):
        return DjangoRead(target.value, f"type({target.value}).objects", by_pk)
    return None


@dataclass(frozen=True)
class Change:
    statement: cst.SimpleStatementLine
    field: str
    update: str  # the `.update(...)` keyword value, e.g. `F("points") - cost`
    in_memory: bool  # the statement also keeps the instance's value right for the response


def _change(statement: cst.BaseStatement, instance: str, located: Located) -> Change | None:
    """`obj.f -= n`, `obj.f = obj.f - n`, `obj.f = F("f") - n` or `obj.f = <constant>`."""
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return None
    small = statement.body[0]
    if isinstance(small, cst.AugAssign) and (field := _field_of(small.target, instance)):
        sign = {cst.SubtractAssign: "-", cst.AddAssign: "+"}.get(type(small.operator))
        if sign is None:
            return None
        return Change(statement, field, f'F("{field}") {sign} {located.code(small.value)}', True)
    if not isinstance(small, cst.Assign) or len(small.targets) != 1:
        return None
    field = _field_of(small.targets[0].target, instance)
    value = small.value
    if field is None:
        return None
    if isinstance(value, cst.BinaryOperation) and isinstance(value.operator, (cst.Add, cst.Subtract)):
        sign = "-" if isinstance(value.operator, cst.Subtract) else "+"
        right = located.code(value.right)
        if _field_of(value.left, instance) == field:
            return Change(statement, field, f'F("{field}") {sign} {right}', True)
        if re.fullmatch(rf"F\(\s*['\"]{field}['\"]\s*\)", located.code(value.left)):
            return Change(statement, field, f'F("{field}") {sign} {right}', False)
    if isinstance(value, (cst.Name, cst.Integer, cst.SimpleString)) and instance not in located.code(value):
        return Change(statement, field, located.code(value), True)
    return None


def _is_save(statement: cst.BaseStatement, instance: str, field: str, located: Located) -> bool:
    code = bare_code(statement)
    return code == f"{instance}.save()" or bool(
        re.fullmatch(rf"{instance}\.save\(\s*update_fields\s*=\s*\[\s*['\"]{field}['\"]\s*,?\s*\]\s*\)", code)
    )


def _filter_guard(
    function: cst.FunctionDef, located: Located, instance: str, field: str, lines: range
) -> tuple[str, cst.BaseSmallStatement] | bool | None:
    """The lookup that repeats the check (`points__gte=cost`) and its rejection; False when there
    is a check on the field the fixer cannot translate, None when there is no check."""
    for node in nodes(function):
        if not isinstance(node, cst.If) or located.line(node) not in lines:
            continue
        if field not in {n.attr.value for n in nodes(node.test) if isinstance(n, cst.Attribute)}:
            continue
        rejection = exit_statement(node.body)
        if rejection is None:
            return False
        for test in _ors(node.test):
            lookup = _lookup(test, instance, field, located)
            if lookup is not None:
                return lookup, rejection
        return False
    return None


def _ors(test: cst.BaseExpression) -> list[cst.BaseExpression]:
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.Or):
        return _ors(test.left) + _ors(test.right)
    return [test]


def _lookup(test: cst.BaseExpression, instance: str, field: str, located: Located) -> str | None:
    if _field_of(test, instance) == field:
        return f"{field}=False"  # `if coupon.used: reject`
    if not isinstance(test, cst.Comparison) or len(test.comparisons) != 1:
        return None
    target = test.comparisons[0]
    if isinstance(target.operator, cst.IsNot) and located.code(target.comparator) == "None":
        return f"{field}__isnull=True" if _field_of(test.left, instance) == field else None
    symbol = COMPARISONS.get(type(target.operator))
    if symbol is None:
        return None
    left, right = test.left, target.comparator
    if _field_of(right, instance) == field:
        left, right, symbol = right, left, MIRRORED[symbol]
    if _field_of(left, instance) != field or instance in {
        n.value for n in nodes(right) if isinstance(n, cst.Name)
    }:
        return None
    return f"{field}__{_LOOKUPS[symbol]}={located.code(right)}"


@register("RC301")
def fix_django_get_then_save(module: cst.Module, finding: Finding) -> Fixed | Guidance:
    """RC301: a conditional `F()` update with its row count checked."""
    located = Located(module)
    function = located.function(finding)
    reads = [s.line for s in finding.evidence if s.role == "read"]
    if function is None or not reads:
        return Guidance(_RC301_GUIDANCE)
    read = _django_read(located.statement_at(function, reads[0]), located)
    read_statement = located.statement_at(function, reads[0])
    if read is None or read_statement is None:
        return Guidance(_RC301_GUIDANCE)
    changes = [
        change
        for node in nodes(function)
        if isinstance(node, cst.SimpleStatementLine) and (change := _change(node, read.instance, located))
    ]
    saves = [
        node
        for node in nodes(function)
        if isinstance(node, cst.SimpleStatementLine)
        and changes
        and _is_save(node, read.instance, changes[0].field, located)
    ]
    assigned = [
        node
        for node in nodes(function)
        if isinstance(node, (cst.Assign, cst.AugAssign, cst.AnnAssign))
        and read.instance in located.code(node).split("=")[0]
        and f"{read.instance}." in located.code(node).split("=")[0]
    ]
    if len(changes) != 1 or len(saves) != 1 or len(assigned) != 1:
        return Guidance(
            "The instance changes more than one field, or is saved more than once. " + _RC301_GUIDANCE
        )
    change, save = changes[0], saves[0]
    guard = _filter_guard(function, located, read.instance, change.field, range(reads[0], located.line(save)))
    if guard is False:
        return Guidance(f"The check on `{change.field}` is not a plain comparison. " + _RC301_GUIDANCE)
    block = block_of(function, save)
    if block is None or not any(s is change.statement for s in block.body):
        return Guidance(_RC301_GUIDANCE)
    lookups = read.lookups + (f", {guard[0]}" if isinstance(guard, tuple) else "")
    update = f"{read.manager}.filter({lookups}).update({change.field}={change.update})"
    if isinstance(guard, tuple):
        result = name_in_use(function, "updated")
        new = parse_statements(f"{result} = {update}\nif not {result}:\n    pass\n", module)
        check = new[1]
        assert isinstance(check, cst.If)
        new[1] = check.with_changes(
            body=cst.IndentedBlock([cst.SimpleStatementLine([guard[1].deep_clone()])])
        )
    else:
        new = parse_statements(f"{update}\n", module)
    first = new[0]
    if isinstance(first, cst.SimpleStatementLine):
        new[0] = first.with_changes(leading_lines=save.leading_lines)
    body: list[cst.BaseStatement] = []
    for statement in block.body:
        if statement is save:
            body.extend(new)
        elif statement is change.statement and not change.in_memory:
            continue
        else:
            body.append(statement)
    patched = module.deep_replace(block, block.with_changes(body=body))
    assert isinstance(patched, cst.Module)
    return Fixed(
        _with_imports(patched, ("django.db.models", "F")),
        f"Replaced `{read.instance}.save()` with one conditional UPDATE through the queryset "
        f"(`{update}`)"
        + (" and rejected a lost race as the check does." if isinstance(guard, tuple) else "."),
        note="The instance keeps the value computed in Python for the response; the database holds "
        "the truth.",
    )


@register("RC302")
def fix_django_lock_outside_atomic(module: cst.Module, finding: Finding) -> Fixed | Guidance:
    """RC302: the locked read through the save inside `transaction.atomic()`."""
    guidance = Guidance(
        "Take the lock inside the transaction that writes: wrap the `select_for_update()` read, the "
        "check and the save in `with transaction.atomic():` (or decorate the view with "
        "`@transaction.atomic`)."
    )
    located = Located(module)
    function = located.function(finding)
    if function is None:
        return guidance
    read = located.statement_at(function, finding.line)
    if read is None or "select_for_update" not in located.code(read):
        return guidance
    block = block_of(function, read)
    instance = _django_read(read, located)
    if block is None or instance is None:
        return guidance
    body = list(block.body)
    start = next(i for i, s in enumerate(body) if s is read)
    saves = [
        i
        for i, s in enumerate(body)
        if re.fullmatch(rf"{instance.instance}\.save\(.*\)", bare_code(s), re.DOTALL)
    ]
    if not saves or saves[-1] < start:
        return guidance
    end = saves[-1]
    wrapped = wrap("with transaction.atomic():\n    pass\n", body[start : end + 1], module)
    patched = module.deep_replace(block, block.with_changes(body=[*body[:start], wrapped, *body[end + 1 :]]))
    assert isinstance(patched, cst.Module)
    return Fixed(
        _with_imports(patched, ("django.db", "transaction")),
        "Wrapped the `select_for_update()` read, the check and the save in `transaction.atomic()` so the "
        "row lock is held until the write commits.",
    )


@register("RC303")
def guidance_unique(module: cst.Module, finding: Finding) -> Fixed | Guidance:
    """RC303: needs a unique constraint and a migration: said in words."""
    return Guidance(
        "Declare the looked-up fields unique (`unique=True`, or `UniqueConstraint(fields=[...])` in "
        "`Meta.constraints` / `__table_args__`), generate and run the migration (after removing "
        "existing duplicates), then create and turn `IntegrityError` into the same answer as the "
        "check (`get_or_create` is only safe with such a constraint)."
    )


_SQLA_GUIDANCE = (
    "Lock the row you decide on: `session.get(Model, id, with_for_update=True)` or "
    "`select(Model).where(...).with_for_update()`, inside the transaction that commits the change; or "
    "make it one statement: `update(Model).where(Model.id == id, Model.x >= n).values(x=Model.x - n)` "
    "with the rowcount checked."
)


class _LockRead(cst.CSTTransformer):
    """Adds the row lock to the one read call it is given."""

    def __init__(self, target: cst.Call) -> None:
        self.target = target
        self.done = False

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        if original_node is not self.target:
            return updated_node
        func = updated_node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "get" and len(updated_node.args) == 2:
            self.done = True
            last = updated_node.args[-1].with_changes(
                comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
            )
            lock = cst.Arg(
                keyword=cst.Name("with_for_update"),
                value=cst.Name("True"),
                equal=cst.AssignEqual(
                    whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")
                ),
            )
            return updated_node.with_changes(args=[updated_node.args[0], last, lock])
        if (
            isinstance(func, cst.Attribute)
            and func.attr.value in ("first", "one", "one_or_none", "scalar_one", "scalar_one_or_none")
            and "query(" in cst.Module([]).code_for_node(func.value)
        ):
            self.done = True
            locked = cst.Call(func=cst.Attribute(value=func.value, attr=cst.Name("with_for_update")))
            return updated_node.with_changes(func=func.with_changes(value=locked))
        if (
            isinstance(func, cst.Attribute)
            and func.attr.value in ("execute", "scalar", "scalars")
            and updated_node.args
        ):
            statement = updated_node.args[0].value
            if isinstance(statement, cst.Call) and cst.Module([]).code_for_node(statement).startswith(
                "select("
            ):
                self.done = True
                locked = cst.Call(func=cst.Attribute(value=statement, attr=cst.Name("with_for_update")))
                return updated_node.with_changes(
                    args=[updated_node.args[0].with_changes(value=locked), *updated_node.args[1:]]
                )
        return updated_node


@register("RC304")
def fix_sqlalchemy_lock(module: cst.Module, finding: Finding) -> Fixed | Guidance:
    """RC304: the read takes a row lock (`with_for_update`) that lasts until the commit."""
    located = Located(module)
    function = located.function(finding)
    reads = [s.line for s in finding.evidence if s.role == "read"]
    if function is None or not reads:
        return Guidance(_SQLA_GUIDANCE)
    read = located.statement_at(function, reads[0])
    if read is None or "with_for_update" in located.code(read):
        return Guidance(_SQLA_GUIDANCE)
    calls = [n for n in nodes(read) if isinstance(n, cst.Call)]
    for call in calls:
        transformer = _LockRead(call)
        patched_read = read.visit(transformer)
        if transformer.done and isinstance(patched_read, cst.BaseStatement):
            patched = module.deep_replace(read, patched_read)
            assert isinstance(patched, cst.Module)
            return Fixed(
                patched,
                "Read the row with `SELECT ... FOR UPDATE` (`with_for_update`): concurrent requests now "
                "wait for the first to commit and see its change.",
                note="SQLite ignores FOR UPDATE; there, serialise with `BEGIN IMMEDIATE` or use an atomic "
                "`update()` with the rowcount checked.",
            )
    return Guidance(_SQLA_GUIDANCE)
