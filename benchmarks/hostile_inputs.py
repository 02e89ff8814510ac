"""Hostile inputs against every surface: how many were answered cleanly, and how fast.

    .venv/bin/python benchmarks/hostile_inputs.py [--only analyze,openapi,patch,burst,mcp] [--timeout 150]

Each input runs through what users run: the installed `race-mcp` command as a subprocess (CLI
surfaces), or a real MCP client over stdio against `race-mcp` (the `mcp` surface). An outcome is

- clean: exit 0/1, or exit 2 with one stderr line `race-mcp: error[CODE]: ...` per unusable input
  (warnings aside); for MCP a result, or a tool error whose text carries `[CODE]` right after the
  SDK's `Error executing tool NAME: ` prefix, and the server still answers a ping;
- traceback: a Python traceback or a bare error without a code;
- crash: killed by a signal (a segfault in a native parser, say);
- timeout: still running after --timeout seconds (every cap in race-mcp is shorter).

The report is a markdown table per surface (inputs, clean, failures by kind, median and slowest
seconds) and the list of every failure. Inputs are generated here; nothing is downloaded. The
burst surface runs small hostile servers on 127.0.0.1 in this process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

RACE_MCP = Path(sys.executable).parent / "race-mcp"
ONE_LINE_ERROR = re.compile(r"race-mcp: error\[[a-z0-9]+(?:-[a-z0-9]+)*\]: ")
# The SDK puts "Error executing tool NAME: " before a ToolError's text; race-mcp's code follows.
TOOL_ERROR = re.compile(r"(?:Error executing tool \w+: )?\[[a-z0-9]+(?:-[a-z0-9]+)*\] ")
HANDLER_HEAD = "import asyncio\nfrom fastapi import FastAPI\napp = FastAPI()\n"


@dataclass
class Outcome:
    surface: str
    name: str
    kind: str  # clean | traceback | crash | timeout
    seconds: float
    detail: str = ""


@dataclass
class Tally:
    outcomes: list[Outcome] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)
        mark = "ok " if outcome.kind == "clean" else "BAD"
        print(f"  {mark} {outcome.surface:8} {outcome.name:42} {outcome.seconds:6.2f}s {outcome.detail[:90]}")


# ------------------------------------------------------------------------------------ CLI runner


def classify_cli(returncode: int, stderr: str) -> tuple[str, str]:
    if returncode < 0:
        return "crash", f"signal {-returncode}"
    if "Traceback" in stderr:
        return "traceback", stderr.strip().splitlines()[-1] if stderr.strip() else ""
    lines = [line for line in stderr.splitlines() if not line.startswith("race-mcp: warning")]
    if returncode in (0, 1):
        return "clean", f"exit {returncode}"
    # A walk reports one line per file it could not analyse; each must be a coded one-liner.
    if returncode == 2 and lines and all(ONE_LINE_ERROR.match(line) for line in lines):
        return "clean", lines[0] if len(lines) == 1 else f"{len(lines)} coded error lines"
    return "traceback", f"exit {returncode}: {stderr.strip()[:200]!r}"


def run_cli(surface: str, name: str, args: list[str], cwd: Path, timeout: float) -> Outcome:
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [str(RACE_MCP), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, errors="replace"
        )
    except subprocess.TimeoutExpired:
        return Outcome(surface, name, "timeout", time.perf_counter() - started)
    kind, detail = classify_cli(done.returncode, done.stderr)
    return Outcome(surface, name, kind, time.perf_counter() - started, detail)


# --------------------------------------------------------------------------------- hostile code


def hostile_sources() -> Iterator[tuple[str, str | bytes]]:
    """(name, content) of Python files a reviewer might be handed in an untrusted pull request."""
    yield "binary", b"\x00\x01\x02\xff" * 100
    yield "latin-1", "x = 'caf\xe9'\n".encode("latin-1")
    yield "empty", ""
    yield "bom-crlf", "\ufeffimport asyncio\r\nx = 1\r\n"
    yield "syntax-error", "def f(:\n"
    yield "and-chain-8000", HANDLER_HEAD + "x = a" + " and a" * 8000 + "\n"
    yield "plus-chain-50000", HANDLER_HEAD + "x = a" + " + a" * 50_000 + "\n"
    yield "nested-parens-200", HANDLER_HEAD + "x = " + "(" * 200 + "1" + ")" * 200 + "\n"
    yield "nested-parens-100000", HANDLER_HEAD + "x = " + "(" * 100_000 + "1" + ")" * 100_000 + "\n"
    yield "nested-calls-5000", HANDLER_HEAD + "x = " + "f(" * 5000 + "1" + ")" * 5000 + "\n"
    yield "attribute-chain-50000", HANDLER_HEAD + "x = a" + ".b" * 50_000 + "\n"
    yield "elif-chain-5000", HANDLER_HEAD + "if a:\n    pass\n" + "elif a:\n    pass\n" * 5000
    yield "list-literal-400kb", HANDLER_HEAD + "X = [" + "1, " * 130_000 + "]\n"
    yield "string-concat-20000", HANDLER_HEAD + "x = 'a'" + " 'a'" * 20_000 + "\n"
    sql = "SELECT a FROM t WHERE " + "a" * 40_000
    yield (
        "sql-where-40kb",
        HANDLER_HEAD + f"@app.post('/x')\nasync def x(db):\n    await db.execute('{sql}')\n",
    )
    for kwarg in ("ConditionExpression", "UpdateExpression", "KeyConditionExpression"):
        yield (
            f"dynamodb-{kwarg}-40kb",
            HANDLER_HEAD
            + "@app.post('/x')\ndef x(table):\n"
            + f"    table.update_item(Key={{'id': 1}}, {kwarg}='{'a' * 40_000}')\n",
        )
    yield "redis-key-40kb", HANDLER_HEAD + f"@app.post('/x')\ndef x(r):\n    r.get('{'a:' * 20_000}')\n"
    handlers = "".join(
        f"@app.post('/c{i}')\nasync def c{i}(code: str):\n"
        f"    if coupons[code]:\n        await asyncio.sleep(0)\n        coupons[code] = False\n"
        for i in range(250)
    )
    yield "racy-handlers-250", HANDLER_HEAD + "coupons = {}\n" + handlers
    yield "escape-sequences", HANDLER_HEAD + "x = 1  # \x1b]0;PWNED\x07 \x1b[2K\x1b[1A \u202e\n"
    yield "deep-lambdas-500", HANDLER_HEAD + "f = " + "lambda: " * 500 + "1\n"
    yield "fstring-nesting", HANDLER_HEAD + "x = f'{" * 20 + "1" + "}'" * 20 + "\n"


def write_sources(directory: Path) -> list[tuple[str, Path]]:
    files = []
    for name, content in hostile_sources():
        path = directory / f"{name}.py"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        files.append((name, path))
    huge = directory / "sparse-40mb.py"
    with huge.open("wb") as handle:
        handle.truncate(40_000_000)
    files.append(("sparse-40mb", huge))
    fifo = directory / "fifo.py"
    os.mkfifo(fifo)
    files.append(("named-pipe", fifo))
    (directory / "dir.py").mkdir()
    files.append(("directory-named-py", directory / "dir.py"))
    (directory / "loop").mkdir()
    (directory / "loop" / "again").symlink_to(directory / "loop")
    (directory / "dev-zero.py").symlink_to("/dev/zero")
    files.append(("symlink-to-dev-zero", directory / "dev-zero.py"))
    return files


def analyze_surface(work: Path, tally: Tally, timeout: float, surface: str = "analyze") -> None:
    source_dir = work / "sources"
    source_dir.mkdir()
    for name, path in write_sources(source_dir):
        args = ["analyze", str(path), "--format", "json"] if surface == "analyze" else ["patch", str(path)]
        tally.add(run_cli(surface, name, args, work, timeout))
    if surface == "analyze":
        tally.add(run_cli(surface, "whole-directory", ["analyze", str(source_dir)], work, timeout))
        tally.add(run_cli(surface, "missing-path", ["analyze", "no/such/file.py"], work, timeout))


# ------------------------------------------------------------------------------- hostile specs

SPEC_HEAD = "openapi: 3.0.3\ninfo: {title: t, version: '1'}\n"


def hostile_specs(directory: Path) -> Iterator[tuple[str, Path]]:
    def spec(name: str, text: str | bytes) -> tuple[str, Path]:
        path = directory / f"{name}.yaml"
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return name, path

    laughs = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        name, previous = chr(ord("a") + level), chr(ord("a") + level - 1)
        laughs.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
    yield spec(
        "billion-laughs", SPEC_HEAD + "x-bomb:\n" + "".join(f"  {line}\n" for line in laughs) + "paths: {}\n"
    )
    yield spec("deep-flow", SPEC_HEAD + "x: " + "[" * 100_000 + "]" * 100_000 + "\npaths: {}\n")
    yield spec(
        "deep-block", SPEC_HEAD + "x:\n" + "".join("  " * i + f"k{i}:\n" for i in range(2000)) + "paths: {}\n"
    )
    yield spec("recursive-alias", SPEC_HEAD + "x: &loop\n  self: *loop\npaths: {}\n")
    yield spec(
        "circular-ref",
        SPEC_HEAD
        + "paths: {}\ncomponents:\n  schemas:\n"
        + "    A: {$ref: '#/components/schemas/B'}\n"
        + "    B: {$ref: '#/components/schemas/A'}\n",
    )
    yield spec("int-5000-digits", SPEC_HEAD + "x-n: " + "9" * 5000 + "\npaths: {}\n")
    yield spec("float-1e999999", SPEC_HEAD + "x-n: 1e999999\npaths: {}\n")
    yield spec("ref-etc-passwd", SPEC_HEAD + "paths:\n  /a:\n    $ref: '/etc/passwd'\n")
    yield spec("ref-outside-root", SPEC_HEAD + "paths:\n  /a:\n    $ref: '../../../../etc/hosts#/x'\n")
    yield spec(
        "ref-remote", SPEC_HEAD + "paths:\n  /a:\n    $ref: 'http://169.254.169.254/latest/meta-data'\n"
    )
    yield spec("python-tag", SPEC_HEAD + "x: !!python/object/apply:os.system ['true']\npaths: {}\n")
    yield spec("binary", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    yield spec("not-a-mapping", "- 1\n- 2\n")
    yield spec(
        "escape-summary",
        SPEC_HEAD
        + "paths:\n  /a:\n    post:\n"
        + '      summary: "\\e]0;PWNED\\a\\u202e"\n'
        + "      responses: {'200': {description: ok}}\n",
    )
    json_deep = directory / "deep.json"
    json_deep.write_text('{"a":' * 100_000 + "1" + "}" * 100_000)
    yield "json-deep", json_deep
    json_int = directory / "bigint.json"
    json_int.write_text(
        '{"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "x": ' + "9" * 5000 + ', "paths": {}}'
    )
    yield "json-int-5000-digits", json_int
    parts = []
    for index in range(4):
        part = directory / f"part{index}.yaml"
        part.write_text("x:\n" + "".join(f"  k{n}: {'v' * 100}\n" for n in range(20_000)))
        parts.append(f"    p{index}: {{$ref: 'part{index}.yaml#/x'}}\n")
    yield spec("four-big-refs", SPEC_HEAD + "paths: {}\ncomponents:\n  schemas:\n" + "".join(parts))


def openapi_surface(work: Path, tally: Tally, timeout: float) -> None:
    spec_dir = work / "specs"
    spec_dir.mkdir()
    for name, path in hostile_specs(spec_dir):
        tally.add(run_cli("openapi", name, ["openapi", str(path), "--format", "json"], work, timeout))


# ------------------------------------------------------------------------------ hostile servers


@contextmanager
def raw_server(answer: Callable[[bytes], bytes | None], *, trickle: bool = False) -> Iterator[int]:
    """A TCP server on 127.0.0.1 that answers every request with `answer(request)` (None: never)."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    port_box: list[int] = []
    stop: list[asyncio.Event] = []
    handlers: set[asyncio.Task[None]] = set()

    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.read(65536)
        response = answer(request)
        if response is None:
            await asyncio.sleep(3600)
        for chunk in [bytes([byte]) for byte in response or b""] if trickle else [response or b""]:
            writer.write(chunk)
            await writer.drain()
            if trickle:
                await asyncio.sleep(2)
        await asyncio.sleep(30)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            await reply(reader, writer)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            handlers.discard(task)

    async def main() -> None:
        stop.append(asyncio.Event())
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port_box.append(server.sockets[0].getsockname()[1])
        ready.set()
        await stop[0].wait()
        server.close()
        for task in list(handlers):
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)

    thread = threading.Thread(target=lambda: loop.run_until_complete(main()), daemon=True)
    thread.start()
    ready.wait(5)
    try:
        yield port_box[0]
    finally:
        loop.call_soon_threadsafe(stop[0].set)
        thread.join(10)
        loop.close()


