"""The patch pipeline: run each finding's fixer, verify, chain, diff.

Fixes are applied in sequence, so a later fixer sees earlier rewrites. A rewrite is kept only if
it parses, the finding is gone and nothing new is reported; otherwise it becomes guidance.

Each fix works on a slice of the module (`_slice`: the function, what it calls, the module-level
declarations) and is verified by analysing the slice before and after, then carried back into the
whole text; the whole file is analysed once more at the end, and if that disagrees with what the
slices promised, the run is redone the slow way (every fix on the whole module, verified by
re-analysing the whole module). Work per fix is then bounded by the function, not the file:
patching 80 racy handlers no longer re-analyses 80 handlers 160 times. A request stops trying new
fixes after `max_patch_seconds`; what is left becomes guidance and one `patch-timeout` error.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import cast

import libcst as cst

from ..analyzer import analyze_source, indexed_projects
from ..analyzer.core.languages import PYTHON, language_for
from ..config import Settings
from ..errors import InputError
from ..findings import FileError, Finding
from ..roots import AllowedRoots
from ..rules import get_rule
from ._diff import unified_diff
from ._fixers import FIXERS, TEXT_FIXERS, Fixed, Fixer, Guidance, TextFixer
from ._models import Patch, PatchReport, Unpatched
from ._slice import def_lines, module_names, slice_for, splice
from ._write import source_sha256
from .javascript._examples import with_example
from .javascript._libraries import library_of

__all__ = ["find_fixer", "propose_patches"]

_Key = tuple[str, str | None]


def find_fixer(rule_id: str, language: str = PYTHON) -> Fixer | TextFixer | None:
    """The most specific registered fixer for the language: `RC101`, then the family `RC1`, then `RC`."""
    registry: dict[str, Fixer] | dict[str, TextFixer] = (
        FIXERS if language == PYTHON else TEXT_FIXERS.get(language, {})
    )
    for key in (rule_id, rule_id[:3], rule_id[:2]):
        if key in registry:
            return registry[key]
    return None


def _checked_rule(rule: str | None) -> str | None:
    if rule is None:
        return None
    found = get_rule(rule)
    if not found.id.startswith("RC"):
        raise InputError(f"{found.id} is an OpenAPI rule; patch the spec file, not source code")
    return found.id


_ANONYMOUS = re.compile(r"<anonymous:\d+>")


def _key(finding: Finding) -> _Key:
    """A finding's identity across rewrites: its rule and function. JavaScript names an inline
    handler by its line (`<anonymous:16>`), which a fix above it shifts: its route stands for it
    (or, off a route, the name without the line)."""
    function = finding.function
    if function is not None and _ANONYMOUS.search(function):
        function = finding.route or _ANONYMOUS.sub("<anonymous>", function)
    return (finding.rule_id, function)


def _refind(
    original: Finding, current: Iterable[Finding], anchors: tuple[int, int] = (0, 0)
) -> Finding | None:
    """The current finding that is the original one after earlier rewrites moved its lines.

    Same rule and function, then the most evidence lines in common, then the closest line, counted
    from the function's `def` (`anchors`: its line in the original text and in the current one),
    since the current text may be a slice or have grown above the function.
    """
    codes = {step.code for step in original.evidence}
    candidates = [f for f in current if _key(f) == _key(original)]
    if not candidates:
        return None
    origin, here = anchors
    return max(
        candidates,
        key=lambda f: (
            len(codes & {step.code for step in f.evidence}),
            -abs((f.line - here) - (original.line - origin)),
        ),
    )


# Fixes that turn a handler's write into a guarded state transition; the analyzer then no longer
# asks that handler for an idempotency key (RC601), because a retry fails the transition.
_CLAIMING_FIXES = frozenset({"RC201", "RC301", "RC304"})


def _rejection(
    before: list[Finding], target: Finding, new_source: str, analyze: Callable[[str], list[Finding]]
) -> tuple[str | None, list[Finding]]:
    """Why a rewrite is not a fix (None when it is one), and the rewrite's findings."""
    try:
        after = analyze(new_source)
    except InputError as exc:
        if exc.code == "syntax-error":
            return f"the rewrite does not parse ({str(exc).split('syntax error: ', 1)[-1]})", []
        return f"the rewrite could not be re-analysed ({exc.code})", []
    return _unexplained(before, target, after), after


def _unexplained(before: list[Finding], target: Finding, after: list[Finding]) -> str | None:
    """What re-analysis reports that the fix of `target` does not explain, or None."""
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
        and not (key == ("RC601", _key(target)[1]) and target.rule_id in _CLAIMING_FIXES)
    }
    if hidden:
        rules = ", ".join(sorted({rule for rule, _ in hidden}))
        return f"re-analysis of the rewrite no longer sees other findings ({rules}) that it does not fix"
    return None


