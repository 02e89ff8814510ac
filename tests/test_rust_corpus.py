"""The Rust fixture corpus per rule family: precision and recall, and enough cases of each kind.

Families are the fixture files' prefixes (`RC3xx_diesel.rs` is RC3xx). Every family needs at least
8 racy and 8 safe markers, so a family's figures are never measured on a handful of cases.
"""

from __future__ import annotations

from collections import defaultdict
from functools import cache
from pathlib import Path

import pytest

pytest.importorskip("tree_sitter_rust")

from .corpus import Score, read_expectations, score_file

FIXTURES = Path(__file__).parent / "fixtures" / "analyzer" / "rust"
FILES = sorted(FIXTURES.glob("*.rs"))
FAMILIES = ("RC1xx", "RC2xx", "RC3xx", "RC4xx", "RC5xx", "RC6xx", "RC7xx")
MIN_PRECISION = 0.95
MIN_RECALL = 0.95

scored = cache(score_file)


def _family(path: Path) -> str:
    return path.name[:3] + "xx"


def _scores() -> dict[str, Score]:
    families: dict[str, Score] = defaultdict(Score)
    for path in FILES:
        strict, lenient = scored(path)
        families[_family(path)].add(strict)
        families[_family(path)].add(lenient)
    return families


def test_every_family_has_fixtures() -> None:
    assert sorted({_family(p) for p in FILES}) == list(FAMILIES)


def test_precision_and_recall_per_family(capsys: pytest.CaptureFixture[str]) -> None:
    families = _scores()
    with capsys.disabled():
        print("\nrust    TP  FP  FN  precision  recall")
        for family, score in sorted(families.items()):
            print(
                f"{family:6} {score.true_positives:3} {score.false_positives:3} {score.false_negatives:3}"
                f"  {score.precision:9.2f}  {score.recall:6.2f}"
            )
    for family, score in families.items():
        assert score.true_positives > 0, family
        assert score.precision >= MIN_PRECISION, f"{family} precision {score.precision:.2f}"
        assert score.recall >= MIN_RECALL, f"{family} recall {score.recall:.2f}"


def test_enough_racy_and_safe_cases_per_family() -> None:
    racy: dict[str, int] = defaultdict(int)
    safe: dict[str, int] = defaultdict(int)
    for path in FILES:
        expected = read_expectations(path.read_text(encoding="utf-8"))
        racy[_family(path)] += len(expected.racy)
        safe[_family(path)] += len(expected.safe_spans)
    for family in FAMILIES:
        assert racy[family] >= 8, f"{family}: only {racy[family]} racy cases"
        assert safe[family] >= 8, f"{family}: only {safe[family]} safe cases"
