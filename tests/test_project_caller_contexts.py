"""A caller's `with` items and decorators are read in the caller's own module (issue 11): a project
transaction or lock wrapper imported under another name (`from .tx import unit_of_work as uow`)
still tells the index that every call made under it holds the transaction or the lock, so a helper
in a third module that locks a row (RC302) or changes shared state is judged by its callers."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from race_mcp import analyze_paths
from tests._project_files import write_project

_FILES = {
    "pyproject.toml": "[project]\nname = 'depot'\n",
    "depot/__init__.py": "",
    "depot/models.py": """
        from django.db import models


        class Order(models.Model):
            status = models.CharField(max_length=20)
        """,
    "depot/tx.py": """
        from contextlib import contextmanager

        from django.db import transaction


        @contextmanager
        def unit_of_work():
            with transaction.atomic():
                yield
        """,
    "depot/timing.py": """
        from contextlib import contextmanager


        @contextmanager
        def unit_of_work():
            # same name, no transaction: only the caller's import says which one is meant
            yield
        """,
    "depot/locking.py": """
        from .models import Order


        def lock_order(order_id):
            return Order.objects.select_for_update().get(pk=order_id)
        """,
}

_CALLER = """
    from .locking import lock_order
    from {module} import unit_of_work as uow


    def ship(order_id):
        with uow():
            order = lock_order(order_id)
            order.status = "shipped"
            order.save()
    """


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RACE_MCP_CACHE_DIR", str(tmp_path / "cache"))


def _rc302_in_helper(root: Path, module: str) -> list[str]:
    write_project(root, {**_FILES, "depot/services.py": textwrap.dedent(_CALLER.format(module=module))})
    findings = analyze_paths([root]).findings
    return [f.function or "" for f in findings if f.rule_id == "RC302" and f.path.endswith("locking.py")]


def test_an_aliased_project_transaction_wrapper_covers_the_helper_it_calls(tmp_path: Path) -> None:
    assert _rc302_in_helper(tmp_path / "tx", ".tx") == []


def test_a_same_named_wrapper_that_opens_no_transaction_does_not(tmp_path: Path) -> None:
    assert _rc302_in_helper(tmp_path / "timing", ".timing") == ["lock_order"]
