"""Rows a function is handed already loaded: `self` of a model's method, a parameter a service
changes and saves (`def allocate(record, n): record.num_allocated += n; record.save()`), a FastAPI
dependency (`key: ApiKey = Depends(current_key)`).

Whoever called the function read that row earlier, with nothing holding it since: a change the
function computes from it and saves is a read-modify-write of a stale copy, and a decision on it
(`if self.status == "paid":`) is a check-then-act, exactly as if the function had loaded the row
itself. The analysis of such a function starts with the parameter bound to a read of the row at
the `def` line (the caller's load); a caller that locked the row, or a function that reloads it
under a lock (`self = Model.objects.select_for_update().get(pk=self.pk)`), rebinds it.

Only parameters shown to be rows count: `self` in a method of a model class, a parameter annotated
with a model, or one the body both changes and persists (`p.save()`, `p.refresh_from_db()`,
`session.add(p)`). Forms, serializers and schemas are not rows; a model's `save()`/`delete()`
overrides and dunder methods write the caller's in-memory state by design.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ...core import model
from ._common import walk
from ._orm_changes import Usage, is_param, usage_of
from ._orm_facts import OrmFacts

__all__ = ["LOADED", "LoadedRow", "bind_loaded_rows", "loaded_rows"]

# The evidence role of the `def` line where a row handed in was loaded (by some caller).
LOADED = "loaded"

# Bases that make a class of the module a model when the project index cannot tell (lone files):
# Django's `models.Model`, Flask-SQLAlchemy's `db.Model`, a declarative `Base`, SQLModel.
_MODEL_BASE = re.compile(r"(?:^|\.)(?:Model|Base|DeclarativeBase|SQLModel|TimeStampedModel)$")
_NOT_MODEL_BASE = re.compile(r"(?:^|\.)(?:BaseModel|ModelForm|Form|Serializer|ModelSerializer|Schema)$")
# Parameters that are request-side objects, whatever the body does with them.
_NOT_ROW_NAME = re.compile(r"^(?:request|form|formset|serializer|schema|payload|data|self|cls)$")
_NOT_ROW_ANNOTATION = re.compile(
    r"(?:Form|FormSet|Serializer|Schema|Request|Response|Payload|Input|dict|Dict)\b"
)
_ANNOTATION_WORDS = re.compile(r"[A-Za-z_][\w.]*")
_TYPING_WORDS = frozenset(
    {"Optional", "Union", "None", "Annotated", "Any", "List", "list", "Sequence", "Iterable", "Type", "type"}
)
# Methods that write the object their caller is saving (Django's save machinery, save hooks).
_OWN_WRITERS = frozenset(
    {"save", "asave", "delete", "adelete", "clean", "full_clean", "clean_fields", "validate_unique"}
)


@dataclass(frozen=True)
class LoadedRow:
    """A parameter that stands for a row of `model`, loaded by the caller. `flushes`: a SQLAlchemy
    session writes its changes at the commit (Django rows are written by `save()` only)."""

    param: str
    model: str
    flushes: bool


def is_model_class(name: str, facts: OrmFacts, project: Any, seen: frozenset[str] = frozenset()) -> bool:
    """A class of the module that is an ORM model: by its bases (directly or through another class
    of the module), or by the project index (abstract bases and mixins in other modules)."""
    info = facts.classes.get(name)
    if info is None or name in seen:
        return False
    for base in info.bases:
        if _NOT_MODEL_BASE.search(base):
            continue
        if _MODEL_BASE.search(base) or is_model_class(base, facts, project, seen | {name}):
            return True
    lookup = getattr(project, "model_of", None)
    return callable(lookup) and lookup(name) is not None


def _annotated_model(annotation: str | None, facts: OrmFacts, project: Any) -> tuple[str | None, bool]:
    """(the model an annotation names, whether it is known to be a model). `Document | Upload`
    -> Document; `Optional[models.Order]` -> Order; a capitalised name nobody can confirm is
    returned unconfirmed: the body's use decides."""
    if not annotation or _NOT_ROW_ANNOTATION.search(annotation):
        return None, False
    lookup = getattr(project, "model_of", None)
    candidate: str | None = None
    for word in _ANNOTATION_WORDS.findall(annotation):
        last = word.rpartition(".")[2]
        if last in _TYPING_WORDS or not last[:1].isupper():
            continue
        if is_model_class(last, facts, project) or (callable(lookup) and lookup(word) is not None):
            return last, True
        candidate = candidate or last
    return candidate, False


