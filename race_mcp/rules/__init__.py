"""The rule catalog: every rule once, documented the way ruff documents its rules.

One module per family (`rc1_memory` ... `rc8_mongodb`, `ra1_openapi`) declares its rules with their
docs and the fix text their findings carry; the families import only `_model`, and this package
builds and checks the registry when it is imported (`_registry`: duplicate ids or names, ids outside
their family's prefix and live rules without fix text fail the import, so no finding can name an
unknown rule or go without advice). Each analyzer rule's JavaScript/TypeScript and Rust examples, or
why it has no meaning in one of them, live in `languages/` (one module per family) and are attached
by the registry, which refuses a rule silent about a language. `race-mcp rules [ID]` and the MCP
resources `race://rules` / `race://rules/{id}` render this one source; the README's rule table is
`race-mcp rules --format markdown`, checked by the tests. Ids are stable and never reused; a removed
rule keeps its entry with `status="removed"`.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import InputError
from . import (
    ra1_openapi,
    rc1_memory,
    rc2_sql,
    rc3_orm,
    rc4_dynamodb,
    rc5_redis,
    rc6_idempotency,
    rc7_files,
    rc8_mongodb,
)
from ._model import LanguageExamples, Rule
from ._registry import Family, RuleRegistryError, build_registry
from ._render import render_rule_markdown, render_rule_table
from .languages import LANGUAGE_EXAMPLES

__all__ = [
    "FAMILIES",
    "RULES",
    "LanguageExamples",
    "Rule",
    "RuleRegistryError",
    "check_selectors",
    "get_rule",
    "render_catalog_markdown",
    "render_rule_markdown",
    "render_rule_table",
]

# Catalog order: the Python families by number, then the OpenAPI family.
FAMILIES: tuple[Family, ...] = (
    rc1_memory,
    rc2_sql,
    rc3_orm,
    rc4_dynamodb,
    rc5_redis,
    rc6_idempotency,
    rc7_files,
    rc8_mongodb,
    ra1_openapi,
)

RULES: dict[str, Rule] = build_registry(FAMILIES, LANGUAGE_EXAMPLES)


def get_rule(rule_id: str) -> Rule:
    """Return the rule with this id (case-insensitive), or raise `InputError` naming the known ids."""
    rule = RULES.get(rule_id.strip().upper())
    if rule is None:
        known = ", ".join(sorted(RULES))
        raise InputError(f"unknown rule {rule_id!r}; known rules: {known}", code="unknown-rule")
    return rule


def check_selectors(selectors: Iterable[str], *, source: str) -> None:
    """Raise `InputError` for a selector (as in `select`/`ignore`) that matches no rule id or prefix."""
    for selector in selectors:
        if not any(rule_id.startswith(selector.strip().upper()) for rule_id in RULES):
            known = ", ".join(sorted(RULES))
            raise InputError(
                f"{source}: unknown rule or prefix {selector!r}; known rules: {known}", code="unknown-rule"
            )


def render_catalog_markdown() -> str:
    """An index of every rule: the README's table under a heading."""
    return "# race-mcp rules\n\n" + render_rule_table(RULES.values())
