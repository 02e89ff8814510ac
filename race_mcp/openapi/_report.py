"""What `check_openapi` returns: docs/design.md's report contract plus the spec and its endpoints."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field

from ..findings import AnalysisReport, Finding, Severity, severity_rank

__all__ = ["Endpoint", "FindingGroup", "OpenApiReport", "SpecInfo"]


class SpecInfo(BaseModel):
    """The document that was checked."""

    path: str = Field(description="the spec as given")
    version: str = Field(description='"2.0", "3.0.3", "3.1.0", ...')
    title: str | None = None
    operations: int = Field(0, description="operations checked")
    files: list[str] = Field(default_factory=list, description="documents loaded, $ref'd ones included")


class Endpoint(BaseModel):
    """One operation with its spec findings and, with `source`, the findings in its handler."""

    operation: str = Field(description='"PATCH /orders/{id}"')
    path: str = Field(description="file that holds the operation")
    line: int
    pointer: str = Field(description="JSON pointer of the operation in that file")
    handler: str | None = Field(None, description="handler function the analyzer matched to the route")
    spec_findings: list[Finding] = Field(default_factory=list)
    code_findings: list[Finding] = Field(default_factory=list)

    def rank_key(self) -> tuple[int, int, int, str, int]:
        """Endpoints whose spec and code both have findings first, then the most severe."""
        both = bool(self.spec_findings) and bool(self.code_findings)
        everything = [*self.spec_findings, *self.code_findings]
        worst = max((severity_rank(f.severity) for f in everything), default=0)
        surest = max((severity_rank(f.confidence) for f in everything), default=0)
        return (-int(both), -worst, -surest, self.path, self.line)


class OpenApiReport(AnalysisReport):
    """`findings`/`errors`/`summary` as for `analyze`, plus `spec` and the ranked `endpoints`."""

    spec: SpecInfo | None = None
    endpoints: list[Endpoint] = Field(
        default_factory=list, description="operations with findings, spec-and-code ones first"
    )


class FindingGroup(BaseModel):
    """The findings of one rule at one severity, counted, with the operations that have them."""

    rule_id: str
    title: str
    severity: Severity
    count: int
    operations: list[str] = Field(
        description="operations with this finding, in report order, at most `limit`"
    )
    more: int = Field(0, description="operations with it that `operations` leaves out")


def group_findings(
    findings: Sequence[Finding], *, at_most: Severity = "low", limit: int = 5
) -> tuple[list[Finding], list[FindingGroup]]:
    """Split findings into those above `at_most`, kept whole, and the rest, grouped by rule and
    severity: a spec's many RA121/RA123 (every state-changing operation) read as one line each.

    Groups are ordered most severe, then most frequent, first; each names up to `limit` operations.
    """
    ceiling = severity_rank(at_most)
    kept = [finding for finding in findings if severity_rank(finding.severity) > ceiling]
    grouped: dict[tuple[str, str], list[Finding]] = {}
    for finding in findings:
        if severity_rank(finding.severity) <= ceiling:
            grouped.setdefault((finding.rule_id, finding.severity), []).append(finding)
    groups = []
    for (rule_id, _severity), members in grouped.items():
        operations = list(dict.fromkeys(f.operation or f.route or f"{f.path}:{f.line}" for f in members))
        groups.append(
            FindingGroup(
                rule_id=rule_id,
                title=members[0].title,
                severity=members[0].severity,
                count=len(members),
                operations=operations[:limit],
                more=max(0, len(operations) - limit),
            )
        )
    groups.sort(key=lambda group: (-severity_rank(group.severity), -group.count, group.rule_id))
    return kept, groups
