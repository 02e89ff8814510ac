"""Hand-review precision on real applications, measured again after every analyzer change.

`docs/real-world-review.md` holds verdicts (true / plausible / false, with a reason) for findings
on pinned snapshots of public applications (`benchmarks/real_world_apps.toml`). This script
extracts each snapshot from its local git mirror, runs the INSTALLED `race-mcp analyze --format
json` on it, matches every finding to a verdict by (app, rule, path, line) and prints:

- precision overall and for high-confidence findings (true, and true + plausible), over the
  findings that have a verdict;
- the findings without a verdict, each with the code around its evidence, to be judged and added
  to the review's table (`--unreviewed` prints them in full);
- how many reviewed findings are gone.

    .venv/bin/python benchmarks/real_world_precision.py [--mirrors DIR] [--only APP,APP] [--unreviewed]

Like `real_world.py` this is a benchmark, not a test: their code is read from the mirrors at run
time only and never copied here.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from real_world import DEFAULT_MIRRORS, find_mirror, git, race_mcp_command, run_analyzer

HERE = Path(__file__).resolve().parent
APPS = HERE / "real_world_apps.toml"
REVIEW = HERE.parent / "docs" / "real-world-review.md"
# A verdict row of the review's big table: | app | rule | `path:line` | conf | verdict | reason | after |
_ROW = re.compile(
    r"^\|\s*(?P<app>[\w.-]+)\s*\|\s*(?P<rule>R[CA]\d{3})\s*\|\s*`(?P<path>[^`:]+):(?P<line>\d+)`\s*\|"
    r"\s*(?P<conf>\w+)\s*\|\s*(?P<verdict>true|plausible|false)\s*\|\s*(?P<reason>[^|]*)\|"
)
_VERDICTS = ("true", "plausible", "false")


@dataclass(frozen=True)
class App:
    name: str
    repo: str
    commit: str
    subdir: str  # "" for the whole tree


def load_apps(path: Path) -> list[App]:
    data = tomllib.loads(path.read_text())
    return [App(a["name"], a["repo"], a["commit"], a.get("subdir", "")) for a in data["app"]]


def load_verdicts(path: Path) -> dict[tuple[str, str, str, int], str]:
    """(app, rule, path, line) -> verdict; a later row for the same finding wins (a re-review)."""
    verdicts: dict[tuple[str, str, str, int], str] = {}
    for line in path.read_text().splitlines():
        match = _ROW.match(line)
        if match:
            key = (match["app"], match["rule"], match["path"].strip(), int(match["line"]))
            verdicts[key] = match["verdict"]
    return verdicts


def extract(git_dir: Path, app: App, dest: Path) -> None:
    """The snapshot's Python files (under `subdir`) into `dest` (only `*.py`: a mirror may lack
    other blobs, such as large test data, and `git archive` of the whole tree would fail on them)."""
    pattern = f"{app.subdir}/*.py" if app.subdir else "*.py"
    archive = git(git_dir, "archive", "--format=tar", app.commit, "--", pattern)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True, timeout=300)


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mirrors", type=Path, default=DEFAULT_MIRRORS)
    parser.add_argument("--only", default="", help="comma-separated app names")
    parser.add_argument("--unreviewed", action="store_true", help="print unreviewed findings with code")
    parser.add_argument("--race-mcp", default=None, help="the race-mcp command (default: the venv's)")
    options = parser.parse_args(argv)
    verdicts = load_verdicts(REVIEW)
    command = race_mcp_command(options.race_mcp)
    only = {name for name in options.only.split(",") if name}
    overall: Counter[str] = Counter()
    high: Counter[str] = Counter()
    for app in load_apps(APPS):
        if only and app.name not in only:
            continue
        git_dir = find_mirror(options.mirrors, app.repo)
        if git_dir is None:
            print(f"{app.name}: no mirror of {app.repo} under {options.mirrors}")
            continue
        with tempfile.TemporaryDirectory(prefix=f"review-{app.name}-") as temp:
            root = Path(temp)
            extract(git_dir, app, root)
            report = run_analyzer(command, root, ["."], timeout=900)
            counts: Counter[str] = Counter()
            unreviewed = []
            for finding in report.get("findings", []):
                path = finding["path"].removeprefix("./")
                verdict = verdicts.get((app.name, finding["rule_id"], path, finding["line"]))
                counts[verdict or "unreviewed"] += 1
                if verdict and finding.get("confidence") == "high":
                    high[verdict] += 1
                if verdict is None:
                    unreviewed.append(finding)
            overall.update(counts)
            gone = sum(1 for key in verdicts if key[0] == app.name) - sum(counts[v] for v in _VERDICTS)
            print(
                f"{app.name} @ {app.commit[:12]}: {sum(counts.values())} findings, "
                + ", ".join(f"{counts[v]} {v}" for v in (*_VERDICTS, "unreviewed"))
                + f"; {gone} reviewed findings no longer reported; precision {_precision(counts)}"
            )
            if options.unreviewed:
                for finding in unreviewed:
                    print(
                        f"\n| {app.name} | {finding['rule_id']} | `{finding['path'].removeprefix('./')}:"
                        f"{finding['line']}` | {finding.get('confidence')} | ? | {finding['message'][:160]}"
                    )
                    print(f"  reached by: {finding.get('reached_by')}")
                    print(context(root, finding))
    print(f"\nall: {sum(overall.values())} findings, {overall['unreviewed']} unreviewed")
    print(f"precision (reviewed): {_precision(overall)}")
    print(f"precision (reviewed, high confidence): {_precision(high)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
