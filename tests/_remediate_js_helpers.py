"""Checks every JavaScript fixer's rewrite must pass, as `_remediate_helpers` does for Python: it
parses (tree-sitter, no error nodes), re-analysis drops exactly the fixed finding and reports nothing
new, nothing is left for the fixer in that function, and the diff applies with `git apply` and
`patch -p1`."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from race_mcp.analyzer import analyze_source
from race_mcp.analyzer.javascript.parse import parse, syntax_errors
from race_mcp.findings import Finding
from race_mcp.remediate._fixers import Fixed, Guidance
from race_mcp.remediate._pipeline import _key, find_fixer
from tests._remediate_helpers import _check_diff_applies

__all__ = ["finding_for", "fix", "fix_and_verify", "guidance_for"]


def finding_for(source: str, path: str, rule_id: str, function: str | None = None) -> Finding:
    found = [
        f for f in analyze_source(source, path) if f.rule_id == rule_id and function in (None, f.function)
    ]
    assert len(found) == 1, f"expected one {rule_id} in {function}, got {found}"
    return found[0]


def fix(source: str, path: str, rule_id: str, function: str | None = None) -> Fixed | Guidance:
    fixer = find_fixer(rule_id, "javascript")
    assert fixer is not None, f"no JavaScript fixer for {rule_id}"
    return fixer(source, finding_for(source, path, rule_id, function))  # type: ignore[arg-type]


def guidance_for(source: str, path: str, rule_id: str, function: str | None = None) -> str:
    result = fix(source, path, rule_id, function)
    assert isinstance(result, Guidance), f"expected guidance, got a rewrite:\n{result.code}"
    return result.message


def _keys(findings: list[Finding]) -> Counter[tuple[str, str | None]]:
    return Counter(map(_key, findings))


def fix_and_verify(source: str, path: str, rule_id: str, function: str | None, tmp_path: Path) -> str:
    """Run the fixer and every check a patch must pass; returns the patched text."""
    target = finding_for(source, path, rule_id, function)
    result = fix(source, path, rule_id, function)
    assert isinstance(result, Fixed), f"declined: {result.message}"
    patched = result.code
    assert syntax_errors(parse(patched.encode(), path).root_node) == [], patched
    before, after = _keys(analyze_source(source, path)), _keys(analyze_source(patched, path))
    key = _key(target)
    assert after[key] < before[key], f"the race is still reported:\n{patched}"
    assert not (after - before), f"new findings: {after - before}\n{patched}"
    assert not (before - after) - Counter({key: before[key]}), f"other findings hidden:\n{patched}"
    _check_diff_applies(source, patched, path, tmp_path)
    return patched
