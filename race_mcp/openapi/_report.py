"""What `check_openapi` returns: DESIGN.md's report contract plus the spec and its endpoints."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ..findings import AnalysisReport, Finding, severity_rank

__all__ = ["Endpoint", "OpenApiReport", "SpecInfo"]


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