def loaded_rows(
    function: model.Function, owner: str | None, facts: OrmFacts, project: Any, *, forwarded: bool = False
) -> list[LoadedRow]:
    """The parameters of a root function that stand for rows its caller loaded: changed here, or
    forwarded to a function of the module that changes them (a signal receiver handing its
    `instance` to a helper)."""
    params = [p for p in function.params if p != "cls"]
    if not params or _writes_its_own(function):
        return []
    usage = usage_of(function, params, changes_only=not forwarded)
    rows: list[LoadedRow] = []
    for param in params:
        if param in usage.changed:
            row = _row_of(function, owner, param, usage, facts, project)
        elif forwarded:
            row = _forwarded_row(function, owner, param, facts, project, _FORWARD_DEPTH)
        else:
            row = None
        if row is not None and not _judged_by_callers(function, param, facts, project):
            rows.append(LoadedRow(param, row.model, row.flushes))
    return rows


_FORWARD_DEPTH = 2


def _writes_its_own(function: model.Function) -> bool:
    """`save()` hooks and dunders write what their caller handed them, by design."""
    return function.name in _OWN_WRITERS or function.name.startswith("__")


def _row_of(
    function: model.Function, owner: str | None, param: str, usage: Usage, facts: OrmFacts, project: Any
) -> LoadedRow | None:
    """`param` (changed in `function`) as a row, when it is one."""
    persisted = param in usage.django or param in usage.session
    if param == "self":
        if owner is None or not is_model_class(owner, facts, project):
            return None
        return LoadedRow(param, owner, _flushes(param, usage))
    if _NOT_ROW_NAME.match(param):
        return None
    found, confirmed = _annotated_model(function.annotations.get(param), facts, project)
    if confirmed or (persisted and found is not None):
        return LoadedRow(param, found or param, _flushes(param, usage))
    if persisted and param not in function.annotations:
        return LoadedRow(param, param, _flushes(param, usage))
    return None


def _forwarded_row(
    function: model.Function, owner: str | None, param: str, facts: OrmFacts, project: Any, depth: int
) -> LoadedRow | None:
    """The row `param` stands for in a function of the module it is handed to unchanged."""
    if depth <= 0 or param in ("self", "cls") or _NOT_ROW_NAME.match(param):
        return None
    for node in walk(function.body):
        if not isinstance(node, model.Call):
            continue
        callee = _module_callee(node, owner, facts)
        if callee is None or callee is function or _writes_its_own(callee):
            continue
        target = _parameter_given(callee, node, param)
        if target is None:
            continue
        usage = usage_of(callee, [target])
        if target in usage.changed:
            row = _row_of(callee, callee.owner_class, target, usage, facts, project)
        else:
            row = _forwarded_row(callee, callee.owner_class, target, facts, project, depth - 1)
        if row is not None:
            return row
    return None


def _module_callee(call: model.Call, owner: str | None, facts: OrmFacts) -> model.Function | None:
    """`helper(...)` (a function of the module) or `self.helper(...)` (a method of `owner`)."""
    func = call.func
    if isinstance(func, model.Name):
        return facts.module.functions.get(func.id)
    if isinstance(func, model.Attribute) and is_param(func.value, {"self", "cls"}) and owner:
        return facts.module.functions.get(f"{owner}.{func.attr}")
    return None


