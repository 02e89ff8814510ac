"""Analyzer throughput on real code nobody here wrote: race-mcp next to bandit and semgrep.

One run installs (or reuses) a cache virtualenv with pinned Django, SQLAlchemy, a few web
frameworks, bandit and semgrep from PyPI, copies the frameworks' installed `*.py` files into a
corpus, and times each tool N times on exactly the same file list; then the same for a
JavaScript/TypeScript corpus (mongoose, fastify and rxjs from the npm registry) and a Rust corpus
(the Rust sources of the tokenizers and cryptography sdists from PyPI), fetched at run time into
the cache by `throughput_corpora.py`:

    .venv/bin/python benchmarks/analyzer_throughput.py [--runs 3] [--languages python,javascript,rust]
        [--packages django,sqlalchemy]

- race-mcp: the installed `race-mcp analyze FILES --format json`, once with its default worker
  count (one process per core) and once with `jobs = 1`, so the single-core figure is visible;
- bandit (Python only): `bandit -r -f json -q FILES` (one process);
- semgrep: `semgrep scan --config benchmarks/semgrep_race_rules.yml --json FILES` with local rules
  only (check-then-act rules of the same intent for Python, JavaScript/TypeScript and Rust),
  `--metrics=off` and `--disable-version-check` (its engine uses every core by default).

The files are named explicitly, so race-mcp's default skipping of tests/ and migrations/ (and
semgrep's default ignore list) does not apply: every tool sees every file, and the script checks
that each tool reports the same number of files. The report is a markdown table per language
(median wall time, lines per second, ratio to bandit for Python and to semgrep for the others,
findings per KLOC) and race-mcp's speed relative to semgrep; race-mcp's findings are kept in
`benchmarks/.cache/race-mcp-findings*.json` for review. The cache folder ignores itself in git.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
import venv
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The sibling module, however this script is loaded (run as a file, or imported by the tests).
sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput_corpora import Source, javascript_sources, rust_sources

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
VENV = CACHE / "venv"
CORPUS = CACHE / "corpus"  # the Python corpus; the others are `corpus-<language>`
LANGUAGES = ("python", "javascript", "rust")
# race-mcp exits 1 with findings and 2 when a file could not be analysed (a syntax error its parser
# reports: tree-sitter's TypeScript grammar refuses a few type-test files of fastify); the JSON
# report is written either way and counts such files under `files_with_errors`.
RACE_MCP_OK = (0, 1, 2)
RULES = HERE / "semgrep_race_rules.yml"
CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by race-mcp's benchmarks/analyzer_throughput.py.\n"
)

# Pinned so two runs of this script measure the same code with the same tools.
CORPUS_PACKAGES = {
    "django": "django==5.2.19",
    "sqlalchemy": "sqlalchemy==2.1.9",
    "starlette": "starlette==1.10.0",
    "fastapi": "fastapi==0.141.1",
    "aiohttp": "aiohttp==3.14.5",
    "flask": "flask==3.1.3",
    "werkzeug": "werkzeug==3.1.9",
}
TOOLS = ("bandit==1.9.4", "semgrep==1.182.0")


@dataclass
class Corpus:
    root: Path
    files: list[str]  # relative to root, the same list for every tool
    lines: int
    lines_by_package: dict[str, int]


@dataclass
class ToolRun:
    """One tool's timed runs and what its last run reported."""

    name: str
    workers: str
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)  # user + system, the tool and its workers
    files_seen: int = 0
    findings: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def median_cpu(self) -> float:
        return statistics.median(self.cpu_seconds)


# ------------------------------------------------------------------------------------------ setup


def mark_cache(directory: Path) -> None:
    """Ignored by git, and tagged as a cache (https://bford.info/cachedir/): race-mcp's walk, and
    the project index it builds, skip the copied corpus and the venv when anything else in this
    repository is analysed (the corpus itself is analysed from inside, where the tag is not seen)."""
    (directory / ".gitignore").write_text("*\n")
    (directory / "CACHEDIR.TAG").write_text(CACHEDIR_TAG)


