"""The contract between the patch pipeline and the per-family fixers.

A Python fixer gets the parsed module and one finding, and either returns the rewritten module (a
libcst codemod: formatting and comments kept) or declines with `Guidance` (the fix in words) when no
sound mechanical fix exists. A fixer for another language (`register_text`) gets the file's text and
the finding and returns the rewritten text in `Fixed.module` (it edits the text at spans its own
tree-sitter parse finds, so formatting and comments are kept there too). A fixer never returns a
rewrite that parses but leaves the race in place: the pipeline re-analyses every rewrite and drops
any that still reports the finding or adds a new one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import libcst as cst

from ..findings import Finding

__all__ = ["FIXERS", "TEXT_FIXERS", "Fixed", "Fixer", "Guidance", "TextFixer", "register", "register_text"]


@dataclass(frozen=True)
class Fixed:
    """A rewrite of the whole module that removes the finding's race."""

    # Python: the libcst module; other languages: the rewritten text.
    module: cst.Module | str
    description: str
    # "safe": behaviour is the same for sequential requests; "unsafe": it changes (e.g. a 409 where
    # the old code let the request through, or a lock that only protects one process), explained.
    safety: Literal["safe", "unsafe"] = "safe"
    note: str = ""

    @property
    def code(self) -> str:
        return self.module if isinstance(self.module, str) else self.module.code


@dataclass(frozen=True)
class Guidance:
    """No sound mechanical fix: what to do, in words."""

    message: str


Fixer = Callable[[cst.Module, Finding], "Fixed | Guidance"]
TextFixer = Callable[[str, Finding], "Fixed | Guidance"]

# rule id (or family prefix such as "RC1") -> fixer; the most specific key wins.
FIXERS: dict[str, Fixer] = {}


def register(*rule_ids: str) -> Callable[[Fixer], Fixer]:
    """Decorator: `@register("RC101", "RC102")` makes a fixer handle those rules."""

    def decorate(fixer: Fixer) -> Fixer:
        for rule_id in rule_ids:
            FIXERS[rule_id] = fixer
        return fixer

    return decorate


# language name (as `analyzer.core.languages` knows it) -> rule id or family prefix -> fixer.
TEXT_FIXERS: dict[str, dict[str, TextFixer]] = {}


def register_text(language: str, *rule_ids: str) -> Callable[[TextFixer], TextFixer]:
    """Decorator: `@register_text("javascript", "RC401")` makes a text fixer handle those rules."""

    def decorate(fixer: TextFixer) -> TextFixer:
        for rule_id in rule_ids:
            TEXT_FIXERS.setdefault(language, {})[rule_id] = fixer
        return fixer

    return decorate
