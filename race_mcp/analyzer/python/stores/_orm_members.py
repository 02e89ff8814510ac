"""Tests of an object that only carries a row: attributes its model does not have.

A value handed on from a row (`panel = Panel(profile)`, `form = panel.get_form()`) carries the row's
read, so a test of it is recorded as a check of the row. When every attribute such a test looked at
is one the row's model does not have (`form.is_bound`, `form.cleaned_data`), it tested the object
around the row, not a stored column, and decides nothing a concurrent request can change: the
`form.save()` after it writes the request's values, last writer wins (wagtail's account panels,
issue 11 review). Only models whose every ancestor's class body can be read count (the module's
own, the project's, Django's `Model`); a library base may declare what is tested.
"""

from __future__ import annotations

from typing import Any

from ...core.state import ANY_COLUMN, ATTRIBUTE_METHOD, OWN_METHOD, Access
from ._orm_facts import OrmFacts

__all__ = ["tests_another_object"]

# Plain Django model bases as a module spells them: their attributes are the ORM's, no column's.
_PLAIN_BASES = frozenset({"models.Model", "Model", "django.db.models.Model"})
# Attributes every row has (its key, Django's bookkeeping): never taken for another object's.
_ROW_ATTRIBUTES = frozenset({"pk", "id", "objects"})


def tests_another_object(check: Access, name: str, facts: OrmFacts, project: Any) -> bool:
    """`check` looked only at attributes the model `name` does not have (see the module doc)."""
    tested = check.checked
    if not tested or tested & {OWN_METHOD, ANY_COLUMN, ATTRIBUTE_METHOD}:
        return False
    members = _module_members(name, facts)
    if members is None:
        lookup = getattr(project, "model_members", None)
        members = lookup(name) if callable(lookup) else None
    if members is None:
        return False
    return not any(_has(members, attribute) for attribute in tested)


def _has(members: frozenset[str], attribute: str) -> bool:
    """A declared attribute, a foreign key's `<name>_id` column, the key, or private bookkeeping."""
    if attribute in members or attribute in _ROW_ATTRIBUTES or attribute.startswith("_"):
        return True
    return attribute.endswith("_id") and attribute[:-3] in members


def _module_members(name: str, facts: OrmFacts, depth: int = 0) -> frozenset[str] | None:
    """The attributes of a model declared in this module (and its ancestors here); None when the
    model or an ancestor other than Django's `Model` is declared elsewhere."""
    declared = facts.classes.get(name)
    if declared is None or depth > 8:
        return None
    members = set(declared.attributes) | set(declared.methods)
    for base in declared.bases:
        if base in _PLAIN_BASES:
            continue
        inherited = _module_members(base, facts, depth + 1)
        if inherited is None:
            return None
        members |= inherited
    return frozenset(members)
