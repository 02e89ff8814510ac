"""Real-fix benchmark: does the analyzer flag races that public projects fixed, and clear the fix?

The manifest (`benchmarks/real_world_manifest.toml`) lists races found and verified in public
Python web projects' history: repository, fix commit, its first parent (the "before"), the files
and functions where the race lives, and its family. For each entry whose repository has a local
git mirror, this script extracts the listed files at the parent and at the fix into a temporary
folder, runs the INSTALLED `race-mcp analyze --format json` on each version, and scores:

- flagged-before: a finding of the entry's family (RC3 for an RC3 race, any RC3xx rule) inside one
  of the listed functions in the before version;
- cleared-after: no finding of that family inside the listed functions in the after version
  (counted only for entries flagged before).

Findings of other families in the listed functions are other races: they neither flag an entry
(an unrelated RC502 does not catch a duplicate-insert race) nor keep it flagged after its fix; the
report lists them and also prints the figures counting every rule. An entry may name `residual`
rules with a `residual_why`: findings of those rules that stay after the fix were read by hand and
judged real races the project's fix left (a FOR UPDATE that cannot lock a missing row, a read taken
before the lock). Reporting them is right, so the report prints a second cleared figure that counts
such an entry as cleared when nothing but its residual rules is left; the strict figure comes first.
Where a listed function also holds another race of the same family (oscar's place_order checks an
order number as well as the voucher), `about` is a regular expression the finding's message or
evidence must match (the race's model or key); other findings there show as `other:<rule>`.

What is extracted and analysed measures what a user gets running `race-mcp analyze` in a
checkout of the project: by default every `*.py` of the tree (and deployment files such as
`contrib/gunicorn.py`) is extracted under an empty `.git` marker, as a checkout has, and the
listed files are analysed, so the project index sees the helpers, callers and server settings
those files rely on. `--whole-tree` analyses the whole tree (`race-mcp analyze .`);
`--files-only` extracts only the listed files and their packages' `__init__.py` (no project
around them: what a user gets naming files copied out of their project).

    .venv/bin/python benchmarks/real_world.py [--mirrors DIR] [--whole-tree | --files-only] [--only ID,ID]

Mirrors are looked up as `DIR/<owner>+<name>/repo` (the search tool's `fetch` layout),
`DIR/<owner>+<name>`, `DIR/<owner>/<name>` and `DIR/<owner>/<name>.git`; the default DIR is
`$RACE_MCP_MIRRORS` or `/work/.mirror`. Entries without a mirror are listed, not scored. Their
code is read from the mirrors at run time only and never copied into this repository. This is a
benchmark, not a test: it is not part of the pytest run.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "real_world_manifest.toml"
DEFAULT_MIRRORS = Path(os.environ.get("RACE_MCP_MIRRORS", "/work/.mirror"))
GIT_TIMEOUT = 300


class EntryError(Exception):
    """Something about one entry could not be measured; reported in its row, the run goes on."""


@dataclass(frozen=True)
class Target:
    path: str
    functions: tuple[str, ...]


@dataclass(frozen=True)
class Entry:
    id: str
    repo: str
    fix: str
    parent: str
    family: str
    link: str
    race: str
    fixed_by: str
    targets: tuple[Target, ...]
    context: tuple[str, ...]
    residual: tuple[str, ...] = ()  # rules judged real races left by the fix (see residual_why)
    residual_why: str = ""
    about: str = ""  # regex a finding's message or evidence must match to be about this race

    @property
    def paths(self) -> list[str]:
        return [t.path for t in self.targets] + [p for p in self.context]


@dataclass
class Result:
    id: str
    repo: str
    family: str
    status: str  # measured | no-mirror | error
    detail: str = ""
    flagged_before: bool = False
    cleared_after: bool = False
    residual_only: bool = False  # still flagged after, but only by rules judged residual races
    any_flagged_before: bool = False  # counting every rule, not only the entry's family
    any_cleared_after: bool = False
    before_rules: list[str] = field(default_factory=list)
    after_rules: list[str] = field(default_factory=list)
    before_findings: list[str] = field(default_factory=list)  # "RULE path:line: message", for review
    after_findings: list[str] = field(default_factory=list)
    before_other: int = 0  # findings elsewhere in the extracted files (context for misses)
    analyzer_errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


def load_manifest(path: Path) -> list[Entry]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    entries = []
    for raw in data.get("race", []):
        targets = tuple(Target(t["path"], tuple(t["functions"])) for t in raw["targets"])
        entries.append(
            Entry(
                id=raw["id"],
                repo=raw["repo"],
                fix=raw["fix"],
                parent=raw["parent"],
                family=raw["family"],
                link=raw.get("link", ""),
                race=raw["race"],
                fixed_by=raw["fixed_by"],
                targets=targets,
                context=tuple(raw.get("context", ())),
                residual=tuple(raw.get("residual", ())),
                residual_why=raw.get("residual_why", ""),
                about=raw.get("about", ""),
            )
        )
    ids = [e.id for e in entries]
    duplicates = sorted(i for i, n in Counter(ids).items() if n > 1)
    if duplicates:
        raise SystemExit(f"manifest: duplicate ids {duplicates}")
    return entries


# --- git mirrors -------------------------------------------------------------------------------


def git(git_dir: Path, *args: str) -> bytes:
    proc = subprocess.run(
        ["git", f"--git-dir={git_dir}", *args],
        capture_output=True,
        timeout=GIT_TIMEOUT,
        check=False,
    )
    if proc.returncode != 0:
        message = proc.stderr.decode(errors="replace").strip().splitlines()
        raise EntryError(f"git {' '.join(args[:2])}: {message[-1] if message else proc.returncode}")
    return proc.stdout


def find_mirror(mirrors: Path, repo: str) -> Path | None:
    owner, name = repo.split("/", 1)
    candidates = [
        mirrors / f"{owner}+{name}" / "repo",
        mirrors / f"{owner}+{name}",
        mirrors / owner / name,
        mirrors / owner / f"{name}.git",
    ]
    for candidate in candidates:
        if (candidate / "HEAD").is_file() and (candidate / "objects").is_dir():
            return candidate
    return None


def check_commits(git_dir: Path, entry: Entry) -> None:
    """The fix must exist and the manifest's parent must be its first parent."""
    try:
        parents = git(git_dir, "rev-list", "--parents", "-n", "1", entry.fix).decode().split()
    except EntryError as exc:
        raise EntryError(f"fix commit {entry.fix[:10]} not in mirror ({exc})") from exc
    if len(parents) < 2 or parents[1] != entry.parent:
        first = parents[1][:10] if len(parents) > 1 else "none"
        raise EntryError(f"manifest parent {entry.parent[:10]} is not the fix's first parent ({first})")