def _parameter_given(callee: model.Function, call: model.Call, name: str) -> str | None:
    """The callee's parameter that receives the bare local `name` at this call."""
    names = [p for p in callee.params if p not in ("self", "cls")]
    plain = [a for a in call.args if a.keyword is None and not a.star]
    for index, arg in enumerate(plain):
        if is_param(arg.value, {name}) and index < len(names):
            return names[index]
    for arg in call.args:
        if arg.keyword in names and is_param(arg.value, {name}):
            return arg.keyword
    return None


def _judged_by_callers(function: model.Function, param: str, facts: OrmFacts, project: Any) -> bool:
    """A caller hands the function a row it loaded itself (`card = Card.objects.get(...);
    charge(card, n)`): the caller's analysis runs the function with that row and sees whether it
    locked it, so it is judged there. A caller that passes on its own parameter (a signal receiver
    forwarding `document`) loaded nothing: the row is still the one an outside caller loaded.
    Calls on instances (`record.allocate()`) are followed by neither the index nor this module:
    a model's method is then judged on its own."""
    index = getattr(project, "index", None)
    module = getattr(project, "module", None)
    home = facts.module.path
    if index is not None and isinstance(module, str) and callable(getattr(index, "callers", None)):
        qualname = f"{module}.{function.qualname}" if module else function.qualname
        sites = index.callers(qualname)
        if any(not _same_file(site.path, home) for site in sites):
            return True  # a caller in another module: its own analysis follows the call
    if function.name not in facts.called:
        return False
    arguments = _arguments_here(function, param, facts)
    return not arguments or any(not forwarded for forwarded in arguments)


def _same_file(path: str, home: str) -> bool:
    return path == home or path.endswith("/" + home.lstrip("./")) or home.endswith("/" + path.lstrip("./"))


def _arguments_here(function: model.Function, param: str, facts: OrmFacts) -> list[bool]:
    """For each call of `function` in its module: whether the argument given for `param` is a
    parameter of the calling function (forwarded, not loaded there)."""
    names = [p for p in function.params if p not in ("self", "cls")]
    position = names.index(param) if param in names else None
    found: list[bool] = []
    for caller in facts.module.functions.values():
        for node in walk(caller.body):
            if not isinstance(node, model.Call) or not _calls(node, function.name):
                continue
            given = next((a.value for a in node.args if a.keyword == param), None)
            plain = [a.value for a in node.args if a.keyword is None and not a.star]
            if given is None and position is not None and position < len(plain):
                given = plain[position]
            found.append(isinstance(given, model.Name) and given.id in caller.params)
    return found


def _calls(call: model.Call, name: str) -> bool:
    func = call.func
    if isinstance(func, model.Name):
        return func.id == name
    return (
        isinstance(func, model.Attribute)
        and func.attr == name
        and isinstance(func.value, model.Name)
        and func.value.id in ("self", "cls")
    )


def _flushes(param: str, usage: Usage) -> bool:
    """SQLAlchemy writes changed rows at the commit: a row added to a session, or changed in a
    function that commits one and never calls Django's `save()` on it."""
    return param in usage.session or (usage.commits and param not in usage.django)


def bind_loaded_rows(
    interpreter: Any,
    recognizers: Iterable[Any],
    function: model.Function,
    owner: str | None,
    *,
    forwarded: bool = False,
) -> Any:
    """The state a root starts in: each parameter that stands for a row its caller loaded is bound
    to a read of that row at the `def` line (SQLAlchemy rows also flush at the commit).
    `forwarded`: also rows the root hands unchanged to a helper that changes them (for entry
    points, whose helpers are judged only through them; other roots' helpers are roots too)."""
    from ...core.state import Access, State

    state = State()
    for recognizer in recognizers:
        find = getattr(recognizer, "loaded_rows", None)
        if not callable(find):
            continue
        for row in find(function, owner, interpreter.facts, forwarded=forwarded):
            key = f"orm:{row.model}"
            if row.flushes:
                flushed = interpreter.notes.setdefault("flush-on-commit", set())
                if isinstance(flushed, set):
                    flushed.add(key)
            state.aliases[row.param] = Access(key, (interpreter.step(function, LOADED),), frozenset())
    return state
