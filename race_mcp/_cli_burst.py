"""`race-mcp burst URL`: send synchronised bursts from the command line and exit by the verdict.

The options map one to one onto `BurstSpec`; the allowlist and caps come from
`[tool.race-mcp.burst]` plus `--allow-host` (on the command line the user widens it, not a model).
`cli.py` hooks this in with `add_burst_parser(commands)`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._sanitize import PROSE_LIMIT, sanitize_line
from .errors import InputError, PolicyError

if TYPE_CHECKING:
    from pydantic import ValidationError

    from .burst import BurstPolicy, BurstResult, BurstSpec
    from .config import Settings

__all__ = ["add_burst_parser", "run_burst_command"]

EXIT_NO_RACE = 0
EXIT_RACE_OR_INCONCLUSIVE = 1

# Headers and request line of a saved request, on top of the body cap.
_RAW_HEAD_ALLOWANCE = 64 * 1024

EPILOG = """\
exit codes:
  0  no_race: every burst stayed within --expect-max (or the baseline / the probe)
  1  race, or inconclusive: the burst could not show either way (synchronisation failed, the
     server serialised the requests, requests failed). Inconclusive is not a pass, so a CI gate
     that wants "the fix holds" fails on it; scripts that must tell it from a race read the
     "verdict" of --format json, and a line on stderr names it.
  2  bad usage or input, a refused target, or nothing usable came back (one line on stderr)

Sends real requests that change the target's state: use test servers, and --reset-url to
restore the state before each burst. Only loopback is allowed unless [tool.race-mcp.burst]
allow_hosts in pyproject.toml or --allow-host adds a host.

example:
  race-mcp burst http://127.0.0.1:8000/coupons/WELCOME10/redeem --json '{"account_id": 3}' \\
      -n 20 --bursts 5 --expect-max 1 --reset-url http://127.0.0.1:8000/admin/reset
"""

# Where each BurstSpec field comes from, so a validation error names the option the user typed.
_OPTION_OF_FIELD = {
    "url": "URL",
    "method": "-X/--method",
    "headers": "-H/--header",
    "cookies": "--cookie",
    "requests": "-n/--requests",
    "bursts": "--bursts",
    "mode": "--mode",
    "expected_max_successes": "--expect-max",
    "success": "--success-*",
    "reset": "--reset-*",
    "probe": "--probe-*",
    "hold_ms": "--hold-ms",
}


# ------------------------------------------------------------------------------------------ parser


def _header(value: str) -> tuple[str, str]:
    name, colon, content = value.partition(":")
    if not colon or not name.strip():
        raise argparse.ArgumentTypeError(f"expected 'Name: value', got {value!r}")
    return name.strip(), content.strip()


def _pair(value: str) -> tuple[str, str]:
    key, equals, content = value.partition("=")
    if not equals or not key.strip():
        raise argparse.ArgumentTypeError(f"expected 'name=value', got {value!r}")
    return key.strip(), content


def _count(value: str) -> int:
    """A whole number in ASCII digits (int() would also take "٣" and choke on 5,000 digits)."""
    if not re.fullmatch(r"[0-9]{1,9}", value.strip()):
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value[:40]!r}")
    return int(value)


def _statuses(value: str) -> list[int]:
    parts = [part.strip() for part in value.split(",") if part.strip()]
    # ASCII digits only: int() would also take "٢٠٠" or "²00"-like text and choke on 5,000 digits.
    if not all(re.fullmatch(r"[0-9]{1,3}", part) for part in parts):
        raise argparse.ArgumentTypeError(f"expected status codes like 200,201, got {value[:80]!r}")
    codes = [int(part) for part in parts]
    if not codes or any(not 100 <= code <= 599 for code in codes):
        raise argparse.ArgumentTypeError(f"expected status codes between 100 and 599, got {value!r}")
    return codes


def _json_value(option: str, value: str) -> Any:
    """A JSON option's value; deep nesting is `json-too-deep`, not a RecursionError."""
    from .burst._json import loads_user

    try:
        return loads_user(value, option)
    except ValueError as exc:  # JSONDecodeError, or a number past the int-string limit
        raise InputError(f"{option}: not valid JSON: {exc}", code="bad-json") from None


