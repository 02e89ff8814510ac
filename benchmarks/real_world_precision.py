"""Hand-review precision on real applications, measured again after every analyzer change.

`docs/real-world-review.md` holds verdicts (true / plausible / false, with a reason) for findings
on pinned snapshots of public applications (`benchmarks/real_world_apps.toml`). This script
extracts each snapshot from its local git mirror, runs the INSTALLED `race-mcp analyze --format
json` on it, matches every finding to a verdict by (app, rule, path, line) and prints:

- precision overall and for high-confidence findings (true, and true + plausible), over the
  findings that have a verdict, per application and over all;
- the findings without a verdict, each with the code around its evidence, to be judged and added
  to the review's table (`--unreviewed` prints them in full);
- how many reviewed findings are gone;
- with `--table`, the review's table as it stands now: every verdict (the latest row of each
  finding), its confidence now or "gone", then the unreviewed findings with `?`.

    .venv/bin/python benchmarks/real_world_precision.py [--mirrors DIR] [--only APP,APP]
        [--unreviewed] [--table] [--save DIR] [--extract-to DIR]

`--extract-to DIR` only unpacks each snapshot into DIR/<app> (to read the code around findings).
Like `real_world.py` this is a benchmark, not a test: their code is read from the mirrors at run
time only and never copied here.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from real_world import DEFAULT_MIRRORS, GIT_TIMEOUT, find_mirror, git, race_mcp_command, run_analyzer

HERE = Path(__file__).resolve().parent
APPS = HERE / "real_world_apps.toml"
REVIEW = HERE.parent / "docs" / "real-world-review.md"
# A verdict row of the review's big table: | app | rule | `path:line` | conf | verdict | reason | after |
# `path:line@function` judges only the finding of that function (a helper's line reached from several
# handlers is one finding per handler, each with its own check and write).
_ROW = re.compile(
    r"^\|\s*(?P<app>[\w.-]+)\s*\|\s*(?P<rule>R[CA]\d{3})\s*\|"
    r"\s*`(?P<path>[^`:]+):(?P<line>\d+)(?:@(?P<function>[\w.<>]+))?`\s*\|"
    r"\s*(?P<conf>\w+)\s*\|\s*(?P<verdict>true|plausible|false)\s*\|\s*(?P<reason>[^|]*)\|"
    r"(?:\s*(?P<after>[^|]*)\|)?"
)
_VERDICTS = ("true", "plausible", "false")
Key = tuple[str, str, str, int, str]  # app, rule, path, line, function ("" for any)


@dataclass(frozen=True)
class App:
    name: str
    repo: str
    commit: str
    subdir: str  # "" for the whole tree


@dataclass(frozen=True)
class Verdict:
    verdict: str
    confidence: str  # the confidence the finding had when it was judged
    reason: str
    after: str = ""  # the row's last column: what became of the finding ("gone (F7)", "kept, high")


def load_apps(path: Path) -> list[App]:
    data = tomllib.loads(path.read_text())
    return [App(a["name"], a["repo"], a["commit"], a.get("subdir", "")) for a in data["app"]]


def load_verdicts(path: Path) -> dict[Key, Verdict]:
    """(app, rule, path, line) -> verdict; a later row for the same finding wins (a re-review)."""
    verdicts: dict[Key, Verdict] = {}
    for line in path.read_text().splitlines():
        match = _ROW.match(line)
        if match:
            path, line_number = match["path"].strip(), int(match["line"])
            key = (match["app"], match["rule"], path, line_number, match["function"] or "")
            after = (match["after"] or "").strip()
            verdicts[key] = Verdict(match["verdict"], match["conf"], match["reason"].strip(), after)
    return verdicts


def python_blobs(git_dir: Path, app: App) -> list[tuple[str, str]]:
    """(blob id, path) of the snapshot's `*.py` files under `subdir`."""
    listing = git(git_dir, "ls-tree", "-r", "-z", app.commit, "--", app.subdir or ".")
    blobs = []
    for entry in listing.split(b"\0"):
        if not entry:
            continue
        meta, _, name = entry.partition(b"\t")
        kind, blob = meta.split()[1:3]
        path = name.decode()
        if kind == b"blob" and path.endswith(".py"):
            blobs.append((blob.decode(), path))
    return blobs


