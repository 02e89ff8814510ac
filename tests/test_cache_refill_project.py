"""Cache refills analysed as part of a package (the project index resolves the view's calls): a
refill whose fetch can fail keeps the missing cached value in its local, which stores nothing."""

from __future__ import annotations

import textwrap
from pathlib import Path

from race_mcp import analyze_paths

_VIEW = """
import httpx
from django.core.cache import cache
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response


class LatestView(GenericAPIView):
    cache_key = "latest"

    def get(self, request, format=None):
        latest = cache.get(self.cache_key)
        if latest is None:
            try:
                reply = httpx.get("https://releases.example/latest")
                reply.raise_for_status()
                latest = reply.json()["tag"]
                latest = latest.removeprefix("v")
            except ValueError:
                pass
            except httpx.HTTPError:
                pass
            if latest:
                cache.set(self.cache_key, latest, 60)
            else:
                latest = "0.0.0"
        return Response({"v": latest})


class HitsView(GenericAPIView):
    def post(self, request):
        hits = cache.get("hits")
        if hits is None:
            hits = 0
        cache.set("hits", hits + 1)
        return Response({"hits": hits + 1})
"""


def _findings(tmp_path: Path) -> list[tuple[str, int]]:
    package = tmp_path / "releases"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "views.py").write_text(textwrap.dedent(_VIEW).lstrip())
    report = analyze_paths([tmp_path])
    assert not report.errors
    return [(f.function or "", f.line) for f in report.findings if f.rule_id == "RC501"]


def test_a_refill_that_can_fail_stores_only_what_it_fetched(tmp_path: Path) -> None:
    found = _findings(tmp_path)
    assert not [name for name, _ in found if name.startswith("LatestView")]


def test_a_counter_started_on_a_miss_and_stored_on_every_path_stays_racy(tmp_path: Path) -> None:
    found = _findings(tmp_path)
    read = textwrap.dedent(_VIEW).lstrip().splitlines().index('        hits = cache.get("hits")') + 1
    assert ("HitsView.post", read) in found
