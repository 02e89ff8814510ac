"""The fixture corpus: every `# racy:` marker found, nothing reported where it is not expected."""

from __future__ import annotations

from collections import defaultdict
from functools import cache
from pathlib import Path

import pytest

from tests.corpus import Score, read_expectations, score_file

FIXTURES = Path(__file__).parent / "fixtures" / "analyzer"
FILES = sorted(FIXTURES.glob("*.py"))
MIN_PRECISION = 0.9
MIN_RECALL = 0.9

# Each fixture file is analysed once per run: the per-file test and the per-family totals share it.
scored = cache(score_file)


def _family(path: Path) -> str:
    return path.name[:3] + "xx"


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_fixture_file_matches_its_markers(path: Path) -> None:
    strict, _ = scored(path)
    assert not strict.problems, "\n".join(strict.problems)


def test_corpus_precision_and_recall_per_family(capsys: pytest.CaptureFixture[str]) -> None:
    families: dict[str, Score] = defaultdict(Score)
    for path in FILES:
        strict, lenient = scored(path)
        families[_family(path)].add(strict)
        families[_family(path)].add(lenient)
    with capsys.disabled():
        print("\nfamily  TP  FP  FN  precision  recall")
        for family, score in sorted(families.items()):
            print(
                f"{family:6} {score.true_positives:3} {score.false_positives:3} {score.false_negatives:3}"
                f"  {score.precision:9.2f}  {score.recall:6.2f}"
            )
    for family, score in families.items():
        assert score.precision >= MIN_PRECISION, f"{family} precision {score.precision:.2f}"
        assert score.recall >= MIN_RECALL, f"{family} recall {score.recall:.2f}"


def test_corpus_has_enough_cases_per_family() -> None:
    racy: dict[str, int] = defaultdict(int)
    safe: dict[str, int] = defaultdict(int)
    for path in FILES:
        expected = read_expectations(path.read_text(encoding="utf-8"))
        racy[_family(path)] += len(expected.racy)
        safe[_family(path)] += len(expected.safe_spans)
    for family in racy:
        assert racy[family] >= 8, f"{family}: only {racy[family]} racy cases"
        assert safe[family] >= 8, f"{family}: only {safe[family]} safe cases"
