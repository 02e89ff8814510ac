"""The `race-mcp` command: parse the arguments, call the core, render, choose the exit code.

    race-mcp [SERVE OPTIONS]      the MCP server over stdio (same as `race-mcp serve [SERVE OPTIONS]`),
                                  as MCP clients launch it: `race-mcp --root DIR`
    race-mcp serve [--http] ...   the MCP server over stdio or streamable HTTP
    race-mcp analyze PATH...      static analysis of files and directories
    race-mcp openapi SPEC         missing If-Match / Idempotency-Key / 409-412-428-429 in an OpenAPI spec
    race-mcp rules [RULE_ID]      the rule catalog, or one rule's documentation
    race-mcp burst URL ...        prove a race with a synchronised burst (exit 1: race or inconclusive)
    race-mcp patch FILE           verified fixes for one file as a diff (--apply writes them)
    race-mcp demo [--database URL] the whole find / prove / fix loop on the bundled demo shop
                                  (exit 1 when a step does not show what it should)

Exit codes (docs/design.md):
    0    nothing at or above --fail-on (default: low, so any finding fails)
    1    findings at or above --fail-on
    2    bad usage or input, or a file `analyze` could not analyse: one line per problem on stderr,
         `race-mcp: error[CODE]: ...`, never a traceback
    130  interrupted (Ctrl-C)
    141  stdout closed early (`race-mcp analyze . | head`); 128 + SIGPIPE, as a shell reports it

Files that cannot be analysed (missing, a syntax error, binary, not UTF-8, over the size limit, a
directory that cannot be listed) make `analyze` exit 2, whether the path was named or found by
walking a directory: code race-mcp never read is never a pass, so a CI gate cannot stay green on it.
The report for everything else is printed first, and findings still count. Ruff exits 1 for a syntax
error in a walked file because its syntax errors are diagnostics like its others; here 1 means exactly
"races at or above --fail-on", so a CI step that tolerates findings (`|| [ $? -eq 1 ]`) still fails
on unread code, and a file named alone and the same file found by a walk give the same code.
Each error is printed once, on stderr (the text report leaves it out; json and sarif keep it in their
own fields). Walks skip virtualenvs, installed packages, build output and excluded paths (see
`race_mcp._walk`); the report counts them per reason, and a named directory with nothing to analyse
is a `race-mcp: warning:` line on stderr (exit code unchanged).

Output is `--format text` unless asked otherwise, whatever stdout is: scripts ask for json or sarif.
Text uses color only on a terminal, and never when NO_COLOR is set or TERM is dumb.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from ._cli_burst import add_burst_parser
from ._cli_patch import add_patch_parser
from ._sanitize import PROSE_LIMIT, sanitize_line, sanitize_message
from ._version import __version__
from .errors import RaceMcpError

if TYPE_CHECKING:
    from .config import Settings
    from .findings import AnalysisReport

# Each command imports what it runs in its handler: pydantic's models, the analyzer, the OpenAPI
# loader, the MCP SDK and the codemods cost up to half a second to import, which `race-mcp
# --version`, `rules` or a usage error should not pay (tests/test_cli.py holds the line on it).

__all__ = ["build_parser", "main"]

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141

Handler = Callable[[argparse.Namespace], int]
# Set by a command whose heap is only its own analysis (`analyze`): the console script then exits
# without the interpreter's teardown (see `run`).
_heap_is_disposable = False


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr like every other error (exit 2)."""

    def error(self, message: str) -> NoReturn:
        # argparse quotes unrecognised arguments raw: they may hold escape sequences.
        shown = sanitize_line(message, PROSE_LIMIT)
        self.exit(EXIT_USAGE, f"race-mcp: error[usage]: {shown} (see '{self.prog} --help')\n")


if TYPE_CHECKING:  # argparse's class is generic only in the type stubs
    _Commands = argparse._SubParsersAction[_Parser]


# ------------------------------------------------------------------------------------ argument types


def _rule_list(value: str) -> list[str]:
    """`RC101,RC2` -> ["RC101", "RC2"]; ids and prefixes are checked once settings are merged."""
    return [part.strip().upper() for part in value.split(",") if part.strip()]


def _non_negative_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {number}")
    return number


def _port(value: str) -> int:
    number = _non_negative_int(value)
    if number > 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535, got {number}")
    return number


# ------------------------------------------------------------------------------------------- parser


TOP_LEVEL_OPTIONS = ("-h", "--help", "--version")

