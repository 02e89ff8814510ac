"""Which columns of a model, table or collection are unique, wherever the project declares it."""

from __future__ import annotations

from collections.abc import Iterable

from ._resolve import Resolver

__all__ = ["Uniqueness"]

_DJANGO_MODEL = frozenset({"django.db.models.Model", "django.db.models.base.Model"})
# Last names of bases that make a class a model when the base itself is outside the project:
# Flask-SQLAlchemy's `db.Model`, a declarative `Base`, `DeclarativeBase`, SQLModel, MongoEngine.
_MODEL_BASE_NAMES = ("Model", "Base", "DeclarativeBase", "SQLModel", "Document")
_LOOKUP_SUFFIXES = ("__exact", "__iexact")


class Uniqueness(Resolver):
    _models_by_name: dict[str, list[str]] | None = None

    def is_model(self, qualname: str) -> bool:
        """A project class that is an ORM model (Django, SQLAlchemy, SQLModel), judged by its
        ancestors' names or by what it declares (fields, a table name, a `Meta`)."""
        name = self.canonical(qualname)
        if name not in self.classes:
            return False
        chain = [name, *self.class_bases(name)]
        if any(
            base in _DJANGO_MODEL or base.rpartition(".")[2].endswith(_MODEL_BASE_NAMES) for base in chain
        ):
            return True
        return any(
            (found := self.classes.get(klass)) and (found[1].fields or found[1].table) for klass in chain
        )

    def is_django_model(self, qualname: str) -> bool:
        name = self.canonical(qualname)
        return any(base.startswith("django.") for base in self.class_bases(name))

    def unique_keys(self, qualname: str) -> set[frozenset[str]] | None:
        """The model's unique column sets: primary key (Django's implicit `id` and `pk` alias),
        `unique=True` / `OneToOneField` fields, `unique_together` and `UniqueConstraint`s, from the
        class and its ancestors (abstract models, mixins, in any module), plus what migrations and
        SQL declare for its table. None when `qualname` is not a model of the project."""
        name = self.canonical(qualname)
        if not self.is_model(name):
            return None
        django = self.is_django_model(name)
        chain = [klass for klass in (name, *self.class_bases(name)) if klass in self.classes]
        keys: set[frozenset[str]] = set()
        primary: list[str] = []
        own_meta = self.classes[name][1].meta == "own"
        for depth, klass in enumerate(chain):
            facts = self.classes[klass][1]
            for field, declared in facts.fields.items():
                if declared.pk and not primary:
                    primary = [f for f, d in facts.fields.items() if d.pk]
                elif declared.unique and not declared.pk:
                    keys.add(frozenset({field}))
            # A Django child with a Meta of its own does not inherit its abstract parents' Meta.
            if depth == 0 or not (django and own_meta):
                keys.update(frozenset(columns) for columns in facts.unique_together if columns)
        if django:
            keys.add(frozenset({primary[0] if primary else "id"}))
            keys.add(frozenset({"pk"}))
        elif primary:
            keys.add(frozenset(primary))
        for table_key in self._table_keys(name, django):
            keys.update(frozenset(columns) for columns in self.tables.get(table_key, ()))
        return keys

    def is_unique(self, qualname: str, fields: Iterable[str]) -> bool | None:
        """Whether a lookup on `fields` (Django spellings accepted: `pk`, `user_id`, `email__iexact`)
        can match at most one row: some unique key is covered. None when the model is unknown."""
        keys = self.unique_keys(qualname)
        if keys is None:
            return None
        looked_up = self._normalise(self.canonical(qualname), fields)
        return any(key <= looked_up for key in keys)

    def unique_fields(self, qualname: str) -> set[str] | None:
        """Every column that is part of some unique key (with `pk` and FK `<name>_id` spellings):
        the flat form the recognizers' guards use. None when `qualname` is not a model."""
        keys = self.unique_keys(qualname)
        if keys is None:
            return None
        relations = self._relations(self.canonical(qualname))
        fields = {column for key in keys for column in key}
        return fields | {f"{column}_id" for column in fields & relations}

    def table_unique_keys(self, table: str) -> set[frozenset[str]]:
        """Unique column sets of an SQL table: `CREATE UNIQUE INDEX` and constraints in `.sql` files
        and migrations, Alembic, `Table(...)`, and the model mapped to it (its foreign keys as
        their `<name>_id` columns)."""
        table = table.lower().rpartition(".")[2].strip('"`')
        keys = {frozenset(columns) for columns in self.tables.get(f"sql:{table}", ())}
        model = self.model_for_table(table)
        if model is not None:
            relations = self._relations(model)
            for key in self.unique_keys(model) or ():
                if "pk" not in key:
                    keys.add(frozenset(f"{column}_id" if column in relations else column for column in key))
        return keys

    def collection_unique_keys(self, collection: str) -> set[frozenset[str]]:
        """Unique indexes of a MongoDB collection (`create_index(..., unique=True)`) plus `_id`."""
        keys = {frozenset(columns) for columns in self.tables.get(f"mongo:{collection}", ())}
        keys.add(frozenset({"_id"}))
        return keys

    def models_named(self, name: str) -> list[str]:
        """The project's model classes whose own name is `name` (all of them, qualified)."""
        if self._models_by_name is None:
            by_name: dict[str, list[str]] = {}
            for qualname in self.classes:
                if self.is_model(qualname):
                    by_name.setdefault(qualname.rpartition(".")[2], []).append(qualname)
            self._models_by_name = by_name
        return self._models_by_name.get(name, [])

    def model_for_table(self, table: str) -> str | None:
        for qualname in self.classes:
            if self.is_model(qualname) and table in self._table_names(qualname):
                return qualname
        return None

    # -- helpers ----------------------------------------------------------------------------------

    def _normalise(self, model: str, fields: Iterable[str]) -> set[str]:
        relations = self._relations(model)
        out: set[str] = set()
        for field in fields:
            for suffix in _LOOKUP_SUFFIXES:
                field = field.removesuffix(suffix)
            if "__" in field:
                continue  # a lookup across a relation or with a comparison: not an equality on a column
            if field.endswith("_id") and field[:-3] in relations:
                field = field[:-3]
            out.add(field)
            if field == "pk":
                out.add(self._primary(model))
            elif field == self._primary(model):
                out.add("pk")
        return out

    def _relations(self, model: str) -> set[str]:
        return {
            field
            for klass in (model, *self.class_bases(model))
            if klass in self.classes
            for field, declared in self.classes[klass][1].fields.items()
            if declared.kind in ("ForeignKey", "OneToOneField", "ParentalKey")
        }

    def _primary(self, model: str) -> str:
        for klass in (model, *self.class_bases(model)):
            found = self.classes.get(klass)
            if found is not None:
                for field, declared in found[1].fields.items():
                    if declared.pk:
                        return field
        return "id"

    def _app_label(self, qualname: str) -> str:
        parts = qualname.split(".")[:-1]
        if "models" in parts and parts.index("models") > 0:
            return parts[parts.index("models") - 1]
        return parts[-2] if len(parts) > 1 else (parts[0] if parts else "")

    def _table_names(self, qualname: str) -> set[str]:
        facts = self.classes[qualname][1]
        if facts.table:
            return {facts.table.lower()}
        if self.is_django_model(qualname):
            return {f"{self._app_label(qualname)}_{qualname.rpartition('.')[2].lower()}"}
        return set()

    def _table_keys(self, qualname: str, django: bool) -> list[str]:
        keys = [f"sql:{table}" for table in self._table_names(qualname)]
        if django:
            keys.append(f"django:{self._app_label(qualname)}.{qualname.rpartition('.')[2].lower()}")
        return keys
