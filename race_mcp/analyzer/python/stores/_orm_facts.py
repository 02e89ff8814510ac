"""What a module declares about its ORM models: unique fields, related managers, DRF view models,
SQLAlchemy Core tables, versioned mappers, methods run inside `atomic()`, SERIALIZABLE engines, and
which model each local is built from. Read once per module from the program model."""

from __future__ import annotations

import re

from ...core import model
from ...core.effects import CallContext, Effect
from ._common import ModuleFacts, chain, is_true, keywords, literal_string, positional, walk

__all__ = ["MANAGERS", "OrmFacts", "OrmRecognizerParts", "field_names"]

MANAGERS = ("objects", "_default_manager", "_base_manager")
_FIELD_FACTORY = re.compile(r"(Field|Column|mapped_column|ForeignKey|relationship)$")
# Over untrusted code each scan must be linear: a lazy scan for `unique=True` stops at the next
# opener of its kind (instead of every opener re-scanning the same stretch), and an unclosed
# constraint runs to the end of the text.
_UNIQUE_INDEX = re.compile(r"Index\(((?:(?!Index\()[^\n])*?)\bunique\s*=\s*True")
_UNIQUE_COLUMN = re.compile(
    r"Column\(\s*['\"](\w+)['\"](?:(?!Column\()[^)])*?(?:unique|primary_key)\s*=\s*True"
)
_CONSTRAINT_ARGS = re.compile(r"(?:UniqueConstraint|PrimaryKeyConstraint)\(([^)]*+)(?:\)|\Z)")
_QUOTED = re.compile(r"['\"](\w+)['\"]")
_WORD = re.compile(r"\w+")


def field_names(key: str) -> set[str]:
    """`email__iexact` -> `email`; `holder_id` -> `holder_id` and `holder` (a foreign key's column)."""
    name = key.split("__")[0]
    return {name, name[:-3]} if name.endswith("_id") and name != "_id" else {name}