# What a terminal user sees when they start the stdio server by hand (it waits for JSON-RPC).
STDIO_NOTICE = (
    "race-mcp: this is an MCP server on stdio, waiting for an MCP client (Ctrl-D ends it); "
    "for the command-line tools run 'race-mcp --help'"
)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="race-mcp",
        usage="%(prog)s [-h] [--version] [SERVE OPTIONS] | COMMAND ...",
        description="Find, prove and fix race conditions in web APIs. "
        "With no command, serves MCP over stdio: options without a command are serve's "
        "(race-mcp --root DIR is race-mcp serve --root DIR; see 'race-mcp serve --help').",
    )
    parser.add_argument("--version", action="version", version=f"race-mcp {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", prog="race-mcp")
    _add_serve(commands)
    _add_analyze(commands)
    _add_rules(commands)
    _add_openapi(commands)
    _add_demo(commands)
    add_burst_parser(commands)
    add_patch_parser(commands)
    return parser


def _add_serve(commands: _Commands) -> None:
    serve = commands.add_parser("serve", help="run the MCP server (stdio unless --http)")
    serve.add_argument("--http", action="store_true", help="serve streamable HTTP instead of stdio")
    serve.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default: %(default)s)")
    serve.add_argument("--port", type=_port, default=8000, help="HTTP port (default: %(default)s)")
    serve.add_argument("--token", help="bearer token HTTP clients must send (default: $RACE_MCP_TOKEN)")
    serve.add_argument(
        "--root",
        dest="roots",
        action="append",
        default=[],
        metavar="DIR",
        help="extra directory the file tools may read (repeatable; the working directory always is)",
    )
    serve.add_argument(
        "--allow-host",
        dest="allowed_hosts",
        action="append",
        default=[],
        metavar="HOST",
        help="extra Host name HTTP clients may use on a non-loopback bind (repeatable)",
    )
    serve.add_argument(
        "--allow-burst-host",
        dest="burst_allow_hosts",
        action="append",
        default=[],
        metavar="HOST",
        help="extra host, address or CIDR network run_burst may send traffic to (repeatable)",
    )
    serve.add_argument(
        "--config",
        type=Path,
        metavar="PYPROJECT",
        help="read [tool.race-mcp] from this file (default: the nearest pyproject.toml)",
    )
    serve.set_defaults(handler=_cmd_serve)


def _add_analyze(commands: _Commands) -> None:
    analyze = commands.add_parser(
        "analyze",
        help="find races in Python, JavaScript/TypeScript and Rust files and directories",
        epilog="exit status: 0 nothing at or above --fail-on, 1 findings at or above it, "
        "2 bad usage or input (including a named path that cannot be analysed)",
    )
    analyze.add_argument(
        "paths", nargs="+", metavar="PATH", help="files, or directories to walk for .py, .js/.ts, .rs"
    )
    _add_report_options(analyze)
    analyze.set_defaults(handler=_cmd_analyze)


def _add_report_options(command: argparse.ArgumentParser) -> None:
    """Options every findings report shares: format, exit threshold, cap, rule selection, config."""
    command.add_argument(
        "--format",
        choices=["text", "json", "sarif"],
        default="text",
        help="text for people, json for scripts, sarif (2.1.0) for code scanning (default: %(default)s)",
    )
    command.add_argument(
        "--fail-on",
        choices=["low", "medium", "high"],
        default="low",
        help="exit 1 when a finding has at least this severity (default: %(default)s)",
    )
    command.add_argument(
        "--max-findings",
        type=_non_negative_int,
        metavar="N",
        help="show at most N findings (all are counted)",
    )
    command.add_argument(
        "--select", type=_rule_list, metavar="IDS", help="comma-separated rule ids or prefixes to enable"
    )
    command.add_argument(
        "--ignore", type=_rule_list, metavar="IDS", help="comma-separated rule ids or prefixes to disable"
    )
    command.add_argument(
        "--config",
        type=Path,
        metavar="PYPROJECT",
        help="read [tool.race-mcp] from this file (default: the nearest pyproject.toml)",
    )


def _add_openapi(commands: _Commands) -> None:
    openapi = commands.add_parser(
        "openapi",
        help="check an OpenAPI document for missing concurrency preconditions",
        epilog="exit status: 0 nothing at or above --fail-on, 1 findings at or above it, "
        "2 bad usage or a spec that cannot be loaded. Remote $refs are never fetched unless "
        "--allow-remote (or [tool.race-mcp.openapi] remote_hosts) names the host.",
    )
    openapi.add_argument("spec", metavar="SPEC", help="OpenAPI 2.0/3.x document, YAML or JSON")
    openapi.add_argument(
        "--source",
        type=Path,
        metavar="DIR",
        help="also analyse this code and put its findings beside the spec's, per endpoint",
    )
    openapi.add_argument(
        "--ref-root",
        dest="ref_roots",
        action="append",
        default=[],
        type=Path,
        metavar="DIR",
        help="extra directory file $refs may point into (repeatable; default: the spec's own)",
    )
    openapi.add_argument(
        "--allow-remote",
        dest="remote_hosts",
        action="append",
        default=[],
        metavar="HOST",
        help="fetch remote $refs from this host (repeatable; default: never fetch)",
    )
    _add_report_options(openapi)
    openapi.set_defaults(handler=_cmd_openapi)


