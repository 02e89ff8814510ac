"""The demo's verified-fix loop: patch a temporary copy of the shop, restart it, prove the fix.

The patches are `propose_patches`' own, applied to a copy of `shop.py` in a throwaway package next to
copies of the modules it imports (the bundled files are never touched). The copy is served like the
original, the SAME bursts that proved the races run against it and must each say `no_race`, and
the shop's functional checks must still pass one request at a time.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from ..errors import RaceMcpError
from ..openapi import check_openapi
from ..remediate import PatchReport, propose_patches
from ..remediate._spec import SPEC_RULES, propose_spec_patch
from ._checks import run_functional_checks
from ._prove import BURST_SCENARIOS, burst_all, tally_outcomes
from ._report import DemoStep, StepStatus
from ._server import serve_shop

if TYPE_CHECKING:
    from . import DemoContext

__all__ = ["PATCHED_PACKAGE", "check_patched_shop_step", "patch_shop_step", "prove_fix_step"]

PATCHED_PACKAGE = "race_mcp_demo_patched"
# What shop.py imports from its package; copied beside the patched shop so it runs unchanged.
_SHOP_MODULES = ("_models.py", "_partners.py", "_store.py")


def _write_patched_package(context: DemoContext, patched_source: str) -> Path:
    package = context.workdir / PATCHED_PACKAGE
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text('"""The demo shop as patched by race-mcp."""\n', encoding="utf-8")
    for name in _SHOP_MODULES:
        shutil.copyfile(context.demo_dir / name, package / name)
    (package / "shop.py").write_text(patched_source, encoding="utf-8")
    return package


def _spec_details(context: DemoContext) -> list[str]:
    """The spec half of the fix: openapi.yaml patched in the copy and checked again."""
    spec = context.demo_dir / "openapi.yaml"
    before = check_openapi(spec, settings=context.settings).findings
    patch = propose_spec_patch(spec, before)
    copy = context.workdir / "openapi.yaml"
    copy.write_text(patch.patched_text, encoding="utf-8")
    after = check_openapi(copy, settings=context.settings).findings
    fixable = sum(finding.rule_id in SPEC_RULES for finding in before)
    left = sorted({finding.rule_id for finding in after})
    added = sum(line.startswith("+") and not line.startswith("+++") for line in patch.diff.splitlines())
    return [
        f"openapi.yaml: {len(patch.changes)} operations patched (+{added} lines); "
        f"{len(before)} spec findings -> {len(after)}, {fixable} fixable -> "
        f"{sum(finding.rule_id in SPEC_RULES for finding in after)}"
        + (f" (left: {', '.join(left)}, guidance only)" if left else "")
    ]


def patch_shop_step(context: DemoContext) -> DemoStep:
    """Step: every finding in shop.py that has a sound patch, patched in a temporary copy."""
    source = (context.demo_dir / "shop.py").read_text(encoding="utf-8")
    try:
        report = propose_patches(source, "shop.py", settings=context.settings)
        spec_details = _spec_details(context)
    except RaceMcpError as exc:
        return DemoStep(key="patch", title="Patches", status="failed", summary=str(exc))
    context.patched_app = _write_patched_package(context, report.patched_source or source)
    details = [f"{p.rule_id}  shop.py line {p.line}: {p.description}" for p in report.patches]
    details += [
        f"{u.rule_id}  shop.py line {u.line}: not patched: {_shorten(u.guidance)}" for u in report.unpatched
    ]
    details += [f"error: {error.message}" for error in report.errors]
    details += spec_details
    status: StepStatus = "passed" if report.patches and not report.errors else "failed"
    summary = (
        f"{len(report.patches)} patches applied to a temporary copy of shop.py"
        f"{_unpatched_phrase(report)}; the spec patched beside it"
    )
    return DemoStep(key="patch", title="Patches", status=status, summary=summary, details=details)


def _unpatched_phrase(report: PatchReport) -> str:
    count = len(report.unpatched)
    return f" ({count} findings left as guidance)" if count else ""


def prove_fix_step(context: DemoContext) -> DemoStep:
    """Step: restart the shop from the patched copy; the same bursts must each say `no_race`.

    The functional checks run on the same server afterwards (one restart, not two); the next step
    reports them.
    """
    title = "Bursts against the patched shop"
    if context.patched_app is None:
        return DemoStep(key="prove-fix", title=title, status="skipped", summary="no patched copy to serve")
    try:
        with serve_shop("shop", app_dir=context.patched_app, database_url=context.database) as shop:
            outcomes = anyio.run(burst_all, shop)
            context.check_results = run_functional_checks(shop.base_url)
    except RaceMcpError as exc:
        return DemoStep(key="prove-fix", title=title, status="failed", summary=str(exc))
    held, details = tally_outcomes(outcomes, wanted="no_race", again=True)
    status: StepStatus = "passed" if held == len(BURST_SCENARIOS) else "failed"
    summary = f"{held} of {len(outcomes)} fixes hold: the same bursts now show no_race"
    return DemoStep(key="prove-fix", title=title, status=status, summary=summary, details=details)


def check_patched_shop_step(context: DemoContext) -> DemoStep:
    """Step: the patched shop still does its job, one request at a time (checked by `prove_fix_step`)."""
    title = "Functional checks on the patched shop"
    results = context.check_results
    if results is None:
        return DemoStep(
            key="functional-checks", title=title, status="skipped", summary="the patched shop did not run"
        )
    details = [f"{r.name}: {'ok' if r.problem is None else 'FAILED: ' + r.problem}" for r in results]
    passed = sum(result.problem is None for result in results)
    status: StepStatus = "passed" if passed == len(results) else "failed"
    summary = f"{passed} of {len(results)} checks pass, one request at a time"
    return DemoStep(key="functional-checks", title=title, status=status, summary=summary, details=details)


def _shorten(text: str, limit: int = 220) -> str:
    """Guidance in one line: what is missing and how to fix it by hand."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"
