"""Which code of the project writes each model: request-side code, or only one-process jobs.

A lost update or a check-then-act in a job that runs as one process (a management command started
by cron, an importer, a seeder, a start-up script) needs a second writer of the same rows running
at the same time. When every writer of the model the project shows is itself such a job (or a
test, a migration), nothing races it: the finding is not reported (`pipeline.py`).

Writers are read off the index's call sites, with no second parse: a manager or queryset write
named on the model (`Country.objects.bulk_create`, `Check.objects.filter().update`,
`Partner._default_manager.get_or_create`), an Active Record class call (`SLDomain.create(...)`),
and `self.save()` / `self.delete()` / `self.objects...` in a method of the model or of one of its
bases. Models are matched by their bare class name and the names of their ancestors, so an
abstract base's method counts for the concrete model and a model loaded by `get_model(...)` is
still found by name; more names matched means more writers, which only keeps findings.

What the index cannot see is a write through an instance whose class is not written
(`row.save()` on a local): those writers are missed, so a model written only that way by requests
looks written by jobs alone. That is the price of doing this from the index alone.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ._one_way import ColumnValues

if TYPE_CHECKING:
    from ._index import ProjectIndex

__all__ = ["ModelWriters"]

_MANAGERS = frozenset({"objects", "_default_manager", "_base_manager"})
_MANAGER_WRITES = frozenset(
    {"create", "get_or_create", "update_or_create", "bulk_create", "bulk_update", "update", "delete"}
)
_CLASS_WRITES = frozenset({"create", "get_or_create", "update_or_create", "bulk_create", "delete"})
_SELF_WRITES = frozenset({"save", "delete", "update", "create"})
# Modules that run one at a time, by hand or at deploy, and never beside requests: Django
# management commands (Django's own layout), migrations, tests, development seeders and scripts.
# Packages by their folder (a module named `scripts.py` may be the application's own script runner).
_OFFLINE_MODULE = re.compile(
    r"(?:^|\.)(?:management\.commands|migrations|tests?|scripts?|seeds?|seeders?|factories)\."
    r"|(?:^|\.)(?:tests?|test_\w*|\w*_tests?|conftest|populate\w*|seed\w*|fake_?data\w*|random_?data\w*"
    r"|dev_?data\w*|demo_?data\w*|sample_?data\w*|generate_?data\w*|scaffold\w*|factories\w*)$",
    re.IGNORECASE,
)
# Code that never runs beside the application's requests and workers at all: tests, migrations,
# development data. A command (cron, a worker loop) does, as a second writer of a request's rows.
_NEVER_LIVE_MODULE = re.compile(
    r"(?:^|\.)(?:migrations|tests?|seeds?|seeders?|factories)\."
    r"|(?:^|\.)(?:tests?|test_\w*|\w*_tests?|conftest|populate\w*|seed\w*|fake_?data\w*|random_?data\w*"
    r"|dev_?data\w*|demo_?data\w*|sample_?data\w*|generate_?data\w*|scaffold\w*|factories\w*)$",
    re.IGNORECASE,
)
_MAX_CALLER_DEPTH = 4


class ModelWriters:
    """`model name -> writer functions`, and which writers only one-process jobs run (built once
    per index, on first use)."""

    def __init__(self, index: ProjectIndex) -> None:
        self._index = index
        self._writers: dict[str, set[str]] = {}
        self._offline: dict[str, bool] = {}
        # bare model name -> (writer, columns it writes by name), live code only (not tests).
        self._columns: dict[str, list[tuple[str, frozenset[str]]]] = {}
        self._values: ColumnValues | None = None  # built on first use (`_one_way.py`)
        for qualname, (_path, facts) in index.functions.items():
            owner = facts.owner
            for text, _line, _held in facts.calls:
                parts = text.replace("()", "").split(".")
                name = _written_model(parts, owner)
                if name is not None:
                    self._writers.setdefault(name, set()).add(qualname)
            if facts.field_writes and not _NEVER_LIVE_MODULE.search(index.module_of_function(qualname)):
                for target, columns in facts.field_writes:
                    name = owner if target == "self" else target.rpartition(".")[2]
                    if name:
                        self._columns.setdefault(name, []).append((qualname, frozenset(columns)))

    def columns_written_elsewhere(self, model: str, besides: frozenset[str]) -> frozenset[str]:
        """Columns of `model` that live code of the project (requests, tasks, commands; not tests,
        migrations or seeders) writes by name and that are not in `besides`: what a full save of a
        stale copy of the row, changing only `besides`, writes back over."""
        found: set[str] = set()
        for name in self._names(model):
            for _writer, columns in self._columns.get(name, ()):
                found.update(columns - besides)
        return frozenset(found)

    def one_way_value(self, model: str, column: str) -> str | None:
        """The only value live code of the project stores in `column` of `model` (a one-way
        column: a status only ever set to CLOSED), as `_columns.value_text` spells it; None when
        writes store different or unknown values (`_one_way.py`)."""
        if self._values is None:
            self._values = ColumnValues(self._index, lambda module: not _NEVER_LIVE_MODULE.search(module))
        return self._values.one_way_value(self._names(model), column)

    def written_by_requests(self, model: str) -> bool:
        """Whether code that is not a one-process job writes the model `model` (a bare or dotted
        class name): some writer of it, or of one of its project ancestors, is not offline."""
        names = self._names(model)
        return any(not self.offline(writer) for name in names for writer in self._writers.get(name, ()))

    def _names(self, model: str) -> set[str]:
        bare = model.rpartition(".")[2]
        names = {bare}
        index = self._index
        for qualname in index.models_named(bare):
            names.update(base.rpartition(".")[2] for base in index.class_bases(qualname))
        return names

    def offline(self, qualname: str, depth: int = 0) -> bool:
        """A function only one-process jobs run: it lives in an offline module, or it is a module
        function (never a method: instances are called from anywhere) never used as a value whose
        every caller the project shows is offline."""
        known = self._offline.get(qualname)
        if known is not None:
            return known
        self._offline[qualname] = False  # a cycle proves nothing
        index = self._index
        module = index.module_of_function(qualname)
        result = bool(_OFFLINE_MODULE.search(module))
        found = index.functions.get(qualname)
        if not result and found is not None and found[1].owner is None and depth < _MAX_CALLER_DEPTH:
            sites = index.callers(qualname)
            result = (
                bool(sites)
                and not index.referenced(qualname)
                and all(self._offline_site(site.caller, site.line, depth + 1) for site in sites)
            )
        self._offline[qualname] = result
        return result

    def _offline_site(self, caller: str, line: int, depth: int) -> bool:
        """A call made inside a nested command-line command (`@app.cli.command()` in an app
        factory), or from a function only one-process jobs run."""
        found = self._index.functions.get(caller)
        if found is not None and line in found[1].command_lines:
            return True
        return self.offline(caller, depth)


def _written_model(parts: list[str], owner: str | None) -> str | None:
    """The model a call's dotted callee writes (its bare class name), or None."""
    if len(parts) < 2:
        return None
    method = parts[-1]
    if parts[0] == "self" and owner is not None:
        if len(parts) == 2 and method in _SELF_WRITES:
            return owner
        if len(parts) > 2 and parts[1] in _MANAGERS and method in _MANAGER_WRITES:
            return owner
        return None
    for at, part in enumerate(parts[:-1]):
        if part in _MANAGERS and at > 0:
            return parts[at - 1] if method in _MANAGER_WRITES else None
    name = parts[-2]
    if method in _CLASS_WRITES and name[:1].isupper():
        return name
    return None
