"""The fixture corpus: every `# racy:` marker found, nothing reported where it is not expected.

Python's files are checked one by one here (JavaScript's and Rust's in their front-ends' tests);
precision, recall and the number of cases are reported and held per family for every language."""

from __future__ import annotations

from collections import defaultdict
from functools import cache
from pathlib import Path

import pytest

from tests.corpus import Score, read_expectations, score_file

FIXTURES = Path(__file__).parent / "fixtures" / "analyzer"
FILES = sorted(FIXTURES.glob("*.py"))
LANGUAGES = {
    "python": FILES,
    "javascript": sorted(
        p for p in (FIXTURES / "js").iterdir() if p.suffix in (".js", ".mjs", ".cjs", ".ts", ".tsx")
    ),
    "rust": sorted((FIXTURES / "rust").glob("*.rs")),
}
MIN_PRECISION = 0.9
MIN_RECALL = 0.9
MIN_CASES = 8  # racy and safe cases each, per family and language

# Each fixture file is analysed once per run: the per-file test and the per-family totals share it.
scored = cache(score_file)


def _family(path: Path) -> str:
    """`RC2xx_pg.js` -> RC2xx; a file named after its store (`mongodb_repository.py`) belongs to
    the family of the rules its markers name."""
    if path.name.startswith("RC"):
        return path.name[:3] + "xx"
    expected = read_expectations(path.read_text(encoding="utf-8"))
    rules = sorted(
        rule
        for rule, *_ in (*expected.racy, *expected.safe_spans, *expected.todo_racy, *expected.todo_safe_spans)
    )
    return rules[0][:3] + "xx" if rules else path.stem


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_fixture_file_matches_its_markers(path: Path) -> None:
    strict, _ = scored(path)
    assert not strict.problems, "\n".join(strict.problems)


def _scores(files: list[Path]) -> dict[str, Score]:
    """Per family: the strict score with the todo markers' (known gaps) added."""
    families: dict[str, Score] = defaultdict(Score)
    for path in files:
        strict, lenient = scored(path)
        families[_family(path)].add(strict)
        families[_family(path)].add(lenient)
    return families


def _cases(files: list[Path]) -> dict[str, tuple[int, int, int]]:
    """Per family: (racy cases, safe cases, known gaps: `todo-` markers, not counted as cases)."""
    racy: dict[str, int] = defaultdict(int)
    safe: dict[str, int] = defaultdict(int)
    gaps: dict[str, int] = defaultdict(int)
    for path in files:
        expected = read_expectations(path.read_text(encoding="utf-8"))
        family = _family(path)
        racy[family] += len(expected.racy)
        safe[family] += len(expected.safe_spans)
        gaps[family] += len(expected.todo_racy) + len(expected.todo_safe_spans)
    return {family: (racy[family], safe[family], gaps[family]) for family in racy.keys() | safe.keys()}


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_corpus_precision_and_recall_per_family(language: str, capsys: pytest.CaptureFixture[str]) -> None:
    families = _scores(LANGUAGES[language])
    cases = _cases(LANGUAGES[language])
    with capsys.disabled():
        print(f"\n{'language':10} family  racy  safe  gaps   TP  FP  FN  precision  recall")
        for family, score in sorted(families.items()):
            racy, safe, gaps = cases[family]
            found = f"{score.true_positives:3} {score.false_positives:3} {score.false_negatives:3}"
            print(
                f"{language:10} {family:6} {racy:5} {safe:5} {gaps:5}  {found}"
                f"  {score.precision:9.2f}  {score.recall:6.2f}"
            )
    assert families, f"no {language} fixtures"
    for family, score in families.items():
        assert score.precision >= MIN_PRECISION, f"{language} {family} precision {score.precision:.2f}"
        assert score.recall >= MIN_RECALL, f"{language} {family} recall {score.recall:.2f}"


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_corpus_has_enough_cases_per_family(language: str) -> None:
    for family, (racy, safe, _) in sorted(_cases(LANGUAGES[language]).items()):
        assert racy >= MIN_CASES, f"{language} {family}: only {racy} racy cases"
        assert safe >= MIN_CASES, f"{language} {family}: only {safe} safe cases"
