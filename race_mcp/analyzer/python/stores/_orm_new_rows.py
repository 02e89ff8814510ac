"""Django rows built in memory and saved: `Account(email=e)` ... `account.save()` is an INSERT, as
`Account.objects.create(email=e)` is, and `account.full_clean()` (or `validate_unique()`) on it is
the application's uniqueness check: Django queries for an existing row with the instance's value
of each unique field and raises ValidationError if one is found.

Two requests both validate (neither finds the other's row, not saved yet) and both save: the unique
index refuses the second INSERT with an IntegrityError the validation was meant to prevent (the
"feral concurrency control" of Bailis et al., SIGMOD 2015). The check and the insert are then an
exists-then-create on a unique key, reported as RC303 (low severity, as any unhandled duplicate),
and clear when the save handles IntegrityError.

The built instance is bound to a read of its own key (`orm:<Model>#new`), never the model's: its
in-memory attributes are the request's values, so testing them checks nothing stored, and nothing
written to the model's rows races them. Only a model the module or the project declares counts
(a constructor call is not a model otherwise), and only a validation of a model whose unique
fields are known decides anything.
"""

from __future__ import annotations

from typing import Any

from ...core import model
from ...core.effects import CallContext, Effect
from ...core.state import EXISTENCE, Access
from ...core.walk import expressions, nested_blocks, statements
from ..randomness import is_random_name
from ._common import dotted, keywords, literal_string, positional
from ._orm_facts import OrmFacts, field_names

__all__ = [
    "NEW_ROW",
    "VALIDATIONS",
    "built_row_model",
    "cast_row_model",
    "django_model",
    "drawn_defaults",
    "drawn_fields",
    "drawn_unset",
    "model_known",
    "saved_as_copy",
    "saved_as_new",
    "set_columns",
    "validation_read",
]

# The key suffix of a row built in memory and not yet saved.
NEW_ROW = "#new"
# The attributes that name a Django row's primary key: cleared, the next save inserts a copy.
_PRIMARY_KEY_NAMES = frozenset({"pk", "id"})
# Model methods that query for rows colliding with the instance's unique fields.
VALIDATIONS = frozenset({"full_clean", "validate_unique"})
# `typing.cast` (and `cast` imported from it): the value is declared to be of the given type.
_CASTS = frozenset({"typing.cast", "cast"})
# Calls whose value is drawn at random, and the detail marker of a field given one.
_RANDOM_CALLS = frozenset({"uuid.uuid4", "uuid.uuid1", "uuid4", "uuid1"})
_DRAWN = "<drawn>:"
# Unique keys an unsaved instance does not have yet: its primary key is assigned by the INSERT.
_PRIMARY_KEYS = frozenset({"pk", "id"})


def built_row_model(call: model.Call, facts: OrmFacts, ctx: CallContext) -> str | None:
    """`Account(email=e)` / `models.Account()`: the Django model a constructor call builds an
    instance of (`django_model`)."""
    text = dotted(call.func)
    if text is None:
        return None
    name = text.rpartition(".")[2]
    if not name[:1].isupper() or positional(call):
        return None  # Django models are built with keywords only
    return django_model(text, facts, ctx)


def django_model(text: str, facts: OrmFacts, ctx: CallContext) -> str | None:
    """The model `text` (`Account`, `models.Account`) names, if a Django model of the module or
    the project: one with a Django ancestor (a SQLAlchemy model built for `session.add()` is that
    store's business)."""
    name = text.rpartition(".")[2]
    if "." not in text and name in facts.classes:
        bases = [_qualified(base, facts) for base in facts.classes[name].bases]
        return name if any(base.startswith("django.") for base in bases) else None
    project = ctx.facts()
    lookup = getattr(project, "model_of", None)
    qualname = lookup(text) if callable(lookup) else None
    index = getattr(project, "index", None)
    if qualname is None or index is None:
        return None
    return name if any(base.startswith("django.") for base in index.class_bases(qualname)) else None


def _qualified(base: str, facts: OrmFacts) -> str:
    """`models.Model` -> `django.db.models.Model` through the module's imports."""
    head, dot, rest = base.partition(".")
    return facts.imports.get(head, head) + dot + rest


