"""The values the project's code stores in model columns, read off one function's syntax tree.

A one-way column is one every live writer sets to the same value (`alert.status = CLOSED`, an
`is_active = False` no code ever sets back to True): two requests that both pass a stale check and
both store that value end as one would (`_writers.py` gathers, `core/idempotent.py` settles). To
tell, every write of a column must be seen with its value and, as far as cheaply known, the model
of the row written:

- `row.col = v` and `setattr(row, "col", v)` (a name not written out: every column, any value);
  `qs.update(col=v)`, `query.update({"col": v})`, `update(M).values(col=v)`, `bulk_update(rows,
  ["col"])`, `update_or_create(defaults={..})`;
- the row's model comes from the function itself: a parameter's annotation, a local bound to a
  lookup (`M.objects.get(..)`, `session.get(M, ..)`, `select(M)` run through `execute` /
  `scalars` and a local or two, `db.query(M).first()`, `get_object_or_404(M, ..)`), a loop over
  one, `self` in a method (the class), or a call of a project function whose return annotation
  names it (`role = await self.get_role(..)`, resolved by the index: "=" receivers);
- otherwise the receiver's name is kept ("?role"): it counts for models that name ends like
  (`role` for `UserRole`) or, naming none, for every model. More models means fewer one-way
  columns, which only keeps findings.

Values are compared as text (`value_text`): a literal's `repr`, a constant's last name
(`Status.CLOSED`, `self.CLOSED`, `CLOSED`); anything else (a parameter, an expression, a counter's
`+= 1`) is `ANY`. A row built in the function (`row = Model(..)`) and `__init__` on `self` are its
creation: their values are no writes that race (nor are constructor keywords and defaults).
Django forms, serializers and admin registrations edit columns with any value (`edited_columns`).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator

from ..core.idempotent import ANY_VALUE, attribute_value_text, name_value_text

__all__ = [
    "ANY",
    "WRITE_CALLS",
    "ColumnWrite",
    "column_writes",
    "edited_columns",
    "returned_model",
    "value_text",
]

ANY = ANY_VALUE  # a column or value not known as text
# (receiver, column, value): a bare model name, "=<dotted callee>" (the model its return
# annotation names), "?<name>" or "?" (not known); a column or ANY; a value text or ANY.
ColumnWrite = tuple[str, str, str]
Qualify = Callable[[str], str]  # a name as the module imports it (`helpers.find` -> `app.helpers.find`)

# Source text of a call that may write columns: the rest of a function is read for assignments only.
WRITE_CALLS = re.compile(rb"setattr\(|\.(?:update|values|bulk_update|update_or_create)\(")
_CLASS = re.compile(r"_?[A-Z]\w*[a-z]\w*")
_MANAGERS = frozenset({"objects", "_default_manager", "_base_manager", "query"})
# Calls that find rows of the model named by their first argument.
_LOOKUPS = frozenset(
    {"select", "query", "get", "get_one", "get_or_404", "get_object_or_404", "get_list_or_404", "scalars"}
)
# Calls on a query (or a statement's result) that keep its model.
_ROW_METHODS = frozenset(
    {
        "filter", "filter_by", "where", "exclude", "order_by", "limit", "offset", "options", "join",
        "distinct", "select_related", "prefetch_related", "only", "defer", "using", "all", "first",
        "last", "one", "one_or_none", "scalar", "scalar_one", "scalar_one_or_none", "scalars",
        "unique", "get", "latest", "earliest", "iterator", "with_for_update", "select_for_update",
        "first_or_404", "get_or_404", "one_or_404", "execute", "annotate",
    }
)  # fmt: skip
# Calls that run a statement given as their argument (`session.execute(select(M))`).
_RUNNERS = frozenset({"execute", "scalars", "scalar", "scalar_one", "scalar_one_or_none"})
# What an UPDATE's receiver of no known model looks like when it is rows, not a dict.
_QUERY_LIKE = re.compile(
    r"(?:\b(?:qs|queryset|query|rows|objects)|_qs|_queryset|_query|_rows)$"
    r"|\.(?:filter|where|filter_by|exclude|all)\("
)
_TYPING = frozenset({"Optional", "List", "list", "Sequence", "Iterable", "Iterator", "Awaitable", "Union"})
_NEW = "+"  # a row built here: its writes are its creation


def value_text(node: ast.expr | None) -> str:
    """A stored value as text every writer of the column can be compared by (see the module), spelt
    as the interpreter spells it (`core/idempotent.stored_value_text`)."""
    if isinstance(node, ast.Constant):
        return repr(node.value)
    if isinstance(node, ast.Name):
        return name_value_text(node.id)
    if isinstance(node, ast.Attribute):
        head: ast.expr = node
        while isinstance(head, ast.Attribute):
            head = head.value
        if isinstance(head, ast.Name):
            return attribute_value_text(head.id, node.attr)
    return ANY


def returned_model(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """The model class a function's return annotation names (`-> Optional[UserRole]`), or ""."""
    return _annotated(node.returns)


