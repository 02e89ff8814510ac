"""The rule registry: it documents itself, its examples hold (racy ones flagged, fixed ones not),
it refuses a malformed catalog at import time, every id the checkers can emit is registered, and
the README's rule table is the registry's."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from race_mcp import RULES, InputError, analyze_source, get_rule
from race_mcp.analyzer.core import checks
from race_mcp.cli import main
from race_mcp.config import Settings
from race_mcp.openapi import check_openapi
from race_mcp.rules import (
    FAMILIES,
    Rule,
    RuleRegistryError,
    render_catalog_markdown,
    render_rule_markdown,
    render_rule_table,
)
from race_mcp.rules._registry import build_registry

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "race_mcp"
PYTHON_RULES = [rule for rule in RULES.values() if rule.id.startswith("RC")]
OPENAPI_RULES = [rule for rule in RULES.values() if rule.id.startswith("RA")]

# Rules documented before the analyzer recognises their store. The racy example must not be
# flagged yet (strict xfail): the helper who wires the store sees XPASS fail and deletes the entry.
ANALYZER_PENDING: dict[str, str] = {}


def _pending(rule: Rule) -> pytest.MarkDecorator | tuple[()]:
    reason = ANALYZER_PENDING.get(rule.id)
    return pytest.mark.xfail(strict=True, reason=reason) if reason else ()


# ------------------------------------------------------------------------------- examples hold


@pytest.mark.parametrize("rule", [pytest.param(r, id=r.id, marks=_pending(r)) for r in PYTHON_RULES])
def test_racy_example_yields_exactly_its_rule_with_its_fix(rule: Rule) -> None:
    findings = analyze_source(rule.example, f"{rule.id}_example.py")
    assert {f.rule_id for f in findings} == {rule.id}
    assert {f.fix for f in findings} == {rule.fix}


@pytest.mark.parametrize("rule", PYTHON_RULES, ids=[r.id for r in PYTHON_RULES])
def test_fixed_example_yields_nothing(rule: Rule) -> None:
    assert analyze_source(rule.use_instead, f"{rule.id}_fixed.py") == []


@pytest.mark.parametrize("rule", OPENAPI_RULES, ids=[r.id for r in OPENAPI_RULES])
def test_openapi_findings_carry_the_rules_fix(rule: Rule, tmp_path: Path) -> None:
    spec = tmp_path / "api.yaml"
    spec.write_text(rule.example, encoding="utf-8")
    findings = check_openapi(spec, settings=Settings(select=[rule.id])).findings
    assert [(f.rule_id, f.fix) for f in findings] == [(rule.id, rule.fix)]


def test_pending_rules_are_previews() -> None:
    # A stable rule's example must hold; only a preview may wait for its analyzer support.
    assert {rule_id: RULES[rule_id].status for rule_id in ANALYZER_PENDING} == dict.fromkeys(
        ANALYZER_PENDING, "preview"
    )


# ----------------------------------------------------------------------------------------- docs


@pytest.mark.parametrize("rule", list(RULES.values()), ids=list(RULES))
def test_rule_docs_have_ruff_sections(rule: Rule) -> None:
    markdown = render_rule_markdown(rule)
    for heading in ("## What it does", "## Why is this bad?", "## Example", "Use instead:", "## References"):
        assert heading in markdown
    assert rule.cwe.startswith("CWE-")
    assert rule.name == rule.name.lower() and " " not in rule.name
    assert rule.fix.strip() and rule.fix != rule.title


def test_catalog_lists_every_rule_once() -> None:
    catalog = render_catalog_markdown()
    for rule_id in RULES:
        assert catalog.count(f"| {rule_id} |") == 1


def test_unknown_rule_is_a_clear_error() -> None:
    with pytest.raises(InputError, match=r"unknown rule .RC999.; known rules: .*RC101"):
        get_rule("RC999")
    assert get_rule("rc101").id == "RC101"


def test_settings_select_and_ignore_rules() -> None:
    example = RULES["RC101"].example
    assert analyze_source(example, "a.py", settings=Settings(ignore=["RC101"])) == []
    assert analyze_source(example, "a.py", settings=Settings(select=["RC2"])) == []
    assert analyze_source(example, "a.py", settings=Settings(select=["RC1"])) != []
    Settings(select=["RC8"], ignore=["RC801"])  # the preview family is selectable like any other


# ------------------------------------------------------------------------------------ registry


def _family(name: str, prefix: str, *rules: Rule) -> SimpleNamespace:
    return SimpleNamespace(__name__=name, PREFIX=prefix, FAMILY=f"{prefix}xx test", RULES=list(rules))


def _rule(rule_id: str, **changes: object) -> Rule:
    fields = {"id": rule_id, "name": f"name-{rule_id.lower()}", "family": f"{rule_id[:3]}xx test"}
    return RULES["RC101"].model_copy(update={**fields, **changes})


def test_registry_builds_in_family_order() -> None:
    built = build_registry([_family("b", "RC9", _rule("RC901")), _family("a", "RB1", _rule("RB101"))])
    assert list(built) == ["RC901", "RB101"]


@pytest.mark.parametrize(
    ("families", "message"),
    [
        ([_family("a", "RC9", _rule("RC901")), _family("b", "RC9", _rule("RC901"))], "already registered"),
        ([_family("a", "RC9", _rule("RC801", family="RC9xx test"))], "ids in this family are RC9"),
        ([_family("a", "RC9", _rule("RC9001"))], "ids in this family are RC9"),
        ([_family("a", "RC9", _rule("RC901", family="RC8xx test"))], "but the module is"),
        ([_family("a", "RC9", _rule("RC901"), _rule("RC902", name="name-rc901"))], "is already RC901's"),
        ([_family("a", "RC9", _rule("RC901", fix=" "))], "no fix text"),
    ],
    ids=["duplicate-id", "wrong-prefix", "malformed-id", "wrong-family", "duplicate-name", "no-fix"],
)
def test_registry_refuses_a_malformed_catalog(families: list[SimpleNamespace], message: str) -> None:
    with pytest.raises(RuleRegistryError, match=message):
        build_registry(families)


def test_a_removed_rule_needs_no_fix() -> None:
    assert build_registry([_family("a", "RC9", _rule("RC901", fix="", status="removed"))])


def test_families_are_the_registry_and_import_only_the_model() -> None:
    assert [rule.id for family in FAMILIES for rule in family.RULES] == list(RULES)
    for family in FAMILIES:
        tree = ast.parse(Path(family.__file__).read_text(encoding="utf-8"))  # type: ignore[attr-defined]
        relative = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level}
        assert relative == {"_model"}, f"{family.__name__} imports {relative}: families import only _model"


def _emittable_ids() -> set[str]:
    """Every `"RC123"` / `"RA123"` string constant in the analyzer's and OpenAPI checker's code."""
    found: set[str] = set()
    for folder in ("analyzer", "openapi"):
        for path in (PACKAGE / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and re.fullmatch(r"R[CA]\d{3}", str(node.value)):
                    found.add(str(node.value))
    return found


def test_every_rule_id_the_checkers_can_emit_is_registered() -> None:
    emitted = _emittable_ids()
    assert {"RC101", "RC701", "RA101", "RA123"} <= emitted  # the scan sees the checkers' ids
    assert emitted - set(RULES) == set()


def test_the_analyzer_fails_loudly_on_an_unknown_rule() -> None:
    assert checks._fix("RC201") == RULES["RC201"].fix
    with pytest.raises(KeyError, match="RC999"):
        checks._fix("RC999")


# --------------------------------------------------------------------------------- README table


def _readme_rule_table() -> list[list[str]]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Rules\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def test_readme_rule_table_is_the_registry() -> None:
    header, divider, *rows = _readme_rule_table()
    assert header == ["id", "name", "family", "severity", "status", "languages", "flags"]
    assert set("".join(divider)) <= {"-"}
    names = {"python": "Python", "javascript": "JS/TS", "rust": "Rust", "yaml": "OpenAPI"}
    expected = [
        [r.id, r.name, r.family, r.severity, r.status, ", ".join(names[n] for n in r.languages), r.title]
        for r in RULES.values()
    ]  # ids, names, families, severities, statuses, checked languages and titles, in catalog order
    assert rows == expected, "README's rule table is stale: paste `race-mcp rules --format markdown`"


def test_rules_format_markdown_prints_the_readme_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "--format", "markdown"]) == 0
    printed = capsys.readouterr().out
    assert printed == render_rule_table(RULES.values())
    assert printed in (REPO / "README.md").read_text(encoding="utf-8")
