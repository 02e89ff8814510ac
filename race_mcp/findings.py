"""The shared vocabulary: one `Finding` model for every checker, and the report around it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, Field

__all__ = [
    "AnalysisReport",
    "Confidence",
    "Evidence",
    "FileError",
    "Finding",
    "Severity",
    "Summary",
    "severity_rank",
]

Severity = Literal["high", "medium", "low"]
Confidence = Literal["high", "medium", "low"]

_RANK: dict[str, int] = {"low": 1, "medium": 2, "high": 3}


def severity_rank(level: str) -> int:
    """Order severities and confidences: low < medium < high."""
    return _RANK[level]


class Evidence(BaseModel):
    """One step of a racy sequence: where the state is read, checked, awaited on or written."""

    line: int = Field(description="1-based line of this step")
    role: str = Field(description="check, read, await, write, lock, ...")
    code: str = Field(description="the source line, stripped")


class Finding(BaseModel):
    """A suspected race, reported the same way by every checker."""

    rule_id: str = Field(description="stable id from the rule catalog, e.g. RC101")
    title: str
    severity: Severity = Field(description="impact if the race is real")
    confidence: Confidence = Field(description="how sure the checker is")
    path: str = Field(description="file, relative as given")
    line: int = Field(description="1-based first line of the racy sequence")
    end_line: int = Field(description="1-based last line of the racy sequence")
    column: int = Field(1, description="1-based column of the first step")
    function: str | None = Field(None, description="enclosing function or handler")
    route: str | None = Field(None, description='"POST /coupons/redeem" for a recognised HTTP handler')
    reached_by: str | None = Field(
        None,
        description='why requests reach this code: "Flask route POST /redeem", "celery task '
        'tasks.charge", "django management command Command.handle"; null when no entry point was found',
    )
    message: str
    evidence: list[Evidence] = Field(default_factory=list)
    fix: str = Field("", description="the remediation in words")
    cwe: str | None = None
    pointer: str | None = Field(None, description="JSON pointer into an OpenAPI document")
    operation: str | None = Field(None, description='"PATCH /orders/{id}" for OpenAPI findings')

    def sort_key(self) -> tuple[int, int, str, int, str]:
        """Most severe and most certain first, then by place."""
        return (
            -severity_rank(self.severity),
            -severity_rank(self.confidence),
            self.path,
            self.line,
            self.rule_id,
        )


class FileError(BaseModel):
    """A file or input that could not be analysed, with the reason in one line and its stable code."""

    path: str
    message: str
    code: str = "bad-input"


class Summary(BaseModel):
    """Counts over the whole report, including findings cut by `max_findings`."""

    files_analyzed: int = 0
    files_with_errors: int = 0
    findings: int = 0
    by_severity: dict[str, int] = Field(default_factory=dict)
    by_rule: dict[str, int] = Field(default_factory=dict)
    by_rule_severity: dict[str, dict[str, int]] = Field(
        default_factory=dict, description="per rule, counts per severity"
    )
    truncated: bool = Field(False, description="true when findings were cut to max_findings")
    shown: int = Field(0, description="findings included in this report")
    files_skipped: dict[str, int] = Field(
        default_factory=dict,
        description="files a directory walk did not analyse, per reason: virtualenv, installed-packages, "
        "node-modules, build-output, cache, default-exclude, exclude, outside-roots, outside-directory, "
        "already-walked, broken-symlink",
    )
    files_skipped_partial: bool = Field(
        False, description="true when counting skipped files stopped early: the counts are lower bounds"
    )
    warnings: list[str] = Field(
        default_factory=list, description="named directories that held nothing to analyse, and why"
    )


class AnalysisReport(BaseModel):
    """What `analyze` returns: findings (most severe first), errors and a summary."""

    findings: list[Finding] = Field(default_factory=list)
    errors: list[FileError] = Field(default_factory=list)
    summary: Summary = Field(default_factory=Summary)

    @classmethod
    def build(
        cls,
        findings: list[Finding],
        errors: list[FileError],
        *,
        files_analyzed: int,
        max_findings: int | None = None,
        files_skipped: Mapping[str, int] | None = None,
        files_skipped_partial: bool = False,
        warnings: Sequence[str] = (),
    ) -> AnalysisReport:
        """Sort, count and (optionally) cap findings; the summary always counts all of them."""
        ordered = sorted(findings, key=Finding.sort_key)
        shown = ordered if max_findings is None else ordered[:max_findings]
        summary = Summary(
            files_analyzed=files_analyzed,
            files_with_errors=len({e.path for e in errors}),
            findings=len(ordered),
            by_severity=dict(Counter(f.severity for f in ordered)),
            by_rule=dict(sorted(Counter(f.rule_id for f in ordered).items())),
            by_rule_severity={
                rule: dict(Counter(f.severity for f in ordered if f.rule_id == rule))
                for rule in sorted({f.rule_id for f in ordered})
            },
            truncated=len(shown) < len(ordered),
            shown=len(shown),
            files_skipped=dict(sorted((files_skipped or {}).items())),
            files_skipped_partial=files_skipped_partial,
            warnings=list(warnings),
        )
        return cls(findings=shown, errors=errors, summary=summary)
