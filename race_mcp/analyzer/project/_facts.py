"""What the index keeps of one file: plain data, JSON round-trip, no syntax tree.

Names in facts are *dotted as qualified at extraction*: the head of `helpers.apply` replaced by what
the file imports it as (`app.services.helpers.apply`), a name the module defines prefixed with the
module; `self.x` / `cls.x` and unknown heads stay as written. A called context manager or decorator
keeps a `()` suffix (`django.db.transaction.atomic()`); the index strips it where it does not matter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["MAX_KEYS_PER_TABLE", "ClassFacts", "FileFacts", "FunctionFacts", "ModelField", "merge_keys"]

# One call site: (callee dotted, line, indices into the function's `contexts` held around it).
CallRecord = tuple[str, int, tuple[int, ...]]


@dataclass
class FunctionFacts:
    line: int
    owner: str | None = None
    decorators: list[str] = field(default_factory=list)
    # Every `with` item's context as dotted text; call sites and yields point into it.
    contexts: list[str] = field(default_factory=list)
    calls: list[CallRecord] = field(default_factory=list)
    # For each `yield`: the contexts open around it (a `@contextmanager` holds them for its caller).
    yields: list[tuple[int, ...]] = field(default_factory=list)
    # Callees of returned calls, and returned names (`return transaction.atomic(func)`, `return inner`).
    returns: list[str] = field(default_factory=list)
    # Contexts entered inside nested functions: a decorator's wrapper that opens a transaction.
    inner_contexts: list[str] = field(default_factory=list)
    # Receivers of `.acquire()` calls (a `@contextmanager` that acquires a lock and yields).
    acquires: list[str] = field(default_factory=list)
    end: int = 0  # last line of the definition
    # Columns written by name: (`self` or the callee's dotted head before `.objects`, columns) for
    # `Model.objects.filter(..).update(a=..)`, `self.save(update_fields=[..])`, and `self.a = ..`
    # before a full `self.save()` (`_writers.py`: what other code writes of a model).
    field_writes: list[tuple[str, list[str]]] = field(default_factory=list)
    # Lines of calls made inside a nested command-line command (`@app.cli.command()`,
    # `@click.command()` inside an app factory): one process runs them, not a request.
    command_lines: list[int] = field(default_factory=list)
    # What makes every return a random draw (`_draws.py`): "" (the function draws itself) and
    # project functions to ask in turn; empty when some return is no draw.
    draws: list[str] = field(default_factory=list)
    # Every column write with its value, (receiver, column, value) (`_columns.py`: one-way columns).
    column_values: list[tuple[str, str, str]] = field(default_factory=list)
    # The model class the return annotation names (`-> Optional[UserRole]`), or "".
    returns_model: str = ""

    def dump(self) -> list[Any]:
        return [
            self.line, self.owner, self.decorators, self.contexts, self.calls,
            self.yields, self.returns, self.inner_contexts, self.acquires, self.end, self.field_writes,
            self.command_lines, self.draws, self.column_values, self.returns_model,
        ]  # fmt: skip

    @classmethod
    def load(cls, data: list[Any]) -> FunctionFacts:
        line, owner, decorators, contexts, calls, yields, returns, inner, acquires, end = data[:10]
        writes = data[10] if len(data) > 10 else []
        command_lines = data[11] if len(data) > 11 else []
        draws = data[12] if len(data) > 12 else []
        column_values = data[13] if len(data) > 13 else []
        returns_model = data[14] if len(data) > 14 else ""
        return cls(
            int(line),
            owner,
            list(decorators),
            list(contexts),
            [(str(name), int(at), tuple(held)) for name, at, held in calls],
            [tuple(held) for held in yields],
            list(returns),
            list(inner),
            list(acquires),
            int(end),
            [(str(target), [str(c) for c in columns]) for target, columns in writes],
            [int(at) for at in command_lines],
            [str(name) for name in draws],
            [(str(receiver), str(column), str(value)) for receiver, column, value in column_values],
            str(returns_model),
        )


@dataclass(frozen=True)
class ModelField:
    """A model attribute that matters for uniqueness: its constructor's last name, `unique`, `pk`,
    and the function its `default=` names (qualified: `uuid.uuid4`), called for each new row."""

    kind: str
    unique: bool = False
    pk: bool = False
    default: str = ""


@dataclass
class ClassFacts:
    line: int
    bases: list[str] = field(default_factory=list)
    methods: dict[str, int] = field(default_factory=dict)
    fields: dict[str, ModelField] = field(default_factory=dict)
    # Multi-column keys: `Meta.unique_together`, `UniqueConstraint`s, `__table_args__`.
    unique_together: list[list[str]] = field(default_factory=list)
    abstract: bool = False
    # "" no `class Meta`; "own": a Meta of its own; "inherits": `class Meta(Base.Meta)`.
    meta: str = ""
    table: str | None = None

    def dump(self) -> list[Any]:
        fields = {name: [f.kind, f.unique, f.pk, f.default] for name, f in self.fields.items()}
        return [
            self.line, self.bases, self.methods, fields, self.unique_together,
            self.abstract, self.meta, self.table,
        ]  # fmt: skip

    @classmethod
    def load(cls, data: list[Any]) -> ClassFacts:
        line, bases, methods, fields, together, abstract, meta, table = data
        return cls(
            int(line),
            list(bases),
            {str(name): int(at) for name, at in methods.items()},
            {str(name): _model_field(declared) for name, declared in fields.items()},
            [list(key) for key in together],
            bool(abstract),
            str(meta),
            table,
        )


def _model_field(data: list[Any]) -> ModelField:
    kind, unique, pk, *default = data
    return ModelField(str(kind), bool(unique), bool(pk), str(default[0]) if default else "")


@dataclass
class FileFacts:
    """One file's facts. `kind` is `py` or `sql`; `tables` holds keys declared outside classes,
    by namespace: `sql:<table>` (SQL, Alembic, `Table(...)`), `django:<app_label>.<model>`
    (Django migrations), `mongo:<collection>` (`create_index(..., unique=True)`)."""

    module: str
    kind: str = "py"
    imports: dict[str, str] = field(default_factory=dict)
    star_imports: list[str] = field(default_factory=list)
    # Names the module binds at top level -> "function", "class" or "var".
    defs: dict[str, str] = field(default_factory=dict)
    classes: dict[str, ClassFacts] = field(default_factory=dict)
    # By local qualified name: `f`, `Class.method`.
    functions: dict[str, FunctionFacts] = field(default_factory=dict)
    tables: dict[str, list[list[str]]] = field(default_factory=dict)
    # Names used as values, not called (a function handed to a framework may be called from anywhere).
    references: list[str] = field(default_factory=list)
    # Module-level names bound to a lock (`_lock = threading.Lock()`).
    locks: list[str] = field(default_factory=list)
    broken: bool = False
    # Facts of the other languages' files (`kind` `js`, `rs`): JSON data their extractors shape
    # (`_extract_js.py`, `_extract_rust.py`) and `_languages.py` reads.
    extra: dict[str, Any] = field(default_factory=dict)
    # Columns that model forms, serializers and admin pages edit with any value: (model, column
    # or "*") (`_columns.edited_columns`).
    edits: list[tuple[str, str]] = field(default_factory=list)
    # Module-level names bound to an instance of a class, by the class as written (`db =
    # Database("main")` -> "Database"): `db.connect()` is then that class's method.
    instances: dict[str, str] = field(default_factory=dict)

    def dump(self) -> list[Any]:
        return [
            self.module,
            self.kind,
            self.imports,
            self.star_imports,
            self.defs,
            {name: facts.dump() for name, facts in self.classes.items()},
            {name: facts.dump() for name, facts in self.functions.items()},
            self.tables,
            self.references,
            self.locks,
            self.broken,
            self.extra,
            self.edits,
            self.instances,
        ]

    @classmethod
    def load(cls, data: list[Any]) -> FileFacts:
        extra = data[11] if len(data) > 11 else {}
        edits = data[12] if len(data) > 12 else []
        instances = data[13] if len(data) > 13 else {}
        module, kind, imports, stars, defs, classes, functions, tables, refs, locks, broken = data[:11]
        return cls(
            str(module),
            str(kind),
            dict(imports),
            list(stars),
            dict(defs),
            {str(name): ClassFacts.load(value) for name, value in classes.items()},
            {str(name): FunctionFacts.load(value) for name, value in functions.items()},
            {str(key): [list(columns) for columns in keys] for key, keys in tables.items()},
            list(refs),
            list(locks),
            bool(broken),
            dict(extra),
            [(str(model), str(column)) for model, column in edits],
            {str(name): str(klass) for name, klass in instances.items()},
        )


# No real table has this many unique keys; the cap keeps hostile files from making the
# de-duplication below quadratic.
MAX_KEYS_PER_TABLE = 256


def merge_keys(into: dict[str, list[list[str]]], key: str, columns: list[str]) -> None:
    """Add one unique column set under `key`, sorted and once."""
    ordered = sorted(set(columns))
    keys = into.setdefault(key, [])
    if ordered and len(keys) < MAX_KEYS_PER_TABLE and ordered not in keys:
        keys.append(ordered)
