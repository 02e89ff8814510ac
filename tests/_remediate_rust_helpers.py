"""Checks every Rust patch must pass: the patched file parses (tree-sitter, no error node), the
fixed finding is gone and nothing new is reported, a second run has nothing left to patch for that
rule, and the diff applies with `git apply --check` and then `git apply` to the same text.

Nothing is compiled: crates.io is not reachable here, so the rewrites are held to the analyzer's own
grammar and to re-analysis.
"""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

from race_mcp import analyze_source, propose_patches
from race_mcp.analyzer.rust._syntax import first_error, parse
from race_mcp.remediate import Patch, PatchReport

__all__ = ["git_apply_check", "patch_of", "verified_patch"]


def _keys(source: str, path: str) -> Counter[tuple[str, str | None]]:
    return Counter((f.rule_id, f.function) for f in analyze_source(source, path))


def patch_of(report: PatchReport, rule_id: str, line: int) -> Patch:
    found = [p for p in report.patches if p.rule_id == rule_id and p.line == line]
    unpatched = [(u.rule_id, u.line, u.guidance[:200]) for u in report.unpatched]
    assert len(found) == 1, f"no {rule_id} patch at line {line}: {unpatched}"
    return found[0]


def git_apply_check(before: str, after: str, diff: str, path: str, tmp_path: Path) -> None:
    """`git apply --check` accepts the diff on the original file, and applying it gives `after`."""
    root = tmp_path / "repo"
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(before.encode("utf-8"))
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "apply", "--check", "-"], input=diff, text=True, cwd=root, check=True)
    subprocess.run(["git", "apply", "-"], input=diff, text=True, cwd=root, check=True)
    assert target.read_bytes().decode("utf-8") == after


def verified_patch(source: str, path: str, rule_id: str, function: str, tmp_path: Path) -> str:
    """Patch the one `rule_id` finding of `function`, check everything, return the patched text."""
    findings = [f for f in analyze_source(source, path) if (f.rule_id, f.function) == (rule_id, function)]
    assert len(findings) == 1, findings
    report = propose_patches(source, path, rule=rule_id)
    patch_of(report, rule_id, findings[0].line)
    patched = report.patched_source
    assert patched is not None and patched != source
    assert first_error(parse(patched).root_node) is None, "the rewrite does not parse"
    before, after = _keys(source, path), _keys(patched, path)
    assert after[(rule_id, function)] < before[(rule_id, function)], "the race is still reported"
    assert not (after - before), f"new findings: {after - before}"
    again = propose_patches(patched, path, rule=rule_id)
    assert not [p for p in again.patches if p.rule_id == rule_id], "a second run patches again"
    git_apply_check(source, patched, report.diff, path, tmp_path)
    return patched
