"""Every analyzer rule in JavaScript/TypeScript and Rust: the racy example is flagged with exactly
its rule by the real front-end, the fixed one is not; a documented gap is a strict xfail (the helper
who teaches the front-end the shape sees XPASS fail and deletes the gap); a rule that has no meaning
in a language says why in its docs; the registry refuses a rule that is silent about a language;
`// race-mcp: ignore[...]` silences findings in both languages."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from race_mcp import RULES, analyze_source
from race_mcp.analyzer.core.languages import languages
from race_mcp.cli import main
from race_mcp.config import Settings
from race_mcp.rules import LanguageExamples, Rule, RuleRegistryError, render_rule_markdown
from race_mcp.rules._model import OTHER_LANGUAGES
from race_mcp.rules._registry import build_registry
from race_mcp.rules.languages import LANGUAGE_EXAMPLES

ANALYZER_RULES = [rule for rule in RULES.values() if rule.language == "python"]
CASES = [
    (rule, language, examples)
    for rule in ANALYZER_RULES
    for language, examples in rule.other_languages.items()
    if not examples.not_applicable
]


def _param(rule: Rule, language: str, examples: LanguageExamples) -> object:
    marks = pytest.mark.xfail(strict=True, reason=examples.gap) if examples.gap else ()
    return pytest.param(rule, examples, id=f"{rule.id}-{language}", marks=marks)


def _unique_filename(examples: LanguageExamples, kind: str) -> str:
    stem, _, suffix = examples.filename.rpartition(".")
    return f"{stem}_{kind}.{suffix}"


# ------------------------------------------------------------------------------- examples hold


@pytest.mark.parametrize(("rule", "examples"), [_param(*case) for case in CASES])
def test_racy_example_yields_exactly_its_rule(rule: Rule, examples: LanguageExamples) -> None:
    findings = analyze_source(examples.racy, _unique_filename(examples, "racy"))
    assert {f.rule_id for f in findings} == {rule.id}
    # Every finding carries advice: the language's own where the catalog has it, else the rule's or
    # the front-end's (JavaScript words its fixes in `analyzer/javascript/fixes.py`).
    assert all(f.fix.strip() for f in findings)
    if examples.fix:
        assert {f.fix for f in findings} == {examples.fix}


@pytest.mark.parametrize(
    ("rule", "examples"),
    [pytest.param(rule, ex, id=f"{rule.id}-{language}") for rule, language, ex in CASES],
)
def test_fixed_example_yields_nothing(rule: Rule, examples: LanguageExamples) -> None:
    assert analyze_source(examples.fixed, _unique_filename(examples, "fixed")) == []


@pytest.mark.parametrize(
    "examples",
    [pytest.param(ex, id=f"{rule.id}-{language}") for rule, language, ex in CASES if ex.gap],
)
def test_a_gaps_racy_example_parses(examples: LanguageExamples) -> None:
    # Its xfail would also swallow a syntax error (PartialAnalysis): the example must be valid code.
    assert isinstance(analyze_source(examples.racy, _unique_filename(examples, "parses")), list)


def test_every_analyzer_rule_speaks_to_every_language() -> None:
    for rule in ANALYZER_RULES:
        assert set(rule.other_languages) == set(OTHER_LANGUAGES), rule.id
    # Not-applicable entries are the exception: Django's select_for_update, the ORM lost-update rule the
    # other language's front-end reports under its sibling id (Prisma RC301, Diesel RC304), and the
    # in-process rule each runtime cannot produce (Node has no threads sharing objects; tokio always has).
    not_applicable = sorted(
        (rule.id, language)
        for rule in ANALYZER_RULES
        for language, examples in rule.other_languages.items()
        if examples.not_applicable
    )
    assert not_applicable == [
        ("RC101", "rust"),
        ("RC102", "javascript"),
        ("RC301", "rust"),
        ("RC302", "javascript"),
        ("RC302", "rust"),
        ("RC304", "javascript"),
    ]


_PYTHON_APIS = ("asyncio", "threading", "IntegrityError", "with conn", "open(path, ", "with_for_update")


def test_rust_findings_are_advised_in_rust() -> None:
    """A Rust finding's fix names Rust calls, not the Python APIs of the rule's own text."""
    for rule, language, examples in CASES:
        if language != "rust":
            continue
        # Known gaps too: the day the front-end flags them, their findings are advised in Rust.
        fix = rule.fix_in("rust")
        assert not [api for api in _PYTHON_APIS if api in fix], (rule.id, fix)
        assert fix == (examples.fix or rule.fix)
    assert RULES["RC201"].fix_in("python") == RULES["RC201"].fix
    assert RULES["RC201"].fix_in("javascript") == RULES["RC201"].fix  # the front-end words its own


def test_example_filenames_pick_their_language() -> None:
    for _rule, language, examples in CASES:
        suffix = examples.filename.rsplit(".", 1)[-1]
        assert suffix in ({"rs"} if language == "rust" else {"js", "mjs", "cjs", "ts", "tsx", "jsx"})


# ----------------------------------------------------------------------------------------- docs


@pytest.mark.parametrize("rule", ANALYZER_RULES, ids=[r.id for r in ANALYZER_RULES])
def test_docs_show_each_language(rule: Rule) -> None:
    markdown = render_rule_markdown(rule)
    for heading in ("## In JavaScript / TypeScript", "## In Rust"):
        assert markdown.count(heading) == 1
    for examples in rule.other_languages.values():
        if examples.not_applicable:
            assert f"Does not apply: {examples.not_applicable}" in markdown
        else:
            assert f"```{examples.fence}\n{examples.racy}```" in markdown
            assert f"```{examples.fence}\n{examples.fixed}```" in markdown
        if examples.gap:
            assert f"Not flagged yet: {examples.gap}" in markdown
        if examples.fix:
            assert f"Fix: {examples.fix}" in markdown


def test_languages_are_the_ones_whose_analysis_checks_the_rule() -> None:
    assert RULES["RC201"].languages == ["python", "javascript", "rust"]
    assert RULES["RC102"].languages == ["python", "rust"]
    assert RULES["RC101"].languages == ["python", "javascript"]
    assert RULES["RC301"].languages == ["python", "javascript"]
    assert RULES["RC302"].languages == ["python"]
    assert RULES["RA101"].languages == ["yaml"]
    for rule in ANALYZER_RULES:
        for language, examples in rule.other_languages.items():
            assert (language in rule.languages) == (not examples.gap and not examples.not_applicable)


def test_fences_follow_the_filename() -> None:
    fences = {
        LanguageExamples(racy="a", fixed="b", filename=name).fence
        for name in ("a.js", "a.mjs", "a.ts", "a.tsx", "a.rs")
    }
    assert fences == {"javascript", "typescript", "tsx", "rust"}


# ------------------------------------------------------------------------------------ registry


def _family(*rules: Rule) -> SimpleNamespace:
    return SimpleNamespace(__name__="t", PREFIX="RC9", FAMILY="RC9xx test", RULES=list(rules))


def _rule(rule_id: str = "RC901") -> Rule:
    fields = {"id": rule_id, "name": f"name-{rule_id.lower()}", "family": "RC9xx test", "other_languages": {}}
    return RULES["RC101"].model_copy(update=fields)


def test_registry_refuses_a_rule_silent_about_a_language() -> None:
    only_rust = {"RC901": {"rust": LanguageExamples(not_applicable="no such thing in Rust")}}
    with pytest.raises(RuleRegistryError, match="RC901: no examples or not_applicable reason for javascript"):
        build_registry([_family(_rule())], only_rust)


def test_registry_refuses_examples_of_an_unknown_rule() -> None:
    both = dict.fromkeys(OTHER_LANGUAGES, LanguageExamples(not_applicable="n/a"))
    with pytest.raises(RuleRegistryError, match="unknown rules: RC999"):
        build_registry([_family(_rule())], {"RC901": both, "RC999": both})


def test_registry_attaches_the_examples() -> None:
    both = dict.fromkeys(OTHER_LANGUAGES, LanguageExamples(not_applicable="n/a"))
    built = build_registry([_family(_rule())], {"RC901": both})
    assert built["RC901"].other_languages == both
    # OpenAPI rules document YAML specs: no language examples are asked of them.
    assert build_registry(
        [SimpleNamespace(__name__="r", PREFIX="RA1", FAMILY=RULES["RA101"].family, RULES=[RULES["RA101"]])]
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"racy": "x", "fixed": "y"},  # no filename
        {"racy": "x", "filename": "a.js"},  # no fix
        {"not_applicable": "n/a", "racy": "x"},  # both
        {"not_applicable": "n/a", "gap": "later"},
        {"not_applicable": "n/a", "fix": "do this"},
        {},
    ],
)
def test_language_examples_are_examples_or_a_reason(fields: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="not_applicable"):
        LanguageExamples(**fields)


def test_every_entry_of_the_languages_package_is_attached() -> None:
    assert set(LANGUAGE_EXAMPLES) == {rule.id for rule in ANALYZER_RULES}


# -------------------------------------------------------------------------------- suppression


def _with_comment(source: str, line: int, comment: str) -> str:
    lines = source.splitlines()
    lines[line - 1] += f"  {comment}"
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("language", OTHER_LANGUAGES)
def test_ignore_comment_silences_rc401(language: str) -> None:
    examples = RULES["RC401"].other_languages[language]  # type: ignore[index]
    name = _unique_filename(examples, "suppressed")
    (finding,) = analyze_source(examples.racy, name)
    lines = {finding.line, *(step.line for step in finding.evidence)}
    for line in sorted(lines):
        ignored = _with_comment(examples.racy, line, "// race-mcp: ignore[RC401]")
        assert analyze_source(ignored, name) == [], f"comment on line {line}"
    # Another rule's id silences nothing; a bare ignore silences every rule; ids are case-blind.
    other = _with_comment(examples.racy, finding.line, "// race-mcp: ignore[RC402]")
    assert [f.rule_id for f in analyze_source(other, name)] == ["RC401"]
    assert analyze_source(_with_comment(examples.racy, finding.line, "// race-mcp: ignore"), name) == []
    lower = _with_comment(examples.racy, finding.line, "// race-mcp: ignore[rc401, RC402]")
    assert analyze_source(lower, name) == []
    # Python's comment marker is not JavaScript's or Rust's (`#` starts no comment there).
    hashed = _with_comment(examples.racy, finding.line, "/* # race-mcp: ignore[RC401] */")
    assert [f.rule_id for f in analyze_source(hashed, name)] == ["RC401"]


@pytest.mark.parametrize("language", OTHER_LANGUAGES)
def test_settings_select_and_ignore_apply_to_other_languages(language: str) -> None:
    racy = RULES["RC401"].other_languages[language]  # type: ignore[index]
    name = _unique_filename(racy, "settings")
    assert analyze_source(racy.racy, name, settings=Settings(ignore=["RC401"])) == []
    assert analyze_source(racy.racy, name, settings=Settings(select=["RC2"])) == []
    selected = analyze_source(racy.racy, name, settings=Settings(select=["RC4"]))
    assert [f.rule_id for f in selected] == ["RC401"]


@pytest.mark.parametrize("language", OTHER_LANGUAGES)
def test_ignore_comment_on_the_function_line(language: str) -> None:
    examples = RULES["RC401"].other_languages[language]  # type: ignore[index]
    lines = examples.racy.splitlines()
    header = next(number for number, text in enumerate(lines) if "function " in text or "fn " in text)
    lines[header] += "  // race-mcp: ignore[RC401]"
    assert analyze_source("\n".join(lines) + "\n", _unique_filename(examples, "function")) == []


# ------------------------------------------------------------------------------------- README


def test_readme_language_table_lists_every_registered_suffix() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    rows = {
        cells[0]: cells[1]
        for line in readme.splitlines()
        if line.startswith("| ") and len(cells := [c.strip() for c in line.strip("|").split("|")]) == 4
    }
    names = {"python": "Python", "javascript": "JavaScript / TypeScript", "rust": "Rust"}
    for name, language in languages().items():
        assert rows[names[name]] == "`" + " ".join(language.suffixes) + "`", name


def test_cli_rules_prints_the_other_languages(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "RC303"]) == 0
    printed = capsys.readouterr().out
    for examples in RULES["RC303"].other_languages.values():
        assert examples.racy in printed and examples.fixed in printed
    assert "## In Rust" in printed and "## In JavaScript / TypeScript" in printed


def _store_rows() -> list[list[str]]:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    table = readme.split("| store | rules | Python | JavaScript / TypeScript | Rust |", 1)[1]
    rows = []
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def _rule_ids(cell: str) -> list[str]:
    """`RC201-RC203` or `RC801, RC802` -> the catalog's ids in that span."""
    ids: list[str] = []
    for part in cell.split(","):
        first, _, last = part.strip().partition("-")
        ids.extend(rule_id for rule_id in RULES if first <= rule_id <= (last or first))
    return ids


def test_readme_store_table_says_not_yet_exactly_where_no_rule_is_checked() -> None:
    rows = _store_rows()
    assert len(rows) == 8
    for store, cell, _python, *others in rows:
        rules = [RULES[rule_id] for rule_id in _rule_ids(cell)]
        assert rules, store
        for language, text in zip(OTHER_LANGUAGES, others, strict=True):
            checked = any(language in rule.languages for rule in rules)
            assert checked != (text == "not yet"), (store, language, text)
