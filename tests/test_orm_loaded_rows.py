"""Rows handed in already loaded (issue 11), across the modules of a project: a model's method or a
service changing a row its caller loaded is judged where the project shows who loads it.

- nothing in the project calls it (a method called on instances): it is judged on its own, the row
  loaded at its `def` line (evidence role "loaded"), low confidence, no `reached_by`;
- a view of another module loads the row under `select_for_update()` inside `atomic()` and hands it
  over: judged in that view, where the lock is seen, so neither file reports it;
- a view loads it without a lock: the view's finding, read at the view's lookup;
- a FastAPI dependency hands a route its row: the route's finding, high confidence.
"""

from __future__ import annotations

import pytest

from race_mcp import analyze_paths, analyze_source
from race_mcp.findings import Finding
from tests._project_files import write_project

_FILES = {
    "pyproject.toml": "[project]\nname = 'depot'\n",
    "depot/__init__.py": "",
    "depot/models.py": """
        from django.db import models


        class Bin(models.Model):
            label = models.CharField(max_length=20, unique=True)
            units = models.IntegerField(default=0)
            stage = models.CharField(max_length=12, default="open")

            def take(self, count):
                self.units -= count
                self.save(update_fields=["units"])
        """,
    "depot/services.py": """
        def restock(bin_row, count):
            bin_row.units = (bin_row.units or 0) + count
            bin_row.save(update_fields=["units"])


        def restock_unlocked(bin_row, count):
            bin_row.units = bin_row.units + count
            bin_row.save()
        """,
    "depot/views.py": """
        from django.db import transaction
        from django.http import HttpResponse

        from .models import Bin
        from .services import restock, restock_unlocked


        def restock_view(request, label):
            with transaction.atomic():
                bin_row = Bin.objects.select_for_update().get(label=label)
                restock(bin_row, int(request.POST["count"]))
            return HttpResponse(status=204)


        def restock_fast_view(request, label):
            bin_row = Bin.objects.get(label=label)
            restock_unlocked(bin_row, int(request.POST["count"]))
            return HttpResponse(status=204)
        """,
}


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> list[Finding]:
    root = tmp_path_factory.mktemp("loaded") / "project"
    write_project(root, _FILES)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RACE_MCP_CACHE_DIR", str(root.parent / "cache"))
        return analyze_paths([root]).findings


def _in(findings: list[Finding], path_end: str) -> list[Finding]:
    return [f for f in findings if f.path.replace("\\", "/").endswith(path_end)]


def test_a_model_method_nobody_is_seen_calling_is_judged_alone_with_low_confidence(
    findings: list[Finding],
) -> None:
    take = [f for f in _in(findings, "depot/models.py") if f.function == "Bin.take"]
    assert [f.rule_id for f in take] == ["RC301"]
    finding = take[0]
    assert finding.confidence == "low" and finding.reached_by is None
    assert finding.evidence[0].role == "loaded"
    assert finding.evidence[0].code.startswith("def take(")
    assert finding.evidence[-1].code.startswith("self.save(")


def test_a_service_whose_caller_locks_the_row_is_judged_in_the_caller(findings: list[Finding]) -> None:
    assert not [f for f in _in(findings, "depot/services.py") if f.function == "restock"]
    assert not [f for f in _in(findings, "depot/views.py") if f.function == "restock_view"]


def test_a_service_whose_caller_does_not_lock_is_reported_at_the_callers_lookup(
    findings: list[Finding],
) -> None:
    view = [f for f in _in(findings, "depot/views.py") if f.function == "restock_fast_view"]
    assert [f.rule_id for f in view] == ["RC301"]
    assert view[0].evidence[0].role == "read" and "Bin.objects.get" in view[0].evidence[0].code
    # the service itself is not reported a second time from a row "loaded" at its def line
    assert not [f for f in _in(findings, "depot/services.py") if f.function == "restock_unlocked"]


_ROUTE = """
from fastapi import Depends, FastAPI
from sqlmodel import Field, Session, SQLModel

api = FastAPI()


class Quota(SQLModel, table=True):
    id: int = Field(primary_key=True)
    left: int = 0


def current_quota() -> Quota:
    return Quota()


def database() -> Session:
    return Session()


@api.post("/quota/use")
def use_quota(cost: int, quota: Quota = Depends(current_quota), session: Session = Depends(database)):
    if quota.left < cost:
        return {"ok": False}
    quota.left -= cost
    session.add(quota)
    session.commit()
    return {"ok": True}


@api.post("/quota/show")
def show_quota(quota: Quota = Depends(current_quota)):
    return {"left": quota.left}
"""


def test_a_dependency_row_changed_by_a_route_is_the_routes_finding() -> None:
    found = analyze_source(_ROUTE, "quota.py")
    assert [(f.rule_id, f.function, f.confidence) for f in found] == [("RC304", "use_quota", "high")]
    steps = [(e.role, e.code.split("(")[0]) for e in found[0].evidence]
    assert steps[0] == ("loaded", "def use_quota")
    assert ("check", "if quota.left < cost:") in [(e.role, e.code) for e in found[0].evidence]
    assert found[0].reached_by == "FastAPI route POST /quota/use"


_NOT_ROWS = """
from django.db import models


class Tally:
    def __init__(self):
        self.count = 0

    def bump(self):
        self.count += 1
        self.save()

    def save(self):
        print(self.count)


class Entry(models.Model):
    seen = models.IntegerField(default=0)

    def save(self, *args, **kwargs):
        self.seen = (self.seen or 0) + 1
        super().save(*args, **kwargs)


def handle_form(form):
    form.instance.seen += 1
    form.save()
"""


def test_plain_objects_save_hooks_and_forms_are_not_rows() -> None:
    assert analyze_source(_NOT_ROWS, "tally.py") == []
