"""Renderers for an `AnalysisReport`: text for people, JSON for scripts, SARIF 2.1.0 for code scanning.

Pure functions from a report to a string. The caller decides where the string goes and whether the
text may use color (the CLI: only on a terminal, and only when NO_COLOR is unset).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import PurePath
from typing import Any
from urllib.parse import quote

from ._sanitize import PROSE_LIMIT, sanitize_line
from ._version import __version__
from ._walk import describe_skipped, skipped_total
from .findings import AnalysisReport, Evidence, FileError, Finding
from .rules import RULES, Rule, render_rule_markdown

__all__ = ["FINGERPRINT_KEY", "SARIF_SCHEMA", "render_json", "render_sarif", "render_text"]

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
INFORMATION_URI = "https://pypi.org/project/race-mcp/"
# Our own fingerprint, versioned so that a change of recipe never matches old alerts by accident.
FINGERPRINT_KEY = "raceMcpFingerprint/v1"
SRCROOT = "%SRCROOT%"

_SARIF_LEVEL = {"high": "error", "medium": "warning", "low": "note"}
# GitHub code scanning buckets security-severity: >= 7.0 high, 4.0-6.9 medium, 0.1-3.9 low.
_SECURITY_SEVERITY = {"high": "8.0", "medium": "5.5", "low": "3.0"}

_SGR = {"high": "31", "medium": "33", "low": "36", "bold": "1", "dim": "2"}


# --------------------------------------------------------------------------------------------- text


def render_text(report: AnalysisReport, *, color: bool = False, problems: bool = True) -> str:
    """One block per finding (location, evidence, context, fix), then errors, warnings, what the
    walk skipped and a summary line. `problems=False` leaves the error and warning lines out: the
    CLI prints those on stderr, so a terminal shows each once."""
    lines: list[str] = []
    for finding in report.findings:
        lines.extend(_text_finding(finding, color))
        lines.append("")
    if problems:
        for error in report.errors:
            lines.append(_paint("error: ", "high", color) + sanitize_line(_error_text(error), PROSE_LIMIT))
        for warning in report.summary.warnings:
            lines.append(_paint("warning: ", "medium", color) + sanitize_line(warning, PROSE_LIMIT))
        if report.errors or report.summary.warnings:
            lines.append("")
    lines.extend(_text_table(report))
    if report.summary.files_skipped:
        lines.append(_text_skipped(report))
    lines.append(_text_summary(report))
    return "\n".join(lines) + "\n"


def _text_skipped(report: AnalysisReport) -> str:
    """`Skipped 1,204 files: 1,100 in virtualenvs, 80 in node_modules, 24 by exclude patterns.`"""
    skipped = report.summary.files_skipped
    total = skipped_total(skipped, report.summary.files_skipped_partial)
    noun = "file" if sum(skipped.values()) == 1 else "files"
    return f"Skipped {total} {noun}: {describe_skipped(skipped)}."


def _text_table(report: AnalysisReport) -> list[str]:
    """Counts by rule and severity, over every finding (also those cut by --max-findings)."""
    table = report.summary.by_rule_severity
    if not table:
        return []
    rows = [f"{'rule':<7} {'high':>5} {'medium':>7} {'low':>5}  title"]
    # A front-end may say a rule in its language's terms (RC802 in Node names no `find_one`): the
    # findings' own title when they all agree, else the catalog's.
    said: dict[str, set[str]] = {}
    for finding in report.findings:
        said.setdefault(finding.rule_id, set()).add(finding.title)
    for rule_id, counts in table.items():
        title = RULES[rule_id].title if rule_id in RULES else ""
        title = next(iter(said[rule_id])) if len(said.get(rule_id, ())) == 1 else title
        high, medium, low = (counts.get(level, 0) for level in ("high", "medium", "low"))
        rows.append(f"{rule_id:<7} {high:>5} {medium:>7} {low:>5}  {title}")
    return [*rows, ""]


def _paint(text: str, style: str, color: bool) -> str:
    return f"\x1b[{_SGR[style]}m{text}\x1b[0m" if color else text


def _text_finding(finding: Finding, color: bool) -> list[str]:
    # Every field may quote the analysed code or spec: sanitized before it is painted, so a quoted
    # escape sequence shows as `\x1b[...` and only our own color codes reach the terminal.
    path = sanitize_line(finding.path, PROSE_LIMIT)
    where = _paint(f"{path}:{finding.line}:{finding.column}:", "bold", color)
    rule = _paint(sanitize_line(finding.rule_id), "bold", color)
    level = _paint(f"[{finding.severity}/{finding.confidence}]", finding.severity, color)
    lines = [f"{where} {rule} {level} {sanitize_line(finding.message, PROSE_LIMIT)}"]
    lines.extend(_text_evidence(finding.evidence))
    context = sanitize_line(_text_context(finding), PROSE_LIMIT)
    if context:
        lines.append(_paint(f"  {context}", "dim", color))
    if finding.fix:
        lines.append(f"  fix: {sanitize_line(finding.fix, PROSE_LIMIT)}")
    return lines


def _text_evidence(steps: list[Evidence]) -> list[str]:
    if not steps:
        return []
    number_width = max(len(str(step.line)) for step in steps)
    role_width = max(len(step.role) for step in steps)
    return [
        f"  {step.line:>{number_width}} {step.role:<{role_width}}  {sanitize_line(step.code)}"
        for step in steps
    ]


def _text_context(finding: Finding) -> str:
    parts = []
    if finding.function:
        parts.append(f"in {finding.function}")
    if finding.route:
        # A JavaScript handler is named by its route ("in POST /orders handler"): said once.
        if not (finding.function or "").startswith(finding.route + " "):
            parts.append(f"route {finding.route}")
    elif finding.reached_by:
        parts.append(f"reached by {finding.reached_by}")
    if finding.operation:
        parts.append(f"operation {finding.operation}")
    if finding.pointer:
        parts.append(f"at {finding.pointer}")
    return ", ".join(parts)


def _error_text(error: FileError) -> str:
    # Core errors already start with the path ("app.py: no such file"); do not repeat it.
    return error.message if error.message.startswith(error.path) else f"{error.path}: {error.message}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _text_summary(report: AnalysisReport) -> str:
    summary = report.summary
    files = _plural(summary.files_analyzed, "file")
    if summary.findings:
        by_severity = ", ".join(
            f"{summary.by_severity[level]} {level}"
            for level in ("high", "medium", "low")
            if summary.by_severity.get(level)
        )
        text = f"Found {_plural(summary.findings, 'finding')} ({by_severity}) in {files} analyzed"
    else:
        text = f"No findings in {files} analyzed"
    if summary.truncated:
        text += f"; showing the first {summary.shown}"
    if report.errors:
        text += f"; {_plural(len(report.errors), 'error')}"
    return text + "."


# --------------------------------------------------------------------------------------------- json


def render_json(report: AnalysisReport) -> str:
    """docs/design.md's contract: `{"findings": [...], "errors": [{"path", "message", "code"}],
    "summary": {...}}`."""
    return json.dumps(report.model_dump(mode="json"), indent=2) + "\n"


# -------------------------------------------------------------------------------------------- sarif


def render_sarif(report: AnalysisReport, *, source_root: PurePath) -> str:
    """A SARIF 2.1.0 log that GitHub code scanning accepts as it is.

    `source_root` must be absolute: finding paths are made relative to it and tagged `%SRCROOT%`,
    so alerts map onto files in the repository whatever directory the analysis ran in.
    """
    rules = _sarif_rule_list(report.findings)
    rule_index = {descriptor["id"]: index for index, descriptor in enumerate(rules)}
    fingerprints: dict[str, int] = {}
    results = [
        _sarif_result(finding, rule_index[finding.rule_id], source_root, fingerprints)
        for finding in report.findings
    ]
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "race-mcp",
                "semanticVersion": __version__,
                "version": __version__,
                "informationUri": INFORMATION_URI,
                "rules": rules,
            }
        },
        "originalUriBaseIds": {SRCROOT: {"uri": source_root.as_uri().rstrip("/") + "/"}},
        "columnKind": "unicodeCodePoints",
        "invocations": [_sarif_invocation(report.errors, source_root)],
        "results": results,
        "properties": {"summary": report.summary.model_dump(mode="json")},
    }
    log = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(log, indent=2) + "\n"


def _sarif_rule_list(findings: list[Finding]) -> list[dict[str, Any]]:
    """Every catalog rule, then a minimal descriptor for any rule id a finding uses that it lacks."""
    rules = [_sarif_rule(rule) for rule in RULES.values()]
    known = set(RULES)
    for finding in findings:
        if finding.rule_id not in known:
            known.add(finding.rule_id)
            rules.append(_sarif_rule_from_finding(finding))
    return rules


def _rule_properties(severity: str, cwe: str | None) -> dict[str, Any]:
    tags = ["security", "concurrency"]
    if cwe:
        # GitHub and CodeQL spell CWE tags this way and link them to the CWE entry.
        tags.append(f"external/cwe/{cwe.lower()}")
    return {"tags": tags, "security-severity": _SECURITY_SEVERITY[severity]}


def _sarif_rule(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "name": rule.name,
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.what_it_does},
        "help": {"text": f"{rule.what_it_does}\n\n{rule.why_bad}", "markdown": render_rule_markdown(rule)},
        "defaultConfiguration": {"level": _SARIF_LEVEL[rule.severity]},
        "properties": _rule_properties(rule.severity, rule.cwe),
    }


def _sarif_rule_from_finding(finding: Finding) -> dict[str, Any]:
    return {
        "id": finding.rule_id,
        "shortDescription": {"text": finding.title},
        "defaultConfiguration": {"level": _SARIF_LEVEL[finding.severity]},
        "properties": _rule_properties(finding.severity, finding.cwe),
    }


def _artifact_location(path: str, source_root: PurePath) -> dict[str, str]:
    """Relative POSIX URI under %SRCROOT% when the file is inside the root, else an absolute file URI."""
    full = PurePath(os.path.normpath(source_root / path))
    try:
        relative = full.relative_to(source_root)
    except ValueError:
        return {"uri": full.as_uri()}
    return {"uri": quote(relative.as_posix()), "uriBaseId": SRCROOT}


def _physical_location(
    artifact: dict[str, str], start_line: int, start_column: int | None = None, end_line: int | None = None
) -> dict[str, Any]:
    region: dict[str, int] = {"startLine": start_line}
    if start_column is not None:
        region["startColumn"] = start_column
    if end_line is not None:
        region["endLine"] = max(end_line, start_line)
    return {"physicalLocation": {"artifactLocation": artifact, "region": region}}


def _fingerprint(finding: Finding, uri: str, seen: dict[str, int]) -> str:
    """Stable across line shifts: rule, file, function and the whitespace-normalised evidence code.

    A second identical sequence in the same function gets an occurrence suffix so both stay distinct.
    """
    code = "\n".join(" ".join(step.code.split()) for step in finding.evidence) or finding.message
    material = "\0".join([finding.rule_id, uri, finding.function or "", code])
    digest = hashlib.sha256(material.encode("utf-8")).hexdigest()[:32]
    seen[digest] = seen.get(digest, 0) + 1
    return digest if seen[digest] == 1 else f"{digest}:{seen[digest]}"


def _sarif_result(
    finding: Finding, rule_index: int, source_root: PurePath, seen: dict[str, int]
) -> dict[str, Any]:
    artifact = _artifact_location(finding.path, source_root)
    location = _physical_location(artifact, finding.line, finding.column, finding.end_line)
    if finding.function:
        location["logicalLocations"] = [{"name": finding.function, "kind": "function"}]
    result: dict[str, Any] = {
        "ruleId": finding.rule_id,
        "ruleIndex": rule_index,
        "level": _SARIF_LEVEL[finding.severity],
        "message": {"text": finding.message},
        "locations": [location],
        "partialFingerprints": {FINGERPRINT_KEY: _fingerprint(finding, artifact["uri"], seen)},
    }
    if finding.evidence:
        steps = [_evidence_location(step, artifact) for step in finding.evidence]
        result["relatedLocations"] = [{"id": number, **step} for number, step in enumerate(steps, 1)]
        # The steps run in this order within one request; the race is another request between them.
        result["codeFlows"] = [{"threadFlows": [{"locations": [{"location": step} for step in steps]}]}]
    result["properties"] = {
        key: value
        for key, value in {
            "confidence": finding.confidence,
            "route": finding.route,
            "reached_by": finding.reached_by,
            "operation": finding.operation,
            "pointer": finding.pointer,
            "cwe": finding.cwe,
            "fix": finding.fix,
        }.items()
        if value
    }
    return result


def _evidence_location(step: Evidence, artifact: dict[str, str]) -> dict[str, Any]:
    location = _physical_location(artifact, step.line)
    location["message"] = {"text": f"{step.role}: {step.code}"}
    return location


def _sarif_invocation(errors: list[FileError], source_root: PurePath) -> dict[str, Any]:
    notifications = [
        {
            "level": "error",
            "message": {"text": _error_text(error)},
            "locations": [
                {"physicalLocation": {"artifactLocation": _artifact_location(error.path, source_root)}}
            ],
        }
        for error in errors
    ]
    return {"executionSuccessful": True, "toolExecutionNotifications": notifications}