class OrmFacts(ModuleFacts):
    def __init__(self, module: model.ModuleModel) -> None:
        super().__init__(module)
        source = module.source
        self._mentions_constraints = "nique" in source or "Index(" in source
        self.unique = {name: self._unique_fields(info) for name, info in self.classes.items()}
        # SQLAlchemy Core: `accounts = Table("accounts", metadata, Column(...), ...)`.
        self.core_tables: dict[str, str] = {}
        for variable, value in self.assignments.items():
            if isinstance(value, model.Call) and (value.name or "").split(".")[-1] == "Table":
                args = positional(value)
                table = literal_string(args[0]) if args else None
                self.core_tables[variable] = (table or variable).lower()
                self.unique[f"sql:{self.core_tables[variable]}"] = self._core_unique(value)
        self.related = self._related_managers()
        self.view_models = {
            name: found for name, info in self.classes.items() if (found := self._view_model(info))
        }
        self.versioned = (
            {name for name, info in self.classes.items() if "version_id_col" in self.block(info)}
            if "version_id_col" in source
            else set()
        )
        self.atomic_methods = self._atomic_methods()
        self.serializable = self._serializable_names()
        self._built: dict[tuple[str, str], str] | None = None
        self._called: set[str] = set()

    # -- models ---------------------------------------------------------------------------------
    def _unique_fields(self, info: model.ClassModel) -> set[str]:
        """Fields declared unique: `unique=True`, primary keys, one-to-one fields, constraints."""
        unique = {"pk"}
        has_primary_key = False
        for name, value in info.attributes.items():
            if not isinstance(value, model.Call):
                continue
            options = keywords(value)
            if is_true(options.get("primary_key")):
                has_primary_key = True
            factory = (value.name or "").split(".")[-1]
            if (
                is_true(options.get("unique"))
                or is_true(options.get("primary_key"))
                or factory == "OneToOneField"
            ):
                unique.add(name)
        if not has_primary_key:
            unique.add("id")  # Django's implicit auto primary key
        # Constraints are spelled out in the class body; most modules have none to look for.
        text = self.block(info) if self._mentions_constraints else ""
        for group in re.findall(r"Unique(?:Constraint)?\(\s*(?:fields\s*=\s*)?[\[(]?([^)\]]*)", text):
            unique |= set(_QUOTED.findall(group))
        for group in re.findall(r"unique_together\s*=\s*([^\n]*)", text):
            unique |= set(_QUOTED.findall(group))
        for group in _UNIQUE_INDEX.findall(text):
            unique |= set(_QUOTED.findall(group)[1:])  # the first string is the index name
        return unique

    def _core_unique(self, table: model.Call) -> set[str]:
        """Unique columns of a Core `Table(...)`: `Column("email", unique=True)`, UniqueConstraint."""
        code = self.code(table)
        unique = set(_UNIQUE_COLUMN.findall(code))
        for group in _CONSTRAINT_ARGS.findall(code):
            unique |= set(_QUOTED.findall(group))
        return unique

    def _related_managers(self) -> dict[str, str]:
        """`question.choice_set` and `user.<related_name>` -> the model the manager queries."""
        related: dict[str, str] = {}
        for name, info in self.classes.items():
            fields = [v for v in info.attributes.values() if isinstance(v, model.Call)]
            if not any(_FIELD_FACTORY.search(v.name or "") for v in fields):
                continue
            related[f"{name.lower()}_set"] = name
            for value in fields:
                related_name = literal_string(keywords(value).get("related_name"))
                if related_name is not None:
                    related[related_name] = name
        return related

    def _view_model(self, info: model.ClassModel) -> str | None:
        """DRF views: `queryset = Event.objects.all()` or `model = Event`."""
        declared = info.attributes.get("model")
        if isinstance(declared, model.Name) and declared.id in self.classes:
            return declared.id
        queryset = info.attributes.get("queryset")
        if isinstance(queryset, model.Call):
            base, _ = chain(queryset)
            return self.model_of(base, None)
        return None

    def _atomic_methods(self) -> set[str]:
        """Methods (qualnames) run inside `atomic()` by `@method_decorator(transaction.atomic, ...)`."""
        methods: set[str] = set()
        for info in self.classes.values():
            for decorator in info.decorators:
                if not isinstance(decorator, model.Call) or not self.wraps_atomic(decorator):
                    continue
                name = literal_string(keywords(decorator).get("name"))
                for method_name, method in info.methods.items():
                    if name in (None, "dispatch") or name == method_name:
                        methods.add(method.qualname)
        return methods

    def is_atomic(self, expr: model.Expr) -> bool:
        target = expr.func if isinstance(expr, model.Call) else expr
        return (self.qualify(target) or "").endswith("transaction.atomic")

    def wraps_atomic(self, call: model.Call) -> bool:
        """`method_decorator(transaction.atomic)` / `method_decorator(atomic, name="dispatch")`."""
        args = positional(call)
        return (
            (call.name or "").split(".")[-1] == "method_decorator" and bool(args) and self.is_atomic(args[0])
        )

    def _serializable_names(self) -> set[str]:
        """Engines configured for SERIALIZABLE, and the session factories bound to them (transitively).

        A worklist over who mentions whom: re-scanning every assignment until nothing changed was
        quadratic in a chain of assignments.
        """
        if "serializable" not in self.source.lower():
            return set()
        names: set[str] = set()
        mentioned_by: dict[str, list[str]] = {}
        for name, value in self.assignments.items():
            code = self.code(value)
            if "serializable" in code.lower():
                names.add(name)
            for word in set(_WORD.findall(code)):
                mentioned_by.setdefault(word, []).append(name)
        pending = list(names)
        while pending:
            for user in mentioned_by.get(pending.pop(), ()):
                if user not in names:
                    names.add(user)
                    pending.append(user)
        return names

    @property
    def built(self) -> dict[tuple[str, str], str]:
        """(function qualname, local) -> the model class the local was built from."""
        if self._built is None:
            self._constructions()
        assert self._built is not None
        return self._built

    @property
    def called(self) -> set[str]:
        """Names of functions and `self`/`cls` methods called somewhere in the module."""
        if self._built is None:
            self._constructions()
        return self._called

    def _constructions(self) -> None:
        """`name = Model(...)` inside each function, so `session.add(name)` knows what it inserts;
        and the names called in the module (a helper called here is judged in its callers).
        Read on first use: most modules never need either."""
        self._built = {}
        for function in self.module.functions.values():
            for node in walk(function.body):
                if isinstance(node, model.Assign) and isinstance(node.value, model.Call):
                    func = node.value.func
                    # `r = cls(**kw)` in a class method builds a row of the class it runs for.
                    if isinstance(func, model.Name) and (
                        func.id in self.classes or func.id[:1].isupper() or func.id == "cls"
                    ):
                        for target in node.targets:
                            if isinstance(target, model.Name):
                                self._built[(function.qualname, target.id)] = func.id
                elif isinstance(node, model.Call):
                    func = node.func
                    if isinstance(func, model.Name):
                        self._called.add(func.id)
                    elif (
                        isinstance(func, model.Attribute)
                        and isinstance(func.value, model.Name)
                        and func.value.id in ("self", "cls")
                    ):
                        self._called.add(func.attr)

    def model_of(self, expr: model.Expr, self_class: str | None) -> str | None:
        """The model a manager or queryset expression queries."""
        if isinstance(expr, model.Call):
            # `self.get_queryset()` of a DRF view
            func = expr.func
            if isinstance(func, model.Attribute) and func.attr == "get_queryset" and self_class:
                return self.view_models.get(self_class)
            return None
        if not isinstance(expr, model.Attribute):
            return None
        owner = expr.value
        if expr.attr in MANAGERS:
            if isinstance(owner, model.Name):
                return self_class if owner.id in ("cls", "self") else owner.id
            if isinstance(owner, model.Attribute) and isinstance(owner.value, model.Name):
                # `models.User.objects`: a model reached through its module
                return owner.attr if owner.attr[:1].isupper() else None
            if (
                isinstance(owner, model.Call)
                and isinstance(owner.func, model.Name)
                and owner.func.id == "type"
            ):
                return self_class  # `type(self).objects`
            return None
        if expr.attr == "queryset" and isinstance(owner, model.Name) and owner.id == "self" and self_class:
            return self.view_models.get(self_class)
        return self.related.get(expr.attr) or self._default_related(expr)

    def _default_related(self, expr: model.Attribute) -> str | None:
        """`question.choice_set` on a row local when the model is declared in another module:
        Django's default related manager is `<model name, lowercased>_set`; the model is the
        module's class of that name, else the name capitalised (`option_set` -> `Option`)."""
        name = expr.attr
        if not name.endswith("_set") or len(name) <= 4 or not isinstance(expr.value, model.Name):
            return None
        stem = name[:-4]
        if not stem.replace("_", "").isalnum() or not stem.islower():
            return None
        known = next((c for c in self.classes if c.lower() == stem), None)
        return known or stem[:1].upper() + stem[1:]

    def core_table(self, expr: model.Expr) -> str | None:
        """The SQL name of a Core table that `expr` (`accounts`, `accounts.c.balance`) refers to."""
        while isinstance(expr, model.Attribute):
            expr = expr.value
        return self.core_tables.get(expr.id) if isinstance(expr, model.Name) else None


class OrmRecognizerParts:
    """What the ORM recognizer's halves (`SqlAlchemyMixin`, `ActiveRecordMixin`) call on the whole
    recognizer; `OrmRecognizer` supplies each of them."""

    def facts(self, ctx: CallContext | None) -> OrmFacts:
        raise NotImplementedError

    def insert(
        self,
        key: str,
        guard: frozenset[str],
        ctx: CallContext,
        *,
        rule: str = "RC303",
        handled: bool = False,
        given: frozenset[str] | None = None,
    ) -> list[Effect]:
        raise NotImplementedError

    def unique_of(self, name: str, ctx: CallContext) -> set[str]:
        raise NotImplementedError
