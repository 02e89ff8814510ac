"""The whole-project index on a real tree: cold build, warm build, one file changed, peak RSS.

    .venv/bin/python benchmarks/project_index.py PROJECT_DIR [--jobs 2] [--all-files]

Each measurement runs in a fresh process (so imports and peak RSS are its own) against a private
cache directory: cold (empty cache), warm (every entry hit), and one file changed (that file's cache
entry removed, which is what editing it does to the index, without touching the tree). `--all-files`
indexes tests too (by default the analysis' `default_exclude` applies, migrations excepted: they
declare unique keys). Nothing of the measured project is copied anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

_CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from race_mcp.analyzer.project import ProjectIndex, project_files
from race_mcp.config import DEFAULT_SKIPPED_SOURCES
root, jobs, everything = Path(sys.argv[1]).resolve(), int(sys.argv[2]), sys.argv[3] == "1"
started = time.perf_counter()
files = project_files(root, default_exclude=() if everything else DEFAULT_SKIPPED_SOURCES)
index = ProjectIndex.build(root, files, jobs=jobs)
index.callers("")  # the call graph is built on first use: count it in
seconds = time.perf_counter() - started
rss = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
print(json.dumps({"files": len(files), "seconds": round(seconds, 2), "extracted": index.stats.extracted,
                  "cached": index.stats.cached, "peak_rss_mb": round(rss / 1024)}))
"""


def _measure(project: Path, jobs: int, everything: bool, cache: Path) -> dict[str, object]:
    env = {**os.environ, "RACE_MCP_CACHE_DIR": str(cache)}
    command = [sys.executable, "-c", _CHILD, str(project), str(jobs), "1" if everything else "0"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _forget_one(cache: Path) -> None:
    """Drop one entry, as an edit of one file would (its content, hence its key, changes)."""
    import sqlite3

    database = next(cache.glob("*.sqlite3"))
    with sqlite3.connect(database) as db:
        db.execute("DELETE FROM facts WHERE rowid = (SELECT MIN(rowid) FROM facts)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("project", type=Path)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--all-files", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="race-mcp-index-") as directory:
        cache = Path(directory)
        rows = {"cold": _measure(args.project, args.jobs, args.all_files, cache)}
        rows["warm"] = _measure(args.project, args.jobs, args.all_files, cache)
        _forget_one(cache)
        rows["one file changed"] = _measure(args.project, args.jobs, args.all_files, cache)
    print(f"{args.project} ({rows['cold']['files']:,} files, jobs={args.jobs})")
    print("| run | seconds | extracted | from cache | peak RSS |")
    print("|---|---:|---:|---:|---:|")
    for name, row in rows.items():
        print(
            f"| {name} | {row['seconds']} | {row['extracted']} | {row['cached']} | {row['peak_rss_mb']} MB |"
        )


if __name__ == "__main__":
    main()
