"""The patch report as text for people (the CLI) and for models (the MCP tool's text content).

The diffs here are for reading: they quote the patched file, which may be untrusted code, so every
line is sanitized (control characters and bidi overrides shown escaped, long lines cut). The exact
diff, for `git apply`, is `race-mcp patch --format diff` and the JSON's `diff`.
"""

from __future__ import annotations

from .._sanitize import PROSE_LIMIT, sanitize_line, sanitize_text
from ._models import PatchReport

__all__ = ["render_patch_text"]


def render_patch_text(report: PatchReport) -> str:
    """The report for people: each patch with its diff, then what was left for a human."""
    if not report.patches and not report.unpatched:
        return f"{_line(report.path)}: nothing to patch\n"
    out: list[str] = []
    for patch in report.patches:
        out.append(f"{_line(patch.path)}:{patch.line}: {patch.rule_id} {_line(patch.description)}\n")
        if patch.safety == "unsafe" or patch.note:
            out.append(f"  note ({patch.safety}): {_line(patch.note)}\n")
        out.append(sanitize_text(patch.diff) + "\n")
    for left in report.unpatched:
        out.append(f"{_line(left.path)}:{left.line}: {left.rule_id} no patch: {_block(left.guidance)}\n")
    for error in report.errors:
        out.append(f"error: {_line(error.message)}\n")
    out.append(f"{len(report.patches)} patched, {len(report.unpatched)} left for a human\n")
    return "".join(out)


def _line(text: str) -> str:
    return sanitize_line(text, PROSE_LIMIT)


def _block(text: str) -> str:
    """Guidance that carries code (the fix in the file's own language): its lines kept, indented
    under the finding's line, each sanitized; an escaped `\\n` would make the code unreadable."""
    first, *rest = sanitize_text(text.rstrip("\n"), PROSE_LIMIT).split("\n")
    return "\n".join([first, *(f"  {line}" if line else "" for line in rest)])
