"""Fixes from the second pass over the JavaScript/TypeScript real-world review (issue 12,
docs/real-world-js-rust.md, "still reported after precision-2"): inserts that copy rows the
request found, lookups of several unique keys at once, uniqueness declared in Sequelize models
and migrations of other files, lookups keyed by the row an after-create hook was given.

Each fixture is analysed for real; the tests also show that its safe shapes were reported with
the fix switched off, so they keep testing the fix and not an accident of the lowering.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import race_mcp.analyzer.core.idempotency as idempotency
import race_mcp.analyzer.javascript.stores._orm as js_orm
import race_mcp.analyzer.javascript.stores.mongodb as js_mongodb
import race_mcp.analyzer.javascript.stores.orm as js_orm_recognizer
import race_mcp.analyzer.javascript.stores.sequelize as js_sequelize
import race_mcp.analyzer.python.stores._sql_text as sql_text
from race_mcp.analyzer import analyze_paths, analyze_source
from race_mcp.analyzer.project._languages import LanguageFacts
from race_mcp.config import Settings
from race_mcp.findings import Finding
from tests.corpus import read_expectations

FIXTURES = Path(__file__).parent / "fixtures" / "analyzer" / "js"
CREATED_ROWS = FIXTURES / "RC3xx_created_rows.ts"
SAME_VALUE = FIXTURES / "RC3xx_same_value.ts"
SET_FUNCTIONS = FIXTURES / "RC2xx_set_functions.js"
SUBSCRIPTIONS = FIXTURES / "RC6xx_subscriptions.js"
SEQUELIZE = Path(__file__).parent / "fixtures" / "projects" / "sequelize_unique"
TYPEORM = Path(__file__).parent / "fixtures" / "projects" / "typeorm_unique"


def _analyse(path: Path) -> list[Finding]:
    return analyze_source(path.read_text(), str(path))


def _in_safe_spans(path: Path, findings: list[Finding]) -> list[Finding]:
    spans = read_expectations(path.read_text()).safe_spans
    return [f for f in findings if any(r == f.rule_id and a <= f.line <= b for r, a, b in spans)]


@pytest.mark.parametrize(
    "path",
    [CREATED_ROWS, SAME_VALUE, SET_FUNCTIONS, SUBSCRIPTIONS],
    ids=["created-rows", "same-value", "set-functions", "subscriptions"],
)
def test_racy_markers_reported_and_safe_spans_quiet(path: Path) -> None:
    findings = _analyse(path)
    expected = read_expectations(path.read_text())
    reported = {(f.rule_id, f.line) for f in findings}
    assert expected.racy and expected.racy <= reported
    assert not _in_safe_spans(path, findings)


def test_copies_and_unique_branches_were_reported_before(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(js_orm, "copies_checked_rows", lambda check, key, ctx, data: False)
    monkeypatch.setattr(js_orm, "_branches", lambda value: [])
    flagged = {f.message.split("`")[1] for f in _in_safe_spans(CREATED_ROWS, _analyse(CREATED_ROWS))}
    assert flagged == {"Recipe", "Menu", "Dish", "NameTag"}


def test_same_value_checks_were_reported_before(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(js_orm, "same_value_check", lambda check, data, ctx: False)
    flagged = {f.message.split("`")[1] for f in _in_safe_spans(SAME_VALUE, _analyse(SAME_VALUE))}
    assert flagged == {"Board", "Wallet", "Card"}


def _project_findings(
    monkeypatch: pytest.MonkeyPatch, project: Path = SEQUELIZE
) -> dict[Path, list[Finding]]:
    monkeypatch.setenv("RACE_MCP_CACHE_DIR", "off")
    report = analyze_paths([project], settings=Settings(jobs=1))
    found: dict[Path, list[Finding]] = {}
    for finding in report.findings:
        found.setdefault(Path(finding.path).resolve(), []).append(finding)
    return found


def _marked_files(project: Path = SEQUELIZE) -> list[Path]:
    sources = (p for p in project.rglob("*") if p.suffix in (".ts", ".js"))
    return sorted(p for p in sources if "// racy" in p.read_text() or "// safe" in p.read_text())


def test_sequelize_uniqueness_of_other_files_and_create_hooks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Migrations' unique indexes and constraints (their `up` only), `unique: true` in a model's
    `init` of another file, a model's default table name; a create hook's lookup of its new row."""
    found = _project_findings(monkeypatch)
    assert _marked_files()
    for path in _marked_files():
        findings = found.get(path.resolve(), [])
        expected = read_expectations(path.read_text())
        assert expected.racy <= {(f.rule_id, f.line) for f in findings}, path.name
        assert not _in_safe_spans(path, findings), path.name


