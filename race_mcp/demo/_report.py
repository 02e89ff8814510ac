"""What `race-mcp demo` reports: a sequence of steps, each with a verdict and readable details."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, computed_field

from .._sanitize import PROSE_LIMIT, sanitize_line
from ..findings import AnalysisReport, Finding

__all__ = ["DemoReport", "DemoStep", "StepStatus", "describe_finding", "render_demo_text"]

StepStatus = Literal["passed", "failed", "skipped"]


class DemoStep(BaseModel):
    """One step of the demo story and whether it showed what it should."""

    key: str = Field(description="stable id of the step, e.g. 'analyze-shop'")
    title: str = Field(description="what the step does, e.g. 'Static analysis of the demo shop'")
    status: StepStatus = Field(description="passed: the step showed what the demo expects")
    summary: str = Field(description="the outcome in one line")
    details: list[str] = Field(default_factory=list, description="one line per item worth reading")
    analysis: AnalysisReport | None = Field(None, description="the full report of an analysis step")


class DemoReport(BaseModel):
    """Every step of one demo run, in order."""

    demo_dir: str = Field(description="where the bundled demo files are")
    database: str | None = Field(None, description="the PostgreSQL URL the shops ran on; null: SQLite")
    steps: list[DemoStep] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def passed(self) -> bool:
        """True when no step failed."""
        return all(step.status != "failed" for step in self.steps)

    def step(self, key: str) -> DemoStep:
        """The step with this key; KeyError when the demo has none."""
        for candidate in self.steps:
            if candidate.key == key:
                return candidate
        raise KeyError(key)

    def render_text(self) -> str:
        """The readable terminal story; see `render_demo_text`."""
        return render_demo_text(self)


def describe_finding(finding: Finding) -> str:
    """One line per finding: rule, route (or function), lines and title."""
    where = finding.route or (f"{finding.function}()" if finding.function else "module level")
    lines = (
        f"line {finding.line}"
        if finding.end_line == finding.line
        else f"lines {finding.line}-{finding.end_line}"
    )
    return f"{finding.rule_id}  {where}  {finding.path} {lines}: {finding.title}"


def render_demo_text(report: DemoReport) -> str:
    """The demo as a numbered story for the terminal.

    Summaries and details quote what the shop answered and the paths and URL given, so each line
    is sanitized: nothing in them reaches the terminal as a control sequence.
    """
    store = f"PostgreSQL at {report.database}" if report.database else "SQLite"
    out = [_line(f"race-mcp demo: the bundled shop in {report.demo_dir}, on {store}"), ""]
    for number, step in enumerate(report.steps, start=1):
        out.append(_line(f"{number}. {step.title}: {step.summary} [{step.status}]"))
        out.extend(_line(f"   {detail}") for detail in step.details)
        out.append("")
    failed = [step.title for step in report.steps if step.status == "failed"]
    if failed:
        out.append(
            f"Demo incomplete: {len(failed)} of {len(report.steps)} steps did not show what they should."
        )
    else:
        out.append(f"Demo complete: all {len(report.steps)} steps showed what they should.")
    return "\n".join(out) + "\n"


def _line(text: str) -> str:
    return sanitize_line(text, PROSE_LIMIT)