def drawn_fields(call: model.Call) -> frozenset[str]:
    """Markers for the constructor's keywords given a value drawn at random (`job_id=uuid4()`):
    a unique field holding such a value collides with no other request's row."""
    return frozenset(
        f"{_DRAWN}{arg.keyword}" for arg in call.args if arg.keyword is not None and _drawn(arg.value)
    )


def _drawn(value: model.Expr) -> bool:
    if isinstance(value, model.Attribute):  # `uuid4().hex`
        value = value.value
    name = value.name if isinstance(value, model.Call) else None
    return name is not None and (name in _RANDOM_CALLS or name.startswith("secrets."))


def drawn_defaults(name: str, facts: OrmFacts, ctx: CallContext) -> frozenset[str]:
    """Unique fields of the model `name` whose `default=` draws a value for each new row
    (`code = UUIDField(default=uuid.uuid4, unique=True)`), declared in this module or, through the
    project index, in another: an insert that does not set them fills them with values no other
    request's row holds (`core/fresh.py`)."""
    info = facts.classes.get(name)
    drawn: set[str] = set()
    for field, value in info.attributes.items() if info is not None else ():
        if field in facts.unique.get(name, ()) and isinstance(value, model.Call):
            default = _default_function(keywords(value).get("default"))
            if default is not None and is_random_name(_qualified(default, facts)):
                drawn.add(field)
    project = ctx.facts()
    lookup = getattr(project, "drawn_defaults", None) if project is not None else None
    return frozenset(drawn) | (lookup(name) if callable(lookup) else frozenset())


def drawn_unset(built: Access, facts: OrmFacts, ctx: CallContext) -> frozenset[str]:
    """The unique fields with a random default (`drawn_defaults`) that a row built in memory does
    not set, by its constructor's keywords or an attribute assigned since: its validation
    (`full_clean()`) finds no row holding their values, whichever other field it does find."""
    built_by = built.steps[0].node if built.steps else None
    given = set_columns(built_by) if isinstance(built_by, model.Call) else None
    if given is None:
        return frozenset()
    change = ctx.state.dirty.get(built.key)
    if change is not None:
        given |= change.written
    return drawn_defaults(built.key[4 : -len(NEW_ROW)], facts, ctx) - given


def set_columns(call: model.Call) -> frozenset[str] | None:
    """The columns `Model(a=.., b=..)` or `create(a=.., b=..)` sets; None for `**fields`."""
    if any(arg.star for arg in call.args):
        return None
    return frozenset(field for keyword in keywords(call) for field in field_names(keyword))


def _default_function(value: model.Expr | None) -> str | None:
    """`uuid.uuid4`, or the function a lambda calls (`lambda: token_urlsafe(16)`); a value or a
    call made once when the class is defined (`default=uuid4()`) draws nothing per row."""
    if isinstance(value, model.Opaque) and value.kind == "lambda" and value.children:
        body = value.children[-1]
        value = body.func if isinstance(body, model.Call) else None
    return dotted(value)


def validation_read(origin: Access, unique: set[str], known: bool) -> list[Effect]:
    """`account.full_clean()` on a row built in memory (`origin` reads its `orm:<Model>#new` key): a
    decision on the model's unique fields (the validation raises when a row holds the value),
    those given a value drawn at random aside. A model with no other unique field besides its
    primary key, or one whose fields are not known, is validated for its values' formats only:
    no read."""
    drawn = {marker[len(_DRAWN) :] for marker in origin.detail if marker.startswith(_DRAWN)}
    fields = frozenset(unique - _PRIMARY_KEYS - drawn)
    if not known or not fields:
        return []
    key = origin.key[: -len(NEW_ROW)]
    return [Effect("read", key, detail=fields | EXISTENCE, decides=True)]


def model_known(name: str, facts: OrmFacts, project: Any) -> bool:
    """The model's declaration was read (here or in the project): its unique fields are known."""
    if name in facts.unique:
        return True
    lookup = getattr(project, "unique_fields", None) if project is not None else None
    return callable(lookup) and lookup(name) is not None


