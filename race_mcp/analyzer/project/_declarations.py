"""Uniqueness as code declares it: model class bodies and the calls of migrations and schema code.

- Django: `unique=True`, `primary_key=True`, `OneToOneField`; `Meta.abstract`, `Meta.unique_together`,
  `Meta.constraints` with `UniqueConstraint(fields=...)` or expressions (`Lower("email")`; one with
  `condition=` is partial and left out); migrations' `CreateModel`, `AddField`, `AlterField`,
  `AddConstraint`, `AlterUniqueTogether`, keyed `django:<app_label>.<model>`.
- SQLAlchemy / SQLModel: `Column(..., unique=True)`, `mapped_column(...)`, `Field(unique=True)`,
  `primary_key=True` (several make one composite key), `__tablename__`, `__table_args__` with
  `UniqueConstraint` / `PrimaryKeyConstraint` / `Index(..., unique=True)`; `Table("t", ...)`.
- Alembic: `op.create_unique_constraint`, `op.create_index(..., unique=True)`, `op.create_table`,
  `op.add_column`, keyed `sql:<table>`.
- MongoDB: `collection.create_index(keys, unique=True)`, `create_indexes([IndexModel(..., unique=True)])`,
  keyed `mongo:<collection>`.

A unique field's `default=` callable is kept by its qualified name (`code = UUIDField(default=uuid4,
unique=True)`): a new row that does not set the field gets a value drawn for it alone
(`ProjectIndex.drawn_defaults`).
"""

from __future__ import annotations

import ast
from collections.abc import Callable

from ._facts import MAX_KEYS_PER_TABLE, ClassFacts, ModelField, merge_keys

__all__ = ["add_key", "read_call", "read_class_statement", "read_meta"]

# Constructors whose result is a model attribute worth keeping (unique, key, or a relation whose
# `<name>_id` column a lookup may name).
_FIELD_KINDS = frozenset({"Column", "mapped_column", "Field", "ForeignKey", "OneToOneField", "ParentalKey"})
_RELATIONS = frozenset({"ForeignKey", "OneToOneField", "ParentalKey"})
_KEY_CONSTRAINTS = frozenset({"UniqueConstraint", "PrimaryKeyConstraint"})
_DJANGO_OPERATIONS = frozenset(
    {"CreateModel", "AddField", "AlterField", "AddConstraint", "AlterUniqueTogether"}
)

add_key = merge_keys
Tables = dict[str, list[list[str]]]


