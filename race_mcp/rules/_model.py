"""What one rule declares. Family modules import only this module, so the registry has no cycles."""

from __future__ import annotations

from textwrap import dedent
from typing import Literal

from pydantic import BaseModel, Field

from ..findings import Severity

__all__ = ["CWE_362", "Rule", "snippet"]

CWE_362 = "CWE-362: Concurrent Execution using Shared Resource with Improper Synchronization"


class Rule(BaseModel):
    """One rule: what it flags, why it is bad, a racy example, the fixed one, and the fix advice
    that every finding of the rule carries."""

    id: str = Field(description="stable id, e.g. RC101")
    name: str = Field(description="kebab-case name of the racy pattern")
    title: str
    family: str
    severity: Severity = Field(description="default impact when the race is real")
    status: Literal["preview", "stable", "removed"] = "stable"
    cwe: str
    what_it_does: str
    why_bad: str
    example: str = Field(description="racy code that this rule flags")
    use_instead: str = Field(description="the fixed code, which this rule leaves alone")
    fix: str = Field("", description="what to change, as a finding's `fix` text says it")
    language: str = Field("python", description="language of the examples, for code fences")
    fix_safety: str = ""
    known_problems: str = ""
    references: list[str] = Field(default_factory=list)


def snippet(text: str) -> str:
    """An example as written in the family module, dedented, with exactly one final newline."""
    return dedent(text).strip("\n") + "\n"
