"""The contract between the patch pipeline and the per-family fixers.

A fixer gets the parsed module and one finding, and either returns the rewritten module (a libcst
codemod: formatting and comments kept) or declines with `Guidance` (the fix in words) when no sound
mechanical fix exists. It never returns a rewrite that parses but leaves the race in place: the
pipeline re-analyses every rewrite and drops any that still reports the finding or adds a new one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import libcst as cst

from ..findings import Finding

__all__ = ["FIXERS", "Fixed", "Fixer", "Guidance", "register"]


@dataclass(frozen=True)
class Fixed:
    """A rewrite of the whole module that removes the finding's race."""

    module: cst.Module
    description: str
    # "safe": behaviour is the same for sequential requests; "unsafe": it changes (e.g. a 409 where
    # the old code let the request through, or a lock that only protects one process), explained.
    safety: Literal["safe", "unsafe"] = "safe"
    note: str = ""


@dataclass(frozen=True)
class Guidance:
    """No sound mechanical fix: what to do, in words."""

    message: str


Fixer = Callable[[cst.Module, Finding], "Fixed | Guidance"]

# rule id (or family prefix such as "RC1") -> fixer; the most specific key wins.
FIXERS: dict[str, Fixer] = {}


def register(*rule_ids: str) -> Callable[[Fixer], Fixer]:
    """Decorator: `@register("RC101", "RC102")` makes a fixer handle those rules."""

    def decorate(fixer: Fixer) -> Fixer:
        for rule_id in rule_ids:
            FIXERS[rule_id] = fixer
        return fixer

    return decorate