def extract(git_dir: Path, app: App, dest: Path) -> list[str]:
    """The snapshot's Python files (under `subdir`) into `dest`; returns the paths the mirror lacks.

    Blobs are read one by one through `git cat-file --batch`, not `git archive`: a partial mirror
    may lack some (large generated data modules), and one missing blob must not void the app."""
    blobs = python_blobs(git_dir, app)
    request = "".join(f"{blob}\n" for blob, _ in blobs).encode()
    proc = subprocess.run(
        ["git", f"--git-dir={git_dir}", "cat-file", "--batch"],
        input=request,
        capture_output=True,
        timeout=GIT_TIMEOUT,
        check=True,
    )
    out, at, missing = proc.stdout, 0, []
    for _, path in blobs:
        end = out.index(b"\n", at)
        header = out[at:end].split()
        at = end + 1
        if len(header) < 3 or header[1] != b"blob":
            missing.append(path)
            continue
        size = int(header[2])
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(out[at : at + size])
        at += size + 1
    return missing


def context(root: Path, finding: dict[str, Any], around: int = 2) -> str:
    path = root / finding["path"]
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    wanted = sorted({e["line"] for e in finding.get("evidence", [])} or {finding["line"]})
    shown: list[str] = []
    last = 0
    for number in range(max(1, wanted[0] - around), min(len(lines), wanted[-1] + around) + 1):
        if any(abs(number - w) <= around for w in wanted):
            if last and number != last + 1:
                shown.append("      ...")
            shown.append(f"{number:6d}  {lines[number - 1]}")
            last = number
    return "\n".join(shown)


def _precision(counts: Counter[str]) -> str:
    judged = sum(counts[v] for v in _VERDICTS)
    if not judged:
        return "n/a"
    true, likely = counts["true"] / judged, (counts["true"] + counts["plausible"]) / judged
    return f"{true:.2f} true, {likely:.2f} true+plausible"


def finding_key(app: App, finding: dict[str, Any]) -> Key:
    path = finding["path"].removeprefix("./")
    return (app.name, finding["rule_id"], path, finding["line"], finding.get("function") or "")


def verdict_key(verdicts: dict[Key, Verdict], key: Key) -> Key | None:
    """The verdict row judging this finding: its function's own row first, else the line's."""
    for candidate in (key, (*key[:4], "")):
        if candidate in verdicts:
            return candidate
    return None


def _cell(key: Key) -> str:
    return f"`{key[2]}:{key[3]}{'@' + key[4] if key[4] else ''}`"


def table_rows(app: App, findings: list[dict[str, Any]], verdicts: dict[Key, Verdict]) -> list[str]:
    """The review's table for one app now: each verdict with its confidence now (or gone), then
    the unreviewed findings with `?` and the start of their message."""
    matched: dict[Key, list[dict[str, Any]]] = {}
    unreviewed = []
    for finding in findings:
        key = verdict_key(verdicts, finding_key(app, finding))
        if key is None:
            unreviewed.append(finding)
        else:
            matched.setdefault(key, []).append(finding)
    rows = []
    for key, verdict in verdicts.items():
        if key[0] != app.name:
            continue
        found = matched.get(key, [])
        confidences = sorted({str(f.get("confidence")) for f in found})
        if found:
            after = (f"kept {len(found)} times, " if len(found) > 1 else "kept, ") + "/".join(confidences)
        else:  # keep the change that removed it when the row names one
            after = verdict.after if verdict.after.startswith("gone") else "gone"
        rows.append(
            f"| {app.name} | {key[1]} | {_cell(key)} | {verdict.confidence} | {verdict.verdict}"
            f" | {verdict.reason} | {after} |"
        )
    for finding in unreviewed:
        key = finding_key(app, finding)
        rows.append(
            f"| {app.name} | {key[1]} | {_cell(key)} | {finding.get('confidence')} | ?"
            f" | {finding['message'][:120]} | new |"
        )
    return rows


def _groups(finding: dict[str, Any]) -> list[str]:
    """The breakdowns a finding counts in: its confidence, what reaches it, its rule."""
    reached = finding.get("reached_by") or ""
    reach = "nothing" if not reached else "a command" if "command" in reached else "a request or task"
    return [f"confidence {finding.get('confidence')}", f"reached by {reach}", f"rule {finding['rule_id']}"]