def _add_rules(commands: _Commands) -> None:
    rules = commands.add_parser("rules", help="list the rules, or document one")
    rules.add_argument("rule_id", nargs="?", metavar="RULE_ID", help="e.g. RC101")
    # markdown: the bare table of every rule, as the README's rule table holds it (tests compare them).
    rules.add_argument("--format", choices=["text", "json", "markdown"], default="text")
    rules.set_defaults(handler=_cmd_rules)


def _add_demo(commands: _Commands) -> None:
    demo = commands.add_parser("demo", help="analyze, prove, patch and re-prove the bundled demo shop")
    demo.add_argument("--format", choices=["text", "json"], default="text")
    demo.add_argument(
        "--database",
        metavar="URL",
        help="run the shop on PostgreSQL, e.g. postgresql://127.0.0.1:5432/test (default: SQLite)",
    )
    demo.set_defaults(handler=_cmd_demo)


# ----------------------------------------------------------------------------------------- commands


def _cmd_serve(args: argparse.Namespace) -> int:
    from .config import load_settings
    from .roots import allowed_roots

    # The same checked settings as every command: a bad or too-wide config stops the start before
    # the server's second of imports (the MCP SDK, every tool's modules) is paid for.
    settings = load_settings(config=args.config)
    # The roots too: a mistyped --root is refused before the server's imports.
    roots = allowed_roots(args.roots, settings)
    from .server import serve

    if not args.http and sys.stdin.isatty():
        print(STDIO_NOTICE, file=sys.stderr, flush=True)
    # The server falls back to $RACE_MCP_TOKEN itself (PolicyError without one off loopback).
    serve(
        http=args.http,
        host=args.host,
        port=args.port,
        token=args.token,
        roots=roots,
        settings=settings,
        allowed_hosts=args.allowed_hosts,
        burst_allow_hosts=args.burst_allow_hosts,
    )
    return EXIT_OK


def _cmd_analyze(args: argparse.Namespace) -> int:
    from .analyzer import analyze_paths
    from .analyzer._limits import tune_collection_for_batch

    global _heap_is_disposable
    tune_collection_for_batch()
    _heap_is_disposable = True

    settings = _analysis_settings(args)
    progress = _ProgressLine() if sys.stderr.isatty() else None
    try:
        report = analyze_paths(
            args.paths, settings=settings, max_findings=args.max_findings, progress=progress
        )
    finally:
        if progress is not None:
            progress.clear()
    _write(_render_report(report, args.format, problems=False))
    _print_problems(report)
    if report.errors:
        return EXIT_USAGE  # unread code is never a pass, found by a walk or named (module docstring)
    return _exit_code(report, args.fail_on)


def _cmd_openapi(args: argparse.Namespace) -> int:
    from .openapi import check_openapi  # YAML and $ref machinery only when asked for
    from .roots import allowed_roots

    settings = _analysis_settings(args)
    # The spec's own directory is always a $ref root; these are the flags' and the config's.
    ref_roots = allowed_roots(args.ref_roots, settings, working_directory=False, flag="--ref-root")
    report = check_openapi(
        args.spec,
        settings=settings,
        source=args.source,
        ref_roots=ref_roots.paths,
        allow_remote_hosts=args.remote_hosts,
        max_findings=args.max_findings,
    )
    _write(_render_report(report, args.format))
    return _exit_code(report, args.fail_on)


def _cmd_rules(args: argparse.Namespace) -> int:
    from .rules import RULES, get_rule, render_catalog_markdown, render_rule_markdown, render_rule_table

    if args.rule_id:
        rule = get_rule(args.rule_id)
        if args.format == "json":
            _write(rule.model_dump_json(indent=2) + "\n")
        else:
            _write(render_rule_markdown(rule))
    elif args.format == "json":
        rules = [rule.model_dump(mode="json") for rule in RULES.values()]
        _write(_json({"rules": rules}))
    elif args.format == "markdown":
        _write(render_rule_table(RULES.values()))
    else:
        _write(render_catalog_markdown())
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    # Imported here: the demo starts servers and pulls in the web stack.
    from .demo import run_demo

    report = run_demo(database=args.database)
    _write(_json(report.model_dump(mode="json")) if args.format == "json" else report.render_text())
    # A step that did not show what it should (a missed race, a fix that does not hold) fails the run.
    return EXIT_OK if report.passed else EXIT_FINDINGS


