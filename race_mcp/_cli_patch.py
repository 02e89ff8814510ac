"""`race-mcp patch FILE`: propose (and with --apply, write) the verified fixes for one file.

`cli.py` hooks this in with `add_patch_parser(commands)`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._sanitize import PROSE_LIMIT, sanitize_line

if TYPE_CHECKING:
    from .config import Settings
    from .remediate import PatchReport

__all__ = ["add_patch_parser", "run_patch_command"]

EXIT_CLEAN = 0
EXIT_LEFT_TO_FIX = 1

EPILOG = """\
exit codes (like `ruff check --fix`: 0 means nothing is left to fix):
  0  nothing to fix: no finding in FILE, or --apply wrote every patch and no finding is left
     without one
  1  patches were proposed and not applied, or findings remain that have no mechanical patch
     (their guidance is printed)
  2  bad usage or input: missing or unparsable FILE, unknown rule, --apply outside the allowed
     roots or on a file changed meanwhile (one line on stderr)

--format diff prints one unified diff (a/ b/ paths relative to the working directory) that
`git apply` and `patch -p1` accept. --apply writes the patched file atomically (a temporary file
in the same directory, then a rename), only inside the working directory and --root DIRs.

example:
  race-mcp patch app/views.py --format diff > fix.patch && git apply fix.patch
"""


def add_patch_parser(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add `patch` to the `race-mcp` command's subparsers."""
    patch = subparsers.add_parser(
        "patch",
        help="propose verified fixes for the races in one source file (--apply writes them)",
        description="Generate one patch per fixable finding (libcst codemods for Python, text fixers\n"
        "for JavaScript/TypeScript and Rust; formatting and comments kept), each verified by\n"
        "re-analysis; findings with no sound patch get guidance in the file's own language.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    patch.add_argument(
        "file", metavar="FILE", type=Path, help="the Python, JavaScript/TypeScript or Rust file to patch"
    )
    patch.add_argument("--rule", metavar="ID", help="only patch this rule's findings, e.g. RC101")
    patch.add_argument(
        "--format",
        choices=["text", "diff", "json"],
        default="text",
        help="text for people, diff for git apply / patch -p1, json for scripts (default: %(default)s)",
    )
    patch.add_argument("--apply", action="store_true", help="write the patched file (atomically)")
    patch.add_argument(
        "--root",
        dest="roots",
        action="append",
        default=[],
        type=Path,
        metavar="DIR",
        help="extra directory --apply may write in (repeatable; the working directory always is)",
    )
    patch.add_argument(
        "--config",
        type=Path,
        metavar="PYPROJECT",
        help="read [tool.race-mcp] from this file (default: the nearest pyproject.toml)",
    )
    patch.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    from .config import load_settings  # pydantic loads when a command runs, not to parse one

    settings = load_settings(config=args.config)
    return run_patch_command(args, settings)


def _label(path: Path) -> str:
    """The path as the diff names it: relative to the working directory when inside it."""
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path.as_posix()


def run_patch_command(args: argparse.Namespace, settings: Settings) -> int:
    """Propose the patches, print them, write them with --apply; returns the exit code.

    Raises `RaceMcpError` for bad input or a refused write (the caller prints one line, exit 2).
    """
    # The codemods (libcst.matchers) load only when `patch` runs, not at every `race-mcp` start.
    from .roots import allowed_roots

    # The server's roots, built the same way; a bad --root fails before the codemods load and run.
    roots = allowed_roots(args.roots, settings) if args.apply else None
    from .analyzer._files import read_source
    from .remediate import apply_patches, propose_patches

    label = _label(args.file)
    source = read_source(args.file, label, max_bytes=settings.max_file_bytes)
    # The file's project facts, as `race-mcp analyze FILE` uses them: no patch for what it clears.
    report = propose_patches(source, label, settings=settings, rule=args.rule, project_file=args.file)
    if roots is not None:
        written = apply_patches(args.file, report, roots=roots)
        if written is not None:
            count = len(report.patches)
            shown = sanitize_line(label, PROSE_LIMIT)
            print(f"race-mcp: applied {count} patch{'es' if count != 1 else ''} to {shown}", file=sys.stderr)
    sys.stdout.write(_render(report, args.format))
    sys.stdout.flush()
    pending = bool(report.patches) and not args.apply
    return EXIT_LEFT_TO_FIX if pending or report.unpatched else EXIT_CLEAN


def _render(report: PatchReport, fmt: str) -> str:
    from .remediate import render_patch_text

    if fmt == "json":
        return report.model_dump_json(indent=2) + "\n"
    if fmt == "diff":
        return report.diff
    return render_patch_text(report)
