"""Checks and writes in different functions (issue 11): a helper's returned read decides the
caller's test, class methods of a model mixin run for the class they are called on, a literal flag
passed to a helper picks its branch, and star re-exports of modules outside the project resolve
quickly. The marker checks live in `tests/test_analyzer_projects.py` (`flask_mixin_crud`); these
cover what markers cannot say: in which function a finding is reported, and the time taken."""

from __future__ import annotations

import time
from pathlib import Path

from race_mcp import analyze_paths
from race_mcp.analyzer.project._discover import find_project_root
from race_mcp.analyzer.project._facts import FileFacts
from race_mcp.analyzer.project._resolve import Resolver
from race_mcp.config import Settings

PROJECT = Path(__file__).parent / "fixtures" / "projects" / "flask_mixin_crud"


def _findings() -> list[tuple[str, str, int]]:
    report = analyze_paths([PROJECT], settings=Settings())
    assert not report.errors, report.errors
    return [(f.rule_id, f.function or "", f.line) for f in report.findings]


def test_mixin_lookup_then_create_is_reported_in_the_caller() -> None:
    report = analyze_paths([PROJECT], settings=Settings())
    # views.py holds the mixin cases; kiosk.py and enrolment.py are the caller-check cases
    # (tests/test_caller_checks.py).
    callers = {f.function for f in report.findings if f.rule_id == "RC303" and f.path.endswith("views.py")}
    # award_badge: Badge.code is unique, but nothing handles the loser's IntegrityError (issue 11).
    assert callers == {"claim_nickname", "claim_nickname_quietly", "add_nickname", "award_badge"}


def test_mixin_rows_decide_inserts_only() -> None:
    # rename_nickname overwrites a looked-up row after an ownership check: no RC304 for mixin rows
    assert not [f for f in _findings() if f[1] == "rename_nickname"]


def test_literal_flag_takes_the_helpers_locked_branch() -> None:
    found = _findings()
    assert not [f for f in found if f[1] == "hand_over_badge"]
    assert ("RC304", "give_badge", 85) in found


def _facts(module: str, *, stars: tuple[str, ...] = (), functions: tuple[str, ...] = ()) -> FileFacts:
    facts = FileFacts(module=module, kind="py")
    facts.star_imports.extend(stars)
    for name in functions:
        facts.defs[name] = "function"
    return facts


def test_star_imports_of_missing_modules_resolve_quickly() -> None:
    # A package whose __init__ star-imports six modules the index does not hold (a benchmark's
    # extract, a vendored tree): each unknown name used to grow by one part per hop (6 ** 24).
    missing = tuple(f"svc.db.part{i}" for i in range(6))
    entries = [
        ("svc/db/__init__.py", _facts("svc.db", stars=missing), ("svc.db",)),
        ("svc/worker.py", _facts("svc.worker", stars=("svc.db",)), ("svc.worker",)),
    ]
    resolver = Resolver(entries)
    started = time.monotonic()
    assert resolver.resolve("svc.worker", "update_run_state") == "update_run_state"
    assert resolver.canonical("svc.db.part1.update_run_state") == "svc.db.part1.update_run_state"
    assert time.monotonic() - started < 1.0


def test_files_of_sibling_subpackages_share_their_package_without_a_marker(tmp_path: Path) -> None:
    # `race-mcp analyze app/tasks/run.py app/db/reads.py` in a tree with no pyproject.toml: both
    # files belong to the package `app`, so `from app.db import fetch` in one resolves to the other.
    for folder in ("app", "app/tasks", "app/db"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "__init__.py").write_text("")
    from race_mcp.roots import AllowedRoots

    boundary = AllowedRoots([str(tmp_path)])
    assert find_project_root(tmp_path / "app/tasks", boundary) == tmp_path / "app"
    assert find_project_root(tmp_path / "app/db", boundary) == tmp_path / "app"
    (tmp_path / "loose").mkdir()
    assert find_project_root(tmp_path / "loose", boundary) == tmp_path / "loose"


def test_a_task_reading_and_writing_through_sql_helpers_of_other_modules() -> None:
    # worker/tasks.py names no SQL: the recognizers come from the helpers it calls (helper_text),
    # and the wrapper `run_query(conn, statement, ...)` carries its statement second.
    project = PROJECT.parent / "celery_sql_wrappers"
    report = analyze_paths([project], settings=Settings())
    assert not report.errors, report.errors
    found = {(f.rule_id, f.function) for f in report.findings}
    assert found == {("RC201", "start_job")}
