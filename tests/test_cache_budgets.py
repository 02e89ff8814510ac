"""The cache, file and claim shapes' patterns run over untrusted text: each stays linear on the
input that would make a backtracking pattern quadratic (a long run of what it repeats, 100 KB)."""

from __future__ import annotations

import re
import time

import pytest

from race_mcp.analyzer.python.patterns import _CLAIMS
from race_mcp.analyzer.python.stores._redis_shapes import _COMPARISON, _TRAILING

_SIZE = 100_000
_CEILING = 2.0


@pytest.mark.parametrize(
    ("pattern", "text", "how"),
    [
        (_TRAILING, "a." * (_SIZE // 2), "fullmatch"),
        (_TRAILING, "cache." * (_SIZE // 6) + "delete(" + "x" * _SIZE, "fullmatch"),
        (_TRAILING, "except " + "x" * _SIZE, "fullmatch"),
        (_CLAIMS, "try_" * (_SIZE // 4), "search"),
        (_CLAIMS, "mark_as_" * (_SIZE // 8), "search"),
        (_COMPARISON, "=" * _SIZE, "search"),
    ],
    ids=["trailing-dots", "trailing-open-call", "trailing-except", "claims-try", "claims-mark", "comparison"],
)
def test_pattern_is_linear(pattern: re.Pattern[str], text: str, how: str) -> None:
    start = time.perf_counter()
    getattr(pattern, how)(text)
    assert time.perf_counter() - start < _CEILING


def test_a_long_module_without_claims_is_read_once() -> None:
    # `unclaimed_handlers` asks `_CLAIMS.search` of the whole source first: no claim word, no walk.
    assert _CLAIMS.search("x = 1\n" * (_SIZE // 6)) is None
