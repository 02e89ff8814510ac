"""The ORMs of Node on the `orm` store (RC301, RC303): Prisma, Sequelize and TypeORM, one
recognizer that asks the libraries the module uses (`prisma`, `sequelize`, `typeorm`). Keys are
`orm:<Model>`, as for Django and SQLAlchemy, so the messages and the interpreter's row logic
(per-row reads, rows changed in memory and saved, row locks until the commit) are the store's.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ...core import model
from ...core.effects import CallContext, Effect
from ...core.stores import add_recognizer
from ...python.stores._common import StoreRecognizer
from ..callbacks import takes_transaction, transaction_callback
from ._calls import JsModuleFacts, imported_text
from ._orm import declared_unique, model_unique, serializable, unique_fields
from .prisma import prisma_effects
from .sequelize import sequelize_effects
from .typeorm import typeorm_effects

__all__ = ["JsOrmRecognizer"]

# Prisma only accepts unique fields in `findUnique`'s `where`: a field looked up there is unique.
_FIND_UNIQUE = re.compile(
    r"\.([A-Za-z_$][\w$]*)\.findUnique(?:OrThrow)?\(\s*\{\s*where\s*:\s*\{\s*([A-Za-z_$][\w$]*)"
)


class _OrmFacts(JsModuleFacts):
    def __init__(self, module: model.ModuleModel) -> None:
        super().__init__(module)
        source = module.source
        lowered = source.lower()
        libraries = " ".join(module.imports.values()).lower() + " " + lowered
        self.prisma = "prisma" in libraries
        self.sequelize = "sequelize" in libraries
        self.typeorm = "typeorm" in libraries or "getrepository" in lowered or "repository<" in lowered
        self.unique = unique_fields(source)
        self.model_unique = model_unique(module)
        self.prisma_unique: dict[str, set[str]] = {}
        for delegate, field in _FIND_UNIQUE.findall(source):
            self.prisma_unique.setdefault(delegate, set(self.unique)).add(field)

    def unique_of(self, name: str) -> set[str]:
        """A model's unique fields: its own declaration in the module, else every field the module
        declares unique (models declared elsewhere: what this module shows is all there is)."""
        return self.model_unique.get(name, self.unique)


class JsOrmRecognizer(StoreRecognizer):
    facts_type = _OrmFacts
    markers = ("prisma", "Prisma", "sequelize", "Sequelize", "typeorm", "getRepository", "Repository<")

    def __init__(self, context: object) -> None:
        super().__init__(context)
        self._imported: dict[str, str] = {}

    def orm_facts(self, ctx: CallContext) -> _OrmFacts:
        facts = self.facts(ctx)
        assert isinstance(facts, _OrmFacts)
        return facts

    def recognize(self, call: model.Call, ctx: CallContext) -> list[Effect] | None:
        return serializable(self._recognize(call, ctx), ctx)

    def _recognize(self, call: model.Call, ctx: CallContext) -> list[Effect] | None:
        facts = self.orm_facts(ctx)
        # `schema.prisma`'s `@unique` / `@@unique` / `@id`, when the project index read it.
        schema = getattr(ctx.facts(), "prisma_unique", None)
        if (
            facts.prisma
            and (found := prisma_effects(call, ctx, facts.prisma_unique, facts.unique, schema)) is not None
        ):
            return found
        if facts.typeorm and (found := typeorm_effects(call, ctx, _with_declared(facts, ctx))) is not None:
            return found
        # A route file may name no ORM and use the models other files define with Sequelize.
        if facts.sequelize or "sequelize" in imported_text(ctx, self._imported):
            return sequelize_effects(call, ctx, facts.unique_of)
        return None

    def transactional(self, function: model.Function) -> bool:
        """An interactive transaction's callback runs whole inside the transaction."""
        return transaction_callback(function) or takes_transaction(function)


def _with_declared(facts: _OrmFacts, ctx: CallContext) -> Callable[[str], set[str]]:
    """An entity's unique fields: its module's declarations and its entity file's."""
    return lambda entity: facts.unique_of(entity) | declared_unique("typeorm", entity, ctx)


add_recognizer("orm", "javascript", JsOrmRecognizer)
