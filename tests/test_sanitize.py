"""Issue 13: text race-mcp did not write reaches a terminal (or a model) inert, and JSON keeps it exact.

Hostile text rides in where an attacker controls it: a comment on a racy line of code under review,
a file name, an OpenAPI path and title, the body and headers a burst target answers. Each is run
end to end: the installed command as a subprocess (text, on a pseudo-terminal with colors, JSON,
SARIF, diff, error lines) and a real MCP client over stdio (text content, structured content,
tool errors). The text never holds a raw control character; the JSON holds the original exactly.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import unicodedata
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult, TextContent

from race_mcp._sanitize import QUOTE_LIMIT, sanitize_line, sanitize_message, sanitize_text
from race_mcp.findings import AnalysisReport
from race_mcp.render import render_text
from tests._mcp_helpers import RACE_MCP, RACY_SOURCE
from tests.test_cli import _run_on_terminal, assert_one_line_error, race_mcp

# Retitle the terminal (OSC 0), erase the line and move up (CSI), write the clipboard (OSC 52),
# reverse the display order and isolate (Trojan Source), bidi marks, and a one-character C1 CSI.
TERMINAL_ATTACK = "\x1b]0;PWNED\x07 \x1b[2K\x1b[1A \x1b]52;c;aGk=\x07"
BIDI_ATTACK = "\u202eevil\u2066 x\u2069 \u200e\u200f\u061c"
HOSTILE = f"{TERMINAL_ATTACK} {BIDI_ATTACK} \x9b31m"
# What the text shows instead, in part.
SHOWN = ["\\x1b]0;PWNED\\x07", "\\x1b[2K\\x1b[1A", "\\x1b]52;c;aGk=\\x07", "<U+202E>evil<U+2066>", "\\x9b31m"]

# On the check line and on the read line: each is evidence, and a short summary quotes one of them.
HOSTILE_LINE = f'if coupon["used"]:  # {HOSTILE}'
HOSTILE_READ = f"coupon = coupons[code]  # {HOSTILE}"
HOSTILE_SOURCE = RACY_SOURCE.replace('    if coupon["used"]:\n', f"    {HOSTILE_LINE}\n").replace(
    "    coupon = coupons[code]\n", f"    {HOSTILE_READ}\n"
)
# A file name can hold an escape sequence too (git allows it; a pull request can add one).
HOSTILE_NAME = "evil\x1b]0;PWNED\x07\u202e.py"
SPEC_PATH = f"/orders/{{id}}{HOSTILE}\u2028\r"
SPEC_TITLE = f"Shop {HOSTILE}"

# Every character a terminal may act on, or that reorders or hides text: C0 but tab and newline,
# DEL, C1, the bidi embeddings/overrides/isolates/marks, the line and paragraph separators.
ACTIVE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def assert_inert(text: str) -> None:
    found = sorted({f"U+{ord(char):04X}" for char in ACTIVE.findall(text)})
    assert not found, f"raw control characters {found} in:\n{text!r}"


def assert_shows_the_attack(text: str) -> None:
    assert_inert(text)
    for shown in SHOWN:
        assert shown in text, (shown, text)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    (root / "pyproject.toml").write_text("[tool.race-mcp]\n")
    (root / "hostile.py").write_text(HOSTILE_SOURCE, encoding="utf-8")
    (root / "names").mkdir()
    (root / "names" / HOSTILE_NAME).write_text(RACY_SOURCE, encoding="utf-8")
    (root / "spec.json").write_text(json.dumps(hostile_spec()), encoding="utf-8")
    return root


def hostile_spec() -> dict[str, Any]:
    """A PATCH without If-Match (RA101) under a hostile path, summary, description and title."""
    operation = {
        "summary": f"Change an order {HOSTILE}",
        "description": f"Changes it.\n{HOSTILE}\u2028",
        "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": {"description": f"changed {HOSTILE}"}},
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": SPEC_TITLE, "version": "1", "description": HOSTILE},
        "paths": {SPEC_PATH: {"patch": operation}},
    }


# ---------------------------------------------------------------------------------- the sanitizer


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b]0;PWNED\x07", "\\x1b]0;PWNED\\x07"),
        ("a\rb", "a\\rb"),
        ("one\ntwo", "one\\ntwo"),
        ("tab\tkept", "tab\tkept"),
        ("\x00\x7f\x85\x9b", "\\x00\\x7f\\x85\\x9b"),
        ("\u202a\u202b\u202c\u202d\u202e", "<U+202A><U+202B><U+202C><U+202D><U+202E>"),
        ("\u2066\u2067\u2068\u2069", "<U+2066><U+2067><U+2068><U+2069>"),
        ("\u200e\u200f\u061c", "<U+200E><U+200F><U+061C>"),
        ("line\u2028para\u2029", "line<U+2028>para<U+2029>"),
        ("zero\u200bwidth\ufeff", "zero<U+200B>width<U+FEFF>"),
        ("tag\U000e0041", "tag<U+E0041>"),  # invisible tag characters smuggle text to models
        ("lone \udcff", "lone <U+DCFF>"),  # what undecodable bytes become; cannot be printed
        ("café 中文 \u200d👍🏽 naïve", "café 中文 \u200d👍🏽 naïve"),  # printable text and ZWJ stay
    ],
)
def test_each_class_is_shown_escaped(raw: str, shown: str) -> None:
    assert sanitize_line(raw) == shown


def test_every_control_and_format_character_is_neutralised() -> None:
    """All of Unicode: nothing of category Cc, Cf, Zl, Zp or Cs survives but tab, ZWNJ and ZWJ."""
    kept = {"\t", "\u200c", "\u200d"}
    for code in range(0x110000):
        char = chr(code)
        if char in kept or unicodedata.category(char) not in {"Cc", "Cf", "Zl", "Zp", "Cs"}:
            continue
        shown = sanitize_line(f"a{char}b")
        assert char not in shown and shown.isascii(), (f"U+{code:04X}", shown)


def test_blocks_keep_their_newlines_and_lines_do_not() -> None:
    assert sanitize_text(f"one {HOSTILE}\ntwo\r\n") == f"one {sanitize_line(HOSTILE)}\ntwo\\r\n"
    assert "\n" not in sanitize_line("forged\nNo findings in 1 file analyzed.")
    assert sanitize_message("first line\n  second\x1b[2K\n") == "first line second\\x1b[2K"


def test_sanitizing_twice_changes_nothing() -> None:
    once = sanitize_text(f"{HOSTILE}\n" + "x" * 5000)
    assert sanitize_text(once, limit=None) == once


def test_long_lines_are_cut_with_what_was_left_out() -> None:
    assert sanitize_line("a" * 1534, limit=300) == "a" * 300 + "… [+1,234 chars]"
    assert sanitize_line("a" * 300, limit=300) == "a" * 300
    # An escape is never split, and the limit counts what is shown.
    cut = sanitize_line("\x1b" * 100, limit=10)
    assert cut == "\\x1b\\x1b… [+98 chars]"
    assert sanitize_line("b" * 10_000, limit=None) == "b" * 10_000


def test_colors_are_ours_alone() -> None:
    """With color on, the only escape sequences left are the renderer's own SGR codes."""
    report = analysis_of(HOSTILE_SOURCE)
    colored = render_text(report, color=True)
    ours = re.compile(r"\x1b\[\d+m")
    assert ours.search(colored)
    assert_shows_the_attack(ours.sub("", colored))


