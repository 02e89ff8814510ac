"""Checks every store fixer's rewrite must pass: it parses, re-analysis drops exactly the fixed
finding and reports nothing new, a second run changes nothing, and the diff applies with both
`git apply` and `patch -p1`.

"Applying twice changes nothing" is checked on the fixer: the patched text has nothing left for it
to fix. (A diff that only adds lines can be re-applied by `patch` itself; no diff format prevents that.)
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import textwrap
from collections import Counter
from pathlib import Path

import libcst as cst

from race_mcp.analyzer import analyze_source
from race_mcp.findings import Finding
from race_mcp.remediate import _fix_dynamodb, _fix_orm, _fix_sql  # noqa: F401  (registers the fixers)
from race_mcp.remediate._diff import unified_diff
from race_mcp.remediate._fixers import FIXERS, Fixed, Guidance

__all__ = ["dedent", "finding_for", "fix", "fix_and_verify", "guidance_for"]


def finding_for(source: str, path: str, rule_id: str, function: str) -> Finding:
    found = [f for f in analyze_source(source, path) if f.rule_id == rule_id and f.function == function]
    assert len(found) == 1, f"expected one {rule_id} in {function}, got {found}"
    return found[0]


def fix(source: str, path: str, rule_id: str, function: str) -> Fixed | Guidance:
    return FIXERS[rule_id](cst.parse_module(source), finding_for(source, path, rule_id, function))


def guidance_for(source: str, path: str, rule_id: str, function: str) -> str:
    result = fix(source, path, rule_id, function)
    assert isinstance(result, Guidance), f"expected guidance, got a rewrite:\n{_code(result)}"
    return result.message


def _code(result: Fixed | Guidance) -> str:
    return result.module.code if isinstance(result, Fixed) else result.message


def _keys(findings: list[Finding]) -> Counter[tuple[str, str | None]]:
    return Counter((f.rule_id, f.function) for f in findings)


def fix_and_verify(source: str, path: str, rule_id: str, function: str, tmp_path: Path) -> Fixed:
    """Run the fixer and every check a patch must pass; returns the fix."""
    result = fix(source, path, rule_id, function)
    assert isinstance(result, Fixed), f"declined: {_code(result)}"
    patched = result.module.code
    ast.parse(patched)
    before, after = _keys(analyze_source(source, path)), _keys(analyze_source(patched, path))
    assert after[(rule_id, function)] < before[(rule_id, function)], "the race is still reported"
    assert not (after - before), f"new findings: {after - before}"
    # Idempotent: the patched file has nothing left for this fixer to do in this function.
    assert not [f for f in analyze_source(patched, path) if (f.rule_id, f.function) == (rule_id, function)]
    _check_diff_applies(source, patched, path, tmp_path)
    return result


def _check_diff_applies(before: str, after: str, path: str, tmp_path: Path) -> None:
    diff = unified_diff(before, after, path)
    for tool in (["git", "apply", "-"], ["patch", "-p1", "--quiet"]):
        root = tmp_path / tool[0]
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(before)
        subprocess.run(tool, input=diff, text=True, cwd=root, check=True, capture_output=True)
        assert target.read_text() == after, f"{tool[0]} produced a different file"
        shutil.rmtree(root)


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")
