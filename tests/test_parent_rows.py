"""Rows looked up with `get_object_or_404` on a model of another module, the decisions made on
them, and the rows built from them (issue 11: netbox's available-IPs race; healthchecks' views,
where reading such a lookup as a row had added dozens of false findings).

- the lookup binds a row of the project's model, so its methods run (free numbers computed from
  the children) and its copy saved back is a lost update;
- a row built from it (`Lease(pool=pool)`) races only a decision that counted the children (a
  related manager's count, the parent's own method), not one on the parent's plain columns;
- a test through a method of the row that only reads the columns the lookup matched on
  (`share_token()` of `code`) tested no more than the lookup did."""

from __future__ import annotations

from pathlib import Path

import pytest

from race_mcp import analyze_paths, analyze_source
from race_mcp.analyzer.core.walk import own_attributes_read
from race_mcp.config import Settings
from tests._store_helpers import lower

POOLS = Path(__file__).parent / "fixtures" / "projects" / "django_pools"

METHODS = lower(
    """
    import hashlib

    class Pool:
        def token(self):
            return hashlib.sha256(str(self.code).encode()).hexdigest()

        def span(self):
            if self.first > self.last:
                return 0
            return self.last - self.first

        def left(self):
            return self.limit - self.lease_set.count()

        def size(self):
            return self.count_leases()

        def handed_on(self):
            return describe(self)

        def touch(self):
            self.seen = True
            return self.seen

        def constant(self):
            return 3
    """
)


@pytest.mark.parametrize(
    ("method", "read"),
    [
        ("token", {"code"}),
        ("span", {"first", "last"}),
        ("left", None),  # a related manager's query: it may count what the caller adds
        ("size", None),  # another method of the row: what it reads is not known here
        ("handed_on", None),
        ("touch", None),
        ("constant", None),
    ],
)
def test_own_attributes_read_only_when_reading_them_is_all_a_method_does(
    method: str, read: set[str] | None
) -> None:
    found = own_attributes_read(METHODS.functions[f"Pool.{method}"])
    assert found == (frozenset(read) if read is not None else None)


def _pool_findings() -> list[tuple[str, int, str | None]]:
    report = analyze_paths([POOLS], settings=Settings(jobs=1))
    assert not report.errors
    return sorted((f.rule_id, f.line, f.function) for f in report.findings)


def test_a_lookup_of_an_imported_model_binds_a_row_whose_methods_and_saves_are_followed() -> None:
    assert _pool_findings() == [
        ("RC301", 41, "add_lease"),  # a limit through the row's own method, then a lease built from it
        ("RC301", 62, "visit"),  # the row's copy incremented and saved back
        ("RC303", 16, "allocate"),  # the free numbers its method computed from the leases
    ]


def test_alone_the_view_module_does_not_know_the_imported_model() -> None:
    views = POOLS / "pools" / "views.py"
    assert analyze_source(views.read_text(encoding="utf-8"), "views.py") == []