_IDENTIFIER = re.compile(r"\b[^\W\d]\w*")


def _identifiers(text: str) -> set[str]:
    return set(_IDENTIFIER.findall(text))


def _guidance(finding: Finding, reason: str, source: str = "") -> str:
    fix = finding.fix or get_rule(finding.rule_id).title
    text = f"{reason}. Fix by hand: {fix}"
    # A JavaScript reader gets the fix as JavaScript code too, as the front-end's guidance shows it,
    # written with the file's own library (`source`: the module's text).
    if language_for(finding.path).name != "javascript":
        return text
    return with_example(text, finding.rule_id, library_of(source, finding))


class _Run:
    """One file's patch run: the current text, what was patched and what was not."""

    def __init__(
        self, source: str, path: str, settings: Settings, *, sliced: bool = True, origin: Path | None = None
    ) -> None:
        self.source = source
        self.path = path
        self.settings = settings
        self.language = language_for(path).name
        # Slices are cut from Python's own tree; other languages patch and verify the whole file.
        self.sliced = sliced and self.language == PYTHON
        self.origin = origin  # the file on disk, whose project facts every analysis uses
        self.deadline = time.monotonic() + settings.max_patch_seconds
        self.out_of_time = False
        self.original_findings = self.analyze(source)
        self._findings: list[Finding] | None = self.original_findings
        self.original_defs = def_lines(source)
        self.fixed: list[Finding] = []  # the targets of accepted fixes, as first found
        self.report = PatchReport(path=path, source_sha256=source_sha256(source))

    def analyze(self, text: str) -> list[Finding]:
        """Findings of `text` (the file, a rewrite or a slice of it) under the file's name, with
        its project's facts when it has a file on disk: the same findings `analyze` reports."""
        return analyze_source(text, self.path, settings=self.settings, project_file=self.origin)

    @property
    def findings(self) -> list[Finding]:
        """The whole current text's findings, analysed again only when a sliced fix changed it."""
        if self._findings is None:
            self._findings = self.analyze(self.source)
        return self._findings

    def fix(self, original: Finding) -> None:
        if time.monotonic() > self.deadline:
            self._out_of_time(original)
            return
        fixer = find_fixer(original.rule_id, self.language)
        if fixer is None:
            self._no_fixer(original)
        elif not (self.sliced and original.function and self._fix_in_slice(original, fixer)):
            self._fix_whole(original, fixer)

    def _no_fixer(self, original: Finding) -> None:
        """Guidance, unless an earlier fix removed the finding: a guarded state transition (a claim)
        retires its handler's RC601, which sliced runs know without analysing the whole file."""
        if self.sliced:
            claimed = {("RC601", _key(t)[1]) for t in self.fixed if t.rule_id in _CLAIMING_FIXES}
            target: Finding | None = None if _key(original) in claimed else original
        else:
            target = _refind(original, self.findings, self._anchors(original))
        if target is not None:
            self._decline(original, self._by_hand(target, f"No mechanical patch for {target.rule_id}"))

    def _anchors(self, original: Finding) -> tuple[int, int]:
        """The `def` line of the finding's function in the original text and in the current one."""
        if not original.function:
            return (0, 0)
        here = def_lines(self.source).get(original.function, 0)
        return (self.original_defs.get(original.function, 0), here)

    # -- one fix on a slice of the module ------------------------------------------------------
    def _fix_in_slice(self, original: Finding, fixer: Fixer | TextFixer) -> bool:
        """Fix `original` within its slice; False when the slice cannot decide (patch the whole)."""
        assert original.function is not None
        part = slice_for(self.source, original.function)
        if part is None:
            return False
        try:
            before = self.analyze(part.text)
        except InputError:
            return False
        anchor = def_lines(part.text).get(original.function, 0)
        target = _refind(original, before, (self.original_defs.get(original.function, 0), anchor))
        if target is None:
            return False  # removed by an earlier fix, or needs more than the slice: the whole decides
        outcome = self._run_fixer(fixer, part.text, target, original)
        if isinstance(outcome, Guidance):
            self._decline(original, outcome.message)
            return True
        patched = outcome.code
        if (module_names(patched) - module_names(part.text)) & _identifiers(self.source):
            return False  # a name the fixer chose as free (a lock's) is taken outside the slice
        reason, _ = _rejection(before, target, patched, self.analyze)
        if reason is not None:
            self._decline(original, self._by_hand(target, f"The generated patch was dropped: {reason}"))
            return True
        new_source = splice(self.source, part, patched)
        if new_source is None:
            return False
        self._accept(original, target, outcome, new_source, findings=None)
        return True

    # -- one fix on the whole module -------------------------------------------------------------
    def _fix_whole(self, original: Finding, fixer: Fixer | TextFixer) -> None:
        target = _refind(original, self.findings, self._anchors(original))
        if target is None:
            return  # an earlier patch in this run already removed it (e.g. one lock for two findings)
        outcome = self._run_fixer(fixer, self.source, target, original)
        if isinstance(outcome, Guidance):
            self._decline(original, outcome.message)
            return
        new_source = outcome.code
        reason, after = _rejection(self.findings, target, new_source, self.analyze)
        if reason is not None:
            self._decline(original, self._by_hand(target, f"The generated patch was dropped: {reason}"))
            return
        self._accept(original, target, outcome, new_source, findings=after)

    # -- shared ----------------------------------------------------------------------------------
    def _run_fixer(
        self, fixer: Fixer | TextFixer, text: str, target: Finding, original: Finding
    ) -> Fixed | Guidance:
        try:
            if self.language != PYTHON:
                return cast(TextFixer, fixer)(text, target)
            return cast(Fixer, fixer)(cst.parse_module(text), target)
        except Exception as exc:  # a fixer bug must cost one patch, not the whole report
            where = f"{self.path}:{original.line}"
            message = f"{where}: {target.rule_id} fixer failed: {type(exc).__name__}: {exc}"
            self.report.errors.append(FileError(path=self.path, message=message, code="fixer-failed"))
            return Guidance(self._by_hand(target, f"No patch generated ({type(exc).__name__} in the fixer)"))

    def _by_hand(self, finding: Finding, reason: str) -> str:
        """Guidance for a finding left to a person, its example in the file's own library."""
        return _guidance(finding, reason, self.source)

    def _decline(self, original: Finding, guidance: str) -> None:
        self.report.unpatched.append(
            Unpatched(rule_id=original.rule_id, path=self.path, line=original.line, guidance=guidance)
        )

    def _out_of_time(self, original: Finding) -> None:
        seconds = f"{self.settings.max_patch_seconds:g} s"
        reason = f"Not attempted: the request's {seconds} budget ran out"
        self._decline(original, self._by_hand(original, reason))
        if not self.out_of_time:
            self.out_of_time = True
            message = f"{self.path}: patching stopped after {seconds} (max_patch_seconds); rest: guidance"
            self.report.errors.append(FileError(path=self.path, message=message, code="patch-timeout"))

    def _accept(
        self,
        original: Finding,
        target: Finding,
        fixed: Fixed,
        new_source: str,
        *,
        findings: list[Finding] | None,
    ) -> None:
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
        self.fixed.append(target)
        self.source = new_source
        self._findings = findings

    def consistent(self) -> bool:
        """The whole patched text reports what the accepted fixes promise: each fixed finding gone
        (and a claimed handler's RC601 allowed to go with it), nothing new, nothing else hidden."""
        if not self.fixed:
            return True
        try:
            final = Counter(map(_key, self.findings))
        except InputError:
            return False
        expected = Counter(map(_key, self.original_findings))
        expected.subtract(Counter(map(_key, self.fixed)))
        claimed = {("RC601", _key(t)[1]) for t in self.fixed if t.rule_id in _CLAIMING_FIXES}
        if final - expected:
            return False
        return all(final[key] >= count or key in claimed for key, count in expected.items() if count > 0)


