"""Limits on one check as a whole: numbers too long for CPython, the total bytes, values and time of
every file a spec loads, and remote `$ref`s fetched from a real trickling server on 127.0.0.1.

Each limit ends in a one-line error with a stable code (`race-mcp: error[CODE]: ...`, exit 2), or,
for a `$ref` that cannot be fetched in time, a report error with its code.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from race_mcp import InputError, Settings
from race_mcp.config import OpenApiSettings
from race_mcp.openapi import check_openapi
from race_mcp.openapi._budget import Budget
from tests._mcp_helpers import RACE_MCP

HEAD = "openapi: 3.0.3\ninfo: {title: t, version: '1'}\n"
BIG_INT = "9" * 5000


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(RACE_MCP), "openapi", *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )


def _refused(path: Path, code: str, **kwargs: object) -> InputError:
    with pytest.raises(InputError) as caught:
        check_openapi(path, **kwargs)  # type: ignore[arg-type]
    assert caught.value.code == code, (caught.value.code, str(caught.value))
    assert "\n" not in str(caught.value)
    return caught.value


# -- numbers CPython will not convert ---------------------------------------------------------------

NUMBERS_YAML = HEAD + (
    f"x-big: {BIG_INT}\nx-neg: -{BIG_INT}\nx-hex: 0x{'f' * 5000}\nx-sexagesimal: 1{':1' * 200_000}\n"
    "x-huge-float: 1.0e999999\nx-inf: .inf\n"
    "paths:\n  /orders/{id}:\n    delete:\n      responses:\n        '204': {description: gone}\n"
    f"        '400': {{description: bad, x-limit: {BIG_INT}}}\n"
)
NUMBERS_JSON = (
    json.dumps(
        {
            "openapi": "3.0.3",
            "info": {"title": "t", "version": "1"},
            "x-big": "BIG",
            "x-neg": "-BIG",
            "x-huge-float": "1e999999",
            "x-nan": "NaN",
            "paths": {
                "/orders/{id}": {
                    "delete": {
                        "responses": {
                            "204": {"description": "gone"},
                            "400": {"description": "b", "x-max": "BIG"},
                        }
                    }
                }
            },
        }
    )
    .replace('"BIG"', BIG_INT)
    .replace('"-BIG"', "-" + BIG_INT)
    .replace('"1e999999"', "1e999999")
    .replace('"NaN"', "NaN")
)


@pytest.mark.parametrize(("name", "text"), [("big.yaml", NUMBERS_YAML), ("big.json", NUMBERS_JSON)])
def test_numbers_too_long_for_cpython_are_kept_as_text(tmp_path: Path, name: str, text: str) -> None:
    spec = _write(tmp_path / name, text)
    started = time.perf_counter()
    report = check_openapi(spec, settings=Settings(select=["RA101"]))
    assert time.perf_counter() - started < 5
    assert [(f.rule_id, f.operation) for f in report.findings] == [("RA101", "DELETE /orders/{id}")]
    assert report.errors == []
    report.model_dump_json()  # nothing in the report is an int too long to print

    done = _cli(spec, "--select", "RA101", "--format", "json")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and '"RA101"' in done.stdout


def test_long_numbers_in_referenced_files_too(tmp_path: Path) -> None:
    _write(tmp_path / "limits.json", '{"Limit": {"description": "x", "x-max": ' + BIG_INT + "}}")
    _write(tmp_path / "params.yaml", f"IfMatch: {{name: If-Match, in: header, x-max: {BIG_INT}}}\n")
    spec = _write(
        tmp_path / "openapi.yaml",
        HEAD + "paths:\n  /a/{id}:\n    put:\n      parameters: [{$ref: 'params.yaml#/IfMatch'}]\n"
        "      responses: {'200': {$ref: 'limits.json#/Limit'}, '412': {description: stale}}\n",
    )
    report = check_openapi(spec, settings=Settings(select=["RA101"]))
    assert report.errors == [] and report.findings == []


# -- the total across referenced files -------------------------------------------------------------


def _split_spec(tmp_path: Path, files: int, padding: int) -> Path:
    """A root spec whose operations each `$ref` a parameter from its own file of `padding` bytes."""
    paths = []
    for index in range(files):
        _write(
            tmp_path / f"part{index}.yaml",
            "IfMatch: {name: If-Match, in: header}\n" + f"# {'x' * padding}\n",
        )
        paths.append(
            f"  /things{index}/{{id}}:\n    put:\n      parameters: [{{$ref: 'part{index}.yaml#/IfMatch'}}]\n"
            "      responses: {'200': {description: ok}, '412': {description: stale}}\n"
        )
    return _write(tmp_path / "openapi.yaml", HEAD + "paths:\n" + "".join(paths))


def test_files_each_under_the_cap_but_over_it_together_are_refused(tmp_path: Path) -> None:
    spec = _split_spec(tmp_path, files=4, padding=3_000)
    capped = Settings(openapi=OpenApiSettings(max_spec_bytes=10_000))
    error = _refused(spec, "spec-too-large", settings=capped)
    assert "10,000 bytes together" in str(error) and "part3.yaml" in str(error)
    assert check_openapi(spec, settings=Settings(openapi=OpenApiSettings(max_spec_bytes=20_000))).errors == []

    config = tmp_path / "pyproject.toml"
    config.write_text("[tool.race-mcp.openapi]\nmax_spec_bytes = 10000\n", encoding="utf-8")
    done = _cli(spec, "--config", config)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("race-mcp: error[spec-too-large]: ") and done.stderr.count("\n") == 1


def test_files_that_expand_to_too_many_values_together_are_refused(tmp_path: Path) -> None:
    # Each file's aliases expand to 3,000,000 values: under the 5,000,000 one file may hold, over
    # the same total for the whole check once two are loaded.
    leaf = "[" + ", ".join(["1"] * 100) + "]"
    for name in ("a", "b"):
        _write(
            tmp_path / f"{name}.yaml",
            f"l1: &l1 {leaf}\nl2: &l2 [{', '.join(['*l1'] * 100)}]\n"
            f"l3: [{', '.join(['*l2'] * 300)}]\nIfMatch: {{name: If-Match, in: header}}\n",
        )
    spec = _write(
        tmp_path / "openapi.yaml",
        HEAD + "paths:\n  /a/{id}:\n    put:\n"
        "      parameters: [{$ref: 'a.yaml#/IfMatch'}, {$ref: 'b.yaml#/IfMatch'}]\n"
        "      responses: {'200': {description: ok}}\n",
    )
    started = time.perf_counter()
    error = _refused(spec, "spec-too-large")
    assert time.perf_counter() - started < 10
    assert "5,000,000 values together" in str(error) and "b.yaml" in str(error)


def test_a_check_that_takes_too_long_stops_with_spec_timeout(tmp_path: Path) -> None:
    operations = "".join(
        f"  /things{index}/{{id}}:\n    patch:\n      responses: {{'200': {{description: ok}}}}\n"
        for index in range(3_000)
    )
    spec = _write(tmp_path / "openapi.yaml", HEAD + "paths:\n" + operations)
    started = time.perf_counter()
    error = _refused(spec, "spec-timeout", max_seconds=0.01)
    assert time.perf_counter() - started < 2
    assert "took more than 0.01 s" in str(error)
    assert len(check_openapi(spec, settings=Settings(select=["RA101"])).findings) == 3_000


def test_default_time_shares() -> None:
    budget = Budget(max_bytes=1)
    assert (budget.seconds, budget.remote_seconds, budget.fetch_seconds) == (60, 20, 10)


# -- remote $refs from a trickling server -----------------------------------------------------------

DOCUMENT = b'{"IfMatch": {"name": "If-Match", "in": "header"}}'


class _Trickler:
    """A raw HTTP server on 127.0.0.1: per path, answers whole, a byte at a time, or too much."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.requests: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.listener.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                request += chunk
            path = request.split(b" ")[1].decode()
            self.requests.append(path)
            head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            try:
                if path.startswith("/whole"):
                    conn.sendall(head % len(DOCUMENT) + DOCUMENT)
                elif path.startswith("/huge"):
                    conn.sendall(head % 50_000_000)
                    while not self.stop.is_set():
                        conn.sendall(b" " * 65_536)
                else:  # /slow-head or /slow-body: one byte every 0.2 s, never finishing in time
                    data = (head % len(DOCUMENT) + DOCUMENT) * 100
                    start = 0 if path.startswith("/slow-head") else len(head % len(DOCUMENT))
                    conn.sendall(data[:start])
                    for byte in data[start:]:
                        if self.stop.wait(0.2):
                            return
                        conn.sendall(bytes([byte]))
            except OSError:
                return  # the client hung up: what it should do

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.listener.close()


