"""Every Rust fixture file through the patch pipeline: the combined diff passes `git apply --check`
and gives the patched text, which parses and reports exactly the findings that were not patched;
every finding gets a patch or guidance written for Rust (not the Python catalog text)."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import pytest

pytest.importorskip("tree_sitter_rust")

from race_mcp import analyze_source, propose_patches
from race_mcp.analyzer.rust._syntax import first_error, parse

from ._remediate_rust_helpers import git_apply_check

FIXTURES = Path(__file__).parent / "fixtures" / "analyzer" / "rust"
FILES = sorted(FIXTURES.glob("*.rs"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_fixture_patches_apply_and_leave_only_the_unpatched(path: Path, tmp_path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    report = propose_patches(source, path.name)
    before = analyze_source(source, path.name)
    assert len(report.patches) + len(report.unpatched) == len(before)
    if not report.patches:
        return
    patched = report.patched_source
    assert patched is not None
    assert first_error(parse(patched).root_node) is None
    after = Counter((f.rule_id, f.function) for f in analyze_source(patched, path.name))
    remaining = Counter((f.rule_id, f.function) for f in before) - Counter(
        (p.rule_id, f.function)
        for p in report.patches
        for f in before
        if (f.rule_id, f.line) == (p.rule_id, p.line)
    )
    assert after == remaining
    git_apply_check(source, patched, report.diff, path.name, tmp_path)


def test_guidance_is_written_for_rust(capsys: pytest.CaptureFixture[str]) -> None:
    """No unpatched Rust finding falls back to Python's advice (`os.open`, `select_for_update`...)."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for path in FILES:
        report = propose_patches(path.read_text(encoding="utf-8"), path.name)
        for patch in report.patches:
            counts[patch.rule_id[:3] + "xx"]["patched"] += 1
        for unpatched in report.unpatched:
            counts[unpatched.rule_id[:3] + "xx"]["guidance"] += 1
            assert "os.open" not in unpatched.guidance and "select_for_update" not in unpatched.guidance
    with capsys.disabled():
        print("\nrust patches  patched  guidance")
        for family, count in sorted(counts.items()):
            print(f"{family:12} {count['patched']:8} {count['guidance']:9}")
    assert sum(c["patched"] for c in counts.values()) >= 20
