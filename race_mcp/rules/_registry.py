"""Builds the registry from the family modules and refuses, at import time, a catalog that would
let a finding go wrong at run time: a duplicate id or name, an id outside its family's prefix, a
rule filed under another family's name, or a live rule without the fix text its findings carry."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Protocol

from ._model import Rule

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


def build_registry(families: Iterable[Family]) -> dict[str, Rule]:
    """Every rule of every family by id, in family order, after checking each one."""
    rules: dict[str, Rule] = {}
    names: dict[str, str] = {}
    for family in families:
        for rule in family.RULES:
            _check(rule, family, rules, names)
            rules[rule.id] = rule
            names[rule.name] = rule.id
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
