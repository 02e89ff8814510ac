"""Shared by the remediation tests: the checks every verified patch must pass."""

from __future__ import annotations

import ast
import shutil
import subprocess
from collections import Counter
from pathlib import Path

from race_mcp.analyzer import analyze_source
from race_mcp.remediate import PatchReport, propose_patches


def _keys(source: str, path: str) -> Counter[tuple[str, str]]:
    return Counter((f.rule_id, f.function or "") for f in analyze_source(source, path))


def assert_sound(report: PatchReport, source: str, path: str, *, rule: str | None = None) -> str:
    """The patched text parses, re-analysis no longer reports what was patched and reports
    nothing new, and a second run proposes nothing; returns the patched text."""
    patched = report.patched_source
    assert patched is not None
    ast.parse(patched)
    before, after = _keys(source, path), _keys(patched, path)
    assert not after - before, f"re-analysis reports something new: {after - before}"
    assert sum(after.values()) == sum(before.values()) - len(report.patches)
    again = propose_patches(patched, path, rule=rule)
    assert again.patches == [], "a second run still proposes patches"
    assert again.diff == ""
    return patched


def assert_diff_applies(tmp_path: Path, source: str, path: str, diff: str, patched: str) -> None:
    """`git apply` and `patch -p1` both accept the diff on a copy and produce the patched text."""
    for tool in ("git", "patch"):
        work = tmp_path / f"with-{tool}"
        target = work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source, encoding="utf-8")
        (work / "fix.patch").write_text(diff, encoding="utf-8")
        assert shutil.which(tool), f"{tool} is not installed"
        if tool == "git":
            command = ["git", "apply", "--check", "fix.patch"]
            subprocess.run(command, cwd=work, check=True, capture_output=True)
            command = ["git", "apply", "fix.patch"]
        else:
            dry = ["patch", "-p1", "--dry-run", "-i", "fix.patch"]
            subprocess.run(dry, cwd=work, check=True, capture_output=True)
            command = ["patch", "-p1", "-i", "fix.patch"]
        subprocess.run(command, cwd=work, check=True, capture_output=True)
        assert target.read_text(encoding="utf-8") == patched