def column_writes(
    node: ast.FunctionDef | ast.AsyncFunctionDef, owner: str | None, qualify: Qualify, *, calls: bool = True
) -> list[ColumnWrite]:
    """Every column write of the function with its value (nested functions included). `calls`:
    its source may write by a call (`WRITE_CALLS` matched it); without, only assignments count."""
    types: dict[str, str] = {}
    arguments = node.args
    for arg in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs):
        if model := _annotated(arg.annotation):
            types[arg.arg] = model
    if owner is not None:
        types["self"] = _NEW if node.name == "__init__" else owner
    found: list[ColumnWrite] = []
    for statement in node.body:
        found.extend(_statement(statement, types, qualify, calls))
    return [write for write in found if write[0] != _NEW]


def edited_columns(statements: list[ast.stmt]) -> list[tuple[str, str]]:
    """(model, column or ANY) that Django forms, serializers and admin pages edit with any value,
    from a module's top-level statements: a class whose `Meta` (or body) names `model = M` with
    `fields` (ANY for `__all__` or `exclude`), an inline admin (`model = M`),
    `admin.site.register(M, ..)`, `@admin.register(M)`."""
    found: list[tuple[str, str]] = []
    for node in statements:
        if isinstance(node, ast.ClassDef):
            found.extend(_class_edits(node))
            for decorator in node.decorator_list:
                found.extend(_registered(decorator))
        elif isinstance(node, ast.Expr):
            found.extend(_registered(node.value))
    return found


# -- statements -----------------------------------------------------------------------------------


def _statement(node: ast.stmt, types: dict[str, str], qualify: Qualify, calls: bool) -> Iterator[ColumnWrite]:
    """Writes of one statement, in source order, binding locals' models as it goes."""
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        yield from _calls(node.value, types, qualify, calls)
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        model = _row_model(node.value, types, qualify) if node.value is not None else None
        if isinstance(node, ast.AnnAssign):
            model = _annotated(node.annotation) or model
        for target in targets:
            if isinstance(target, ast.Name):
                _bind(types, target.id, model)
            elif isinstance(target, ast.Attribute):
                value = ANY if isinstance(node, ast.AugAssign) else value_text(node.value)
                yield (_receiver(target.value, types, qualify), target.attr, value)
        return
    if isinstance(node, (ast.For, ast.AsyncFor)):
        yield from _calls(node.iter, types, qualify, calls)
        if isinstance(node.target, ast.Name):
            _bind(types, node.target.id, _row_model(node.iter, types, qualify))
    elif isinstance(node, (ast.With, ast.AsyncWith)):
        for item in node.items:
            yield from _calls(item.context_expr, types, qualify, calls)
            if isinstance(item.optional_vars, ast.Name):
                _bind(types, item.optional_vars.id, None)
    elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        pass  # a nested function's parameters are its own; its body is walked below
    else:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                yield from _calls(child, types, qualify, calls)
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.stmt):
            yield from _statement(child, types, qualify, calls)
        elif isinstance(child, (ast.ExceptHandler, ast.match_case)):
            for statement in child.body:
                yield from _statement(statement, types, qualify, calls)


def _bind(types: dict[str, str], name: str, model: str | None) -> None:
    if model:
        types[name] = model
    else:
        types.pop(name, None)


