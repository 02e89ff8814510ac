"""Reading the fixture corpus: `# racy: ID` / `# safe: ID` markers, and scoring findings against them.

- `# racy: RC101` stands just above the line a finding must report (its first step).
- `# safe: RC101` stands just above a `def` (or above the line after a decorator): no finding of
  that rule may start inside that function.
- `# todo-racy:` / `# todo-safe:` record known misses and false alarms: they are scored, not failed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from race_mcp import Finding, analyze_source

MARKER = re.compile(r"(?:#|//)\s*(?P<kind>todo-racy|todo-safe|racy|safe):\s*(?P<ids>[A-Z0-9, ]+)")


@dataclass
class Expectations:
    racy: set[tuple[str, int]] = field(default_factory=set)
    todo_racy: set[tuple[str, int]] = field(default_factory=set)
    safe_spans: list[tuple[str, int, int]] = field(default_factory=list)
    todo_safe_spans: list[tuple[str, int, int]] = field(default_factory=list)


def _next_code_line(lines: list[str], start: int) -> int:
    """1-based number of the first line after `start` (0-based) that is not a comment or blank."""
    for number in range(start + 1, len(lines)):
        stripped = lines[number].strip()
        if stripped and not stripped.startswith(("#", "//")):
            return number + 1
    raise ValueError(f"marker at line {start + 1} has no code after it")


def _brace_span(lines: list[str], first: int) -> tuple[int, int]:
    """The lines of a function in a brace language (Rust, JavaScript) starting at `first`: up to
    the line whose `}` closes the first `{` (comments and strings with braces are not expected)."""
    depth, opened = 0, False
    for number in range(first, len(lines) + 1):
        text = lines[number - 1].split("//")[0]
        depth += text.count("{") - text.count("}")
        opened = opened or "{" in text
        if opened and depth <= 0:
            return first, number
    return first, len(lines)


def _function_span(lines: list[str], def_line: int) -> tuple[int, int]:
    """The lines of the function whose `def` (or decorator) is at `def_line` (1-based)."""
    if not any(lines[n].lstrip().startswith(("def ", "async def ")) for n in range(def_line - 1, len(lines))):
        return _brace_span(lines, def_line)
    first = def_line
    while not lines[first - 1].lstrip().startswith(("def ", "async def ")):
        first += 1
    indent = len(lines[first - 1]) - len(lines[first - 1].lstrip())
    # A signature may span lines: the body starts after the line that closes it with ':'.
    header_end, depth = first, 0
    for number in range(first, len(lines) + 1):
        text = lines[number - 1].split("#")[0]
        depth += text.count("(") + text.count("[") - text.count(")") - text.count("]")
        header_end = number
        if depth <= 0 and text.rstrip().endswith(":"):
            break
    last = header_end
    for number in range(header_end + 1, len(lines) + 1):
        text = lines[number - 1]
        if text.strip() and len(text) - len(text.lstrip()) <= indent and not text.strip().startswith("#"):
            break
        last = number
    return def_line, last


def read_expectations(source: str) -> Expectations:
    lines = source.splitlines()
    found = Expectations()
    for index, text in enumerate(lines):
        match = MARKER.search(text)
        if match is None:
            continue
        target = _next_code_line(lines, index)
        for rule_id in (part.strip() for part in match.group("ids").split(",")):
            kind = match.group("kind")
            if kind == "racy":
                found.racy.add((rule_id, target))
            elif kind == "todo-racy":
                found.todo_racy.add((rule_id, target))
            else:
                start, end = _function_span(lines, target)
                spans = found.safe_spans if kind == "safe" else found.todo_safe_spans
                spans.append((rule_id, start, end))
    return found


@dataclass
class Score:
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        expected = self.true_positives + self.false_negatives
        return self.true_positives / expected if expected else 1.0

    def add(self, other: Score) -> None:
        self.true_positives += other.true_positives
        self.false_positives += other.false_positives
        self.false_negatives += other.false_negatives
        self.problems.extend(other.problems)


def _in_spans(finding: Finding, spans: list[tuple[str, int, int]]) -> bool:
    return any(rule == finding.rule_id and start <= finding.line <= end for rule, start, end in spans)


def score_file(path: Path) -> tuple[Score, Score]:
    """(strict score, score counting todo markers as the truth) for one fixture file."""
    source = path.read_text(encoding="utf-8")
    return _score(path.name, read_expectations(source), analyze_source(source, path.name))


def family_of(rule_id: str) -> str:
    """RC501 -> RC5xx."""
    return rule_id[:3] + "xx"


def score_file_by_family(path: Path) -> dict[str, tuple[Score, Score]]:
    """`score_file` split by the family of each marker's and finding's rule (a file of one
    family may hold markers of another: an RC601 handler in a Redis fixture)."""
    source = path.read_text(encoding="utf-8")
    expected = read_expectations(source)
    findings = analyze_source(source, path.name)
    families = {family_of(f.rule_id) for f in findings} | {
        family_of(rule) for rule, *_ in (*expected.racy, *expected.todo_racy, *expected.safe_spans)
    }
    return {
        family: _score(
            path.name, _only(expected, family), [f for f in findings if family_of(f.rule_id) == family]
        )
        for family in families
    }


def _only(expected: Expectations, family: str) -> Expectations:
    def keep(rule: str) -> bool:
        return family_of(rule) == family

    return Expectations(
        {m for m in expected.racy if keep(m[0])},
        {m for m in expected.todo_racy if keep(m[0])},
        [s for s in expected.safe_spans if keep(s[0])],
        [s for s in expected.todo_safe_spans if keep(s[0])],
    )


def _score(name: str, expected: Expectations, findings: list[Finding]) -> tuple[Score, Score]:
    strict, lenient = Score(), Score()
    reported = {(f.rule_id, f.line) for f in findings}
    for finding in findings:
        key = (finding.rule_id, finding.line)
        if key in expected.racy:
            strict.true_positives += 1
        elif key in expected.todo_racy:
            lenient.true_positives += 1
        elif _in_spans(finding, expected.todo_safe_spans):
            lenient.false_positives += 1
        else:
            strict.false_positives += 1
            strict.problems.append(f"{name}:{finding.line}: unexpected {finding.rule_id}: {finding.message}")
    for rule_id, line in sorted(expected.racy - reported):
        strict.false_negatives += 1
        strict.problems.append(f"{name}:{line}: missed {rule_id}")
    lenient.false_negatives += len(expected.todo_racy - reported)
    return strict, lenient