def analysis_of(source: str) -> AnalysisReport:
    from race_mcp.analyzer import analyze_source

    return AnalysisReport.build(analyze_source(source, "hostile.py"), [], files_analyzed=1)


# --------------------------------------------------------------------------------- CLI: analyze


def test_analyze_text_quotes_the_hostile_line_inert(project: Path) -> None:
    result = race_mcp("analyze", "hostile.py", cwd=project)

    assert result.returncode == 1, result.stderr
    assert_shows_the_attack(result.stdout)
    evidence = next(line for line in result.stdout.splitlines() if "check" in line and "PWNED" in line)
    assert evidence.strip().startswith('8 check  if coupon["used"]:  # \\x1b]0;PWNED\\x07')


def test_analyze_on_a_terminal_with_colors_is_inert(project: Path) -> None:
    code, output = _run_on_terminal(["analyze", "hostile.py"], project, {})

    assert code == 1
    assert "\x1b[31m[high/" in output  # colors are on
    # The terminal's line discipline turns "\n" into "\r\n"; a bare "\r" would still be caught.
    plain = re.sub(r"\x1b\[\d+m", "", output).replace("\r\n", "\n")
    assert_shows_the_attack(plain)


def test_analyze_json_and_sarif_keep_the_exact_line(project: Path) -> None:
    data = json.loads(race_mcp("analyze", "hostile.py", "--format", "json", cwd=project).stdout)
    codes = [step["code"] for finding in data["findings"] for step in finding["evidence"]]
    assert HOSTILE_LINE in codes

    sarif = json.loads(race_mcp("analyze", "hostile.py", "--format", "sarif", cwd=project).stdout)
    messages = [
        location["message"]["text"]
        for result in sarif["runs"][0]["results"]
        for location in result.get("relatedLocations", [])
    ]
    assert f"check: {HOSTILE_LINE}" in messages


