"""The catalog as markdown: one rule in ruff's section order, and the table of every rule that
`race-mcp rules`, the `race://rules` resource and the README show."""

from __future__ import annotations

from collections.abc import Iterable

from ._model import LanguageExamples, Rule

__all__ = ["LANGUAGE_NAMES", "TABLE_HEADER", "render_rule_markdown", "render_rule_table"]

TABLE_HEADER = "| id | name | family | severity | status | languages | flags |\n|---|---|---|---|---|---|---|"
# How the docs and the table name each language (the OpenAPI rules' examples are YAML specs).
LANGUAGE_NAMES = {"python": "Python", "javascript": "JS/TS", "rust": "Rust", "yaml": "OpenAPI"}
_HEADINGS = {"javascript": "JavaScript / TypeScript", "rust": "Rust"}


def render_rule_markdown(rule: Rule) -> str:
    """The rule's documentation as markdown, in ruff's section order."""
    parts = [
        f"# {rule.id} {rule.name}",
        f"**{rule.title}** · severity {rule.severity} · {rule.cwe} · {rule.status}",
        f"## What it does\n{rule.what_it_does}",
        f"## Why is this bad?\n{rule.why_bad}",
        f"## Example\n```{rule.language}\n{rule.example}```",
        f"Use instead:\n```{rule.language}\n{rule.use_instead}```",
    ]
    parts.extend(_other_language(name, examples) for name, examples in rule.other_languages.items())
    if rule.fix_safety:
        parts.append(f"## Fix safety\n{rule.fix_safety}")
    if rule.known_problems:
        parts.append(f"## Known problems\n{rule.known_problems}")
    if rule.references:
        parts.append("## References\n" + "\n".join(f"- {ref}" for ref in rule.references))
    return "\n\n".join(parts) + "\n"


def _other_language(name: str, examples: LanguageExamples) -> str:
    heading = f"## In {_HEADINGS.get(name, name)}"
    if examples.not_applicable:
        return f"{heading}\nDoes not apply: {examples.not_applicable}"
    text = (
        f"{heading}\n```{examples.fence}\n{examples.racy}```\n\n"
        f"Use instead:\n```{examples.fence}\n{examples.fixed}```"
    )
    if examples.fix:
        text += f"\n\nFix: {examples.fix}"
    return text + (f"\n\nNot flagged yet: {examples.gap}" if examples.gap else "")


def render_rule_table(rules: Iterable[Rule]) -> str:
    """One row per rule: id, name, family, severity, status, the languages whose analysis checks
    it, and its title (a markdown table)."""
    rows = [
        f"| {r.id} | {r.name} | {r.family} | {r.severity} | {r.status} | {_languages(r)} | {r.title} |"
        for r in rules
    ]
    return "\n".join([TABLE_HEADER, *rows]) + "\n"


def _languages(rule: Rule) -> str:
    return ", ".join(LANGUAGE_NAMES.get(name, name) for name in rule.languages)