def extract_files(git_dir: Path, rev: str, paths: list[str], dest: Path) -> list[str]:
    """Write each path as of `rev` under dest with its packages' `__init__.py`; return the missing ones."""
    missing = []
    wanted: list[str] = []
    for path in paths:
        wanted.append(path)
        parts = Path(path).parts[:-1]
        wanted.extend(str(Path(*parts[:i], "__init__.py")) for i in range(1, len(parts) + 1))
    for path in dict.fromkeys(wanted):
        try:
            blob = git(git_dir, "show", f"{rev}:{path}")
        except EntryError:
            if path in paths:
                missing.append(path)
            continue
        out = dest / path
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(blob)
    return missing


# Besides `*.py`: the deployment and dependency files the analyzer reads at the project root and
# in its usual deployment folders (`python/deployment.py`: a threaded server makes sync views race
# on module state), and SQL files (unique indexes).
_TREE_EXTRAS = (".sql", ".ini", ".cfg", ".conf", ".toml", ".txt", ".yml", ".yaml", "Procfile", "Dockerfile")


def extract_tree(git_dir: Path, rev: str, dest: Path) -> None:
    """Every `*.py` of the tree at `rev` under dest (blobs the mirror lacks are skipped), the other
    files the analyzer reads (`_TREE_EXTRAS`), and an empty `.git` marker as a checkout has.

    `git archive` would stop at the first missing blob, and snapshots leave out large files.
    """
    listing = git(git_dir, "ls-tree", "-r", "-z", rev).split(b"\0")
    wanted: list[tuple[str, str]] = []
    for line in listing:
        meta, _, raw_path = line.partition(b"\t")
        fields = meta.split()
        if len(fields) == 3 and fields[1] == b"blob" and raw_path.endswith((b".py", *_extras_bytes())):
            wanted.append((fields[2].decode(), raw_path.decode(errors="surrogateescape")))
    (dest / ".git").mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["git", f"--git-dir={git_dir}", "cat-file", "--batch"],
        input="".join(f"{sha}\n" for sha, _ in wanted).encode(),
        capture_output=True,
        timeout=GIT_TIMEOUT,
        check=False,
    )
    out, pos = proc.stdout, 0
    for _, path in wanted:
        end = out.index(b"\n", pos)
        header = out[pos:end].split()
        pos = end + 1
        if len(header) != 3:  # "<sha> missing"
            continue
        size = int(header[2])
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(out[pos : pos + size])
        pos += size + 1


