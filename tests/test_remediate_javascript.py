"""Every JavaScript/TypeScript fixture through the patch pipeline: no fixer fails, every finding is
either patched (and gone on re-analysis, with nothing new) or answered with guidance that shows
JavaScript code, never Python; the combined diff applies with git apply."""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from race_mcp.analyzer import analyze_source
from race_mcp.remediate import propose_patches
from race_mcp.remediate._pipeline import _key, find_fixer
from race_mcp.remediate.javascript._common import add_properties
from race_mcp.remediate.javascript._source import JsSource
from tests._remediate_js_helpers import guidance_for

FIXTURES = Path(__file__).parent / "fixtures" / "analyzer" / "js"
JS_FIXTURES = sorted(p.name for p in FIXTURES.iterdir() if p.suffix in (".js", ".mjs", ".ts", ".mts"))
_CODE_LINE = re.compile(r"^    \S", re.MULTILINE)
_PYTHON = re.compile(r"\basyncio\b|\bwith conn:|\bexcept \w+|\bboto3\b|\bnx=True\b")


@pytest.mark.parametrize("fixture", JS_FIXTURES)
def test_every_fixture_finding_is_patched_or_guided_in_javascript(fixture: str, tmp_path: Path) -> None:
    source = (FIXTURES / fixture).read_text(encoding="utf-8")
    findings = analyze_source(source, fixture)
    report = propose_patches(source, fixture)
    assert report.errors == []
    handled = Counter(
        [(p.rule_id, p.line) for p in report.patches] + [(u.rule_id, u.line) for u in report.unpatched]
    )
    assert handled == Counter((f.rule_id, f.line) for f in findings)
    for unpatched in report.unpatched:
        assert _CODE_LINE.search(unpatched.guidance), unpatched.guidance
        assert not _PYTHON.search(unpatched.guidance), unpatched.guidance
    if not report.patches:
        return
    assert report.patched_source is not None
    after = Counter(map(_key, analyze_source(report.patched_source, fixture)))
    before = Counter(map(_key, findings))
    fixed = Counter(
        _key(f) for f in findings if (f.rule_id, f.line) in {(p.rule_id, p.line) for p in report.patches}
    )
    assert after == before - fixed
    (tmp_path / fixture).write_text(source, encoding="utf-8")
    subprocess.run(["git", "apply", "-"], input=report.diff, text=True, cwd=tmp_path, check=True)
    assert (tmp_path / fixture).read_text(encoding="utf-8") == report.patched_source


def test_every_rule_family_has_a_javascript_answer() -> None:
    for rule_id in ("RC101", "RC201", "RC203", "RC301", "RC401", "RC404", "RC501", "RC601", "RC701", "RC801"):
        assert find_fixer(rule_id, "javascript") is not None, rule_id


def test_in_process_race_guidance_claims_before_the_await() -> None:
    source = (FIXTURES / "RC1xx_express_memory.js").read_text(encoding="utf-8")
    finding = next(f for f in analyze_source(source, "app.js") if f.rule_id == "RC101")
    message = guidance_for(source, "app.js", "RC101", finding.function)
    assert message.startswith("No mechanical patch (in-process state")
    assert "    coupons.set(code, left - 1);\n" in message
    assert "runExclusive" in message


def test_a_file_read_and_written_back_gets_a_lock_not_an_exclusive_create() -> None:
    # `wx` would refuse the file that was just read: the answer to a lost update is a lock.
    source = (FIXTURES / "RC7xx_fs.js").read_text(encoding="utf-8")
    lost, created = (
        next(f for f in analyze_source(source, "fs.js") if f.rule_id == "RC701" and f.line == line)
        for line in (31, 15)
    )
    assert [step.role for step in lost.evidence] == ["read", "write"]
    message = guidance_for(source, "fs.js", "RC701", lost.function)
    assert "lockfile.lock(path" in message and '"wx"' not in message.split("\n\n", 1)[1]
    assert '"wx"' in guidance_for(source, "fs.js", "RC701", created.function)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("{ a: 1 }", '{ a: 1, k: "v", m: 2 }'),
        ("{}", '{ k: "v", m: 2 }'),
        ("{\n  a: 1,\n}", '{\n  a: 1,\n  k: "v",\n  m: 2,\n}'),
        ("{\n  a: 1 // why\n}", '{\n  a: 1, // why\n  k: "v",\n  m: 2\n}'),
        ("{\n  a: 1, /* c */\n}", '{\n  a: 1, /* c */\n  k: "v",\n  m: 2,\n}'),
        ("{\n  a: 1,\n  b: 2 }", '{\n  a: 1,\n  b: 2,\n  k: "v",\n  m: 2 }'),
    ],
)
def test_properties_are_added_in_the_literal_s_own_layout(before: str, after: str) -> None:
    source = JsSource(f"const o = {before};\n", "o.js")
    literal = source.first(source.root, "object")
    edit = add_properties(source, literal, [("k", '"v"'), ("m", "2")])
    assert source.apply([edit]) == f"const o = {after};\n"