def http_reply(status: str, body: bytes, headers: str = "") -> bytes:
    return f"HTTP/1.1 {status}\r\n{headers}Content-Length: {len(body)}\r\n\r\n".encode() + body


def burst_surface(work: Path, tally: Tally, timeout: float) -> None:
    base = ["burst", "-n", "5", "--bursts", "1", "--mode", "h1", "--expect-max", "1", "--format", "json"]

    def run(name: str, args: list[str]) -> None:
        tally.add(run_cli("burst", name, [*args[:1], *base[1:], *args[1:]], work, timeout))

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    run("connection-refused", ["burst", f"http://127.0.0.1:{dead}/x"])
    run("metadata-ip", ["burst", "http://169.254.169.254/latest"])
    run("nat64-metadata", ["burst", "http://[64:ff9b::a9fe:a9fe]/x", "--allow-host", "::/0"])
    run("broadcast", ["burst", "http://255.255.255.255/x", "--allow-host", "0.0.0.0/0"])
    run("not-allowlisted", ["burst", "http://10.0.0.1/x"])
    run("bad-scheme", ["burst", "ftp://127.0.0.1/x"])
    garbage = {
        "garbage-bytes": lambda _: b"\x00\xff garbage \r\n\r\n",
        "status-5000-digits": lambda _: b"HTTP/1.1 " + b"2" * 5000 + b" OK\r\nContent-Length: 0\r\n\r\n",
        "content-length-5000-digits": lambda _: (
            b"HTTP/1.1 200 OK\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n"
        ),
        "escape-body": lambda _: http_reply("200 OK", b"\x1b]0;PWNED\x07\x1b]52;c;aGk=\x07\xe2\x80\xae"),
        "deep-json-body": lambda _: http_reply("200 OK", b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
        "never-answers": lambda _: None,
        "connect-200": lambda _: b"HTTP/1.1 200 Connection established\r\n\r\n",
    }
    for name, answer in garbage.items():
        with raw_server(answer) as port:
            method = ["-X", "CONNECT"] if name == "connect-200" else []
            run(name, ["burst", f"http://127.0.0.1:{port}/x", *method])
    with raw_server(lambda _: http_reply("200 OK", b"ok"), trickle=True) as port:
        run("trickle-1-byte-per-2s", ["burst", f"http://127.0.0.1:{port}/x"])
    with raw_server(lambda _: http_reply("200 OK", b"a" * 41 + b"!")) as port:
        run("catastrophic-regex", ["burst", f"http://127.0.0.1:{port}/x", "--success-regex", "^(a+)+$"])
    with raw_server(lambda _: http_reply("200 OK", b"{}")) as port:
        deep = "$.a == " + "[" * 50_000 + "]" * 50_000
        run("deep-success-json", ["burst", f"http://127.0.0.1:{port}/x", "--success-json", deep])
        raw = work / "uuid-request.txt"
        raw.write_text("POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" + "{{uuid}}" * 125_000)
        run("uuid-body-1mb", ["burst", f"http://127.0.0.1:{port}/x", "--request-file", str(raw)])


# ------------------------------------------------------------------------------------ MCP stdio


def mcp_surface(work: Path, tally: Tally, timeout: float) -> None:
    asyncio.run(_mcp_calls(work, tally, timeout))


async def _mcp_calls(work: Path, tally: Tally, timeout: float) -> None:
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    root = work / "mcp-root"
    root.mkdir()
    (root / "ok.py").write_text(HANDLER_HEAD)
    paths = [
        "a\x00b.py",
        "x" * 5000,
        "d/" * 3000 + "x.py",
        "~nosuchuser/x.py",
        "~/.ssh/id_rsa",
        "/etc/passwd",
        "../../../../etc/passwd",
        "file:///etc/passwd",
        "",
        " ",
        "\n",
        "\x1b[2J.py",
        "/proc/self/mem",
        "/dev/zero",
        "ok.py/../../x",
        "C:\\Windows\\win.ini",
        "ok.py\x00.txt",
    ]
    calls: list[tuple[str, str, dict[str, object]]] = []
    for path in paths:
        calls.append(("mcp", f"analyze_file path={path[:20]!r}", {"tool": "analyze_file", "path": path}))
        calls.append(("mcp", f"check_openapi spec={path[:20]!r}", {"tool": "check_openapi", "spec": path}))
        calls.append(("mcp", f"propose_patch path={path[:20]!r}", {"tool": "propose_patch", "path": path}))
    for name, content in hostile_sources():
        if isinstance(content, str):
            calls.append(("mcp", f"analyze_file source={name}", {"tool": "analyze_file", "source": content}))
    params = StdioServerParameters(command=str(RACE_MCP), args=["--root", str(root)], cwd=str(root))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        for surface, name, call in calls:
            tool = str(call.pop("tool"))
            started = time.perf_counter()
            try:
                result = await asyncio.wait_for(session.call_tool(tool, call), timeout)
                text = " ".join(getattr(item, "text", "") for item in result.content)
                if result.is_error and not TOOL_ERROR.match(text):
                    kind, detail = "traceback", text[:120]
                else:
                    kind, detail = "clean", text[:80].replace("\n", " ")
                await asyncio.wait_for(session.send_ping(), 10)
            except TimeoutError:
                kind, detail = "timeout", ""
            except Exception as exc:  # the server died or broke the protocol
                tally.add(Outcome(surface, name, "crash", time.perf_counter() - started, repr(exc)[:120]))
                return
            tally.add(Outcome(surface, name, kind, time.perf_counter() - started, detail))


# ------------------------------------------------------------------------------------- report


def report(tally: Tally) -> str:
    lines = [
        "| surface | inputs | clean | traceback | crash | timeout | median s | slowest s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    surfaces = dict.fromkeys(outcome.surface for outcome in tally.outcomes)
    for surface in surfaces:
        mine = [o for o in tally.outcomes if o.surface == surface]
        count = {
            kind: sum(o.kind == kind for o in mine) for kind in ("clean", "traceback", "crash", "timeout")
        }
        seconds = [o.seconds for o in mine]
        slowest = max(mine, key=lambda o: o.seconds)
        lines.append(
            f"| {surface} | {len(mine)} | {count['clean']} | {count['traceback']} | {count['crash']} | "
            f"{count['timeout']} | {statistics.median(seconds):.2f} | "
            f"{slowest.seconds:.1f} ({slowest.name}) |"
        )
    failures = [o for o in tally.outcomes if o.kind != "clean"]
    lines.append("")
    lines.append(f"{len(tally.outcomes)} inputs, {len(failures)} failures")
    lines += [f"- {o.surface} {o.name}: {o.kind} {o.detail}" for o in failures]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="analyze,openapi,patch,burst,mcp")
    parser.add_argument("--timeout", type=float, default=150.0)
    args = parser.parse_args()
    surfaces: dict[str, Callable[[Path, Tally, float], None]] = {
        "analyze": analyze_surface,
        "patch": lambda work, tally, timeout: analyze_surface(work, tally, timeout, surface="patch"),
        "openapi": openapi_surface,
        "burst": burst_surface,
        "mcp": mcp_surface,
    }
    tally = Tally()
    for name in args.only.split(","):
        with tempfile.TemporaryDirectory(prefix=f"hostile-{name}-") as work:
            print(f"{name}:")
            (Path(work) / "pyproject.toml").write_text("[tool.race-mcp]\n")
            surfaces[name](Path(work), tally, args.timeout)
    print()
    print(report(tally))
    return 0 if all(o.kind == "clean" for o in tally.outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
