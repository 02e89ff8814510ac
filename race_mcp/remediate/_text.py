"""The patch report as text for people (the CLI) and for models (the MCP tool's text content)."""

from __future__ import annotations

from ._models import PatchReport

__all__ = ["render_patch_text"]


def render_patch_text(report: PatchReport) -> str:
    """The report for people: each patch with its diff, then what was left for a human."""
    if not report.patches and not report.unpatched:
        return f"{report.path}: nothing to patch\n"
    out: list[str] = []
    for patch in report.patches:
        out.append(f"{patch.path}:{patch.line}: {patch.rule_id} {patch.description}\n")
        if patch.safety == "unsafe" or patch.note:
            out.append(f"  note ({patch.safety}): {patch.note}\n")
        out.append(patch.diff + "\n")
    for left in report.unpatched:
        out.append(f"{left.path}:{left.line}: {left.rule_id} no patch: {left.guidance}\n")
    for error in report.errors:
        out.append(f"error: {error.message}\n")
    out.append(f"{len(report.patches)} patched, {len(report.unpatched)} left for a human\n")
    return "".join(out)
