"""`race-mcp burst URL`: the installed command against real servers on 127.0.0.1.

Exit codes: 0 no_race, 1 race or inconclusive, 2 bad usage, a refused target or nothing usable
(one line on stderr). The racy targets run under hypercorn (h2c), where the single-packet attack
hits a single-await window in nearly every burst, so three bursts make the verdict certain.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.burst_targets import RawServer, Served, serve
from tests.test_burst_faults import local_non_loopback_address
from tests.test_cli import assert_one_line_error, race_mcp

CONTRACT: dict[str, type | tuple[type, ...]] = {
    "verdict": str,
    "mode": str,
    "requests": int,
    "bursts": int,
    "successes": int,
    "expected_max_successes": (int, type(None)),
    "status_counts": dict,
    "spread_ms": float,
    "hit_rate": float,
    "evidence": list,
    "reason": str,
}


@pytest.fixture(scope="module")
def target() -> Iterator[Served]:
    with serve("hypercorn") as served:
        yield served


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with its own (empty) config, so no pyproject.toml above tmp_path is picked up."""
    (tmp_path / "pyproject.toml").write_text("[tool.race-mcp]\n")
    return tmp_path


def coupon(served: Served, path: str, *extra: str) -> list[str]:
    request = ["burst", served.url(path), "--json", '{"code": "WELCOME10"}', "-n", "20", "--bursts", "3"]
    judging = ["--expect-max", "1", "--reset-url", served.url("/reset"), "--hold-ms", "10"]
    return [*request, *judging, *extra]


def burst_json(result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    data: dict[str, object] = json.loads(result.stdout)
    assert list(data)[: len(CONTRACT)] == list(CONTRACT)  # the contract's keys come first, in order
    for key, kind in CONTRACT.items():
        assert isinstance(data[key], kind), key
    assert data["verdict"] in ("race", "no_race", "inconclusive")
    assert data["mode"] in ("h2-single-packet", "h1-last-byte", "naive")
    return data


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # closed again: connecting is refused


# ------------------------------------------------------------------------------------- verdicts


def test_racy_endpoint_exits_1_with_the_json_contract(project: Path, target: Served) -> None:
    result = race_mcp(*coupon(target, "/coupon/racy", "--format", "json"), cwd=project)

    assert result.returncode == 1, result.stderr
    assert result.stderr == ""
    data = burst_json(result)
    assert (data["verdict"], data["mode"]) == ("race", "h2-single-packet")  # auto: the server speaks h2c
    assert (data["requests"], data["bursts"], data["expected_max_successes"]) == (20, 3, 1)
    assert isinstance(data["successes"], int) and data["successes"] > 1


def test_fixed_twin_exits_0(project: Path, target: Served) -> None:
    result = race_mcp(*coupon(target, "/coupon/fixed", "--format", "json"), cwd=project)

    assert result.returncode == 0, result.stderr
    data = burst_json(result)
    assert data["verdict"] == "no_race", data["reason"]
    assert data["status_counts"] == {"200": 3, "409": 57}
    assert data["hit_rate"] == 0.0


def test_text_output_is_a_verdict_block(project: Path, target: Served) -> None:
    result = race_mcp(
        *coupon(target, "/coupon/racy", "--mode", "h2", "--success-status", "200", "--success-json", "$.ok"),
        cwd=project,
    )

    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("RACE")
    for label in ("verdict    race", "mode       h2-single-packet: 20 requests x 3 burst(s)", "spread     "):
        assert any(line.startswith(label) for line in lines), label
    assert any(line.startswith("hit rate   ") and "of 3 bursts" in line for line in lines)
    assert any(line.startswith("statuses   200: ") for line in lines)
    assert any(line.startswith("  reason: race reproduced") for line in lines)
    assert any(line.startswith("  - responses: ") and '"ok": true' in line for line in lines)  # samples


def test_probe_catches_lost_updates_behind_all_200_responses(project: Path, target: Served) -> None:
    args = ["burst", target.url("/counter/racy"), "-X", "POST", "-n", "20", "--bursts", "3"]
    args += ["--reset-url", target.url("/reset"), "--hold-ms", "10", "--format", "json"]
    args += ["--probe-url", target.url("/counter"), "--probe-path", "$.value", "--probe-change", "1"]
    result = race_mcp(*args, cwd=project)

    assert result.returncode == 1, result.stderr
    data = burst_json(result)
    assert data["status_counts"] == {"200": 60}
    assert data["verdict"] == "race", data["reason"]


def test_request_file_saved_by_a_proxy(project: Path, target: Served) -> None:
    saved = project / "redeem.txt"
    saved.write_bytes(
        b"POST /coupon/racy HTTP/1.1\r\nHost: shop.example\r\nContent-Type: application/json\r\n"
        b'Content-Length: 20\r\n\r\n{"code": "WELCOME1"}\n'
    )
    args = ["burst", target.url("/"), "--request-file", "redeem.txt", "-n", "20", "--bursts", "3"]
    args += ["--expect-max", "1", "--reset-url", target.url("/reset"), "--hold-ms", "10", "--format", "json"]
    result = race_mcp(*args, cwd=project)

    assert result.returncode == 1, result.stderr
    assert burst_json(result)["verdict"] == "race"


def test_inconclusive_exits_1_and_says_so_on_stderr(project: Path) -> None:
    with RawServer("flaky") as server:  # answers half the connections, drops the rest
        args = ["burst", server.url("/"), "--mode", "h1", "-n", "6", "--bursts", "2", "--expect-max", "1"]
        result = race_mcp(*args, "--hold-ms", "10", "--format", "json", cwd=project)

    assert result.returncode == 1
    data = burst_json(result)
    assert data["verdict"] == "inconclusive"
    assert data["status_counts"] == {"409": 6, "error": 6}
    assert result.stderr.startswith("race-mcp: inconclusive (exit 1, not a pass): ")
    assert len(result.stderr.splitlines()) == 1


def test_help_documents_the_exit_codes(project: Path) -> None:
    result = race_mcp("burst", "--help", cwd=project)

    assert result.returncode == 0
    assert "0  no_race" in result.stdout
    assert "1  race, or inconclusive" in result.stdout
    assert "Inconclusive is not a pass" in result.stdout
    for option in ("--expect-max", "--reset-url", "--probe-change", "--request-file", "--allow-host"):
        assert option in result.stdout


# ----------------------------------------------------------------------------------- errors


def test_refused_port_exits_2_with_one_line(project: Path) -> None:
    started = time.monotonic()
    result = race_mcp("burst", f"http://127.0.0.1:{closed_port()}/", "--expect-max", "1", cwd=project)

    line = assert_one_line_error(result)
    assert "cannot connect" in line and "refused" in line.lower()
    assert result.stdout == ""
    assert time.monotonic() - started < 20


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-H", "no colon"], "expected 'Name: value'"),
        (["--cookie", "novalue"], "expected 'name=value'"),
        (["--json", "{bad"], "--json: not valid JSON"),
        (["--data", "x", "--json", "{}"], "not allowed with argument"),
        (["-n", "5000"], "-n/--requests: Input should be less than or equal to 1000"),
        (["-n", "500"], "over the cap of 100"),
        (["--bursts", "0"], "--bursts: Input should be greater than or equal to 1"),
        (["--success-status", "999"], "between 100 and 599"),
        (["--probe-url", "http://127.0.0.1:9/s"], "--probe-url, --probe-path and --probe-change go together"),
        (["--reset-data", "x"], "--reset-method and --reset-data need --reset-url"),
        (["--request-file", "missing.txt"], "--request-file missing.txt: No such file"),
        (["--mode", "h3"], "invalid choice"),
    ],
)
def test_bad_usage_exits_2_with_one_line(project: Path, args: list[str], message: str) -> None:
    url = f"http://127.0.0.1:{closed_port()}/"
    line = assert_one_line_error(race_mcp("burst", url, "--expect-max", "1", *args, cwd=project))
    assert message in line