def test_a_hostile_file_name_is_inert_in_text_and_exact_in_json(project: Path) -> None:
    text = race_mcp("analyze", "names", cwd=project)
    assert text.returncode == 1, text.stderr
    assert_inert(text.stdout)
    assert "evil\\x1b]0;PWNED\\x07<U+202E>.py" in text.stdout

    data = json.loads(race_mcp("analyze", "names", "--format", "json", cwd=project).stdout)
    assert [finding["path"] for finding in data["findings"]] == [f"names/{HOSTILE_NAME}"]


def test_an_error_quoting_a_hostile_file_name_is_one_inert_line(project: Path) -> None:
    line = assert_one_line_error(race_mcp("analyze", f"ghost{HOSTILE}.py", cwd=project))

    assert line.startswith("race-mcp: error[not-found]: ghost")
    assert_shows_the_attack(line)


def test_a_usage_error_quoting_a_hostile_argument_is_inert(project: Path) -> None:
    # No spaces: argparse takes an argument with a space for a positional one (a path).
    option = "--bogus\x1b]0;PWNED\x07\x1b[2K\u202e"
    line = assert_one_line_error(race_mcp("analyze", "hostile.py", option, cwd=project))

    assert line.startswith("race-mcp: error[usage]: unrecognized arguments: --bogus")
    assert_inert(line)
    assert "--bogus\\x1b]0;PWNED\\x07\\x1b[2K<U+202E>" in line


def test_a_very_long_quoted_line_is_cut_with_a_marker(project: Path) -> None:
    padding = "x" * 5000
    (project / "long.py").write_text(HOSTILE_SOURCE.replace("# ", f"# {padding} "), encoding="utf-8")

    result = race_mcp("analyze", "long.py", cwd=project)

    evidence = next(line for line in result.stdout.splitlines() if re.match(r"\s+8 check ", line))
    assert re.search(r"… \[\+\d{1},\d{3} chars\]$", evidence), evidence
    assert len(evidence) < QUOTE_LIMIT + 40
    data = json.loads(race_mcp("analyze", "long.py", "--format", "json", cwd=project).stdout)
    assert any(padding in step["code"] for step in data["findings"][0]["evidence"])


# ----------------------------------------------------------------------------------- CLI: patch


def test_patch_text_is_inert_and_the_diff_format_is_byte_exact(project: Path) -> None:
    text = race_mcp("patch", "hostile.py", cwd=project)
    assert text.returncode == 1, text.stderr
    assert_shows_the_attack(text.stdout)
    assert f'-    if coupon["used"]:  # {sanitize_line(HOSTILE)}' in text.stdout

    diff = race_mcp("patch", "hostile.py", "--format", "diff", cwd=project).stdout
    assert f"-    {HOSTILE_LINE}\n" in diff and f"+        {HOSTILE_LINE}\n" in diff
    data = json.loads(race_mcp("patch", "hostile.py", "--format", "json", cwd=project).stdout)
    assert data["diff"] == diff

    # Byte-exact means it applies: to a git checkout of the file, unchanged.
    checkout = project / "checkout"
    checkout.mkdir()
    (checkout / "hostile.py").write_text(HOSTILE_SOURCE, encoding="utf-8")
    subprocess.run(["git", "init", "-q"], cwd=checkout, check=True)
    applied = subprocess.run(["git", "apply", "-"], cwd=checkout, input=diff, text=True, capture_output=True)
    assert applied.returncode == 0, applied.stderr
    assert f"        {HOSTILE_LINE}\n" in (checkout / "hostile.py").read_text(encoding="utf-8")


