"""Faults and refusals: every one ends in a clear result or a one-line error within the caps.

The misbehaving servers are real sockets on 127.0.0.1 (`RawServer`), and the HTTP/1-only and
TLS servers are real uvicorn / hypercorn processes.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import anyio
import pytest
import trustme

from race_mcp.burst import BurstPolicy, BurstSpec, run_burst
from race_mcp.config import Settings
from race_mcp.errors import BurstError, InputError, PolicyError
from tests.burst_targets import RawServer, Served, serve

pytestmark = pytest.mark.anyio

QUICK = BurstPolicy(connect_timeout=1.0, response_timeout=1.0, max_total_seconds=10.0)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def spec(url: str, **changes: object) -> BurstSpec:
    base = BurstSpec(url=url, requests=4, expected_max_successes=1, hold_ms=10)
    return base.model_copy(update=changes)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    authority = trustme.CA()
    issued = authority.issue_cert("localhost", "127.0.0.1")
    ca, cert, key = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    authority.cert_pem.write_to_path(str(ca))
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    return ca, cert, key


@pytest.fixture(scope="module")
def h1_server() -> Iterator[Served]:
    with serve("uvicorn") as served:
        yield served


# -- the allowlist ---------------------------------------------------------------------------


def local_non_loopback_address() -> str | None:
    """An address of this machine that is not loopback (eth0), if it has one."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # UDP: no packet is sent, only a route is chosen
        address = str(probe.getsockname()[0])
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") else address


async def test_host_off_the_allowlist_is_refused_before_any_packet() -> None:
    address = local_non_loopback_address()
    if address is None:
        with pytest.raises(PolicyError, match="not on the burst allowlist"):
            await run_burst(spec("http://192.0.2.77/"))
        return
    with RawServer("hang", host=address) as server:
        with pytest.raises(PolicyError, match=r"not on the burst allowlist.*allow_hosts.*--allow-host"):
            await run_burst(spec(server.url("/coupon")))
        time.sleep(0.2)
        assert server.accepted == 0  # not even a TCP handshake


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://100.100.100.200/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://169.254.10.10/",
        "http://0.0.0.0:8000/",
    ],
)
async def test_metadata_and_link_local_addresses_are_always_refused(url: str) -> None:
    everything = BurstPolicy(allow_hosts=("0.0.0.0/0", "::/0", "169.254.169.254", "100.100.100.200"))
    with pytest.raises(PolicyError, match="bursts never target it"):
        await run_burst(spec(url), policy=everything)


async def test_allowlist_comes_from_config_and_flags_only() -> None:
    settings = Settings.model_validate({"burst": {"allow_hosts": ["192.0.2.0/24", "*.staging.example"]}})
    policy = BurstPolicy.from_settings(settings, allow_hosts=["api.example.com"])
    assert policy.address_allowed(__import__("ipaddress").ip_address("192.0.2.9"))
    assert policy.name_allowed("shop.staging.example") and policy.name_allowed("api.example.com")
    assert not policy.name_allowed("staging.example.evil")
    assert "allow_hosts" not in BurstSpec.model_fields  # a tool argument cannot widen it


async def test_unreachable_allowlisted_host_fails_within_the_connect_timeout() -> None:
    policy = BurstPolicy(allow_hosts=("192.0.2.0/24",), connect_timeout=1.0, max_total_seconds=5.0)
    started = time.monotonic()
    with pytest.raises(BurstError, match=r"192\.0\.2\.77"):
        await run_burst(spec("http://192.0.2.77:8080/", mode="h1"), policy=policy)
    assert time.monotonic() - started < 4


# -- connection faults -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("mode", ["auto", "h1", "h2", "naive"])
async def test_refused_connection_is_a_burst_error(mode: str) -> None:
    with pytest.raises(BurstError, match=r"(cannot connect|refused|ConnectError)"):
        await run_burst(spec(f"http://127.0.0.1:{free_port()}/", mode=mode), policy=QUICK)


@pytest.mark.parametrize("mode", ["auto", "h1", "h2", "naive"])
async def test_server_answering_garbage_is_a_burst_error(mode: str) -> None:
    with (
        RawServer("garbage") as server,
        pytest.raises(BurstError, match=r"(invalid HTTP|does not speak HTTP/2 \(it answered|Protocol)"),
    ):
        await run_burst(spec(server.url(), mode=mode), policy=QUICK)


@pytest.mark.parametrize("mode", ["h1", "h2", "naive"])
async def test_server_closing_without_answer_is_a_burst_error(mode: str) -> None:
    with RawServer("close") as server, pytest.raises(BurstError, match=r"(?i)(closed|disconnected)"):
        await run_burst(spec(server.url(), mode=mode), policy=QUICK)


async def test_server_closing_half_the_connections_mid_burst_is_inconclusive() -> None:
    with RawServer("flaky") as server:
        result = await run_burst(spec(server.url(), mode="h1", requests=6, bursts=2), policy=QUICK)
    assert result.verdict == "inconclusive"
    assert result.status_counts == {"409": 6, "error": 6}
    assert "got no valid response" in result.reason and "closed" in result.reason


@pytest.mark.parametrize("mode", ["h1", "h2", "naive"])
async def test_hanging_server_gives_up_within_the_response_timeout(mode: str) -> None:
    with RawServer("hang") as server:
        started = time.monotonic()
        with pytest.raises(BurstError, match=r"(no response within|no HTTP/2 SETTINGS|no request got)"):
            await run_burst(spec(server.url(), mode=mode), policy=QUICK)
        assert time.monotonic() - started < 5