def ensure_venv() -> Path:
    """The cache virtualenv with every corpus package and the tools; reinstalled when the pins change."""
    wanted = "\n".join(sorted([*CORPUS_PACKAGES.values(), *TOOLS]))
    stamp = VENV / "race-mcp-bench.txt"
    python = VENV / "bin" / "python"
    CACHE.mkdir(parents=True, exist_ok=True)
    mark_cache(CACHE)
    if stamp.is_file() and stamp.read_text() == wanted and python.exists():
        return python
    print(f"installing into {VENV}: {wanted.replace(chr(10), ' ')}", file=sys.stderr)
    venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, *wanted.splitlines()], check=True)
    stamp.write_text(wanted)
    return python


def package_dirs(python: Path, packages: Sequence[str]) -> dict[str, Path]:
    """Where the cache venv installed each package."""
    script = (
        "import importlib.util, json, sys\n"
        "print(json.dumps({n: importlib.util.find_spec(n).submodule_search_locations[0]"
        " for n in sys.argv[1:]}))"
    )
    out = subprocess.run([str(python), "-c", script, *packages], check=True, capture_output=True, text=True)
    return {name: Path(path) for name, path in json.loads(out.stdout).items()}


def physical_lines(data: bytes) -> int:
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def python_sources(python: Path, packages: Sequence[str]) -> list[Source]:
    return [
        Source(name, root, lambda path: path.suffix == ".py")
        for name, root in package_dirs(python, packages).items()
    ]


def build_corpus(sources: list[Source], target: Path = CORPUS) -> Corpus:
    """Copy the files each source keeps to one folder outside site-packages (and outside
    `node_modules`-like places some tools skip by name), and count lines."""
    shutil.rmtree(target, ignore_errors=True)
    files: list[str] = []
    lines_by_package: dict[str, int] = {}
    for source in sources:
        lines_by_package[source.name] = 0
        for path in sorted(p for p in source.root.rglob("*") if p.is_file()):
            relative_to_source = path.relative_to(source.root)
            if not source.keep(relative_to_source):
                continue
            relative = Path(source.name) / relative_to_source
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            data = path.read_bytes()
            destination.write_bytes(data)
            lines_by_package[source.name] += physical_lines(data)
            files.append(relative.as_posix())
    return Corpus(target, files, sum(lines_by_package.values()), lines_by_package)


def language_corpus(language: str, python: Path, packages: Sequence[str]) -> Corpus:
    if language == "python":
        return build_corpus(python_sources(python, packages))
    sources = javascript_sources(CACHE) if language == "javascript" else rust_sources(CACHE)
    return build_corpus(sources, CACHE / f"corpus-{language}")


# ------------------------------------------------------------------------------------------ tools


def race_mcp_command() -> list[str]:
    """The race-mcp installed next to the interpreter running this script (the project's venv)."""
    script = Path(sys.executable).parent / "race-mcp"
    return [str(script)] if script.exists() else [sys.executable, "-m", "race_mcp"]


def write_config(jobs: int) -> Path:
    """Analyse everything named (no default excludes) with `jobs` workers (0: one per core)."""
    path = CACHE / f"race-mcp-jobs{jobs}.toml"
    path.write_text(f"[tool.race-mcp]\ndefault_exclude = []\njobs = {jobs}\n")
    return path


@dataclass
class Tool:
    name: str
    workers: str
    command: list[str]
    ok_codes: tuple[int, ...]
    parse: Callable[[dict[str, Any]], tuple[int, dict[str, int]]]  # -> files seen, findings by rule


def parse_race_mcp(report: dict[str, Any]) -> tuple[int, dict[str, int]]:
    summary = report["summary"]
    return summary["files_analyzed"] + summary["files_with_errors"], dict(summary["by_rule"])


def parse_bandit(report: dict[str, Any]) -> tuple[int, dict[str, int]]:
    files = len([key for key in report["metrics"] if key != "_totals"])
    return files, dict(Counter(result["test_id"] for result in report["results"]))


