"""JavaScript/TypeScript analysis end to end: parse, lower, run the shared interpreter, report."""

from __future__ import annotations

from typing import Any

from ...config import Settings
from ...findings import Finding
from ..core.languages import PartialAnalysis
from .parse import parse, syntax_errors

__all__ = ["analyze_javascript"]


def analyze_javascript(source: str, path: str, settings: Settings, facts: Any = None) -> list[Finding]:
    tree = parse(source.encode("utf-8", "surrogatepass"), path)
    findings: list[Finding] = []
    errors = syntax_errors(tree.root_node)
    if errors:
        line, column, what = errors[0]
        raise PartialAnalysis(f"{path}:{line}:{column}: syntax error: {what}", findings)
    return findings
