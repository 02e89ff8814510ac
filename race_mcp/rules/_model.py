"""What one rule declares. Family modules import only this module, so the registry has no cycles."""

from __future__ import annotations

from textwrap import dedent
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from ..findings import Severity

__all__ = ["CWE_362", "OTHER_LANGUAGES", "LanguageExamples", "OtherLanguage", "Rule", "snippet"]

CWE_362 = "CWE-362: Concurrent Execution using Shared Resource with Improper Synchronization"

# The analyzer's languages besides Python, which the main examples are written in. Every analyzer
# rule (RC) says for each one either how the race looks there or why the rule has no meaning there.
OtherLanguage = Literal["javascript", "rust"]
OTHER_LANGUAGES: tuple[OtherLanguage, ...] = ("javascript", "rust")
_FENCES = {
    **dict.fromkeys((".js", ".mjs", ".cjs"), "javascript"),
    **dict.fromkeys((".ts", ".mts", ".cts"), "typescript"),
    ".jsx": "jsx",
    ".tsx": "tsx",
    ".rs": "rust",
}


class LanguageExamples(BaseModel):
    """A rule in one more language: a racy example and its fix, or why the rule does not apply.

    `gap` names what the analyzer does not recognise yet in that language: the examples are the
    documented shape of the race, and the tests expect the racy one to go unflagged until the
    front-end learns it (then the gap is deleted)."""

    racy: str = Field("", description="racy code this rule flags in the language")
    fixed: str = Field("", description="the fixed code, which this rule leaves alone")
    filename: str = Field("", description="the file name the examples are analysed under (its suffix)")
    gap: str = Field("", description="why the racy example is not flagged yet (a known analyzer gap)")
    fix: str = Field(
        "",
        description="the fix text this language's findings carry, where the rule's own names another "
        "language's APIs (JavaScript's are the front-end's own, in `analyzer/javascript/fixes.py`)",
    )
    not_applicable: str = Field("", description="why the rule has no meaning in this language")

    @model_validator(mode="after")
    def _examples_or_a_reason(self) -> LanguageExamples:
        if self.not_applicable:
            if self.racy or self.fixed or self.gap or self.fix:
                raise ValueError("a rule that does not apply to a language has no examples there")
        elif not (self.racy.strip() and self.fixed.strip() and self.filename):
            raise ValueError("a racy example, its fix and a filename, or a not_applicable reason")
        return self

    @property
    def fence(self) -> str:
        """The code fence's language for the examples."""
        return _FENCES.get(self.filename[self.filename.rfind(".") :], "text")

    @property
    def checked(self) -> bool:
        """The analyzer flags the racy example in this language today."""
        return not self.not_applicable and not self.gap


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
    other_languages: dict[OtherLanguage, LanguageExamples] = Field(
        default_factory=dict,
        description="the rule in the analyzer's other languages (analyzer rules name every one)",
    )
    fix_safety: str = ""
    known_problems: str = ""
    references: list[str] = Field(default_factory=list)

    def fix_in(self, language: str) -> str:
        """The fix text a finding of this rule carries in `language` (a front-end's name)."""
        examples = next((ex for name, ex in self.other_languages.items() if name == language), None)
        return examples.fix if examples is not None and examples.fix else self.fix

    @property
    def languages(self) -> list[str]:
        """The languages whose analysis flags this rule's race today, the examples' own first."""
        checked = [name for name, examples in self.other_languages.items() if examples.checked]
        return [self.language, *sorted(checked, key=OTHER_LANGUAGES.index)]


def snippet(text: str) -> str:
    """An example as written in the family module, dedented, with exactly one final newline."""
    return dedent(text).strip("\n") + "\n"
