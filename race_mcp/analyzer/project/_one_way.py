"""One-way columns: the only value live code of the project ever stores in a model column.

`_columns.py` reads every column write with its value and what is known of the row's model; here
they are gathered per column name once per index, and `one_way_value(model, column)` answers with
the value when every write that may be of that model's column stores the same one (a status only
ever set to CLOSED, an `is_active` only ever set to False after creation). A write counts for a
model when its row's model is that model or an ancestor; when the model is not known, when the
receiver's name ends like the model's (`role` for `UserRole`) or names no model of the project
at all (`existing`, `obj`). A column any write stores a value not written out in (a parameter, a
computation, a counter), that a form, serializer or admin page edits, or that no write shows is
not one-way. Tests, migrations and seeders do not count (they never run beside requests).

Left out, a known limit: a generic `setattr(obj, name, value)` (a name not written out) on a row
whose model nothing tells, a receiver named like no model (`existing`, `content_obj`): counted, it
would make every column of every model two-way. Raw SQL UPDATEs are not read either.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from ._columns import ANY

if TYPE_CHECKING:
    from ._index import ProjectIndex

__all__ = ["ColumnValues"]

_WORDS = re.compile(r"[A-Z][a-z0-9]*|[a-z0-9]+")


class ColumnValues:
    """`column -> [(models the write may be of, value)]` for the whole project (built once)."""

    def __init__(self, index: ProjectIndex, live: Callable[[str], bool]) -> None:
        """`live(module)`: code of that module may run beside requests (not a test, a migration)."""
        self._index = index
        # Last words of the project's model names (`UserRole` -> `role`): which receivers name one.
        self._model_words = {_last_word(q.rpartition(".")[2]) for q in index.classes if index.is_model(q)}
        # column (or ANY) -> [(receiver: a model name, or "?<name>" / "?" when unknown, value)]
        self._writes: dict[str, list[tuple[str, str]]] = {}
        for qualname, (_path, facts) in index.functions.items():
            if not facts.column_values or not live(index.module_of_function(qualname)):
                continue
            for receiver, column, value in facts.column_values:
                model = self._model_of(receiver, qualname, facts.owner)
                if column == ANY and model.startswith("?") and _last_word(model[1:]) not in self._model_words:
                    continue  # `setattr(obj, name, value)` on a row of no known model (see the module)
                self._writes.setdefault(column, []).append((model, value))
        files = {id(facts): facts for facts in index.modules.values()}
        for file_facts in files.values():
            if not file_facts.edits or not live(file_facts.module):
                continue
            for model, column in file_facts.edits:
                self._writes.setdefault(column, []).append((model, ANY))

    def one_way_value(self, names: set[str], column: str) -> str | None:
        """The one value every live write of `column` of the model known by `names` (its bare name
        and its ancestors') stores, or None (see the module)."""
        # Receivers named like the model or a project ancestor (not like `Model`, `Base`).
        words = {_last_word(name) for name in names if self._index.models_named(name)}
        values: set[str] = set()
        for receiver, value in (*self._writes.get(column, ()), *self._writes.get(ANY, ())):
            if self._may_be(receiver, names, words):
                values.add(value)
                if value == ANY or len(values) > 1:
                    return None
        return values.pop() if values else None

    def _may_be(self, receiver: str, names: set[str], words: set[str]) -> bool:
        if not receiver.startswith("?"):
            return receiver in names
        hint = receiver[1:]
        if not hint:
            return True
        word = _last_word(hint)
        return word in words or word not in self._model_words

    def _model_of(self, receiver: str, writer: str, owner: str | None) -> str:
        """A deferred receiver (`=self.get_role`, `=app.services.find_user`): the model its
        callee's return annotation names, or "?" (unknown, every model)."""
        if not receiver.startswith("="):
            return receiver
        callee = receiver[1:]
        index = self._index
        if callee.startswith("self."):
            if owner is None:
                return "?"
            module = index.module_of_function(writer)
            callee = index.lookup_method(f"{module}.{owner}" if module else owner, callee[5:]) or ""
        found = index.functions.get(callee)
        return (found[1].returns_model or "?") if found is not None else "?"


def _last_word(name: str) -> str:
    """`StockAlert` -> `alert`, `user_role` -> `role`, `existing` -> `existing`."""
    words = _WORDS.findall(name)
    return words[-1].lower() if words else name.lower()