def propose_patches(
    source: str,
    path: str,
    *,
    settings: Settings | None = None,
    rule: str | None = None,
    project_file: str | Path | None = None,
    roots: AllowedRoots | None = None,
) -> PatchReport:
    """Patches for every finding in `source` (or only `rule`'s), each verified by re-analysis.

    Writes nothing. Raises `InputError` for unparsable source or an unknown rule id.
    `report.diff` is the combined diff; `apply_patches` writes it. With `project_file` (where
    `source` lives on disk; `path` is then only the diff's name) the file's project is indexed
    (within `roots` when given) and every analysis uses its cross-file facts, as `analyze` does:
    no patch for a finding the whole-project analysis does not report. Without it, nothing is read.
    """
    settings = settings or Settings()
    rule_id = _checked_rule(rule)
    if project_file is None:
        return _propose(source, path, settings, rule_id, None)
    origin = Path(project_file)
    with indexed_projects([origin], settings=settings, roots=roots):
        return _propose(source, path, settings, rule_id, origin)


def _propose(
    source: str, path: str, settings: Settings, rule_id: str | None, origin: Path | None
) -> PatchReport:
    run = _patch(_Run(source, path, settings, origin=origin), rule_id)
    if not run.consistent():
        run = _patch(_Run(source, path, settings, sliced=False, origin=origin), rule_id)
    report = run.report
    report.diff = unified_diff(source, run.source, path)
    report._patched_source = run.source
    return report


def _patch(run: _Run, rule_id: str | None) -> _Run:
    targets = [f for f in run.original_findings if rule_id is None or f.rule_id == rule_id]
    for original in sorted(targets, key=lambda f: (f.line, f.rule_id)):
        run.fix(original)
    return run