async def test_total_time_cap_stops_the_run() -> None:
    policy = BurstPolicy(response_timeout=30.0, max_total_seconds=1.0)
    with RawServer("hang") as server:
        started = time.monotonic()
        with pytest.raises(BurstError, match="time cap"):
            await run_burst(spec(server.url(), mode="h1"), policy=policy)
        assert time.monotonic() - started < 3


async def test_cancellation_stops_promptly_and_closes_every_socket() -> None:
    with RawServer("hang") as server:
        async with anyio.create_task_group() as group:
            group.start_soon(partial(run_burst, spec(server.url(), mode="h1", requests=8)))
            await anyio.sleep(0.5)
            assert server.accepted == 8
            cancelled_at = time.monotonic()
            group.cancel_scope.cancel()
        assert time.monotonic() - cancelled_at < 0.5
        deadline = time.monotonic() + 2
        while server.closed_by_client < 8 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.closed_by_client == 8
        assert server.last_close - cancelled_at < 0.5


async def test_http2_mode_against_an_http1_only_server(h1_server: Served) -> None:
    with pytest.raises(BurstError, match=r"does not speak HTTP/2 .*HTTP/1\.1.*use mode h1"):
        await run_burst(spec(h1_server.url("/health"), mode="h2"), policy=QUICK)


async def test_http2_mode_against_tls_server_without_h2(tls_files: tuple[Path, Path, Path]) -> None:
    ca, cert, key = tls_files
    with serve("uvicorn", certfile=cert, keyfile=key) as served:
        url = served.url("/health", "localhost")
        with pytest.raises(BurstError, match=r"does not offer HTTP/2 over TLS \(ALPN chose"):
            await run_burst(spec(url, mode="h2"), policy=BurstPolicy(ca_file=ca))
        fallback = await run_burst(spec(url, mode="auto"), policy=BurstPolicy(ca_file=ca))
        assert fallback.mode == "h1-last-byte"
        assert fallback.status_counts == {"200": 4}


async def test_untrusted_certificate_is_a_tls_error(tls_files: tuple[Path, Path, Path]) -> None:
    _, cert, key = tls_files
    with serve("hypercorn", certfile=cert, keyfile=key) as served:
        url = served.url("/health", "localhost")
        for mode in ("auto", "h1", "h2"):
            with pytest.raises(BurstError, match="TLS certificate rejected"):
                await run_burst(spec(url, mode=mode), policy=QUICK)
        unverified = await run_burst(spec(url, mode="h2", verify_tls=False), policy=QUICK)
        assert unverified.status_counts == {"200": 4}


async def test_tls_to_a_plaintext_server_is_a_tls_error(h1_server: Served) -> None:
    with pytest.raises(BurstError, match="TLS"):
        await run_burst(spec(f"https://127.0.0.1:{h1_server.port}/", mode="h1"), policy=QUICK)


# -- caps and bad input ----------------------------------------------------------------------


async def test_caps_are_enforced_before_sending() -> None:
    policy = BurstPolicy(max_requests=10, max_bursts=2, max_body_bytes=100)
    with pytest.raises(PolicyError, match="over the cap of 10") as caught:
        await run_burst(spec("http://127.0.0.1:9/", requests=11), policy=policy)
    assert caught.value.code == "cap-requests"
    with pytest.raises(PolicyError, match="over the cap of 2") as caught:
        await run_burst(spec("http://127.0.0.1:9/", bursts=3), policy=policy)
    assert caught.value.code == "cap-bursts"
    with pytest.raises(PolicyError, match="100-byte cap") as caught:
        await run_burst(spec("http://127.0.0.1:9/", method="POST", body="x" * 101), policy=policy)
    assert caught.value.code == "cap-body"


async def test_response_bodies_are_read_only_up_to_the_cap(h1_server: Served) -> None:
    policy = BurstPolicy(max_response_bytes=1024)
    result = await run_burst(spec(h1_server.url("/echo"), method="POST", body="y" * 5000), policy=policy)
    assert result.status_counts == {"200": 4}
    assert len(result.clusters[0].sample) < 300


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"url": "ftp://127.0.0.1/"}, "only http:// and https://"),
        ({"url": "http://user:pw@127.0.0.1/"}, "credentials"),
        ({"url": "http://{{i}}.example/"}, "not in the host"),
        ({"url": "not a url"}, "only http"),
        ({"method": "PO ST"}, "not a valid HTTP method"),
        ({"headers": {"X-A": "1\r\nX-Injected: 2"}}, "line breaks"),
        ({"body": "a", "json_body": {"b": 1}}, "one request body"),
        ({"raw_request": "garbage"}, "first line"),
        ({"expected_max_successes": None}, "say how to judge"),
        ({"success": {"body_regex": "("}}, "success regex"),
        ({"success": {"json_condition": "$.ok == yes"}}, "must be JSON"),
        (
            {"probe": {"url": "http://127.0.0.1:9/", "json_path": "$..x", "change_per_success": 1}},
            "JSON path",
        ),
    ],
)
async def test_bad_input_is_a_one_line_input_error(changes: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        await run_burst(BurstSpec.model_validate({**spec("http://127.0.0.1:9/").model_dump(), **changes}))
    assert "\n" not in str(caught.value)
