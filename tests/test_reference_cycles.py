"""The analysis leaves no reference cycles behind, and batch processes rely on it.

A batch process (`race-mcp analyze`, its pool workers) moves each parsed and lowered tree out of
the young generation unscanned (`_limits.paused_collection`): the trees are freed by reference
counting when their file is done. A cycle anywhere in a file's analysis (a lowerer holding bound
methods of itself, an interpreter and its memo holding each other) would keep that file's whole
model alive until a full collection, so each one is a memory regression there.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from race_mcp.analyzer import analyze_source
from race_mcp.errors import InputError

FIXTURES = Path(__file__).parent / "fixtures" / "analyzer"


def _fixture_files() -> list[Path]:
    return sorted(path for path in FIXTURES.rglob("*") if path.is_file())


def _analyze(path: Path) -> None:
    try:
        analyze_source(path.read_text(encoding="utf-8"), path.name)
    except InputError:
        pass  # a fixture of a syntax error still runs the parts it can


@pytest.fixture
def collection_paused() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def test_fixture_files_cover_every_language() -> None:
    suffixes = {path.suffix for path in _fixture_files()}
    assert {".py", ".js", ".ts", ".rs"} <= suffixes


def test_analysing_a_file_leaves_nothing_for_the_cyclic_collector(collection_paused: None) -> None:
    files = _fixture_files()
    for path in files:  # imports, registries and caches are built once, and may be cyclic
        _analyze(path)
    gc.collect()
    cyclic = {}
    for path in files:
        _analyze(path)
        if found := gc.collect():
            cyclic[path.name] = found
    assert cyclic == {}
