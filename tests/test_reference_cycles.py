"""The analysis leaves no reference cycles behind, and batch processes rely on it.

A batch process (`race-mcp analyze`, its pool workers) moves each parsed and lowered tree out of
the young generation unscanned (`_limits.paused_collection`): the trees are freed by reference
counting when their file is done. A cycle anywhere in a file's analysis (a lowerer holding bound
methods of itself, an interpreter and its memo holding each other) would keep that file's whole
model alive until a full collection, so each one is a memory regression there.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from race_mcp.analyzer import _limits, analyze_source
from race_mcp.errors import InputError

FIXTURES = Path(__file__).parent / "fixtures" / "analyzer"


def _fixture_files() -> list[Path]:
    return sorted(path for path in FIXTURES.rglob("*") if path.is_file())


def _analyze(path: Path) -> None:
    with contextlib.suppress(InputError):  # a fixture of a syntax error runs the parts it can
        analyze_source(path.read_text(encoding="utf-8"), path.name)


@pytest.fixture
def collection_paused() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.fixture
def batch_process() -> Iterator[None]:
    thresholds, batch = gc.get_threshold(), _limits._batch
    _limits.tune_collection_for_batch()
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        _limits._batch = batch


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


def test_a_batch_process_moves_a_paused_blocks_objects_out_of_the_young_generation(
    batch_process: None,
) -> None:
    with _limits.paused_collection():
        kept = [[index] for index in range(50_000)]
    assert gc.isenabled()
    assert gc.get_count()[0] < 1_000  # no young collection is due to walk the 50,000 lists
    assert len(kept) == 50_000


def test_a_library_process_keeps_its_young_generation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_limits, "_batch", False)  # an in-process `main(["analyze", ...])` sets it
    gc.collect()
    collecting = gc.isenabled()
    gc.disable()
    try:
        with _limits.paused_collection():
            kept = [[index] for index in range(5_000)]
        assert gc.get_count()[0] >= 5_000
    finally:
        if collecting:
            gc.enable()
    assert len(kept) == 5_000
