"""A `BurstResult` as a short text block, for people (the CLI) and for assistants (the MCP tool).

Pure: result in, string out. The reason and the evidence quote what the
target answered, so every line is cut to a bounded length and the caller can label that part as
untrusted (`quoted_heading`).
"""

from __future__ import annotations

from .._sanitize import sanitize_line
from ._models import BurstResult

__all__ = ["render_burst_text"]

_MAX_LINE = 240
_MAX_EVIDENCE = 8
_HEADLINE = {
    "race": "RACE: the burst exceeded what may succeed",
    "no_race": "NO RACE: the burst stayed within what may succeed",
    "inconclusive": "INCONCLUSIVE: this burst cannot show either way",
}


def _cut(text: str, limit: int = _MAX_LINE) -> str:
    """One line of at most `limit` characters (responses may hold newlines and huge bodies), with
    the target's control characters and escape sequences shown escaped, never sent to the terminal."""
    return sanitize_line(" ".join(text.split()), limit)


def _statuses(counts: dict[str, int]) -> str:
    return ", ".join(f"{status}: {count}" for status, count in counts.items()) or "none"


def _numbers(result: BurstResult) -> list[str]:
    hits = round(result.hit_rate * result.bursts)
    limit = (
        f" (at most {result.expected_max_successes} may)"
        if result.expected_max_successes is not None
        else " (no limit given; judged by the baseline or the probe)"
    )
    return [
        f"verdict    {result.verdict}",
        f"target     {_cut(result.url)}",
        f"mode       {result.mode}: {result.requests} requests x {result.bursts} burst(s) "
        f"on {result.connections} connection(s)",
        f"spread     {result.spread_ms:.3f} ms (median release spread)",
        f"hit rate   {result.hit_rate:.0%} ({hits} of {result.bursts} bursts showed the race)",
        f"successes  {result.successes} in the best burst{limit}",
        f"statuses   {_statuses(result.status_counts)}",
    ]


def render_burst_text(result: BurstResult, *, quoted_heading: str = "evidence") -> str:
    """The verdict and its numbers, then the reason and the evidence (which samples the responses)."""
    lines = [_HEADLINE[result.verdict], "", *_numbers(result), "", quoted_heading]
    lines.append(f"  reason: {_cut(result.reason)}")
    lines.extend(f"  - {_cut(line)}" for line in result.evidence[:_MAX_EVIDENCE])
    if len(result.evidence) > _MAX_EVIDENCE:
        lines.append(f"  ({len(result.evidence) - _MAX_EVIDENCE} more evidence lines not shown)")
    return "\n".join(lines) + "\n"