def test_sequelize_safe_shapes_were_reported_before(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(LanguageFacts, "sequelize_unique", lambda self, name: set())
    monkeypatch.setattr(js_sequelize, "_keyed_by_new_row", lambda where, function: False)
    found = _project_findings(monkeypatch)
    flagged = {
        (path.name, path.read_text().splitlines()[f.line - 1].split("await ")[-1].split("(")[0])
        for path in _marked_files()
        for f in _in_safe_spans(path, found.get(path.resolve(), []))
    }
    assert flagged == {
        ("reading.ts", "Bookmark.findOne"),
        ("reading.ts", "Bookmark.findOrCreate"),
        ("reading.ts", "Pseudonym.findOne"),
        ("reading.ts", "FeedSubscription.findOne"),
        ("Shelf.ts", "ShelfMember.findOne"),
        ("library.ts", "Bookmark.findOne"),
    }


def test_models_of_sequelize_files_were_mongodb_collections_before(monkeypatch: pytest.MonkeyPatch) -> None:
    """A route file naming no ORM, its models imported from Sequelize model files."""
    monkeypatch.setattr(js_orm_recognizer, "imported_text", lambda ctx, memo: "")
    monkeypatch.setattr(js_mongodb, "imported_text", lambda ctx, memo: "")
    library = SEQUELIZE / "routes" / "library.ts"
    flagged = {
        f.rule_id for f in _in_safe_spans(library, _project_findings(monkeypatch).get(library.resolve(), []))
    }
    assert flagged == {"RC802"}


@pytest.fixture
def fresh_sql_parses() -> Iterator[None]:
    """parse_sql remembers answers per text: a test patching its patterns must not see or leave stale ones."""
    sql_text.parse_sql.cache_clear()
    yield
    sql_text.parse_sql.cache_clear()


@pytest.mark.usefixtures("fresh_sql_parses")
def test_set_functions_and_mailing_lists_were_reported_before(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sql_text, "_FROM_TABLES", re.compile(rf"\b(?:from|join)\s+({sql_text._IDENT})"))
    monkeypatch.setattr(idempotency, "_AMBIGUOUS_MONEY", re.compile("transfer", re.IGNORECASE))
    tables = {f.message.split("`")[1] for f in _in_safe_spans(SET_FUNCTIONS, _analyse(SET_FUNCTIONS))}
    assert tables == {"unnest", "generate_series"}
    routes = {f.line for f in _in_safe_spans(SUBSCRIPTIONS, _analyse(SUBSCRIPTIONS))}
    assert len(routes) == 2


@pytest.mark.usefixtures("fresh_sql_parses")
def test_with_clause_names_were_tables_before(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sql_text, "_CTE_NAMES", re.compile(r"(?!)"))
    tables = {f.message.split("`")[1] for f in _in_safe_spans(SET_FUNCTIONS, _analyse(SET_FUNCTIONS))}
    assert tables == {"days"}


def test_typeorm_entities_declare_uniqueness_for_their_services(monkeypatch: pytest.MonkeyPatch) -> None:
    """`@Unique([...])` and `@Column({ unique: true })` in the entity's file, a service elsewhere."""
    found = _project_findings(monkeypatch, TYPEORM)
    service = TYPEORM / "src" / "members" / "members.service.ts"
    findings = found.get(service.resolve(), [])
    assert read_expectations(service.read_text()).racy == {(f.rule_id, f.line) for f in findings}
    assert not _in_safe_spans(service, findings)
    monkeypatch.setattr(LanguageFacts, "typeorm_unique", lambda self, entity: set())
    before = _in_safe_spans(service, _project_findings(monkeypatch, TYPEORM).get(service.resolve(), []))
    assert {f.function for f in before} == {"MembersService.join", "MembersService.claimBadge"}
