"""A module-level object named like a cache that the project builds itself, from a class of its own
holding a dict (lnbits' `cache`), is in-process state, not a store: its get-then-set is no RC501.
One the project builds from a cache client, or re-exports from Django, stays a store."""

from __future__ import annotations

from pathlib import Path

from race_mcp import analyze_paths
from tests._project_files import write_project

_OWN_CACHE = """
    from time import time


    class Cache:
        def __init__(self):
            self._values = {}

        def get(self, key, default=None):
            found = self._values.get(key)
            return found[0] if found and found[1] > time() else default

        def set(self, key, value, expiry=10):
            self._values[key] = (value, time() + expiry)


    cache = Cache()
"""

_CLIENT_CACHE = """
    from django.core.cache import caches

    cache = caches["default"]
"""

_VIEWS = """
    from fastapi import FastAPI

    from .store import cache

    app = FastAPI()


    @app.post("/login")
    def login(user: str):
        failures = cache.get(f"failures:{user}", 0)
        if failures >= 5:
            return {"locked": True}
        cache.set(f"failures:{user}", failures + 1, 300)
        return {"locked": False}
"""


def _rules(root: Path) -> set[str]:
    return {f.rule_id for f in analyze_paths([root]).findings}


def test_the_projects_own_cache_object_is_no_store(tmp_path: Path) -> None:
    root = write_project(
        tmp_path / "app", {"app/__init__.py": "", "app/store.py": _OWN_CACHE, "app/views.py": _VIEWS}
    )
    assert "RC501" not in _rules(root)


def test_a_cache_built_from_a_client_stays_a_store(tmp_path: Path) -> None:
    root = write_project(
        tmp_path / "app", {"app/__init__.py": "", "app/store.py": _CLIENT_CACHE, "app/views.py": _VIEWS}
    )
    assert "RC501" in _rules(root)
