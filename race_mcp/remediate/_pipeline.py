"""The patch pipeline: run each finding's fixer on the current module, verify, chain, diff.

Fixes are applied in sequence to one module, so a later fixer sees earlier rewrites. Line numbers
move with every rewrite, so each original finding is found again in the re-analysed current text
(same rule and function, then the closest evidence). A rewrite is kept only if it parses, the
finding is gone and nothing new is reported; otherwise it becomes guidance.
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Iterable

import libcst as cst

from ..analyzer import analyze_source
from ..config import Settings
from ..errors import InputError
from ..findings import FileError, Finding
from ..rules import get_rule
from ._diff import unified_diff
from ._fixers import FIXERS, Fixed, Fixer, Guidance
from ._models import Patch, PatchReport, Unpatched
from ._write import source_sha256

__all__ = ["find_fixer", "propose_patches"]

_Key = tuple[str, str | None]


def find_fixer(rule_id: str) -> Fixer | None:
    """The most specific registered fixer: `RC101`, then the family `RC1`, then `RC`."""
    for key in (rule_id, rule_id[:3], rule_id[:2]):
        if key in FIXERS:
            return FIXERS[key]
    return None


def _checked_rule(rule: str | None) -> str | None:
    if rule is None:
        return None
    found = get_rule(rule)
    if not found.id.startswith("RC"):
        raise InputError(f"{found.id} is an OpenAPI rule; patch the spec file, not Python source")
    return found.id


def _key(finding: Finding) -> _Key:
    return (finding.rule_id, finding.function)


def _refind(original: Finding, current: Iterable[Finding]) -> Finding | None:
    """The current finding that is the original one after earlier rewrites moved its lines."""
    codes = {step.code for step in original.evidence}
    candidates = [f for f in current if _key(f) == _key(original)]
    if not candidates:
        return None
    return max(
        candidates,
        key=lambda f: (len(codes & {step.code for step in f.evidence}), -abs(f.line - original.line)),
    )


# Fixes that turn a handler's write into a guarded state transition; the analyzer then no longer
# asks that handler for an idempotency key (RC601), because a retry fails the transition.
_CLAIMING_FIXES = frozenset({"RC201", "RC301", "RC304"})


def _rejection(
    before: list[Finding], target: Finding, new_source: str, path: str, settings: Settings
) -> str | None:
    """Why a rewrite is not a fix, or None when it is one."""
    try:
        ast.parse(new_source)
    except SyntaxError as exc:
        return f"the rewrite does not parse ({exc.msg})"
    after = analyze_source(new_source, path, settings=settings)
    before_keys, after_keys = Counter(map(_key, before)), Counter(map(_key, after))
    if after_keys[_key(target)] >= before_keys[_key(target)]:
        return "re-analysis of the rewrite still reports the race"
    added = after_keys - before_keys
    if added:
        rules = ", ".join(sorted({rule for rule, _ in added}))
        return f"re-analysis of the rewrite reports new findings ({rules})"
    # Another finding vanishing means the rewrite hid it from the analyzer, not that it fixed it;
    # except a missing idempotency key in the same handler when the fix turned its write into a
    # guarded state transition (a claim): a retry now fails the claim instead of repeating it.
    hidden = {
        key
        for key in before_keys
        if key != _key(target)
        and after_keys[key] < before_keys[key]
        and not (key == ("RC601", target.function) and target.rule_id in _CLAIMING_FIXES)
    }
    if hidden:
        rules = ", ".join(sorted({rule for rule, _ in hidden}))
        return f"re-analysis of the rewrite no longer sees other findings ({rules}) that it does not fix"
    return None


def _guidance(finding: Finding, reason: str) -> str:
    fix = finding.fix or get_rule(finding.rule_id).title
    return f"{reason}. Fix by hand: {fix}"


class _Run:
    """One file's patch run: the current text, what was patched and what was not."""

    def __init__(self, source: str, path: str, settings: Settings) -> None:
        self.source = source
        self.path = path
        self.settings = settings
        self.findings = analyze_source(source, path, settings=settings)
        self.report = PatchReport(path=path, source_sha256=source_sha256(source))

    def fix(self, original: Finding) -> None:
        target = _refind(original, self.findings)
        if target is None:
            return  # an earlier patch in this run already removed it (e.g. one lock for two findings)
        fixer = find_fixer(target.rule_id)
        if fixer is None:
            self._decline(original, _guidance(target, f"No mechanical patch for {target.rule_id}"))
            return
        outcome = self._run_fixer(fixer, target, original)
        if isinstance(outcome, Guidance):
            self._decline(original, outcome.message)
            return
        new_source = outcome.module.code
        reason = _rejection(self.findings, target, new_source, self.path, self.settings)
        if reason is not None:
            self._decline(original, _guidance(target, f"The generated patch was dropped: {reason}"))
            return
        self._accept(original, outcome, new_source)

    def _run_fixer(self, fixer: Fixer, target: Finding, original: Finding) -> Fixed | Guidance:
        try:
            module = cst.parse_module(self.source)
            return fixer(module, target)
        except Exception as exc:  # a fixer bug must cost one patch, not the whole report
            where = f"{self.path}:{original.line}"
            message = f"{where}: {target.rule_id} fixer failed: {type(exc).__name__}: {exc}"
            self.report.errors.append(FileError(path=self.path, message=message, code="fixer-failed"))
            return Guidance(_guidance(target, f"No patch generated ({type(exc).__name__} in the fixer)"))

    def _decline(self, original: Finding, guidance: str) -> None:
        self.report.unpatched.append(
            Unpatched(rule_id=original.rule_id, path=self.path, line=original.line, guidance=guidance)
        )

    def _accept(self, original: Finding, fixed: Fixed, new_source: str) -> None:
        patch = Patch(
            rule_id=original.rule_id,
            path=self.path,
            line=original.line,
            description=fixed.description,
            diff=unified_diff(self.source, new_source, self.path),
            safety=fixed.safety,
            note=fixed.note,
        )
        self.report.patches.append(patch)
        self.source = new_source
        self.findings = analyze_source(new_source, self.path, settings=self.settings)


def propose_patches(
    source: str, path: str, *, settings: Settings | None = None, rule: str | None = None
) -> PatchReport:
    """Patches for every finding in `source` (or only `rule`'s), each verified by re-analysis.

    Pure: reads nothing and writes nothing. Raises `InputError` for unparsable source or an
    unknown rule id. `report.diff` is the combined diff; `apply_patches` writes it.
    """
    settings = settings or Settings()
    rule_id = _checked_rule(rule)
    run = _Run(source, path, settings)
    targets = [f for f in run.findings if rule_id is None or f.rule_id == rule_id]
    for original in sorted(targets, key=lambda f: (f.line, f.rule_id)):
        run.fix(original)
    report = run.report
    report.diff = unified_diff(source, run.source, path)
    report._patched_source = run.source
    return report