@pytest.fixture
def trickler() -> Iterator[_Trickler]:
    server = _Trickler()
    try:
        yield server
    finally:
        server.close()


def _remote_spec(tmp_path: Path, host: str, refs: list[str]) -> Path:
    paths = "".join(
        f"  /things{index}/{{id}}:\n    put:\n      parameters: [{{$ref: 'http://{host}{ref}#/IfMatch'}}]\n"
        "      responses: {'200': {description: ok}, '412': {description: stale}}\n"
        for index, ref in enumerate(refs)
    )
    return _write(tmp_path / "openapi.yaml", HEAD + "paths:\n" + paths)


def test_remote_fetches_share_one_deadline(tmp_path: Path, trickler: _Trickler) -> None:
    host = f"127.0.0.1:{trickler.port}"
    refs = ["/slow-head.json", "/slow-body.json", "/slow-body-2.json", "/slow-body.json", "/whole.json"]
    spec = _remote_spec(tmp_path, host, refs)
    started = time.perf_counter()
    # 6 s for the check: 2 s for every fetch together, 1 s for one.
    report = check_openapi(spec, allow_remote_hosts=[host], max_seconds=6, settings=Settings(select=["RA1"]))
    elapsed = time.perf_counter() - started
    assert elapsed < 3.5, elapsed
    codes = {error.message.split("$ref '")[1].split("#")[0]: error.code for error in report.errors}
    assert codes == {f"http://{host}{ref}": "remote-timeout" for ref in refs[:3] + refs[4:]}
    # Two fetches spent the 2 s; the rest were not tried, and the slow URL was not fetched twice.
    assert sorted(trickler.requests) == ["/slow-body.json", "/slow-head.json"]


def test_remote_fetch_is_capped_in_bytes_and_a_good_one_loads(tmp_path: Path, trickler: _Trickler) -> None:
    host = f"127.0.0.1:{trickler.port}"
    spec = _remote_spec(tmp_path, host, ["/whole.json", "/huge.json"])
    capped = Settings(select=["RA101"], openapi=OpenApiSettings(max_spec_bytes=100_000))
    started = time.perf_counter()
    report = check_openapi(spec, allow_remote_hosts=[host], settings=capped)
    assert time.perf_counter() - started < 5
    [error] = report.errors
    assert error.code == "remote-too-large" and "/huge.json" in error.message
    assert report.findings == []  # the whole document's If-Match counted


def test_remote_errors_have_codes(tmp_path: Path) -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    host = f"127.0.0.1:{port}"
    report = check_openapi(_remote_spec(tmp_path, host, ["/x.json"]), allow_remote_hosts=[host])
    assert [error.code for error in report.errors] == ["remote-failed"]
    report = check_openapi(_remote_spec(tmp_path, host, ["/x.json"]))
    assert [error.code for error in report.errors] == ["remote-not-allowed"]