def test_line_separators_in_a_comment_move_no_evidence_and_the_diff_still_applies(project: Path) -> None:
    """Python ends lines at \\n and \\r only; a form feed, \\x1c, \\x85 or U+2028 in a comment must not
    make the evidence quote other lines than it names, nor cut the diff where git sees no line end."""
    separated = 'if coupon["used"]:  # a\u2028b\x0cc\x1cd\x85e\u2029f'
    source = HOSTILE_SOURCE.replace(HOSTILE_LINE, separated).replace(
        "import asyncio\n", "import asyncio  # \x0c\u2028\n"
    )
    (project / "separated.py").write_text(source, encoding="utf-8")

    data = json.loads(race_mcp("analyze", "separated.py", "--format", "json", cwd=project).stdout)
    lines = source.split("\n")
    steps = [step for finding in data["findings"] for step in finding["evidence"]]
    assert steps and all(step["code"] == lines[step["line"] - 1].strip() for step in steps)
    assert separated in [step["code"] for step in steps]
    text = race_mcp("analyze", "separated.py", cwd=project).stdout
    assert_inert(text)
    assert "a<U+2028>b\\x0cc\\x1cd\\x85e<U+2029>f" in text

    diff = race_mcp("patch", "separated.py", "--format", "diff", cwd=project).stdout
    checkout = project / "separated"
    checkout.mkdir()
    (checkout / "separated.py").write_text(source, encoding="utf-8")
    subprocess.run(["git", "init", "-q"], cwd=checkout, check=True)
    applied = subprocess.run(["git", "apply", "-"], cwd=checkout, input=diff, text=True, capture_output=True)
    assert applied.returncode == 0, applied.stderr
    assert f"        {separated}\n" in (checkout / "separated.py").read_text(encoding="utf-8")


# --------------------------------------------------------------------------------- CLI: openapi


def test_openapi_text_is_inert_and_json_keeps_the_path_and_title(project: Path) -> None:
    text = race_mcp("openapi", "spec.json", cwd=project)
    assert text.returncode == 1, text.stderr
    assert_shows_the_attack(text.stdout)
    assert "RA101" in text.stdout and "<U+2028>\\r" in text.stdout

    data = json.loads(race_mcp("openapi", "spec.json", "--format", "json", cwd=project).stdout)
    assert {finding["operation"] for finding in data["findings"]} == {f"PATCH {SPEC_PATH}"}
    assert data["spec"]["title"] == SPEC_TITLE


# ------------------------------------------------------------------------------------ CLI: burst


class _HostileHandler(BaseHTTPRequestHandler):
    """Answers every POST with the attack in its body and in a header; /fail with a 500."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        body = f"note: {HOSTILE}".encode()
        status = b"500 Internal Server Error" if self.path == "/fail" else b"200 OK"
        # Written by hand: http.server's send_header would refuse the non-Latin-1 bidi characters.
        head = [
            b"HTTP/1.1 " + status,
            b"X-Note: " + HOSTILE.encode(),
            b"Content-Type: text/plain",
            b"Content-Length: " + str(len(body)).encode(),
        ]
        self.wfile.write(b"\r\n".join(head) + b"\r\n\r\n" + body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test output is the burst's."""