def parse_semgrep(report: dict[str, Any]) -> tuple[int, dict[str, int]]:
    files = len(report["paths"]["scanned"])
    return files, dict(Counter(result["check_id"].rsplit(".", 1)[-1] for result in report["results"]))


def tools(python: Path, files: list[str], language: str = "python") -> list[Tool]:
    """The tools timed on one language's files: bandit reads Python only."""
    bin_dir = python.parent
    cores = os.cpu_count() or 1
    race = race_mcp_command()
    found = [
        Tool(
            "race-mcp",
            f"{cores} processes",
            [*race, "analyze", "--format", "json", "--config", str(write_config(0)), *files],
            RACE_MCP_OK,
            parse_race_mcp,
        ),
        Tool(
            "race-mcp (jobs = 1)",
            "1 process",
            [*race, "analyze", "--format", "json", "--config", str(write_config(1)), *files],
            RACE_MCP_OK,
            parse_race_mcp,
        ),
        Tool(
            "bandit",
            "1 process",
            [str(bin_dir / "bandit"), "-r", "-f", "json", "-q", *files],
            (0, 1),
            parse_bandit,
        ),
        Tool(
            "semgrep",
            f"{cores} jobs (default)",
            [
                str(bin_dir / "semgrep"),
                "scan",
                "--config",
                str(RULES),
                "--json",
                "--metrics=off",
                "--disable-version-check",
                "--max-target-bytes",
                "0",
                "--quiet",
                *files,
            ],
            (0, 1),
            parse_semgrep,
        ),
    ]
    return found if language == "python" else [tool for tool in found if tool.name != "bandit"]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(tool: Tool, corpus: Corpus) -> tuple[float, float, dict[str, Any]]:
    """Wall seconds, CPU seconds (counted for waited-for descendants too) and the parsed report."""
    env = {**os.environ, "SEMGREP_ENABLE_VERSION_CHECK": "0", "SEMGREP_SEND_METRICS": "off"}
    cpu_before, started = _children_cpu(), time.perf_counter()
    done = subprocess.run(tool.command, cwd=corpus.root, capture_output=True, env=env, check=False)
    elapsed, cpu = time.perf_counter() - started, _children_cpu() - cpu_before
    stderr = " | ".join(done.stderr.decode(errors="replace").strip().splitlines()[-5:])
    if done.returncode not in tool.ok_codes:
        raise SystemExit(f"{tool.name} exited {done.returncode}: {stderr}")
    try:
        return elapsed, cpu, json.loads(done.stdout)
    except json.JSONDecodeError:
        raise SystemExit(f"{tool.name} exited {done.returncode} without a JSON report: {stderr}") from None


def measure(tool_list: list[Tool], corpus: Corpus, runs: int) -> tuple[list[ToolRun], dict[str, Any]]:
    """Round-robin over the tools, `runs` times, so background load spreads over all of them."""
    results = {tool.name: ToolRun(tool.name, tool.workers) for tool in tool_list}
    race_report: dict[str, Any] = {}
    for run in range(1, runs + 1):
        for tool in tool_list:
            seconds, cpu, report = run_once(tool, corpus)
            result = results[tool.name]
            result.seconds.append(seconds)
            result.cpu_seconds.append(cpu)
            result.files_seen, result.by_rule = tool.parse(report)
            result.findings = sum(result.by_rule.values())
            if tool.name == "race-mcp":
                race_report = report
            print(f"run {run}/{runs} {tool.name:20} {seconds:7.2f}s wall {cpu:7.2f}s CPU", file=sys.stderr)
    return list(results.values()), race_report


# ----------------------------------------------------------------------------------------- report


