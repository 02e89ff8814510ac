"""Builds the registry from the family modules and refuses, at import time, a catalog that would
let a finding go wrong at run time: a duplicate id or name, an id outside its family's prefix, a
rule filed under another family's name, a live rule without the fix text its findings carry, or an
analyzer rule silent about one of the analyzer's languages (each says how the race looks there, or
why the rule does not apply)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from ._model import OTHER_LANGUAGES, LanguageExamples, OtherLanguage, Rule

__all__ = ["Family", "RuleRegistryError", "build_registry"]

_ID = re.compile(r"R[A-Z][0-9]{3}")


class RuleRegistryError(ValueError):
    """The catalog itself is wrong: a bug in race-mcp, caught when `race_mcp.rules` is imported."""


class Family(Protocol):
    """A family module: `PREFIX = "RC2"`, `FAMILY = "RC2xx raw SQL"`, `RULES = [Rule(...), ...]`."""

    # Read-only, so that a module's `RULES: list[Rule]` satisfies `Sequence[Rule]`.
    @property
    def __name__(self) -> str: ...
    @property
    def PREFIX(self) -> str: ...
    @property
    def FAMILY(self) -> str: ...
    @property
    def RULES(self) -> Sequence[Rule]: ...


def build_registry(
    families: Iterable[Family],
    other_languages: Mapping[str, Mapping[OtherLanguage, LanguageExamples]] | None = None,
) -> dict[str, Rule]:
    """Every rule of every family by id, in family order, with its examples in the analyzer's other
    languages attached (`other_languages`, by rule id), after checking each one."""
    attached = dict(other_languages or {})
    rules: dict[str, Rule] = {}
    names: dict[str, str] = {}
    for family in families:
        for declared in family.RULES:
            extra = attached.pop(declared.id, None)
            rule = declared.model_copy(update={"other_languages": dict(extra)}) if extra else declared
            _check(rule, family, rules, names)
            rules[rule.id] = rule
            names[rule.name] = rule.id
    if attached:
        unknown = ", ".join(sorted(attached))
        raise RuleRegistryError(f"examples in other languages for unknown rules: {unknown}")
    return rules


def _check(rule: Rule, family: Family, rules: dict[str, Rule], names: dict[str, str]) -> None:
    where = f"{family.__name__}: {rule.id}"
    if not _ID.fullmatch(rule.id) or not rule.id.startswith(family.PREFIX):
        raise RuleRegistryError(f"{where}: rule ids in this family are {family.PREFIX} and 3 digits")
    if rule.family != family.FAMILY:
        raise RuleRegistryError(f"{where}: family {rule.family!r}, but the module is {family.FAMILY!r}")
    if rule.id in rules:
        raise RuleRegistryError(f"{where}: id already registered by family {rules[rule.id].family!r}")
    if rule.name in names:
        raise RuleRegistryError(f"{where}: name {rule.name!r} is already {names[rule.name]}'s")
    if rule.status != "removed" and not rule.fix.strip():
        raise RuleRegistryError(f"{where}: no fix text; every finding of a live rule carries one")
    if rule.language == "python" and rule.status != "removed":
        missing = [name for name in OTHER_LANGUAGES if name not in rule.other_languages]
        if missing:
            raise RuleRegistryError(f"{where}: no examples or not_applicable reason for {', '.join(missing)}")
