"""Active-record class methods of models whose code is not in view (RC303).

Flask/SQLAlchemy applications often give their models a shared mixin (`Alias.get_by(email=e)`,
`Alias.create(email=e, ...)`, `User.filter_by(...)`), and peewee models have the same class
methods (`User.get_or_none(...)`, `User.create(...)`). When the mixin is in view (this module, or
the project index), the interpreter runs it (`core/specialize.py`). When it is not (a file
analysed alone, a base class from a library), the call itself says what it does: a class imported
from a models module (or a model declared here) looked up by its fields is a read of that model,
and `create(...)` on it is an insert, racing the absence check before it unless a handler of the
unique violation surrounds it.

A call of an unseen helper named after the model a check just looked for
(`if not PartnerUser.get_by(user_id=u.id): create_partner_user(user=u, ...)`) is the insert of
that model: the name and the absence check together say so. Only when the helper cannot be
resolved: a helper in view is run instead.
"""

from __future__ import annotations

import re

from ...core import model
from ...core.effects import ALL, CallContext, Effect
from ._common import keywords, positional
from ._orm_facts import OrmRecognizerParts, field_names
from ._orm_new_rows import set_columns

__all__ = ["ActiveRecordMixin"]

# Class methods that look rows up by their fields (SQLAlchemy mixins, peewee, Flask-style models).
_LOOKUPS = frozenset({"get_by", "find_by", "get_or_none", "get", "filter_by", "filter", "find_one_by"})
_INSERTS = frozenset({"create"})
# `M.email == value` inside a lookup's arguments (peewee's `User.get(User.email == e)`).
_COMPARED = re.compile(r"\b[A-Z]\w*\.(\w+)\s*(?:==|\bis\b)")
# A model's own module: `app.models`, `shop.models.user`, `db_models`.
_MODELS_MODULE = re.compile(r"(?:^|[._])models?(?:$|\.)")
# `create_partner_user(...)`, `insert_order(...)`: a helper named for the row it creates.
_CREATOR = re.compile(r"^(?:create|insert|add|new)_([a-z][a-z0-9_]*)$")
_INTEGRITY = ("IntegrityError", "UniqueViolation", "UniqueViolationError")
_FIELD_FACTORY = re.compile(r"(Field|Column|mapped_column|ForeignKey|relationship)$")


class ActiveRecordMixin(OrmRecognizerParts):
    """Part of the ORM recognizer (`OrmRecognizer` supplies `insert`, `unique_of`)."""

    def active_record(
        self, call: model.Call, base: model.Expr, calls: list[tuple[str, model.Call]], ctx: CallContext
    ) -> list[Effect] | None:
        """`Alias.get_by(email=e)` (a read of `orm:Alias` on `email`) and `Alias.create(...)` (an
        insert), for a model whose class method is not in view; `create_alias(...)` after a check
        of `orm:Alias`."""
        if not calls:
            return self._named_creator(call, ctx)
        if len(calls) != 1 or not isinstance(base, model.Name):
            return None
        method = calls[0][0]
        if method not in _LOOKUPS and method not in _INSERTS:
            return None
        name = base.id
        if not _is_model(name, ctx) or ctx.resolve(call) is not None:
            return None
        key = f"orm:{name}"
        if method in _INSERTS:
            guard = ALL if ctx.catching(_INTEGRITY) else frozenset(self.unique_of(name, ctx))
            return self.insert(key, guard, ctx, given=set_columns(call))
        return [Effect("read", key, detail=self._looked_up(call, ctx))]

    def _looked_up(self, call: model.Call, ctx: CallContext) -> frozenset[str]:
        """The fields a lookup pins: its keywords (`get_by(email=e)`), the model attributes it
        compares (`get(User.email == e)`), the primary key for a bare `get(pk)`."""
        names: set[str] = set()
        for key in keywords(call):
            names |= field_names(key)
        args = positional(call)
        code = self.facts(ctx).code
        for arg in args:
            names |= set(_COMPARED.findall(code(arg)))
        if not names and args and call.method == "get":
            names.add("pk")
        return frozenset(names)

    def _named_creator(self, call: model.Call, ctx: CallContext) -> list[Effect] | None:
        func = call.func
        if not isinstance(func, model.Name):
            return None
        match = _CREATOR.match(func.id)
        if match is None:
            return None
        key = "orm:" + "".join(part.capitalize() for part in match.group(1).split("_"))
        check = ctx.state.checks.get(key)
        if check is None or not check.decision or ctx.resolve(call) is not None:
            return None
        guard = ALL if ctx.catching(_INTEGRITY) else frozenset(self.unique_of(key[4:], ctx))
        return self.insert(key, guard, ctx)


def _is_model(name: str, ctx: CallContext) -> bool:
    """A capitalised class imported from a models module, or a class of this module with fields."""
    if not name[:1].isupper():
        return False
    module = ctx.module()
    declared = module.classes.get(name)
    if declared is not None:
        return any(
            isinstance(value, model.Call) and _FIELD_FACTORY.search(value.name or "")
            for value in declared.attributes.values()
        )
    qualified = module.imports.get(name, "")
    return bool(qualified) and _MODELS_MODULE.search(qualified.rpartition(".")[0]) is not None