def markdown(results: list[ToolRun], corpus: Corpus, runs: int) -> str:
    """One language's table; speeds relative to bandit when it ran (Python), else to semgrep."""
    baseline = next((r for r in results if r.name == "bandit"), None) or next(
        r for r in results if r.name == "semgrep"
    )
    # CPU seconds are reported too: on a shared machine they move less with other load than wall time.
    rows = [
        f"| tool | workers | median wall (s) of {runs} | lines/s | vs {baseline.name} | CPU (s) "
        "| lines/CPU-s | findings | findings/KLOC |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        rate = corpus.lines / r.median
        rows.append(
            f"| {r.name} | {r.workers} | {r.median:.2f} | {rate:,.0f} | {baseline.median / r.median:.2f}x "
            f"| {r.median_cpu:.1f} | {corpus.lines / r.median_cpu:,.0f} "
            f"| {r.findings} | {r.findings / (corpus.lines / 1000):.3f} |"
        )
    packages = ", ".join(f"{name} {count:,}" for name, count in corpus.lines_by_package.items())
    return (
        f"{len(corpus.files):,} files, {corpus.lines:,} physical lines ({packages}); "
        f"{os.cpu_count()} cores, Python {platform.python_version()}.\n\n" + "\n".join(rows) + "\n"
    )


def versus_semgrep(results: list[ToolRun]) -> str:
    """race-mcp's wall-clock speed over semgrep's on the same files (above 1: race-mcp is faster)."""
    by_name = {r.name: r for r in results}
    semgrep = by_name["semgrep"]
    return ", ".join(
        f"{name} {semgrep.median / by_name[name].median:.2f}x semgrep's speed"
        for name in ("race-mcp", "race-mcp (jobs = 1)")
    )


def check_same_files(results: list[ToolRun], corpus: Corpus) -> list[str]:
    return [
        f"warning: {r.name} reported {r.files_seen} files of {len(corpus.files)}"
        for r in results
        if r.files_seen != len(corpus.files)
    ]


def run_language(
    language: str, python: Path, packages: Sequence[str], runs: int
) -> tuple[Corpus, list[ToolRun]]:
    corpus = language_corpus(language, python, packages)
    mark_cache(CACHE)
    print(f"{language}: {len(corpus.files):,} files, {corpus.lines:,} lines", file=sys.stderr)
    results, race_report = measure(tools(python, corpus.files, language), corpus, runs)
    name = "race-mcp-findings.json" if language == "python" else f"race-mcp-findings-{language}.json"
    (CACHE / name).write_text(json.dumps(race_report, indent=2))
    for warning in check_same_files(results, corpus):
        print(warning, file=sys.stderr)
    return corpus, results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs per tool (median reported)")
    parser.add_argument(
        "--languages",
        default=",".join(LANGUAGES),
        help=f"comma-separated corpora to time (default: all of {', '.join(LANGUAGES)})",
    )
    parser.add_argument(
        "--packages",
        default=",".join(CORPUS_PACKAGES),
        help=f"comma-separated Python corpus packages (default: all of {', '.join(CORPUS_PACKAGES)})",
    )
    parser.add_argument("--json", type=Path, help="also write the raw timings here")
    args = parser.parse_args(argv)
    packages = [p.strip() for p in args.packages.split(",") if p.strip()]
    languages = [p.strip() for p in args.languages.split(",") if p.strip()]
    unknown = sorted(set(packages) - set(CORPUS_PACKAGES)) + sorted(set(languages) - set(LANGUAGES))
    if unknown or args.runs < 1 or not languages:
        parser.error(
            f"unknown package(s) or language(s): {', '.join(unknown)}"
            if unknown
            else "--runs must be at least 1 and --languages name one"
        )
    python = ensure_venv()
    raw: dict[str, Any] = {}
    for language in languages:
        corpus, results = run_language(language, python, packages, args.runs)
        print(f"## {language}\n")
        print(markdown(results, corpus, args.runs))
        print(f"race-mcp vs semgrep on these files: {versus_semgrep(results)}")
        race = next(r for r in results if r.name == "race-mcp")
        print("race-mcp findings by rule: " + ", ".join(f"{k} {v}" for k, v in sorted(race.by_rule.items())))
        print()
        raw[language] = {
            "lines": corpus.lines,
            "files": len(corpus.files),
            "tools": {
                r.name: {
                    "seconds": r.seconds,
                    "cpu_seconds": r.cpu_seconds,
                    "files": r.files_seen,
                    "by_rule": r.by_rule,
                }
                for r in results
            },
        }
    if args.json:
        args.json.write_text(json.dumps(raw, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