def test_method_and_request_file_conflict(project: Path) -> None:
    (project / "req.txt").write_text("GET / HTTP/1.1\nHost: x\n\n")
    args = ["burst", "http://127.0.0.1:9/", "--request-file", "req.txt", "-X", "POST", "--expect-max", "1"]
    line = assert_one_line_error(race_mcp(*args, cwd=project))
    assert "-X/--method cannot be used with --request-file" in line


def test_unjudged_burst_says_how_to_judge(project: Path) -> None:
    line = assert_one_line_error(race_mcp("burst", "http://127.0.0.1:9/", cwd=project))
    assert "expected_max_successes" in line


# -------------------------------------------------------------------------------- allowlist


def test_off_list_host_is_refused_and_allow_host_widens_the_list(project: Path) -> None:
    address = local_non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address")
    with RawServer("flaky", host=address) as server:
        args = ["burst", server.url("/"), "--mode", "h1", "-n", "4", "--expect-max", "1", "--hold-ms", "10"]
        refused = race_mcp(*args, cwd=project)
        time.sleep(0.2)
        assert server.accepted == 0  # not even a TCP handshake
        allowed = race_mcp(*args, "--allow-host", address, "--format", "json", cwd=project)
        assert server.accepted == 4

    line = assert_one_line_error(refused)
    assert "not on the burst allowlist" in line and f"--allow-host {address}" in line
    assert allowed.returncode == 1  # it went out, and met a server that drops half the connections
    assert burst_json(allowed)["verdict"] == "inconclusive"


def test_config_allow_hosts_widens_the_list(project: Path) -> None:
    address = local_non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address")
    (project / "pyproject.toml").write_text(f'[tool.race-mcp.burst]\nallow_hosts = ["{address}/32"]\n')
    with RawServer("flaky", host=address) as server:
        args = ["burst", server.url("/"), "--mode", "h1", "-n", "4", "--expect-max", "1", "--hold-ms", "10"]
        result = race_mcp(*args, "--format", "json", cwd=project)
        assert server.accepted == 4
    assert result.returncode == 1
    assert burst_json(result)["verdict"] == "inconclusive"


