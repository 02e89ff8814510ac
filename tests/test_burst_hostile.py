"""Hostile input from the security reviews: each one ends in a one-line error with its code, or in a
result that treats the target's garbage as data, never in a traceback or a refused address dialled.

Targets are real: uvicorn serving `tests/burst_targets.py`, and `RawServer`s on 127.0.0.1 that answer
the exact bytes under test (HTTP/1.1 by hand, HTTP/2 through h2 with its checks off).
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterator
from typing import Any

import pytest

from race_mcp.burst import BurstPolicy, BurstSpec, run_burst
from race_mcp.burst._policy import embedded_ipv4
from race_mcp.errors import BurstError, InputError, PolicyError, RaceMcpError
from tests.burst_targets import RawServer, Served, serve

pytestmark = pytest.mark.anyio

QUICK = BurstPolicy(connect_timeout=1.0, response_timeout=2.0, max_total_seconds=10.0)
EVERYWHERE = BurstPolicy(allow_hosts=("0.0.0.0/0", "::/0"), connect_timeout=1.0, max_total_seconds=5.0)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def h1_server() -> Iterator[Served]:
    with serve("uvicorn") as served:
        yield served


def spec(url: str, **changes: Any) -> BurstSpec:
    return BurstSpec.model_validate(
        {"url": url, "requests": 4, "expected_max_successes": 1, "hold_ms": 10} | changes
    )


def http_reply(body: bytes, *headers: bytes) -> bytes:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n" + b"".join(h + b"\r\n" for h in headers)
    return head + b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body


async def refused_code(url: str, policy: BurstPolicy = EVERYWHERE) -> str:
    with pytest.raises(PolicyError, match="bursts never target it") as caught:
        await run_burst(spec(url), policy=policy)
    assert "\n" not in str(caught.value)
    return caught.value.code


# -- addresses that are never targets, however the allowlist is widened (issue 9 #3, issue 14 #9) ----


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://[64:ff9b::a9fe:a9fe]/", "metadata-address"),  # NAT64 of 169.254.169.254
        ("http://[64:ff9b::169.254.169.254]/", "metadata-address"),
        ("http://[64:ff9b::6464:64c8]/", "metadata-address"),  # NAT64 of Alibaba's 100.100.100.200
        ("http://[64:ff9b::a9fe:101]/", "metadata-address"),  # NAT64 of link-local 169.254.1.1
        ("http://[64:ff9b:1::a9fe:a9fe]/", "metadata-address"),  # local-use NAT64, /96
        ("http://[64:ff9b:1:a9fe:a9:fe00::]/", "metadata-address"),  # local-use NAT64, /48 (u octet skipped)
        ("http://[2002:a9fe:a9fe::1]/", "metadata-address"),  # 6to4
        ("http://[2001:0:4136:e378:8000:63bf:5601:5601]/", "metadata-address"),  # Teredo, client XOR'ed
        ("http://[::a9fe:a9fe]/", "metadata-address"),  # IPv4-compatible
        ("http://[::ffff:a9fe:a9fe]/", "metadata-address"),  # IPv4-mapped
        ("http://[fe80::1]/", "metadata-address"),
        ("http://255.255.255.255/", "address-not-unicast"),
        ("http://0.0.0.0:8000/", "address-not-unicast"),
        ("http://0.1.2.3/", "address-not-unicast"),
        ("http://[::]/", "address-not-unicast"),
        ("http://[64:ff9b::ffff:ffff]/", "address-not-unicast"),  # NAT64 of the broadcast address
        ("http://[64:ff9b:1::a9fe:a9fe]/", "metadata-address"),  # /96 reading; the /48 one is 0.0.0.0
    ],
)
async def test_embedded_and_special_addresses_are_refused_under_a_widened_allowlist(
    url: str, code: str
) -> None:
    assert await refused_code(url) == code


def test_teredo_client_address_is_unmasked() -> None:
    teredo = ipaddress.IPv6Address("2001:0:4136:e378:8000:63bf:5601:5601")
    assert ipaddress.IPv4Address("169.254.169.254") in embedded_ipv4(teredo)
    assert embedded_ipv4(ipaddress.IPv6Address("::1")) == ()  # IPv6 loopback is not ::0.0.0.1
    assert embedded_ipv4(ipaddress.IPv4Address("127.0.0.1")) == ()


@pytest.mark.parametrize("address", ["64:ff9b::c000:201", "64:ff9b:1::c000:201", "2002:c000:201::1"])
async def test_an_ordinary_embedded_address_is_not_refused(address: str) -> None:
    # NAT64 and 6to4 forms of a documentation address: allowed by ::/0, so the engine goes on
    # to connect (and fails, as this machine has no route there) instead of refusing.
    with pytest.raises(RaceMcpError) as caught:
        await run_burst(spec(f"http://[{address}]:9/", mode="h1"), policy=EVERYWHERE)
    assert not isinstance(caught.value, PolicyError), caught.value


# -- the method (issue 9 #5) ------------------------------------------------------------------


async def test_a_json_body_without_a_method_is_posted(h1_server: Served) -> None:
    result = await run_burst(spec(h1_server.url("/echo"), json_body={"code": "X"}, expected_max_successes=4))
    assert result.status_counts == {"200": 4}
    assert '"method": "POST"' in result.clusters[0].sample


async def test_no_body_and_no_method_is_a_get(h1_server: Served) -> None:
    result = await run_burst(spec(h1_server.url("/echo"), expected_max_successes=4))
    assert '"method": "GET"' in result.clusters[0].sample


async def test_the_default_post_finds_the_race(h1_server: Served) -> None:
    reset = {"url": h1_server.url("/reset")}
    result = await run_burst(
        spec(h1_server.url("/coupon/racy"), json_body={"code": "X"}, requests=20, bursts=3, reset=reset)
    )
    assert result.verdict == "race", result.reason


async def test_all_405_answers_are_named_in_the_reason(h1_server: Served) -> None:
    # A router answers 405 from the headers, before the body: those early answers used to be
    # blamed on "incomplete requests".
    wrong = spec(h1_server.url("/coupon/racy"), method="GET", json_body={"code": "X"}, requests=10)
    result = await run_burst(wrong, policy=QUICK)
    assert result.verdict == "inconclusive"
    assert result.status_counts == {"405": 10}
    assert result.reason == "all 10 answers were 405 Method Not Allowed: check the method and path"


async def test_a_limit_of_zero_takes_refusals_as_the_expected_outcome(h1_server: Served) -> None:
    guarded = spec(h1_server.url("/coupon/racy"), method="PUT", requests=4, expected_max_successes=0)
    result = await run_burst(guarded, policy=QUICK)
    assert result.status_counts == {"405": 4}
    assert "405 Method Not Allowed" not in result.reason


async def test_connect_is_refused_before_any_connection() -> None:
    with RawServer("reply", reply=b"HTTP/1.1 200 Connection established\r\n\r\n") as server:
        for changes in (
            {"method": "CONNECT"},
            {"raw_request": "CONNECT 127.0.0.1:443 HTTP/1.1\nHost: x\n\n"},
        ):
            with pytest.raises(InputError) as caught:
                await run_burst(spec(server.url(), mode="h1", **changes), policy=QUICK)
            assert caught.value.code == "method-not-supported"
        assert server.accepted == 0


@pytest.mark.parametrize("mode", ["h1", "naive"])
async def test_a_server_switching_protocols_is_protocol_garbage(mode: str) -> None:
    switch = b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n"
    with RawServer("reply", reply=switch) as server, pytest.raises(BurstError) as caught:
        await run_burst(spec(server.url(), mode=mode), policy=QUICK)
    assert caught.value.code == "protocol-garbage"


# -- deep JSON (issue 9 security #4) ------------------------------------------------------------


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    "changes",
    [
        {"json_body": nested(5000)},
        {"json_body": nested(101)},
        {"success": {"json_condition": "$.a == " + "[" * 1500 + "]" * 1500}},  # past the parser's recursion
        {"success": {"json_condition": "$.a == " + "[" * 150 + "]" * 150}},  # past our depth limit
        {"probe": {"url": "http://127.0.0.1:9/s", "json_path": "$" + ".a" * 5000, "change_per_success": 1}},
    ],
    ids=["body-5000", "body-101", "condition-1500", "condition-150", "probe-path-5000"],
)
async def test_deep_json_from_the_user_is_json_too_deep(changes: dict[str, Any]) -> None:
    with pytest.raises(InputError) as caught:
        await run_burst(spec("http://127.0.0.1:9/", **changes), policy=QUICK)
    assert caught.value.code == "json-too-deep"
    assert "\n" not in str(caught.value)


async def test_json_one_level_under_the_limit_is_sent(h1_server: Served) -> None:
    result = await run_burst(spec(h1_server.url("/echo"), json_body=nested(99), expected_max_successes=4))
    assert result.status_counts == {"200": 4}


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000 + b"]" * 100_000, b'{"ok": ' + b"1" * 5000 + b"}", b"\xff\xfe not json"],
    ids=["nested-100000", "5000-digit-number", "not-utf8"],
)
async def test_a_response_body_the_parser_refuses_is_a_body_that_does_not_match(body: bytes) -> None:
    with RawServer("reply", reply=http_reply(body)) as server:
        result = await run_burst(
            spec(server.url(), mode="h1", success={"json_condition": "$.ok"}), policy=QUICK
        )
    assert result.status_counts == {"200": 4}
    assert result.successes == 0


async def test_a_deep_probe_answer_is_a_probe_failure() -> None:
    probe = {"url": "", "json_path": "$.value", "change_per_success": 1}
    with RawServer("reply", reply=http_reply(b"[" * 100_000)) as server:
        probe["url"] = server.url("/state")
        with pytest.raises(BurstError) as caught:
            await run_burst(spec(server.url(), mode="h1", probe=probe), policy=QUICK)
    assert caught.value.code == "probe-failed"


# -- the success regex (issue 9 security #7, issue 14 #4) ------------------------------------------


async def test_a_catastrophic_regex_ends_with_regex_timeout_in_seconds() -> None:
    with RawServer("reply", reply=http_reply(b"a" * 40 + b"!")) as server:
        started = time.monotonic()
        with pytest.raises(InputError) as caught:
            await run_burst(spec(server.url(), mode="h1", success={"body_regex": "^(a|aa)+$"}), policy=QUICK)
        elapsed = time.monotonic() - started
    assert caught.value.code == "regex-timeout"
    assert elapsed < 8, elapsed


async def test_a_sane_regex_still_judges(h1_server: Served) -> None:
    result = await run_burst(
        spec(h1_server.url("/echo"), json_body={"x": 1}, success={"body_regex": r'"method": "POST"'})
    )
    assert result.successes == 4


async def test_the_regex_sees_only_the_start_of_a_huge_body() -> None:
    body = b"x" * 70_000 + b"NEEDLE"
    with RawServer("reply", reply=http_reply(body)) as server:
        result = await run_burst(
            spec(server.url(), mode="h1", success={"body_regex": "NEEDLE"}), policy=QUICK
        )
    assert result.status_counts == {"200": 4}
    assert result.successes == 0  # past the first 64 KiB: not read by the regex


async def test_a_broken_regex_is_bad_regex() -> None:
    with pytest.raises(InputError) as caught:
        await run_burst(spec("http://127.0.0.1:9/", success={"body_regex": "("}))
    assert caught.value.code == "bad-regex"


# -- caps on what is sent, placeholders filled in (issue 14 #6) ---------------------------------------


async def test_the_body_cap_counts_uuids_as_sent(h1_server: Served) -> None:
    policy = BurstPolicy(max_body_bytes=1000)
    with pytest.raises(PolicyError) as caught:
        await run_burst(spec(h1_server.url("/echo"), body="{{uuid}}" * 28), policy=policy)  # 224 -> 1008
    assert caught.value.code == "cap-body"
    assert "1,008 bytes" in str(caught.value)

    fits = spec(h1_server.url("/echo"), body="{{uuid}}" * 27, expected_max_successes=4)  # 972 bytes
    result = await run_burst(fits, policy=policy)
    assert result.status_counts == {"200": 4}
    assert len({cluster.sample for cluster in result.clusters}) == 4  # a fresh UUID in every body


async def test_the_body_cap_counts_the_digits_of_the_last_index() -> None:
    policy = BurstPolicy(max_body_bytes=1000)
    body = "x" * 999 + "{{i}}"
    with pytest.raises(PolicyError) as caught:
        await run_burst(
            spec("http://127.0.0.1:9/", body=body, requests=11), policy=policy
        )  # "10": 1001 bytes
    assert caught.value.code == "cap-body"
    with pytest.raises(BurstError) as refused:  # 10 requests: "9" fits, so it goes on to connect
        await run_burst(spec("http://127.0.0.1:9/", body=body, requests=10), policy=policy)
    assert refused.value.code == "connect-failed"


async def test_headers_and_the_whole_burst_are_capped() -> None:
    with pytest.raises(PolicyError) as caught:
        await run_burst(spec("http://127.0.0.1:9/", headers={"X-Id": "{{uuid}}" * 2000}))
    assert caught.value.code == "cap-headers"
    with pytest.raises(PolicyError) as caught:
        await run_burst(spec("http://127.0.0.1:9/", body="y" * 1_000_000, requests=100))
    assert caught.value.code == "cap-burst-bytes"


async def test_the_reset_body_is_capped_too() -> None:
    policy = BurstPolicy(max_body_bytes=100)
    reset = {"url": "http://127.0.0.1:9/reset", "body": "{{uuid}}" * 3}
    with pytest.raises(PolicyError) as caught:
        await run_burst(spec("http://127.0.0.1:9/", reset=reset), policy=policy)
    assert caught.value.code == "cap-body"


# -- numbers from the peer and the user (issue 14 #8) -------------------------------------------------


@pytest.mark.parametrize(
    "status", ["²00".encode(), b"2" * 5000, b"20x"], ids=["superscript", "5000-digits", "letter"]
)
async def test_a_garbage_http2_status_is_protocol_garbage(status: bytes) -> None:
    with RawServer("h2", h2_status=status) as server, pytest.raises(BurstError) as caught:
        await run_burst(spec(server.url(), mode="h2"), policy=QUICK)
    assert caught.value.code == "protocol-garbage"
    assert "\n" not in str(caught.value)


async def test_a_sane_http2_status_from_the_same_server_is_judged() -> None:
    with RawServer("h2", h2_status=b"200") as server:
        result = await run_burst(spec(server.url(), mode="h2"), policy=QUICK)
    assert result.status_counts == {"200": 4}


@pytest.mark.parametrize("mode", ["h1", "naive"])
async def test_a_5000_digit_content_length_is_protocol_garbage(mode: str) -> None:
    reply = b"HTTP/1.1 200 OK\r\ncontent-length: " + b"1" * 5000 + b"\r\n\r\nok"
    with RawServer("reply", reply=reply) as server, pytest.raises(BurstError) as caught:
        await run_burst(spec(server.url(), mode=mode), policy=QUICK)
    assert caught.value.code == "protocol-garbage"


async def test_a_malformed_server_timing_header_is_ignored() -> None:
    with RawServer(
        "reply", reply=http_reply(b"{}", b"server-timing: db;dur=1.2.3, app;dur=" + b"9" * 5000)
    ) as server:
        result = await run_burst(spec(server.url(), mode="h1"), policy=QUICK)
    assert result.status_counts == {"200": 4}


async def test_a_raw_request_with_a_5000_digit_content_length_is_sent_whole(h1_server: Served) -> None:
    raw = "POST /echo HTTP/1.1\nHost: x\nContent-Length: " + "9" * 5000 + "\n\nhello"
    result = await run_burst(spec(h1_server.url("/"), raw_request=raw, expected_max_successes=4))
    assert result.status_counts == {"200": 4}
    assert '"body": "hello"' in result.clusters[0].sample


@pytest.mark.parametrize(
    "path", ["$.items[" + "9" * 5000 + "]", "$.items[٣]"], ids=["5000-digit-index", "arabic-indic-digit"]
)
async def test_a_json_path_index_must_be_a_short_ascii_number(path: str) -> None:
    probe = {"url": "http://127.0.0.1:9/s", "json_path": path, "change_per_success": 1}
    with pytest.raises(InputError) as caught:
        await run_burst(spec("http://127.0.0.1:9/", probe=probe))
    assert caught.value.code == "bad-json-path"
