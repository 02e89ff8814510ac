"""`race-mcp demo`: the find / prove / fix story, told on the shop bundled in this package.

`shop.py` is a FastAPI shop with real races, `shop_fixed.py` its safe twin and `openapi.yaml` their API.
`run_demo` runs the demo's steps in order and returns them as a `DemoReport`; it prints nothing.
The steps: static analysis of both shops, the OpenAPI check linked to the code, bursts that prove
the races on a running shop, the patches applied to a temporary copy, the same bursts against the
patched copy (each must say `no_race`), and the shop's functional checks on the patched copy.
`run_demo(database="postgresql://...")` runs the shops on PostgreSQL instead of SQLite.

Importing this package does not import the shops (or FastAPI): they are read as files here, and run
as separate uvicorn processes by the steps that need a server.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from ..analyzer import analyze_paths
from ..config import Settings
from ..errors import InputError
from ..findings import AnalysisReport
from ._checks import CheckResult
from ._report import DemoReport, DemoStep, StepStatus, describe_finding, render_demo_text

__all__ = [
    "DEMO_DIR",
    "DEMO_STEPS",
    "DemoContext",
    "DemoReport",
    "DemoStep",
    "StepStatus",
    "render_demo_text",
    "run_demo",
]

DEMO_DIR = Path(__file__).resolve().parent
_RACY_SHOP = "shop.py"
_FIXED_SHOP = "shop_fixed.py"


@dataclass
class DemoContext:
    """What every step can use: the demo files, the analysis settings and the steps run so far."""

    demo_dir: Path
    settings: Settings
    workdir: Path  # a temporary directory for this run (the patched copy lives here)
    database: str | None = None  # a postgresql:// URL, or None for SQLite
    patched_app: Path | None = None  # the patched copy's package directory, once the patch step ran
    check_results: list[CheckResult] | None = None  # functional checks on the patched copy
    steps: list[DemoStep] = field(default_factory=list)

    def analysis_of(self, key: str) -> AnalysisReport | None:
        """The analysis report of an earlier step, for steps that act on its findings."""
        for step in self.steps:
            if step.key == key:
                return step.analysis
        return None


def _analyze_demo_file(context: DemoContext, filename: str) -> AnalysisReport:
    """Analyse one demo file; findings and errors name it relative to the demo directory."""
    report = analyze_paths([context.demo_dir / filename], settings=context.settings)
    return report.model_copy(
        update={
            "findings": [finding.model_copy(update={"path": filename}) for finding in report.findings],
            "errors": [error.model_copy(update={"path": filename}) for error in report.errors],
        }
    )


def _count_phrase(report: AnalysisReport) -> str:
    total = report.summary.findings
    noun = "finding" if total == 1 else "findings"
    if not total:
        return f"0 {noun}"
    by_rule = ", ".join(f"{rule} x{count}" for rule, count in sorted(report.summary.by_rule.items()))
    return f"{total} {noun} ({by_rule})"


def _analyze_racy_shop(context: DemoContext) -> DemoStep:
    """Step: the racy shop must have findings, each tied to a route where one is known."""
    report = _analyze_demo_file(context, _RACY_SHOP)
    details = [describe_finding(finding) for finding in report.findings]
    details += [f"error: {error.message}" for error in report.errors]
    status: StepStatus = "passed" if report.findings and not report.errors else "failed"
    summary = f"{_count_phrase(report)} in {_RACY_SHOP}"
    if not report.findings:
        summary += "; the shop has races, so the analyzer missed them"
    return DemoStep(
        key="analyze-shop",
        title="Static analysis of the demo shop",
        status=status,
        summary=summary,
        details=details,
        analysis=report,
    )


def _analyze_safe_twin(context: DemoContext) -> DemoStep:
    """Step: the safe twin must have no findings at all (no false positives)."""
    report = _analyze_demo_file(context, _FIXED_SHOP)
    details = [f"false positive: {describe_finding(finding)}" for finding in report.findings]
    details += [f"error: {error.message}" for error in report.errors]
    clean = not report.findings and not report.errors
    summary = f"{_count_phrase(report)} in {_FIXED_SHOP}"
    summary += " (locks, guarded UPDATEs, transactions, a UNIQUE constraint)" if clean else "; expected none"
    return DemoStep(
        key="analyze-safe-twin",
        title="Static analysis of the safe twin",
        status="passed" if clean else "failed",
        summary=summary,
        details=details,
        analysis=report,
    )


def _check_spec(context: DemoContext) -> DemoStep:
    from ._prove import check_spec_step  # the YAML loader only when the demo runs

    return check_spec_step(context)


def _prove_races(context: DemoContext) -> DemoStep:
    from ._prove import prove_races_step  # the burst engine and a uvicorn process

    return prove_races_step(context)


def _patch(context: DemoContext) -> DemoStep:
    from ._fix import patch_shop_step  # libcst and the fixers only when the demo runs

    return patch_shop_step(context)


def _prove_fix(context: DemoContext) -> DemoStep:
    from ._fix import prove_fix_step

    return prove_fix_step(context)


def _functional_checks(context: DemoContext) -> DemoStep:
    from ._fix import check_patched_shop_step

    return check_patched_shop_step(context)


DEMO_STEPS: tuple[Callable[[DemoContext], DemoStep], ...] = (
    _analyze_racy_shop,
    _analyze_safe_twin,
    _check_spec,
    _prove_races,
    _patch,
    _prove_fix,
    _functional_checks,
)
"""The demo's steps, in order; each sees the earlier steps' results through `DemoContext.steps`."""


def run_demo(*, settings: Settings | None = None, database: str | None = None) -> DemoReport:
    """Run every demo step on the bundled shop and return the report; prints nothing.

    `settings` defaults to every rule with default limits: the user's `pyproject.toml` is not read,
    so that the demo shows the same story everywhere. `database` is a `postgresql://` URL to run
    the shops on PostgreSQL (each server run in a schema of its own, dropped when it stops);
    `InputError` if it is not one or the server does not answer.
    """
    if database is not None:
        check_database_url(database)
    with tempfile.TemporaryDirectory(prefix="race-mcp-demo-") as workdir:
        context = DemoContext(
            demo_dir=DEMO_DIR, settings=settings or Settings(), workdir=Path(workdir), database=database
        )
        for step in DEMO_STEPS:
            context.steps.append(step(context))
    # The report is printed and saved: it names the database, never its password.
    shown = _without_password(database) if database is not None else None
    return DemoReport(demo_dir=str(context.demo_dir), database=shown, steps=list(context.steps))


def check_database_url(url: str) -> None:
    """`InputError` unless `url` is a PostgreSQL URL of a server that accepts a connection."""
    from ._store import is_database_url

    if not is_database_url(url):
        raise InputError(f"--database must be a postgresql:// URL, got {url!r}", code="bad-database-url")
    import psycopg  # only when asked for PostgreSQL

    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.Error as exc:
        raise InputError(
            f"cannot connect to PostgreSQL at {_without_password(url)}: {_connect_failure(exc)}",
            code="database-unreachable",
        ) from None


def _connect_failure(exc: Exception) -> str:
    """The cause in libpq's message (`... port 1 failed: Connection refused` and a tab-indented
    hint on the next line) as a few words: `connection refused`, `timeout expired`."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    cause = lines[0].rsplit(" failed: ", 1)[-1].removeprefix("connection failed: ").strip()
    cause = cause.removeprefix("FATAL:").strip()
    return cause[:1].lower() + cause[1:] if cause[1:2].islower() else cause


def _without_password(url: str) -> str:
    """The URL as an error may show it: a password in it becomes `***`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