@pytest.fixture(scope="module")
def hostile_target() -> Iterator[str]:
    """A real HTTP/1.1 server on 127.0.0.1 whose answers carry the attack."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HostileHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def burst_args(url: str) -> list[str]:
    return ["burst", f"{url}/redeem", "--json", "{}", "-n", "5", "--expect-max", "1", "--mode", "h1"]


def test_burst_text_quoting_the_response_is_inert(project: Path, hostile_target: str) -> None:
    text = race_mcp(*burst_args(hostile_target), cwd=project)

    assert text.returncode == 1, (text.stdout, text.stderr)
    assert "responses: 5x 200 (success): note: \\x1b]0;PWNED\\x07" in text.stdout
    assert_shows_the_attack(text.stdout)
    assert_inert(text.stderr)


def test_burst_json_keeps_the_response_exactly(project: Path, hostile_target: str) -> None:
    result = race_mcp(*burst_args(hostile_target), "--format", "json", cwd=project)

    data = json.loads(result.stdout)
    assert [cluster["sample"] for cluster in data["clusters"]] == [f"note: {HOSTILE}"]


def test_a_burst_error_quoting_the_response_is_one_inert_line(project: Path, hostile_target: str) -> None:
    args = [*burst_args(hostile_target), "--reset-url", f"{hostile_target}/fail"]

    line = assert_one_line_error(race_mcp(*args, cwd=project))

    assert "the reset request failed: HTTP 500" in line
    assert_shows_the_attack(line)


# ------------------------------------------------------------------------------------------ MCP


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def client(project: Path) -> AsyncIterator[Client]:
    params = StdioServerParameters(command=str(RACE_MCP), args=["serve"], cwd=str(project))
    async with Client(params, mode="legacy", read_timeout_seconds=60) as connected:
        yield connected


def text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


@pytest.mark.anyio
async def test_mcp_analyze_text_is_inert_and_structured_content_exact(client: Client) -> None:
    result = await client.call_tool("analyze_file", {"path": "hostile.py"})

    assert not result.is_error, text_of(result)
    assert_shows_the_attack(text_of(result))
    assert result.structured_content is not None
    findings = result.structured_content["findings"]
    assert HOSTILE_LINE in [step["code"] for finding in findings for step in finding["evidence"]]


@pytest.mark.anyio
async def test_mcp_inline_source_and_filename_are_inert(client: Client) -> None:
    arguments = {"source": HOSTILE_SOURCE, "filename": HOSTILE_NAME}
    result = await client.call_tool("analyze_file", arguments)

    assert not result.is_error, text_of(result)
    assert_shows_the_attack(text_of(result))
    assert result.structured_content is not None
    assert {finding["path"] for finding in result.structured_content["findings"]} == {HOSTILE_NAME}


@pytest.mark.anyio
async def test_mcp_check_openapi_text_is_inert(client: Client) -> None:
    result = await client.call_tool("check_openapi", {"spec": "spec.json"})

    assert not result.is_error, text_of(result)
    assert_shows_the_attack(text_of(result))
    assert result.structured_content is not None
    assert result.structured_content["spec"]["title"] == SPEC_TITLE
    operations = {finding["operation"] for finding in result.structured_content["findings"]}
    assert operations == {f"PATCH {SPEC_PATH}"}


@pytest.mark.anyio
async def test_mcp_propose_patch_text_is_inert(client: Client) -> None:
    result = await client.call_tool("propose_patch", {"path": "hostile.py"})

    assert not result.is_error, text_of(result)
    assert_shows_the_attack(text_of(result))
    assert result.structured_content is not None
    assert f"+        {HOSTILE_LINE}\n" in result.structured_content["diff"]


@pytest.mark.anyio
async def test_mcp_run_burst_text_is_inert(client: Client, hostile_target: str) -> None:
    spec = {"url": f"{hostile_target}/redeem", "method": "POST", "json_body": {}, "requests": 5, "mode": "h1"}
    result = await client.call_tool("run_burst", {"spec": {**spec, "expected_max_successes": 1}})

    assert not result.is_error, text_of(result)
    assert_shows_the_attack(text_of(result))
    assert result.structured_content is not None
    assert [cluster["sample"] for cluster in result.structured_content["clusters"]] == [f"note: {HOSTILE}"]


@pytest.mark.anyio
async def test_mcp_errors_quoting_input_are_inert(client: Client, hostile_target: str) -> None:
    missing = await client.call_tool("analyze_file", {"path": f"ghost{HOSTILE}.py"})
    assert missing.is_error
    assert "[not-found] ghost" in text_of(missing)
    assert_shows_the_attack(text_of(missing))

    spec = {"url": f"{hostile_target}/redeem", "method": "POST", "requests": 2, "expected_max_successes": 1}
    reset = {"url": f"{hostile_target}/fail"}
    failed = await client.call_tool("run_burst", {"spec": {**spec, "reset": reset}})
    assert failed.is_error
    assert "the reset request failed: HTTP 500" in text_of(failed)
    assert_shows_the_attack(text_of(failed))


# ----------------------------------------------------------------------------------------- demo


def test_demo_text_is_inert() -> None:
    """The demo quotes the shop's answers and the database URL given; its text shows them escaped."""
    from race_mcp.demo import DemoReport, DemoStep, render_demo_text

    step = DemoStep(key="prove", title="Bursts", status="passed", summary=HOSTILE, details=[HOSTILE_LINE])
    report = DemoReport(demo_dir=f"/tmp/{HOSTILE_NAME}", database=f"postgresql://h/{HOSTILE}", steps=[step])

    text = render_demo_text(report)

    assert_shows_the_attack(text)
    assert DemoReport.model_validate_json(report.model_dump_json()).steps[0].summary == HOSTILE
