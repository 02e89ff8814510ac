"""The catalog as markdown: one rule in ruff's section order, and the table of every rule that
`race-mcp rules`, the `race://rules` resource and the README show."""

from __future__ import annotations

from collections.abc import Iterable

from ._model import Rule

__all__ = ["TABLE_HEADER", "render_rule_markdown", "render_rule_table"]

TABLE_HEADER = "| id | name | family | severity | status | flags |\n|---|---|---|---|---|---|"


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
    if rule.fix_safety:
        parts.append(f"## Fix safety\n{rule.fix_safety}")
    if rule.known_problems:
        parts.append(f"## Known problems\n{rule.known_problems}")
    if rule.references:
        parts.append("## References\n" + "\n".join(f"- {ref}" for ref in rule.references))
    return "\n\n".join(parts) + "\n"


def render_rule_table(rules: Iterable[Rule]) -> str:
    """One row per rule: id, name, family, severity, status and title (a markdown table)."""
    rows = [f"| {r.id} | {r.name} | {r.family} | {r.severity} | {r.status} | {r.title} |" for r in rules]
    return "\n".join([TABLE_HEADER, *rows]) + "\n"
