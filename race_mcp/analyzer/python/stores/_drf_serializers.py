"""Django REST framework serializers: what `serializer.save()` writes.

A serializer built with `data=` and no instance (`LeaseSerializer(data=...)`) creates a row of its
`Meta.model` on `save()`: a view that first computes what is free (the next address, seat or slot)
from a query and then saves such a serializer inserts what the check found missing, as
`Model.objects.create()` would. Built around an instance (`Serializer(row, data=...)`, `instance=`,
or a view's `self.get_serializer(row, ...)`), `save()` writes that row back: a decision on the
loaded row (an ETag compared, a state tested) before it races the concurrent writer. Serializers
are found by the local they are bound to in the function, so a `serializer` that is not built
here is left to the other rules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...core import model
from ...core.effects import ALL, CallContext, Effect
from ._common import dotted, keywords, positional, walk
from ._sqlalchemy import INTEGRITY_ERRORS

if TYPE_CHECKING:
    from .orm import OrmRecognizer

__all__ = ["serializer_save"]

_GET_SERIALIZER = "get_serializer"


def serializer_save(recognizer: OrmRecognizer, call: model.Call, ctx: CallContext) -> list[Effect] | None:
    """The effects of `serializer.save()` on a serializer the function built, or None."""
    receiver = call.receiver
    if not isinstance(receiver, model.Name):
        return None
    built = _construction(ctx.function(), receiver.id)
    if built is None:
        return None
    args = positional(built)
    instance = args[0] if args else keywords(built).get("instance")
    if instance is not None:
        origin = next((a for a in ctx.evaluate(instance) if a.key.startswith("orm:")), None)
        if origin is None:
            return None
        return recognizer.django_save(origin.key, instance, ctx)
    found = _meta_model(built, ctx, recognizer)
    if found is None:
        return None
    guard = ALL if ctx.catching(INTEGRITY_ERRORS) else frozenset(recognizer.unique_of(found, ctx))
    return recognizer.insert(f"orm:{found}", guard, ctx)


def _construction(function: model.Function, name: str) -> model.Call | None:
    """The serializer call bound to local `name` in `function` (the last one; branches that build
    the same serializer class with or without `many=True` agree on what it writes)."""
    found: model.Call | None = None
    for node in walk(function.body):
        if not isinstance(node, model.Assign) or not isinstance(node.value, model.Call):
            continue
        if not any(isinstance(t, model.Name) and t.id == name for t in node.targets):
            continue
        func = node.value.func
        text = (
            func.attr
            if isinstance(func, model.Attribute)
            else func.id
            if isinstance(func, model.Name)
            else ""
        )
        if text.endswith("Serializer") or text == _GET_SERIALIZER:
            found = node.value
    return found


def _meta_model(built: model.Call, ctx: CallContext, recognizer: OrmRecognizer) -> str | None:
    """The model a serializer class saves (`class Meta: model = Lease`), declared in this module or
    elsewhere in the project; for `self.get_serializer(...)`, the view's model."""
    func = built.func
    if isinstance(func, model.Attribute) and func.attr == _GET_SERIALIZER:
        self_class = ctx.self_class()
        return recognizer.facts(ctx).view_models.get(self_class) if self_class else None
    name = dotted(func)
    if name is None:
        return None
    meta = ctx.module().classes.get(f"{name}.Meta")
    if meta is None:
        project = ctx.facts()
        lookup = getattr(project, "nested_class", None) if project is not None else None
        meta = lookup(name, "Meta", ctx.module()) if callable(lookup) else None
    declared = meta.attributes.get("model") if meta is not None else None
    if isinstance(declared, model.Name):
        return declared.id
    if isinstance(declared, model.Attribute):
        return declared.attr
    return None