def _calls(
    node: ast.expr | None, types: dict[str, str], qualify: Qualify, calls: bool
) -> Iterator[ColumnWrite]:
    """Column writes made by calls inside an expression (when the function may make any: `calls`)."""
    if node is None or not calls:
        return
    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            yield from _call_writes(call, types, qualify)


def _call_writes(call: ast.Call, types: dict[str, str], qualify: Qualify) -> Iterator[ColumnWrite]:
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    if name == "setattr" and len(call.args) == 3:
        column = call.args[1]
        name = column.value if isinstance(column, ast.Constant) and isinstance(column.value, str) else ANY
        yield (_receiver(call.args[0], types, qualify), name, value_text(call.args[2]))
        return
    if not isinstance(func, ast.Attribute):
        return
    if name == "values" and isinstance(func.value, ast.Call):
        statement = _statement_model(func.value, "update")
        if statement is not None:  # `update(M).where(..).values(col=v)`
            yield from _keyword_writes(statement, call.keywords)
        return
    if name not in ("update", "bulk_update", "update_or_create"):
        return
    receiver = _query_receiver(func.value, types, qualify)
    if name == "update" and receiver.startswith("?") and not _QUERY_LIKE.search(ast.unparse(func.value)):
        return  # `context.update(status=..)`: a dict, not rows
    if name == "update":
        yield from _keyword_writes(receiver, call.keywords)
        if call.args and isinstance(call.args[0], ast.Dict):  # SQLAlchemy `query.update({..})`
            yield from _dict_writes(receiver, call.args[0])
    elif name == "bulk_update":
        fields = next((k.value for k in call.keywords if k.arg == "fields"), None)
        listed = call.args[1] if len(call.args) > 1 else fields
        yield from ((receiver, column, ANY) for column in _strings(listed))
    else:
        defaults = next((k.value for k in call.keywords if k.arg == "defaults"), None)
        if isinstance(defaults, ast.Dict):
            yield from _dict_writes(receiver, defaults)
        elif defaults is not None:
            yield (receiver, ANY, ANY)


def _keyword_writes(receiver: str, keywords: list[ast.keyword]) -> Iterator[ColumnWrite]:
    for keyword in keywords:
        yield (receiver, keyword.arg or ANY, value_text(keyword.value) if keyword.arg else ANY)


def _dict_writes(receiver: str, mapping: ast.Dict) -> Iterator[ColumnWrite]:
    for key, value in zip(mapping.keys, mapping.values, strict=True):
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            yield (receiver, key.value, value_text(value))
        elif isinstance(key, ast.Attribute):  # `{Model.col: v}`
            yield (receiver, key.attr, value_text(value))
        else:
            yield (receiver, ANY, ANY)


def _strings(node: ast.expr | None) -> list[str]:
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        names = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
        if len(names) == len(node.elts):
            return names
    return [ANY]


# -- the model of a row ---------------------------------------------------------------------------


def _receiver(node: ast.expr, types: dict[str, str], qualify: Qualify) -> str:
    """The model a written row belongs to, as far as known (see `ColumnWrite`)."""
    if isinstance(node, ast.Name):
        return types.get(node.id) or f"?{node.id}"
    if isinstance(node, ast.Attribute):
        return f"?{node.attr}"  # `self.instance.status = ..`, `order.basket.status = ..`
    return _row_model(node, types, qualify) or "?"


def _query_receiver(node: ast.expr, types: dict[str, str], qualify: Qualify) -> str:
    """The model of a queryset or query an UPDATE runs on (`M.objects.filter(..)`, `qs`)."""
    if isinstance(node, ast.Attribute) and node.attr in _MANAGERS and (name := _class_name(node.value)):
        return name
    model = _row_model(node, types, qualify)
    if model and not model.startswith("="):
        return model
    return _receiver(node, types, qualify) if isinstance(node, (ast.Name, ast.Attribute)) else "?"