def add_burst_parser(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add `burst` to the `race-mcp` command's subparsers."""
    burst = subparsers.add_parser(
        "burst",
        help="prove a race with a synchronised burst of requests (sends real traffic)",
        description="Send the same request many times at once (HTTP/2 single-packet, HTTP/1.1\n"
        "last-byte sync, or naive) and judge whether more succeeded than may.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    burst.add_argument("url", metavar="URL", help="target URL (http:// or https://)")
    _add_request_options(burst)
    _add_judging_options(burst)
    _add_run_options(burst)
    burst.set_defaults(handler=_handle)


def _add_request_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("the request ({{i}} and {{uuid}} are filled per request)")
    group.add_argument("-X", "--method", help="HTTP method (default: POST with a body, else GET)")
    group.add_argument(
        "-H",
        "--header",
        dest="headers",
        action="append",
        type=_header,
        default=[],
        metavar="'NAME: VALUE'",
        help="request header (repeatable)",
    )
    group.add_argument(
        "--cookie",
        dest="cookies",
        action="append",
        type=_pair,
        default=[],
        metavar="NAME=VALUE",
        help="cookie sent with every request (repeatable)",
    )
    body = group.add_mutually_exclusive_group()
    body.add_argument("--data", metavar="TEXT", help="raw request body")
    body.add_argument("--json", dest="json_body", metavar="JSON", help="JSON body")
    body.add_argument(
        "--form", action="append", type=_pair, metavar="NAME=VALUE", help="form field (repeatable)"
    )
    body.add_argument(
        "--request-file",
        type=Path,
        metavar="FILE",
        help="a raw HTTP request as a proxy saves it (method, path, headers, body); URL gives the origin",
    )


def _add_judging_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("judging")
    group.add_argument(
        "--expect-max", type=_count, metavar="L", help="how many may succeed at most (a single-use coupon: 1)"
    )
    group.add_argument(
        "--success-status",
        type=_statuses,
        action="append",
        metavar="CODES",
        help="status codes that mean success, e.g. 200,201 (default: any 2xx)",
    )
    group.add_argument("--success-regex", metavar="REGEX", help="a successful body matches this")
    group.add_argument(
        "--success-json", metavar="COND", help="JSON path condition on the body, e.g. '$.ok == true'"
    )
    group.add_argument(
        "--baseline", action="store_true", help="first send the requests one at a time to calibrate"
    )
    group.add_argument("--reset-url", metavar="URL", help="request that restores the state before each burst")
    group.add_argument("--reset-method", metavar="METHOD", help="method of the reset (default: POST)")
    group.add_argument("--reset-data", metavar="TEXT", help="body of the reset request")
    group.add_argument("--probe-url", metavar="URL", help="GET a JSON state before and after each burst")
    group.add_argument("--probe-path", metavar="PATH", help="where the number is, e.g. '$.balance'")
    group.add_argument(
        "--probe-change", type=float, metavar="N", help="change per success, e.g. -10 for a debit of 10"
    )


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("the run")
    group.add_argument("-n", "--requests", type=_count, default=20, help="requests per burst (default: 20)")
    group.add_argument("--bursts", type=_count, default=1, help="bursts to send (default: 1)")
    group.add_argument(
        "--mode",
        choices=["auto", "h2", "h1", "naive"],
        default="auto",
        help="auto: HTTP/2 single-packet when the server speaks it, else HTTP/1.1 (default)",
    )
    group.add_argument("--hold-ms", type=_count, default=100, help="pause before the release (default: 100)")
    group.add_argument("--insecure", action="store_true", help="do not verify the TLS certificate")
    group.add_argument(
        "--allow-host",
        dest="allow_hosts",
        action="append",
        default=[],
        metavar="HOST",
        help="also allow this host name, address or CIDR network (repeatable; loopback always is)",
    )
    group.add_argument("--format", choices=["text", "json"], default="text")
    group.add_argument(
        "--config",
        type=Path,
        metavar="PYPROJECT",
        help="read [tool.race-mcp] from this file (default: the nearest pyproject.toml)",
    )


# ----------------------------------------------------------------------------------------- command


def _handle(args: argparse.Namespace) -> int:
    from .config import load_settings  # pydantic loads when a command runs, not to parse one

    settings = load_settings(config=args.config)
    return run_burst_command(args, settings)


def run_burst_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run the burst the options describe, print the result, return the exit code.

    Raises `RaceMcpError` (the caller prints it as one line and exits 2); a spec that fails
    validation is reported as an `InputError` naming the option.
    """
    # Imported here: the engine (h2, anyio, httpx) is not needed to parse `analyze` or `rules`.
    import anyio

    from .burst import BurstPolicy, render_burst_text

    policy = BurstPolicy.from_settings(settings, allow_hosts=args.allow_hosts)
    spec = _spec(args, policy)
    result = anyio.run(_run, spec, policy)
    if args.format == "json":
        sys.stdout.write(json.dumps(result.model_dump(mode="json"), indent=2) + "\n")
    else:
        sys.stdout.write(render_burst_text(result, quoted_heading="evidence (quotes the responses)"))
    sys.stdout.flush()
    if result.verdict == "inconclusive":
        # One line, whatever the responses held, their escape sequences shown, not run.
        reason = sanitize_line(" ".join(result.reason.split()), PROSE_LIMIT)
        print(f"race-mcp: inconclusive (exit 1, not a pass): {reason}", file=sys.stderr)
    return EXIT_NO_RACE if result.verdict == "no_race" else EXIT_RACE_OR_INCONCLUSIVE


async def _run(spec: BurstSpec, policy: BurstPolicy) -> BurstResult:
    from .burst import run_burst

    progress = _print_progress if sys.stderr.isatty() else None
    return await run_burst(spec, policy=policy, progress=progress)


async def _print_progress(done: float, total: float | None, message: str | None) -> None:
    print(f"race-mcp: {message}", file=sys.stderr, flush=True)


def _spec(args: argparse.Namespace, policy: BurstPolicy) -> BurstSpec:
    from pydantic import ValidationError

    from .burst import BurstSpec

    raw_request = _read_request_file(args.request_file, policy) if args.request_file else None
    if raw_request is not None and args.method:
        raise InputError(
            "-X/--method cannot be used with --request-file: the file's request line names it",
            code="bad-method",
        )
    json_body = _json_value("--json", args.json_body) if args.json_body is not None else None
    fields = {
        "url": args.url,
        "method": args.method,  # None: the engine's default, POST with a body, else GET
        "headers": dict(args.headers),
        "cookies": dict(args.cookies),
        "body": args.data,
        "json_body": json_body,
        "form": dict(args.form) if args.form is not None else None,
        "raw_request": raw_request,
        "requests": args.requests,
        "bursts": args.bursts,
        "mode": args.mode,
        "expected_max_successes": args.expect_max,
        "success": {
            "status": [code for codes in args.success_status or [] for code in codes],
            "body_regex": args.success_regex,
            "json_condition": args.success_json,
        },
        "baseline": args.baseline,
        "reset": _reset(args),
        "probe": _probe(args),
        "hold_ms": args.hold_ms,
        "verify_tls": not args.insecure,
    }
    try:
        return BurstSpec.model_validate(fields)
    except ValidationError as exc:
        raise InputError(_validation_message(exc), code="bad-option") from None


def _reset(args: argparse.Namespace) -> dict[str, Any] | None:
    """The reset request's fields (an `AuxRequest`), or None without --reset-url."""
    if args.reset_url is None:
        if args.reset_method is not None or args.reset_data is not None:
            raise InputError("--reset-method and --reset-data need --reset-url", code="bad-option")
        return None
    return {"url": args.reset_url, "method": args.reset_method or "POST", "body": args.reset_data}


def _probe(args: argparse.Namespace) -> dict[str, Any] | None:
    """The state probe's fields (a `StateProbe`), or None without the --probe-* options."""
    given = [args.probe_url, args.probe_path, args.probe_change]
    if all(value is None for value in given):
        return None
    if any(value is None for value in given):
        raise InputError(
            "--probe-url, --probe-path and --probe-change go together: give all three", code="bad-option"
        )
    return {"url": args.probe_url, "json_path": args.probe_path, "change_per_success": args.probe_change}


def _read_request_file(path: Path, policy: BurstPolicy) -> str:
    limit = policy.max_body_bytes + _RAW_HEAD_ALLOWANCE
    try:
        with path.open("rb") as file:
            data = file.read(limit + 1)
    except OSError as exc:
        code = "not-found" if isinstance(exc, FileNotFoundError) else "unreadable"
        raise InputError(f"--request-file {path}: {exc.strerror or exc}", code=code) from None
    if len(data) > limit:
        raise PolicyError(
            f"--request-file {path}: over the {limit:,}-byte cap for a saved request", code="cap-body"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"--request-file {path}: not UTF-8 text", code="not-utf8") from None


def _validation_message(exc: ValidationError) -> str:
    """The first problem, named by the option the user typed (pydantic speaks in field paths)."""
    first = exc.errors()[0]
    location = [str(part) for part in first["loc"]]
    option = _OPTION_OF_FIELD.get(location[0], location[0]) if location else "burst"
    return f"{option}: {first['msg']}"