def _last(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


def _true(call: ast.Call, keyword: str) -> bool:
    return any(
        k.arg == keyword and isinstance(k.value, ast.Constant) and k.value.value is True
        for k in call.keywords
    )


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _arg(call: ast.Call, position: int, name: str) -> ast.expr | None:
    given = _keyword(call, name)
    if given is not None:
        return given
    positional = [arg for arg in call.args if not isinstance(arg, ast.Starred)]
    return positional[position] if position < len(positional) else None


def _text(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _names(node: ast.expr | None) -> list[str]:
    """Column names from a list/tuple of strings, a single string, or column objects (`User.email`)."""
    if node is None:
        return []
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return [name for element in node.elts for name in _names(element)]
    text = _text(node)
    if text is not None:
        return [text]
    if isinstance(node, ast.Call):  # `Lower("email")`, `F("email")`: the columns inside
        return [name for arg in node.args for name in _names(arg)]
    if isinstance(node, (ast.Name, ast.Attribute)):
        return [_last(node)]
    return []


def _field(call: ast.Call, qualify: Callable[[str], str | None] | None = None) -> ModelField | None:
    kind = _last(call.func)
    if kind not in _FIELD_KINDS and not kind.endswith("Field"):
        return None
    pk = _true(call, "primary_key")
    unique = pk or _true(call, "unique") or kind == "OneToOneField"
    if not (unique or kind in _RELATIONS):
        return None
    default = _default_function(_keyword(call, "default"))
    qualified = qualify(default) if default and qualify is not None and unique else None
    return ModelField(kind, unique=unique, pk=pk, default=qualified or "")


def _default_function(value: ast.expr | None) -> str | None:
    """The function a `default=` calls for each new row: `uuid.uuid4`, or the callee of a lambda
    (`lambda: secrets.token_urlsafe(16)`). A value (`default=0`) or a call made once at import
    (`default=uuid4()`: one value for every row) is none."""
    if isinstance(value, ast.Lambda) and isinstance(value.body, ast.Call):
        value = value.body.func
    parts: list[str] = []
    while isinstance(value, ast.Attribute):
        parts.append(value.attr)
        value = value.value
    if not isinstance(value, ast.Name):
        return None
    return ".".join([value.id, *reversed(parts)])


# -- class bodies ---------------------------------------------------------------------------------


def read_class_statement(
    statement: ast.stmt, facts: ClassFacts, qualify: Callable[[str], str | None] | None = None
) -> None:
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
        target, value = statement.targets[0], statement.value
    elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
        target, value = statement.target, statement.value
    else:
        return
    if not isinstance(target, ast.Name):
        return
    if target.id == "__tablename__":
        facts.table = _text(value)
    elif target.id == "__table_args__":
        for element in value.elts if isinstance(value, (ast.Tuple, ast.List)) else [value]:
            if isinstance(element, ast.Call) and (key := _constraint_key(element)):
                _add_together(facts, key)
    elif isinstance(value, ast.Call) and (field := _field(value, qualify)) is not None:
        facts.fields[target.id] = field


def read_meta(meta: ast.ClassDef, facts: ClassFacts) -> None:
    """Django's `class Meta`: abstract, unique_together, constraints, db_table."""
    facts.meta = "inherits" if meta.bases else "own"
    for statement in meta.body:
        if not (isinstance(statement, ast.Assign) and len(statement.targets) == 1):
            continue
        target = statement.targets[0]
        if not isinstance(target, ast.Name):
            continue
        value = statement.value
        if target.id == "abstract":
            facts.abstract = isinstance(value, ast.Constant) and value.value is True
        elif target.id == "db_table":
            facts.table = _text(value) or facts.table
        elif target.id == "unique_together":
            for key in _together(value):
                _add_together(facts, key)
        elif target.id == "constraints" and isinstance(value, (ast.List, ast.Tuple)):
            for element in value.elts:
                if isinstance(element, ast.Call) and (key := _constraint_key(element)):
                    _add_together(facts, key)


def _add_together(facts: ClassFacts, key: list[str]) -> None:
    ordered = sorted(set(key))
    together = facts.unique_together
    if ordered and len(together) < MAX_KEYS_PER_TABLE and ordered not in together:
        together.append(ordered)


def _together(value: ast.expr) -> list[list[str]]:
    """`("a", "b")` is one key; `(("a", "b"), ("c",))` is two."""
    if not isinstance(value, (ast.Tuple, ast.List, ast.Set)):
        return []
    if all(_text(element) is not None for element in value.elts):
        return [_names(value)] if value.elts else []
    return [_names(element) for element in value.elts if isinstance(element, (ast.Tuple, ast.List))]


def _constraint_key(call: ast.Call) -> list[str]:
    """The columns a `UniqueConstraint`, `PrimaryKeyConstraint` or unique `Index` covers ([] if none
    or partial: `condition=` / `postgresql_where=` make it hold for some rows only)."""
    kind = _last(call.func)
    if any(k.arg in ("condition", "postgresql_where", "sqlite_where") for k in call.keywords):
        return []
    if kind in _KEY_CONSTRAINTS:
        fields = _keyword(call, "fields")
        return _names(fields) if fields is not None else [n for arg in call.args for n in _names(arg)]
    if kind == "Index" and _true(call, "unique"):
        return [name for arg in call.args[1:] for name in _names(arg)]
    return []


# -- calls anywhere in a file -----------------------------------------------------------------------


def read_call(call: ast.Call, module: str, tables: Tables) -> None:
    """Uniqueness declared by one call (migrations, schema code, index creation), into `tables`."""
    kind = _last(call.func)
    if kind == "create_unique_constraint":
        table = _text(_arg(call, 1, "table_name"))
        if table:
            merge_keys(tables, f"sql:{table.lower()}", _names(_arg(call, 2, "columns")))
    elif kind == "create_index" and _true(call, "unique"):
        _create_index(call, tables)
    elif kind == "create_indexes":
        _create_indexes(call, tables)
    elif kind in ("create_table", "Table"):
        _table(call, tables)
    elif kind == "add_column":
        table, column = _text(_arg(call, 0, "table_name")), _arg(call, 1, "column")
        if table and isinstance(column, ast.Call) and (key := _column_key(column)):
            merge_keys(tables, f"sql:{table.lower()}", key)
    elif kind in _DJANGO_OPERATIONS and ".migrations." in f".{module}.":
        _django_operation(call, kind, module, tables)


def _create_index(call: ast.Call, tables: Tables) -> None:
    if any(k.arg in ("postgresql_where", "sqlite_where", "partialFilterExpression") for k in call.keywords):
        return
    table = _text(_arg(call, 1, "table_name"))
    if table is not None:  # Alembic: create_index(name, table, columns, unique=True)
        merge_keys(tables, f"sql:{table.lower()}", _names(_arg(call, 2, "columns")))
        return
    collection = _collection(call.func)
    if collection:  # pymongo / motor: collection.create_index(keys, unique=True)
        merge_keys(tables, f"mongo:{collection}", _mongo_keys(_arg(call, 0, "keys")))


def _create_indexes(call: ast.Call, tables: Tables) -> None:
    collection = _collection(call.func)
    models = _arg(call, 0, "indexes")
    if not collection or not isinstance(models, (ast.List, ast.Tuple)):
        return
    for model in models.elts:
        if (
            isinstance(model, ast.Call)
            and _true(model, "unique")
            and _keyword(model, "partialFilterExpression") is None
        ):
            merge_keys(tables, f"mongo:{collection}", _mongo_keys(_arg(model, 0, "keys")))


def _mongo_keys(node: ast.expr | None) -> list[str]:
    """`"email"`, `[("email", 1), ("tenant", 1)]` or `[("email", ASCENDING)]`: the field names."""
    if isinstance(node, (ast.List, ast.Tuple)):
        names = []
        for element in node.elts:
            if isinstance(element, ast.Tuple) and element.elts:
                names.extend(_names(element.elts[0]))
            else:
                names.extend(_names(element))
        return names
    return _names(node)


def _collection(func: ast.expr) -> str:
    """The collection a method is called on: `db.users`, `db["users"]`, `users`, `get_collection("users")`."""
    receiver = func.value if isinstance(func, ast.Attribute) else None
    if isinstance(receiver, ast.Subscript):
        return _text(receiver.slice) or ""
    if isinstance(receiver, ast.Call) and _last(receiver.func) == "get_collection":
        return _text(_arg(receiver, 0, "name")) or ""
    return _last(receiver) if receiver is not None else ""


def _table(call: ast.Call, tables: Tables) -> None:
    table = _text(_arg(call, 0, "name"))
    if not table:
        return
    key = f"sql:{table.lower()}"
    primary = []
    for element in call.args[1:]:
        if not isinstance(element, ast.Call):
            continue
        if _last(element.func) == "Column":
            column = _text(element.args[0]) if element.args else None
            if column and _true(element, "primary_key"):
                primary.append(column)
            elif column and _true(element, "unique"):
                merge_keys(tables, key, [column])
        elif constraint := _constraint_key(element):
            merge_keys(tables, key, constraint)
    merge_keys(tables, key, primary)


def _column_key(column: ast.Call) -> list[str]:
    name = _text(column.args[0]) if column.args else None
    return [name] if name and (_true(column, "unique") or _true(column, "primary_key")) else []


def _django_operation(call: ast.Call, kind: str, module: str, tables: Tables) -> None:
    parts = module.split(".")
    label = parts[parts.index("migrations") - 1] if parts.index("migrations") > 0 else ""
    model = _text(
        _arg(call, 0, "model_name" if kind in ("AddField", "AlterField", "AddConstraint") else "name")
    )
    if not model:
        return
    key = f"django:{label}.{model.lower()}"
    if kind == "CreateModel":
        fields = _arg(call, 1, "fields")
        for element in fields.elts if isinstance(fields, (ast.List, ast.Tuple)) else []:
            if isinstance(element, ast.Tuple) and len(element.elts) == 2:
                _migration_field(_text(element.elts[0]), element.elts[1], key, tables)
        options = _keyword(call, "options")
        if isinstance(options, ast.Dict):
            for option, value in zip(options.keys, options.values, strict=True):
                _migration_option(_text(option) if option else None, value, key, tables)
    elif kind in ("AddField", "AlterField"):
        _migration_field(_text(_arg(call, 1, "name")), _arg(call, 2, "field"), key, tables)
    elif kind == "AddConstraint":
        constraint = _arg(call, 1, "constraint")
        if isinstance(constraint, ast.Call):
            merge_keys(tables, key, _constraint_key(constraint))
    else:
        for columns in _together(_arg(call, 1, "unique_together") or ast.Tuple(elts=[])):
            merge_keys(tables, key, columns)


def _migration_field(name: str | None, value: ast.expr | None, key: str, tables: Tables) -> None:
    if name and isinstance(value, ast.Call) and (field := _field(value)) is not None and field.unique:
        merge_keys(tables, key, [name])


def _migration_option(option: str | None, value: ast.expr, key: str, tables: Tables) -> None:
    if option == "unique_together":
        for columns in _together(value):
            merge_keys(tables, key, columns)
    elif option == "constraints" and isinstance(value, (ast.List, ast.Tuple)):
        for element in value.elts:
            if isinstance(element, ast.Call):
                merge_keys(tables, key, _constraint_key(element))