def _row_model(node: ast.expr | None, types: dict[str, str], qualify: Qualify) -> str | None:
    """The model of the row (or rows, or query) an expression gives; `_NEW` for a row it builds."""
    while isinstance(node, ast.Await):
        node = node.value
    if isinstance(node, ast.Name):
        return types.get(node.id)
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    if (name := _class_name(func)) is not None:
        return _NEW  # `Model(..)`: a new row
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    first = _class_name(node.args[0]) if node.args else None
    if name in _LOOKUPS and first is not None:
        return first
    if isinstance(func, ast.Attribute) and name in _ROW_METHODS:
        base = func.value
        if name in _RUNNERS and node.args:  # `session.execute(select(M))`: the statement's
            return _row_model(node.args[0], types, qualify)
        if isinstance(base, ast.Attribute) and base.attr in _MANAGERS:
            return _class_name(base.value)  # `M.objects.get(..)`, `M.query.filter(..)`
        inner = _row_model(base, types, qualify)
        return inner if inner != _NEW else None
    # A helper handed the model class (`get_for_update(db, M, id)`), else what it returns.
    handed = next((found for arg in node.args[:2] if (found := _class_name(arg)) is not None), None)
    if handed is not None:
        return handed
    if isinstance(func, ast.Attribute):
        return f"=self.{name}" if isinstance(func.value, ast.Name) and func.value.id == "self" else None
    return f"={qualify(name)}" if name else None


def _statement_model(node: ast.expr, verb: str) -> str | None:
    """`update(M)` at the head of a statement chain (`update(M).where(..)`): M."""
    while isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name) and func.id == verb:
            return _class_name(node.args[0]) if node.args else None
        if not isinstance(func, ast.Attribute):
            return None
        node = func.value
    return None


def _class_name(node: ast.expr | None) -> str | None:
    """A capitalised class name (`UserRole`, `models.UserRole`): its last part."""
    if isinstance(node, ast.Attribute):
        name = node.attr
    elif isinstance(node, ast.Name):
        name = node.id
    else:
        return None
    return name if _CLASS.fullmatch(name) else None


def _annotated(node: ast.expr | None) -> str:
    """The model class an annotation names: `UserRole`, `Optional[UserRole]`, `UserRole | None`,
    `list[UserRole]`, `"UserRole"`; "" for anything else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            node = ast.parse(node.value, mode="eval").body
        except SyntaxError:
            return ""
    if isinstance(node, ast.Subscript) and _class_name(node.value) in _TYPING:
        inner = node.slice
        parts = inner.elts if isinstance(inner, ast.Tuple) else [inner]
        names = {_annotated(p) for p in parts if not (isinstance(p, ast.Constant) and p.value is None)}
        return names.pop() if len(names) == 1 else ""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        sides = [s for s in (node.left, node.right) if not (isinstance(s, ast.Constant) and s.value is None)]
        return _annotated(sides[0]) if len(sides) == 1 else ""
    name = _class_name(node)
    return name if name is not None and name not in _TYPING else ""


# -- forms, serializers, admin --------------------------------------------------------------------


def _class_edits(node: ast.ClassDef) -> Iterator[tuple[str, str]]:
    """A model form or serializer (`class Meta: model = M; fields = [..]`), an update view
    (`model = M`, `fields = [..]` in its body) or an admin inline (`model = M`, `*Inline` base)."""
    bodies = [node.body, *(s.body for s in node.body if isinstance(s, ast.ClassDef) and s.name == "Meta")]
    for body in bodies:
        assigned = {
            target.id: statement.value
            for statement in body
            if isinstance(statement, ast.Assign)
            for target in statement.targets
            if isinstance(target, ast.Name)
        }
        model = _class_name(assigned.get("model"))
        if model is None:
            continue
        inline = any("Inline" in (_class_name(base) or "") for base in node.bases)
        if "fields" in assigned:
            listed = assigned["fields"]
            for column in [ANY] if "exclude" in assigned else _strings(listed):
                yield (model, column)
        elif "exclude" in assigned or inline:
            yield (model, ANY)


def _registered(node: ast.expr) -> Iterator[tuple[str, str]]:
    """`admin.site.register(M, ..)`, `@admin.register(M, ..)`: every column of M, any value."""
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
        return
    if node.func.attr != "register" or "admin" not in ast.unparse(node.func.value).lower():
        return
    for arg in node.args:
        if (name := _class_name(arg)) is not None:
            yield (name, ANY)
        elif isinstance(arg, (ast.List, ast.Tuple)):
            yield from ((n, ANY) for e in arg.elts if (n := _class_name(e)) is not None)