def cast_row_model(call: model.Call, facts: OrmFacts, ctx: CallContext) -> str | None:
    """`instance = cast(models.User, cls.get_instance(info, id=id))`: the code states that a value
    the analysis cannot follow (a base class's loader, a framework's) is a row of a Django model,
    loaded by whoever returned it. The model when that is so; a value already known to hold a
    row of that model keeps its read (one of another key, such as an id looked up on the way,
    says less than the cast)."""
    if (call.name or "") not in _CASTS or len(call.args) != 2:
        return None
    target = call.args[0].value
    text = literal_string(target) or dotted(target)
    found = django_model(text, facts, ctx) if text is not None else None
    if found is None or any(a.key == f"orm:{found}" for a in ctx.args):
        return None
    if ctx.function() is ctx.root() and _base_name(call.args[1].value) in ctx.root().params:
        return None  # a parameter's row: loaded by the callers, where their locks are seen
    return found


def _base_name(expr: model.Expr) -> str | None:
    """`tracker.instance` -> `tracker`: the local a chain of attributes and items starts from."""
    while isinstance(expr, model.Attribute | model.Subscript):
        expr = expr.value
    return expr.id if isinstance(expr, model.Name) else None


def saved_as_new(call: model.Call, ctx: CallContext) -> bool:
    """`if check._state.adding: check.save()`: Django sets `_state.adding` on a row built in memory
    and clears it once the row is loaded or saved, so a save under that test runs only for a row
    not yet in the database: an INSERT, never a write-back of a loaded copy (healthchecks saves a
    new check whole and an existing one with `update_fields`). The saves of a function under such a
    test are found once and kept in `ctx.notes`."""
    function = ctx.function()
    found: dict[Any, frozenset[int]] = ctx.notes.setdefault("orm-saved-as-new", {})
    if function not in found:
        found[function] = frozenset(
            id(node)
            for statement in statements(function.body)
            if isinstance(statement, model.If) and _adding_receiver(statement.test) is not None
            for node in _calls_on(statement.body, _adding_receiver(statement.test))
        )
    return id(call) in found[function]


def saved_as_copy(call: model.Call, ctx: CallContext) -> bool:
    """`row.pk = None; row.event = target; row.save()`: Django's way to copy a loaded row. Without
    a primary key the save is an INSERT of a new row, never the write-back of the source, so what
    the function tested on the source (the fields it copies or remaps) decided nothing a
    concurrent request could change (pretix's event cloning). Only a clearing on every path to
    the save counts (earlier in its block or an enclosing one): under an `if` it may not run."""
    function = ctx.function()
    found: dict[Any, frozenset[int]] = ctx.notes.setdefault("orm-saved-as-copy", {})
    if function not in found:
        saves: set[int] = set()
        _copies_saved(function.body, frozenset(), saves)
        found[function] = frozenset(saves)
    return id(call) in found[function]


def _copies_saved(block: model.Block, cleared: frozenset[str], saves: set[int]) -> None:
    """Adds to `saves` the `x.save()` calls of `block` whose `x` had its primary key set to None
    before them on every path (`cleared`: such locals on entry)."""
    for statement in block:
        for node in expressions(statement):
            if (
                isinstance(node, model.Call)
                and node.method == "save"
                and isinstance(node.receiver, model.Name)
                and node.receiver.id in cleared
            ):
                saves.add(id(node))
        cleared = cleared | _key_cleared(statement)
        for inner in nested_blocks(statement):
            _copies_saved(inner, cleared, saves)


def _key_cleared(statement: model.Statement) -> frozenset[str]:
    """`row.pk = None` / `row.id = None` -> {"row"}."""
    if not isinstance(statement, model.Assign) or statement.op is not None:
        return frozenset()
    if not (isinstance(statement.value, model.Literal) and statement.value.value is None):
        return frozenset()
    return frozenset(
        target.value.id
        for target in statement.targets
        if isinstance(target, model.Attribute)
        and target.attr in _PRIMARY_KEY_NAMES
        and isinstance(target.value, model.Name)
    )


def _adding_receiver(test: model.Expr) -> str | None:
    """`row._state.adding` -> "row"."""
    if (
        isinstance(test, model.Attribute)
        and test.attr == "adding"
        and isinstance(test.value, model.Attribute)
        and test.value.attr == "_state"
        and isinstance(test.value.value, model.Name)
    ):
        return test.value.value.id
    return None


def _calls_on(block: model.Block, name: str | None) -> list[model.Call]:
    """The `name.save(...)` calls anywhere in `block`."""
    return [
        node
        for statement in statements(block)
        for node in expressions(statement)
        if isinstance(node, model.Call)
        and node.method == "save"
        and isinstance(node.receiver, model.Name)
        and node.receiver.id == name
    ]