# ------------------------------------------------------------------------------------------ helpers


class _ProgressLine:
    """`analyzing 120/5000 files` on one stderr line, redrawn at most ten times a second."""

    def __init__(self) -> None:
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if total < 20 or (now - self._last < 0.1 and done < total):
            return
        self._last = now
        width = 30
        filled = width * done // total
        sys.stderr.write(f"\ranalyzing [{'#' * filled}{'.' * (width - filled)}] {done}/{total} files")
        sys.stderr.flush()

    def clear(self) -> None:
        if self._last:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def _analysis_settings(args: argparse.Namespace) -> Settings:
    """Config file first (checked), then --select / --ignore replace its lists (as ruff's do)."""
    from .config import load_settings

    return load_settings(config=args.config, select=args.select, ignore=args.ignore)


def _render_report(report: AnalysisReport, output_format: str, *, problems: bool = True) -> str:
    from .render import render_json, render_sarif, render_text

    if output_format == "json":
        return render_json(report)
    if output_format == "sarif":
        return render_sarif(report, source_root=Path.cwd())
    return render_text(report, color=_use_color(sys.stdout), problems=problems)


def _print_problems(report: AnalysisReport) -> None:
    """Each warning and error of `analyze` once, on stderr, in the one-line format of every error."""
    for warning in report.summary.warnings:
        print(f"race-mcp: warning: {_one_line(warning)}", file=sys.stderr)
    for error in report.errors:
        print(f"race-mcp: error[{error.code}]: {_one_line(error.message)}", file=sys.stderr)
    sys.stderr.flush()


def _exit_code(report: AnalysisReport, fail_on: str) -> int:
    from .findings import severity_rank

    # The summary counts every finding, including those cut by --max-findings.
    threshold = severity_rank(fail_on)
    failing = any(
        count and severity_rank(level) >= threshold for level, count in report.summary.by_severity.items()
    )
    return EXIT_FINDINGS if failing else EXIT_OK


def _use_color(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    return (
        callable(isatty)
        and bool(isatty())
        and not os.environ.get("NO_COLOR")
        and os.environ.get("TERM") != "dumb"
    )


def _json(data: object) -> str:
    return json.dumps(data, indent=2) + "\n"


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _one_line(message: str) -> str:
    """Error messages quote input (file names, spec text, responses): one line, controls shown escaped."""
    return sanitize_message(message) or "unknown error"


def _quiet_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the interpreter's final flush stays quiet."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _with_command(argv: Sequence[str]) -> list[str]:
    """`race-mcp` and `race-mcp --root DIR` mean `race-mcp serve ...`: MCP clients launch the
    server with options only. `-h` and `--version` stay the top level's own."""
    if not argv or (argv[0].startswith("-") and argv[0] not in TOP_LEVEL_OPTIONS):
        return ["serve", *argv]
    return list(argv)


class _WarningLines(logging.Handler):
    """Configuration warnings (a project widening the policy) as `race-mcp: warning: ...` lines,
    on whatever `sys.stderr` is when they happen."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"race-mcp: warning: {_one_line(record.getMessage())}", file=sys.stderr, flush=True)


def _warnings_to_stderr() -> None:
    config_logger = logging.getLogger("race_mcp.config")
    if not any(isinstance(handler, _WarningLines) for handler in config_logger.handlers):
        config_logger.addHandler(_WarningLines(logging.WARNING))
        config_logger.propagate = False  # the server's log setup would print them twice


def run() -> NoReturn:
    """The console script (`race-mcp`, `python -m race_mcp`): `main`, then its exit code.

    After an analysis the interpreter's teardown would free the heap's trees and models object by
    object (3 s of a 60 s one-process run of the throughput corpus) for nothing: the process exits
    at once, with its output flushed, as multiprocessing's workers do."""
    code = main()
    if not _heap_is_disposable:
        raise SystemExit(code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        code = EXIT_BROKEN_PIPE
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    if isinstance(sys.stdout, io.TextIOWrapper):
        # Source lines in the text report may hold characters the terminal's encoding lacks.
        sys.stdout.reconfigure(errors="backslashreplace")
    _warnings_to_stderr()
    parser = build_parser()
    args = parser.parse_args(_with_command(sys.argv[1:] if argv is None else argv))
    handler: Handler = args.handler
    try:
        return handler(args)
    except RaceMcpError as exc:
        print(f"race-mcp: error[{exc.code}]: {_one_line(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
