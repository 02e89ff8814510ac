"""The OpenAPI precondition checker: which operations let concurrent clients race (RA1xx).

Entry point: `check_openapi`. It loads a spec (2.0, 3.0, 3.1, 3.2; YAML or JSON; one file or
many) offline and lazily, checks every operation, and with `source` links each operation to the
handler the static analyzer found for its route, ranking endpoints racy in both first.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..analyzer import analyze_paths
from ..config import Settings
from ..errors import InputError
from ..findings import AnalysisReport, Finding
from ..roots import AllowedRoots
from ._budget import CHECK_SECONDS, Budget
from ._checks import Policy, check_operation
from ._lambda_routes import lambda_routes, with_lambda_routes
from ._link import link_code_findings
from ._load import SpecFile, format_pointer
from ._operations import Operation, base_paths, collect_facts, iter_operations
from ._refs import Resolver
from ._report import Endpoint, FindingGroup, OpenApiReport, SpecInfo, group_findings

__all__ = ["Endpoint", "FindingGroup", "OpenApiReport", "SpecInfo", "check_openapi", "group_findings"]

_OPENAPI_3 = re.compile(r"^3\.[0-9]+(\.[0-9]+)?")
# Spec rules a racy handler confirms: lost updates and duplicates, not rate limits.
_CONFIRMED_BY_CODE = ("RA10", "RA11")


def check_openapi(
    spec: str | Path,
    *,
    settings: Settings | None = None,
    source: str | Path | None = None,
    ref_roots: Sequence[str | Path] = (),
    allow_remote_hosts: Sequence[str] = (),
    max_findings: int | None = None,
    source_roots: AllowedRoots | None = None,
    max_seconds: float = CHECK_SECONDS,
) -> OpenApiReport:
    """Check one OpenAPI document for missing concurrency preconditions.

    `spec` is the root document. File `$ref`s may reach only its directory, the configured
    `roots` and `ref_roots`; remote ones only the hosts in `[tool.race-mcp.openapi] remote_hosts`
    and `allow_remote_hosts`. `source` (a directory or file) is analysed too, and its findings are
    put beside the spec findings of the same endpoint; its walk never reads a file whose resolved
    path leaves `source_roots` (the MCP tool's allowed roots; default: the `source` directory).
    Raises `InputError` when the spec itself cannot be read or is not OpenAPI; `$ref`s that cannot
    be followed become `errors`. One check may load `max_spec_bytes` across all its files together
    and take `max_seconds` (remote fetches a third of it); past either it raises `InputError`
    (`spec-too-large`, `spec-timeout`). The `source` analysis has its own limits.
    """
    settings = settings or Settings()
    spec_path = Path(spec)
    roots = AllowedRoots([spec_path.resolve().parent, *settings.root_paths(), *ref_roots])
    resolver = Resolver(
        roots=roots,
        remote_hosts=[*settings.openapi.remote_hosts, *allow_remote_hosts],
        max_bytes=settings.openapi.max_spec_bytes,
        budget=Budget(max_bytes=settings.openapi.max_spec_bytes, seconds=max_seconds),
    )
    document = resolver.load_root(spec_path, str(spec))
    version = _spec_version(document)
    root = resolver.root_node(document)
    policy = Policy.from_settings(settings.openapi)

    operations = list(iter_operations(resolver, root))
    facts = {}
    for operation in operations:
        resolver.budget.check_time(document.label)
        facts[operation] = collect_facts(resolver, operation)
    gets = {op.path: found for op, found in facts.items() if op.method == "GET"}
    spec_findings: dict[str, list[Finding]] = {}
    for operation, operation_facts in facts.items():
        resolver.budget.check_time(document.label)
        get_of_path = gets.get(operation.path) if operation.method != "GET" else None
        spec_findings[operation.label] = check_operation(
            operation_facts, policy, get_of_path=get_of_path, enabled=settings.rule_enabled
        )

    code = _code_report(source, settings, source_roots) if source is not None else None
    code_by_operation = (
        link_code_findings(
            [(op.label, op.method, op.path) for op in operations],
            code.findings,
            prefixes=base_paths(resolver, root),
        )
        if code is not None
        else {}
    )
    endpoints = _endpoints(operations, spec_findings, code_by_operation)
    findings = [
        finding for endpoint in endpoints for finding in endpoint.spec_findings + endpoint.code_findings
    ]
    errors = [*resolver.errors, *(code.errors if code is not None else [])]
    files = resolver.files
    base = AnalysisReport.build(
        findings,
        errors,
        files_analyzed=len(files) + (code.summary.files_analyzed if code is not None else 0),
        max_findings=max_findings,
        files_skipped=code.summary.files_skipped if code is not None else None,
        files_skipped_partial=code.summary.files_skipped_partial if code is not None else False,
        warnings=code.summary.warnings if code is not None else (),
    )
    info = SpecInfo(
        path=str(spec),
        version=version,
        title=_title(document),
        operations=len(operations),
        files=[file.label for file in files],
    )
    return OpenApiReport(
        findings=base.findings,
        errors=base.errors,
        summary=base.summary,
        spec=info,
        endpoints=endpoints if max_findings is None else endpoints[:max_findings],
    )


def _spec_version(document: SpecFile) -> str:
    root: Any = document.root
    label = document.label
    if not isinstance(root, dict):
        kind = type(root).__name__ if root is not None else "empty"
        raise InputError(
            f"{label}: not an OpenAPI document (the top level is {kind}, not a mapping)", code="not-openapi"
        )
    if "openapi" in root:
        version = str(root["openapi"])
        if not _OPENAPI_3.match(version):
            raise InputError(
                f"{label}: unsupported OpenAPI version {version!r} (2.0 and 3.x are supported)",
                code="unsupported-version",
            )
    elif "swagger" in root:
        version = str(root["swagger"])
        if version != "2.0":
            raise InputError(
                f"{label}: unsupported Swagger version {version!r} (only 2.0)", code="unsupported-version"
            )
    else:
        raise InputError(
            f"{label}: not an OpenAPI document (no 'openapi' or 'swagger' field)", code="not-openapi"
        )
    paths = root.get("paths")
    if paths is not None and not isinstance(paths, dict):
        raise InputError(
            f"{label}#/paths: must be a mapping of path templates to path items", code="not-openapi"
        )
    return version


def _title(document: SpecFile) -> str | None:
    info = document.root.get("info")
    title = info.get("title") if isinstance(info, dict) else None
    return title if isinstance(title, str) else None


def _code_report(source: str | Path, settings: Settings, roots: AllowedRoots | None) -> AnalysisReport:
    """The analysis of `source`, Lambda handlers given the routes their deployment descriptor
    declares (API Gateway routes them, not the code)."""
    path = Path(source)
    if not path.exists():
        raise InputError(f"{source}: no such file or directory (--source)", code="not-found")
    report = analyze_paths([path], settings=settings, roots=roots)
    routes, errors = lambda_routes(path, roots=roots, max_bytes=settings.openapi.max_spec_bytes)
    if not routes and not errors:
        return report
    findings = with_lambda_routes(report.findings, routes, path)
    return report.model_copy(update={"findings": findings, "errors": [*report.errors, *errors]})


def _endpoints(
    operations: list[Operation],
    spec_findings: dict[str, list[Finding]],
    code_by_operation: dict[str, list[Finding]],
) -> list[Endpoint]:
    endpoints = []
    for operation in operations:
        code = code_by_operation.get(operation.label, [])
        spec = spec_findings.get(operation.label, [])
        if not spec and not code:
            continue
        if code:
            spec = [_confirmed(finding, code[0]) for finding in spec]
        endpoints.append(
            Endpoint(
                operation=operation.label,
                path=operation.node.file.label,
                line=operation.node.line,
                pointer=format_pointer(operation.node.pointer),
                handler=next((finding.function for finding in code if finding.function), None),
                spec_findings=sorted(spec, key=Finding.sort_key),
                code_findings=sorted(code, key=Finding.sort_key),
            )
        )
    return sorted(endpoints, key=Endpoint.rank_key)


def _confirmed(finding: Finding, code: Finding) -> Finding:
    """A missing precondition on an endpoint whose handler races is the finding that matters most."""
    if not finding.rule_id.startswith(_CONFIRMED_BY_CODE):
        return finding
    handler = f"`{code.function}` " if code.function else ""
    note = f" Its handler {handler}({code.path}:{code.line}) has {code.rule_id}: {code.title.lower()}."
    return finding.model_copy(
        update={"severity": "high", "confidence": "high", "message": finding.message + note}
    )
