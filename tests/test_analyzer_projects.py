"""End to end over the multi-module fixture projects (`tests/fixtures/projects/`): every `# racy:` /
`# safe:` marker must hold when the whole project is analysed (`analyze_paths` on its directory).

Markers ending in `(cross-file)` depend on facts from other modules (uniqueness declared in another
module or a migration, a project transaction wrapper, callers that hold the transaction, a helper
or model method in another file): they hold because the analysis uses the project index
(`race_mcp/analyzer/project/`). `todo-racy` markers are known misses, not checked here.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import pytest

from race_mcp import analyze_paths
from race_mcp.config import Settings
from race_mcp.findings import Finding
from tests.corpus import MARKER, read_expectations

PROJECTS = Path(__file__).parent / "fixtures" / "projects"
CROSS_FILE = "(cross-file)"
# The analysis resolves cross-file facts through the project index (the new engine).
CROSS_FILE_WIRED = True


@dataclass(frozen=True)
class Expectation:
    project: str
    path: Path  # relative to the project
    rule: str
    kind: str  # "racy": a finding at `line`; "safe": none of `rule` in lines `line`..`end`
    line: int
    end: int
    cross_file: bool

    @property
    def id(self) -> str:
        where = f"{self.line}" if self.kind == "racy" else f"{self.line}-{self.end}"
        return f"{self.project}/{self.path}:{where}:{self.kind}:{self.rule}"


def _cross_file_lines(source: str) -> set[int]:
    """1-based lines of the markers that carry `(cross-file)`."""
    lines = enumerate(source.splitlines(), 1)
    return {number for number, text in lines if MARKER.search(text) and CROSS_FILE in text}


def _marker_line(lines: list[str], target: int) -> int:
    """The marker line a target line (the code line after the marker) belongs to."""
    number = target - 1
    while number > 0 and not MARKER.search(lines[number - 1]):
        number -= 1
    return number


def _expectations() -> list[Expectation]:
    found = []
    for project in sorted(path for path in PROJECTS.iterdir() if path.is_dir()):
        for file in sorted(project.rglob("*.py")):
            source = file.read_text(encoding="utf-8")
            expected = read_expectations(source)
            crossing = _cross_file_lines(source)
            lines = source.splitlines()
            relative = file.relative_to(project)
            for rule, line in sorted(expected.racy):
                cross = _marker_line(lines, line) in crossing
                found.append(Expectation(project.name, relative, rule, "racy", line, line, cross))
            for rule, start, end in expected.safe_spans:
                cross = _marker_line(lines, start) in crossing
                found.append(Expectation(project.name, relative, rule, "safe", start, end, cross))
    return found


def _analyze(project: str, settings: Settings) -> tuple[Finding, ...]:
    report = analyze_paths([PROJECTS / project], settings=settings)
    assert not report.errors, report.errors
    return tuple(report.findings)


@functools.cache
def _findings(project: str) -> tuple[Finding, ...]:
    return _analyze(project, Settings(jobs=1))


def _params() -> list[object]:
    params: list[object] = []
    for expectation in _expectations():
        marks = []
        if expectation.cross_file and not CROSS_FILE_WIRED:
            marks.append(
                pytest.mark.xfail(
                    strict=False,
                    reason="needs facts from other modules: the analysis does not use the project index yet",
                )
            )
        params.append(pytest.param(expectation, id=expectation.id, marks=marks))
    return params


def test_every_fixture_project_has_markers_of_both_kinds() -> None:
    expectations = _expectations()
    projects = {e.project for e in expectations}
    assert projects == {
        "celery_sql_wrappers",
        "django_jobs",
        "django_monitor",
        "django_new_rows",
        "django_pools",
        "django_random_helpers",
        "django_shop",
        "drf_allocation",
        "fastapi_inventory",
        "flask_blog",
        "flask_mailroom",
        "flask_mixin_crud",
        "one_way_columns",
        "raw_sql_ledger",
    }
    for project in projects:
        kinds = {e.kind for e in expectations if e.project == project}
        assert kinds == {"racy", "safe"}, project


@pytest.mark.parametrize("expectation", _params())
def test_marker_holds_on_the_whole_project(expectation: Expectation) -> None:
    path = PROJECTS / expectation.project / expectation.path
    here = [f for f in _findings(expectation.project) if Path(f.path).resolve() == path.resolve()]
    if expectation.kind == "racy":
        lines = sorted(f.line for f in here if f.rule_id == expectation.rule)
        assert expectation.line in lines, (
            f"missed {expectation.rule} at line {expectation.line}; found {lines}"
        )
    else:
        inside = [
            f"{f.line}: {f.message}"
            for f in here
            if f.rule_id == expectation.rule and expectation.line <= f.line <= expectation.end
        ]
        assert not inside, f"unexpected {expectation.rule}: {inside}"


def test_worker_processes_see_the_same_project_facts(monkeypatch: pytest.MonkeyPatch) -> None:
    import race_mcp.analyzer as analyzer

    monkeypatch.setattr(analyzer, "_PARALLEL_THRESHOLD", 1)  # the fixture is smaller than a pool's worth
    pooled = _analyze("django_shop", Settings(jobs=2))
    key = lambda f: (f.path, f.line, f.rule_id)  # noqa: E731
    assert sorted(map(key, pooled)) == sorted(map(key, _findings("django_shop")))
    assert any(f.rule_id == "RC301" and f.path.endswith("views.py") for f in pooled)  # a cross-file finding


def test_a_helper_in_another_module_reports_the_route_of_the_handler_that_reaches_it() -> None:
    found = [f for f in _findings("flask_blog") if f.path.endswith("services.py")]
    assert [(f.rule_id, f.route, f.confidence, f.function) for f in found] == [
        ("RC304", "POST /posts/<int:post_id>/view", "high", "bump_views")
    ]
