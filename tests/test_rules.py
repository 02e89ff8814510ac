"""The rule catalog documents itself, and its examples hold: racy ones flagged, fixed ones not."""

from __future__ import annotations

import pytest

from race_mcp import RULES, InputError, analyze_source, get_rule
from race_mcp.config import Settings
from race_mcp.rules import render_catalog_markdown, render_rule_markdown

PYTHON_RULES = [rule for rule in RULES.values() if rule.id.startswith("RC")]


@pytest.mark.parametrize("rule", PYTHON_RULES, ids=[r.id for r in PYTHON_RULES])
def test_racy_example_yields_exactly_its_rule(rule) -> None:  # type: ignore[no-untyped-def]
    findings = analyze_source(rule.example, f"{rule.id}_example.py")
    assert {f.rule_id for f in findings} == {rule.id}


@pytest.mark.parametrize("rule", PYTHON_RULES, ids=[r.id for r in PYTHON_RULES])
def test_fixed_example_yields_nothing(rule) -> None:  # type: ignore[no-untyped-def]
    assert analyze_source(rule.use_instead, f"{rule.id}_fixed.py") == []


@pytest.mark.parametrize("rule", list(RULES.values()), ids=list(RULES))
def test_rule_docs_have_ruff_sections(rule) -> None:  # type: ignore[no-untyped-def]
    markdown = render_rule_markdown(rule)
    for heading in ("## What it does", "## Why is this bad?", "## Example", "Use instead:", "## References"):
        assert heading in markdown
    assert rule.cwe.startswith("CWE-")
    assert rule.name == rule.name.lower() and " " not in rule.name


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


def test_readme_lists_every_python_rule() -> None:
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    for rule_id in RULES:
        if rule_id.startswith("RC"):
            assert f"| {rule_id} |" in readme, f"README's rule table lacks {rule_id}"