def _extras_bytes() -> tuple[bytes, ...]:
    return tuple(suffix.encode() for suffix in _TREE_EXTRAS)


# --- analyzer -----------------------------------------------------------------------------------


def race_mcp_command(explicit: str | None) -> list[str]:
    if explicit:
        return explicit.split()
    beside = Path(sys.executable).with_name("race-mcp")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("race-mcp")
    if not found:
        raise SystemExit("race-mcp is not installed (pip install -e . in the project's venv)")
    return [found]


def run_analyzer(command: list[str], root: Path, paths: list[str], timeout: float) -> dict[str, Any]:
    """`race-mcp analyze --format json` in root.

    Exit 0/1 are answers; exit 2 still carries the JSON report when some files could not be
    analysed (syntax the analyzer's Python cannot parse, a per-file time limit): the report is
    kept and those files are listed, so one bad file elsewhere in a tree does not void the entry.
    """
    args = [*command, "analyze", *paths, "--format", "json", "--max-findings", "100000"]
    try:
        proc = subprocess.run(args, cwd=root, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise EntryError(f"race-mcp analyze timed out after {timeout:.0f} s") from exc
    tail = (proc.stderr or "").strip().splitlines()
    try:
        report: dict[str, Any] = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        last = tail[-1] if tail else "no output"
        raise EntryError(f"race-mcp analyze exit {proc.returncode}, no JSON: {last[:300]}") from exc
    if proc.returncode not in (0, 1) and not report.get("errors"):
        raise EntryError(f"race-mcp analyze exit {proc.returncode}: {tail[-1] if tail else ''}")
    return report


# --- scoring ------------------------------------------------------------------------------------


def function_spans(source: str) -> dict[str, tuple[int, int]]:
    """Qualified name (`Class.method`, `outer.inner`) -> first line (decorators too) and last line."""
    spans: dict[str, tuple[int, int]] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    first = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                    spans[name] = (first, child.end_lineno or child.lineno)
                visit(child, f"{name}.")

    visit(ast.parse(source), "")
    return spans


def rules_in_targets(
    report: dict[str, Any], root: Path, targets: tuple[Target, ...], about: str = ""
) -> tuple[list[str], int, list[str]]:
    """Rule ids of findings inside the listed functions, the number of findings elsewhere, and a
    one-line summary of each finding inside (for reviewing what caught an entry).

    With `about` (a regular expression), a finding whose message and evidence never match it is
    about another race in the same function: its rule id is returned as `other:<rule>`."""
    hits: list[str] = []
    notes: list[str] = []
    elsewhere = 0
    spans_by_path: dict[str, dict[str, tuple[int, int]] | None] = {}
    for target in targets:
        try:
            spans_by_path[target.path] = function_spans((root / target.path).read_text(encoding="utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
            spans_by_path[target.path] = None  # unparsable here too: fall back on the function name
    for finding in report.get("findings", []):
        rel = _relative(root, str(finding.get("path", "")))
        owner = next((t for t in targets if t.path == rel), None)
        if owner is not None and _inside(finding, owner, spans_by_path[owner.path]):
            rule = str(finding.get("rule_id", "?"))
            hits.append(rule if not about or _mentions(finding, about) else f"other:{rule}")
            notes.append(f"{hits[-1]} {rel}:{finding.get('line')}: {str(finding.get('message', ''))[:160]}")
        else:
            elsewhere += 1
    return hits, elsewhere, notes


def _mentions(finding: dict[str, Any], about: str) -> bool:
    evidence = " ".join(str(e.get("code", "")) for e in finding.get("evidence", []) or [])
    return re.search(about, f"{finding.get('message', '')} {evidence}") is not None


def _relative(root: Path, path: str) -> str:
    full = Path(path) if Path(path).is_absolute() else root / path
    try:
        return full.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path


def _inside(finding: dict[str, Any], target: Target, spans: dict[str, tuple[int, int]] | None) -> bool:
    name = str(finding.get("function") or "")
    for wanted in target.functions:
        if name == wanted or name.endswith("." + wanted) or name == wanted.rsplit(".", 1)[-1]:
            return True
        span = (spans or {}).get(wanted)
        line = finding.get("line")
        if span and isinstance(line, int) and span[0] <= line <= span[1]:
            return True
    return False


# --- one entry ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunOptions:
    command: list[str]
    whole_tree: bool
    files_only: bool
    timeout: float
    workdir: Path


def measure(entry: Entry, git_dir: Path, options: RunOptions) -> Result:
    result = Result(entry.id, entry.repo, entry.family, "measured")
    started = time.monotonic()
    try:
        check_commits(git_dir, entry)
        reports = {}
        for version, rev in (("before", entry.parent), ("after", entry.fix)):
            root = options.workdir / entry.id / version
            if options.files_only:
                root.mkdir(parents=True, exist_ok=True)
                missing = extract_files(git_dir, rev, entry.paths, root)
            else:
                extract_tree(git_dir, rev, root)
                missing = [p for p in entry.paths if not (root / p).is_file()]
            lost = [t.path for t in entry.targets if t.path in missing]
            if lost:
                raise EntryError(f"{version}: {', '.join(lost)} not in {rev[:10]}")
            paths = ["."] if options.whole_tree else [p for p in entry.paths if p not in missing]
            reports[version] = (root, run_analyzer(options.command, root, paths, options.timeout))
        for version, (root, report) in reports.items():
            failed = {_relative(root, str(e.get("path", ""))) for e in report.get("errors", [])}
            lost = [t.path for t in entry.targets if t.path in failed]
            if lost:
                raise EntryError(f"{version}: the analyzer could not analyse {', '.join(lost)}")
        before_root, before = reports["before"]
        after_root, after = reports["after"]
        result.before_rules, result.before_other, result.before_findings = rules_in_targets(
            before, before_root, entry.targets, entry.about
        )
        result.after_rules, _, result.after_findings = rules_in_targets(
            after, after_root, entry.targets, entry.about
        )
        score(result, entry)
        result.analyzer_errors = [
            f"{v}: {e.get('path')}: {e.get('code')}"
            for v, (_, r) in reports.items()
            for e in r.get("errors", [])
        ]
    except EntryError as exc:
        result.status, result.detail = "error", str(exc)
    finally:
        shutil.rmtree(options.workdir / entry.id, ignore_errors=True)
    result.seconds = time.monotonic() - started
    return result


def score(result: Result, entry: Entry) -> None:
    """Flagged and cleared by findings of the entry's family; the every-rule figures beside them."""
    before = [r for r in result.before_rules if r.startswith(entry.family)]
    after = [r for r in result.after_rules if r.startswith(entry.family)]
    result.flagged_before = bool(before)
    result.cleared_after = result.flagged_before and not after
    result.residual_only = result.flagged_before and bool(after) and set(after) <= set(entry.residual)
    result.any_flagged_before = bool(result.before_rules)
    result.any_cleared_after = result.any_flagged_before and not result.after_rules


# --- report -------------------------------------------------------------------------------------


def verdict(r: Result) -> str:
    if r.status != "measured":
        return r.status.upper()
    if not r.flagged_before:
        return "missed"
    if r.residual_only:
        return "caught, residual race after (judged real)"
    return "caught+cleared" if r.cleared_after else "caught, still flagged after"


def print_report(results: list[Result], entries: list[Entry]) -> None:
    print(f"{'id':34} {'fam':4} {'before (rules in fn)':32} {'after':22} {'other':>5}  verdict")
    for r in results:
        before = ",".join(sorted(set(r.before_rules))) or "-"
        after = ",".join(sorted(set(r.after_rules))) or "-"
        print(f"{r.id:34} {r.family:4} {before:32} {after:22} {r.before_other:>5}  {verdict(r)}")
        if r.detail:
            print(f"{'':40}{r.detail}")
        for err in r.analyzer_errors[:3]:
            print(f"{'':40}analyzer error: {err}")
        if len(r.analyzer_errors) > 3:
            print(f"{'':40}... and {len(r.analyzer_errors) - 3} more analyzer errors")
    measured = [r for r in results if r.status == "measured"]
    flagged = [r for r in measured if r.flagged_before]
    cleared = [r for r in flagged if r.cleared_after]
    statuses = Counter(r.status for r in results)
    print()
    print(
        f"entries {len(entries)}, measured {len(measured)}, "
        f"mirror missing {statuses['no-mirror']}, errors {statuses['error']}"
    )
    n_flag, n_meas, n_clear = len(flagged), len(measured), len(cleared)
    n_residual = sum(r.residual_only for r in flagged)
    any_flag = [r for r in measured if r.any_flagged_before]
    any_clear = sum(r.any_cleared_after for r in any_flag)
    print(f"recall (flagged before / measured): {n_flag}/{n_meas} = {_ratio(n_flag, n_meas)}")
    print(f"cleared (clear after / flagged before): {n_clear}/{n_flag} = {_ratio(n_clear, n_flag)}")
    print(
        f"cleared, residual races judged real counted as cleared: {n_clear + n_residual}/{n_flag} = "
        f"{_ratio(n_clear + n_residual, n_flag)}"
    )
    print(
        f"counting every rule in the functions: flagged {len(any_flag)}/{n_meas} = "
        f"{_ratio(len(any_flag), n_meas)}, "
        f"cleared {any_clear}/{len(any_flag)} = {_ratio(any_clear, len(any_flag))}"
    )
    for family in sorted({r.family for r in measured}):
        fam = [r for r in measured if r.family == family]
        caught, clear = sum(r.flagged_before for r in fam), sum(r.cleared_after for r in fam)
        print(f"  {family}: flagged {caught}/{len(fam)}, cleared {clear}")
    absent = sorted({r.repo for r in results if r.status == "no-mirror"})
    if absent:
        print("no mirror for: " + ", ".join(absent))


def _ratio(num: int, den: int) -> str:
    return f"{num / den:.2f}" if den else "n/a"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    parser.add_argument("--mirrors", type=Path, default=DEFAULT_MIRRORS, help="folder of local git mirrors")
    extent = parser.add_mutually_exclusive_group()
    extent.add_argument("--whole-tree", action="store_true", help="analyse every *.py of both trees")
    extent.add_argument(
        "--files-only", action="store_true", help="extract only the listed files (no project around them)"
    )
    parser.add_argument("--only", default="", help="comma-separated entry ids")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per analyzer run")
    parser.add_argument("--race-mcp", default=None, help="analyzer command (default: installed race-mcp)")
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        help="also write the results as JSON here (with a line per finding inside the targets)",
    )
    args = parser.parse_args(argv)

    entries = load_manifest(args.manifest)
    if args.only:
        wanted = set(args.only.split(","))
        entries = [e for e in entries if e.id in wanted]
    command = race_mcp_command(args.race_mcp)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="race-mcp-real-world-") as tmp:
        options = RunOptions(command, args.whole_tree, args.files_only, args.timeout, Path(tmp))
        for entry in entries:
            git_dir = find_mirror(args.mirrors, entry.repo)
            if git_dir is None:
                results.append(Result(entry.id, entry.repo, entry.family, "no-mirror"))
                continue
            results.append(measure(entry, git_dir, options))
            print(f"  {entry.id}: {verdict(results[-1])} ({results[-1].seconds:.1f} s)", file=sys.stderr)
    print_report(results, entries)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
