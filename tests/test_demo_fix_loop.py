"""The demo's verified-fix loop: patch a temporary copy, restart it, the same bursts, functional checks.

Reads the whole demo on SQLite (the session's one `race-mcp demo --format json` run, `demo_run` in
conftest.py), and runs it on PostgreSQL when 127.0.0.1:5432 answers (skipped with the reason
otherwise; a failure when CI=true, where the PostgreSQL service must be up). Real uvicorn processes,
real bursts, real databases.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from race_mcp.config import Settings
from race_mcp.demo import DEMO_DIR, DemoContext, DemoReport
from race_mcp.demo._fix import PATCHED_PACKAGE, prove_fix_step
from race_mcp.demo._prove import BURST_SCENARIOS
from tests._demo_run import DemoRun, DemoRunOn

# With a password (trust auth ignores it) so the report can be checked never to show it.
POSTGRES_URL = "postgresql://root:not-a-secret@127.0.0.1:5432/test"
POSTGRES_SHOWN = "postgresql://root:***@127.0.0.1:5432/test"
LOOP = [
    "analyze-shop",
    "analyze-safe-twin",
    "check-spec",
    "prove-races",
    "patch",
    "prove-fix",
    "functional-checks",
]


def _postgres_or_skip() -> str:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=2):
            pass
    except OSError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but PostgreSQL at 127.0.0.1:5432 is not reachable: {exc}")
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 is not reachable ({exc}); the SQLite loop still runs")
    return POSTGRES_URL


@pytest.fixture(scope="module")
def sqlite_report(demo_run: DemoRun) -> DemoReport:
    return demo_run.report


@pytest.fixture(scope="module")
def postgres_report(demo_run_on: DemoRunOn) -> DemoReport:
    return demo_run_on(_postgres_or_skip()).report


def _patched_routes(report: DemoReport) -> set[str]:
    """Routes of the racy shop's findings that the patch step patched."""
    analysis = report.step("analyze-shop").analysis
    assert analysis is not None
    patched_lines = {
        int(line.split("line ")[1].split(":")[0])
        for line in report.step("patch").details
        if line.startswith("RC") and ": not patched:" not in line
    }
    return {f.route for f in analysis.findings if f.line in patched_lines and f.route}


def _check_loop(report: DemoReport) -> None:
    assert [step.key for step in report.steps] == LOOP
    assert report.step("prove-races").status == "passed"
    patch = report.step("patch")
    assert patch.status == "passed", patch.summary
    assert any(line.startswith("openapi.yaml: ") and "fixable -> 0" in line for line in patch.details)

    verdicts = {
        line.split(": ")[0]: line.split(": ")[1].split(" ")[0] for line in report.step("prove-fix").details
    }
    assert set(verdicts) == {scenario.route for scenario in BURST_SCENARIOS}
    # A patched race must not show up again; `inconclusive` (a serialised fix) is test_every_fix_holds'.
    for route in _patched_routes(report) & set(verdicts):
        assert verdicts[route] != "race", report.step("prove-fix").details

    checks = report.step("functional-checks")
    assert checks.status == "passed", checks.details
    assert checks.summary == "5 of 5 checks pass, one request at a time"


@pytest.mark.slow
def test_the_loop_runs_on_sqlite(sqlite_report: DemoReport) -> None:
    _check_loop(sqlite_report)
    assert sqlite_report.database is None
    assert ", on SQLite\n" in sqlite_report.render_text()


@pytest.mark.slow
def test_the_loop_runs_on_postgresql(postgres_report: DemoReport) -> None:
    _check_loop(postgres_report)
    assert postgres_report.database == POSTGRES_SHOWN
    assert f", on PostgreSQL at {POSTGRES_SHOWN}\n" in postgres_report.render_text()
    assert "not-a-secret" not in postgres_report.model_dump_json()


@pytest.mark.slow
def test_postgresql_runs_leave_no_schema_behind(postgres_report: DemoReport) -> None:
    with psycopg.connect(POSTGRES_URL) as connection:
        left = connection.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'race_mcp_demo_%'"
        ).fetchall()
    assert left == []


@pytest.mark.slow
@pytest.mark.parametrize("which", ["sqlite_report", "postgres_report"])
def test_every_fix_holds(which: str, request: pytest.FixtureRequest) -> None:
    """The issue's bar: every race the demo proves is patched and the same burst shows no_race.

    Fails while a race has no mechanical patch (the step's details name it and why).
    """
    report: DemoReport = request.getfixturevalue(which)
    step = report.step("prove-fix")
    assert step.status == "passed", "\n".join([step.summary, *step.details, *report.step("patch").details])
    assert report.passed


@pytest.mark.slow
def test_the_same_bursts_show_no_race_on_a_fixed_shop(tmp_path: Path) -> None:
    """The loop's machinery on the safe twin as the patched app: the same bursts must say no_race."""
    package = tmp_path / PATCHED_PACKAGE
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name in ("_models.py", "_partners.py", "_store.py"):
        shutil.copyfile(DEMO_DIR / name, package / name)
    shutil.copyfile(DEMO_DIR / "shop_fixed.py", package / "shop.py")
    context = DemoContext(demo_dir=DEMO_DIR, settings=Settings(), workdir=tmp_path, patched_app=package)

    step = prove_fix_step(context)

    assert step.status == "passed", step.details
    assert all(": no_race (" in line for line in step.details)
    assert context.check_results is not None
    assert [result.problem for result in context.check_results] == [None] * 5


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "shop.sqlite3",
            "race-mcp: error[bad-database-url]: --database must be a postgresql:// URL, got 'shop.sqlite3'",
        ),
        (
            "postgresql://127.0.0.1:1/test",
            "race-mcp: error[database-unreachable]: cannot connect to PostgreSQL at "
            "postgresql://127.0.0.1:1/test: connection refused",
        ),
        (  # the password never reaches the terminal
            "postgresql://shop:s3cret@127.0.0.1:1/test",
            "race-mcp: error[database-unreachable]: cannot connect to PostgreSQL at "
            "postgresql://shop:***@127.0.0.1:1/test: connection refused",
        ),
    ],
)
def test_a_bad_database_is_one_clean_error(url: str, message: str) -> None:
    """One line naming the URL and the cause, in full: not libpq's tab-indented second line."""
    done = subprocess.run(
        [sys.executable, "-m", "race_mcp", "demo", "--database", url, "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == message + "\n"
    assert "\t" not in done.stderr and "s3cret" not in done.stderr