def print_unreviewed(app: App, root: Path, finding: dict[str, Any]) -> None:
    print(
        f"\n| {app.name} | {finding['rule_id']} | `{finding['path'].removeprefix('./')}:"
        f"{finding['line']}` | {finding.get('confidence')} | ? | {finding['message'][:160]}"
    )
    print(f"  in {finding.get('function')}, reached by: {finding.get('reached_by')}")
    print(context(root, finding))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mirrors", type=Path, default=DEFAULT_MIRRORS)
    parser.add_argument("--only", default="", help="comma-separated app names")
    parser.add_argument("--unreviewed", action="store_true", help="print unreviewed findings with code")
    parser.add_argument("--table", action="store_true", help="print the review table as it stands now")
    parser.add_argument("--save", type=Path, default=None, help="write each app's JSON report here")
    parser.add_argument("--extract-to", type=Path, default=None, help="only unpack snapshots here")
    parser.add_argument("--race-mcp", default=None, help="the race-mcp command (default: the venv's)")
    options = parser.parse_args(argv)
    verdicts = load_verdicts(REVIEW)
    command = race_mcp_command(options.race_mcp)
    only = {name for name in options.only.split(",") if name}
    overall: Counter[str] = Counter()
    high: Counter[str] = Counter()
    groups: dict[str, Counter[str]] = {}
    table: list[str] = []
    for app in load_apps(APPS):
        if only and app.name not in only:
            continue
        git_dir = find_mirror(options.mirrors, app.repo)
        if git_dir is None:
            print(f"{app.name}: no mirror of {app.repo} under {options.mirrors}")
            continue
        if options.extract_to is not None:
            missing = extract(git_dir, app, options.extract_to / app.name)
            lacks = ", ".join(missing) or "nothing"
            print(f"{app.name}: extracted to {options.extract_to / app.name}; the mirror lacks {lacks}")
            continue
        with tempfile.TemporaryDirectory(prefix=f"review-{app.name}-") as temp:
            root = Path(temp)
            missing = extract(git_dir, app, root)
            report = run_analyzer(command, root, ["."], timeout=1800)
            if options.save is not None:
                options.save.mkdir(parents=True, exist_ok=True)
                (options.save / f"{app.name}.json").write_text(json.dumps(report, indent=1))
            findings = report.get("findings", [])
            counts: Counter[str] = Counter()
            judged: set[Key] = set()
            for finding in findings:
                key = verdict_key(verdicts, finding_key(app, finding))
                verdict = verdicts[key] if key is not None else None
                if key is not None:
                    judged.add(key)
                counts[verdict.verdict if verdict else "unreviewed"] += 1
                if verdict and finding.get("confidence") == "high":
                    high[verdict.verdict] += 1
                for group in _groups(finding):
                    groups.setdefault(group, Counter())[verdict.verdict if verdict else "unreviewed"] += 1
                if verdict is None and options.unreviewed:
                    print_unreviewed(app, root, finding)
            overall.update(counts)
            gone = sum(1 for key in verdicts if key[0] == app.name and key not in judged)
            print(
                f"{app.name} @ {app.commit[:12]}: {sum(counts.values())} findings, "
                + ", ".join(f"{counts[v]} {v}" for v in (*_VERDICTS, "unreviewed"))
                + f"; {gone} reviewed findings no longer reported; precision {_precision(counts)}"
                + (f"; {len(missing)} files missing from the mirror" if missing else "")
            )
            table.extend(table_rows(app, findings, verdicts))
    if options.extract_to is not None:
        return 0
    print(f"\nall: {sum(overall.values())} findings, {overall['unreviewed']} unreviewed")
    print(f"precision (reviewed): {_precision(overall)}")
    print(f"precision (reviewed, high confidence): {_precision(high)}")
    for group in sorted(groups):
        counts = groups[group]
        tally = ", ".join(f"{counts[v]} {v}" for v in (*_VERDICTS, "unreviewed"))
        print(f"  {group}: {sum(counts.values())} findings ({tally}); precision {_precision(counts)}")
    if options.table:
        print("\n| app | rule | file:line | conf | verdict | reason | now |\n|---|---|---|---|---|---|---|")
        print("\n".join(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