def test_bad_config_is_a_one_line_error(project: Path) -> None:
    (project / "pyproject.toml").write_text("[tool.race-mcp.burst]\nmax_requests = 0\n")
    line = assert_one_line_error(race_mcp("burst", "http://127.0.0.1:9/", "--expect-max", "1", cwd=project))
    assert "max_requests" in line


# ------------------------------------------------------------------- hostile input (issues 9, 14)


def error_code(line: str) -> str:
    return line.split("error[", 1)[1].split("]", 1)[0]


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["-X", "CONNECT"], "method-not-supported"),
        (["--json", "[" * 5000 + "]" * 5000], "json-too-deep"),
        (["--json", "{bad"], "bad-json"),
        (["--success-json", "$.a == " + "[" * 1500 + "]" * 1500], "json-too-deep"),
        (
            ["--probe-url", "http://127.0.0.1:9/s", "--probe-path", "$" + ".a" * 500, "--probe-change", "1"],
            "json-too-deep",
        ),
        (
            [
                "--probe-url",
                "http://127.0.0.1:9/s",
                "--probe-path",
                "$.a[" + "9" * 5000 + "]",
                "--probe-change",
                "1",
            ],
            "bad-json-path",
        ),
        (["--success-status", "²00"], "usage"),
        (["--success-status", "2" * 5000], "usage"),
    ],
    ids=[
        "connect",
        "deep-json",
        "bad-json",
        "deep-condition",
        "long-probe-path",
        "5000-digit-index",
        "superscript-status",
        "5000-digit-status",
    ],
)
def test_hostile_options_are_one_line_errors_with_their_code(
    project: Path, args: list[str], code: str
) -> None:
    line = assert_one_line_error(
        race_mcp("burst", f"http://127.0.0.1:{closed_port()}/", "--expect-max", "1", *args, cwd=project)
    )
    assert error_code(line) == code, line


def test_metadata_behind_nat64_is_refused_under_allow_host_everything(project: Path) -> None:
    args = [
        "burst",
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",
        "--expect-max",
        "1",
        "--allow-host",
        "::/0",
    ]
    line = assert_one_line_error(race_mcp(*args, cwd=project))
    assert error_code(line) == "metadata-address"
    assert "169.254.169.254" in line


def test_a_catastrophic_success_regex_ends_in_seconds(project: Path) -> None:
    body = b"a" * 40 + b"!"
    reply = b"HTTP/1.1 200 OK\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    with RawServer("reply", reply=reply) as server:
        started = time.monotonic()
        args = ["burst", server.url("/"), "--mode", "h1", "-n", "4", "--expect-max", "1", "--hold-ms", "10"]
        line = assert_one_line_error(race_mcp(*args, "--success-regex", "^(a|aa)+$", cwd=project))
        elapsed = time.monotonic() - started
    assert error_code(line) == "regex-timeout"
    assert elapsed < 20, elapsed


def test_the_configured_time_cap_ends_a_tunnel_like_answer(project: Path) -> None:
    (project / "pyproject.toml").write_text(
        "[tool.race-mcp.burst]\nmax_total_seconds = 2\nresponse_timeout = 60\n"
    )
    with RawServer("reply", reply=b"HTTP/1.1 200 Connection established\r\n\r\n") as server:
        started = time.monotonic()
        args = ["burst", server.url("/"), "--mode", "h1", "-n", "4", "--expect-max", "1"]
        line = assert_one_line_error(race_mcp(*args, cwd=project))
        elapsed = time.monotonic() - started
    assert error_code(line) == "cap-time"
    assert elapsed < 15, elapsed  # the 2 s cap plus the interpreter's start-up


def test_a_json_body_without_a_method_is_posted(project: Path, target: Served) -> None:
    args = [
        "burst",
        target.url("/echo"),
        "--json",
        '{"a": 1}',
        "-n",
        "2",
        "--expect-max",
        "2",
        "--format",
        "json",
    ]
    data = burst_json(race_mcp(*args, cwd=project))
    assert data["status_counts"] == {"200": 2}
    clusters = data["clusters"]
    assert isinstance(clusters, list)
    assert clusters[0]["sample"].startswith('{"method": "POST"')


def test_the_body_cap_counts_the_body_as_sent(project: Path) -> None:
    (project / "pyproject.toml").write_text("[tool.race-mcp.burst]\nmax_body_bytes = 100000\n")
    args = ["burst", f"http://127.0.0.1:{closed_port()}/", "--expect-max", "1", "--data", "{{uuid}}" * 5000]
    line = assert_one_line_error(race_mcp(*args, cwd=project))  # 40 KB as typed, 180 KB as sent
    assert error_code(line) == "cap-body"
