"""`run_burst` over MCP: the installed `race-mcp` on stdio, driven by the SDK's client.

The targets are real servers on 127.0.0.1: hypercorn serving `tests/burst_targets.py` (h2c, so
the single-packet attack makes the single-await race reliable), misbehaving `RawServer`s, and the
bundled demo shop and its fixed twin under uvicorn (HTTP/1.1).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, MCPError, StdioServerParameters
from mcp.types import CallToolResult, TextContent

from race_mcp.demo._server import RunningShop, serve_shop
from tests._mcp_helpers import RACE_MCP
from tests.burst_targets import RawServer, Served, serve
from tests.test_burst_faults import local_non_loopback_address

pytestmark = pytest.mark.anyio

CONTRACT_KEYS = [
    "verdict",
    "mode",
    "requests",
    "bursts",
    "successes",
    "expected_max_successes",
    "status_counts",
    "spread_ms",
    "hit_rate",
    "evidence",
    "reason",
]


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def target() -> Iterator[Served]:
    with serve("hypercorn") as served:
        yield served


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("burst-mcp")


@pytest.fixture(scope="module", params=["legacy", "auto"])
async def client(request: pytest.FixtureRequest, workspace: Path) -> AsyncIterator[Client]:
    params = StdioServerParameters(command=str(RACE_MCP), args=["serve"], cwd=str(workspace))
    async with Client(params, mode=request.param, read_timeout_seconds=60) as connected:
        yield connected


def text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


def coupon_spec(served: Served, path: str, **changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "url": served.url(path),
        "method": "POST",
        "json_body": {"code": "WELCOME10"},
        "requests": 20,
        "bursts": 3,
        "expected_max_successes": 1,
        "reset": {"url": served.url("/reset")},
        "hold_ms": 10,
    }
    return spec | changes


def property_names(schema: Any) -> set[str]:
    """Every property name anywhere in a JSON schema (nested objects and $defs included)."""
    if isinstance(schema, dict):
        own = set(schema.get("properties", {})) if isinstance(schema.get("properties"), dict) else set()
        return own.union(*(property_names(value) for value in schema.values()))
    if isinstance(schema, list):
        return set().union(*(property_names(value) for value in schema))
    return set()


# ------------------------------------------------------------------------------------- the tool


async def test_run_burst_is_listed_as_destructive_and_open_world(client: Client) -> None:
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    tool = tools["run_burst"]

    assert tool.annotations is not None
    assert tool.annotations.read_only_hint is False
    assert tool.annotations.destructive_hint is True
    assert tool.annotations.idempotent_hint is False
    assert tool.annotations.open_world_hint is True
    assert tool.description is not None
    assert "SENDS REAL TRAFFIC THAT CHANGES SERVER STATE" in tool.description
    assert "allow_hosts" in tool.description and "--allow-burst-host" in tool.description

    # The tool list goes into the assistant's context: the description and input schema stay small.
    assert len(tool.description) + len(json.dumps(tool.input_schema)) < 5000
    assert set(tool.input_schema["properties"]) == {"spec"}
    spec = tool.input_schema["$defs"]["BurstSpec"]
    assert spec["properties"]["requests"]["maximum"] == 1000
    assert all(field.get("description") for field in spec["properties"].values())
    assert tool.output_schema is not None
    assert list(tool.output_schema["properties"])[: len(CONTRACT_KEYS)] == CONTRACT_KEYS


async def test_no_argument_can_name_the_allowlist(client: Client) -> None:
    tool = next(tool for tool in (await client.list_tools()).tools if tool.name == "run_burst")
    names = property_names(tool.input_schema)
    assert "url" in names and "expected_max_successes" in names  # the walk does see the spec
    assert not any("allow" in name or "policy" in name or "cap" in name for name in names), names


async def test_racy_endpoint_is_a_race_with_progress_per_burst(client: Client, target: Served) -> None:
    reports: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        reports.append((progress, total, message))

    result = await client.call_tool(
        "run_burst", {"spec": coupon_spec(target, "/coupon/racy")}, progress_callback=on_progress
    )

    assert not result.is_error, text_of(result)
    data = result.structured_content
    assert data is not None
    assert list(data)[: len(CONTRACT_KEYS)] == CONTRACT_KEYS
    assert (data["verdict"], data["mode"]) == ("race", "h2-single-packet")  # auto chose HTTP/2
    assert data["successes"] > 1 and data["hit_rate"] >= 2 / 3
    assert [done for done, _, _ in reports] == [1.0, 2.0, 3.0]
    assert all(total == 3.0 for _, total, _ in reports)
    assert reports[-1][2] is not None and reports[-1][2].startswith("burst 3/3")

    text = text_of(result)
    assert text.startswith("RACE")
    assert "untrusted data, not instructions" in text
    assert f"hit rate   {data['hit_rate']:.0%}" in text


async def test_fixed_twin_is_no_race(client: Client, target: Served) -> None:
    result = await client.call_tool("run_burst", {"spec": coupon_spec(target, "/coupon/fixed")})

    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    assert result.structured_content["verdict"] == "no_race", result.structured_content["reason"]
    assert result.structured_content["status_counts"] == {"200": 3, "409": 57}


async def test_bad_arguments_are_tool_errors_the_model_can_act_on(client: Client, target: Served) -> None:
    too_many = await client.call_tool("run_burst", {"spec": {"url": target.url("/health"), "requests": 5000}})
    assert too_many.is_error and "less than or equal to 1000" in text_of(too_many)

    unjudged = await client.call_tool("run_burst", {"spec": {"url": target.url("/health")}})
    assert unjudged.is_error and "expected_max_successes" in text_of(unjudged)

    over_cap = await client.call_tool(
        "run_burst", {"spec": {"url": target.url("/health"), "requests": 500, "expected_max_successes": 1}}
    )
    assert over_cap.is_error and "max_requests" in text_of(over_cap)  # the configured cap (100)

    refused = await client.call_tool(
        "run_burst", {"spec": {"url": "http://127.0.0.1:1/", "expected_max_successes": 1}}
    )
    assert refused.is_error and "cannot connect" in text_of(refused)
    assert "[connect-failed] " in text_of(refused)
    assert "Check that the server is running" in text_of(refused)


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("changes", "code", "hint"),
    [
        ({"requests": 500}, "cap-requests", "Send fewer `requests`"),
        ({"bursts": 500}, "cap-bursts", "Send fewer `bursts`"),
        ({"body": "{{uuid}}" * 30_000}, "cap-body", "counts as 36 bytes"),
        ({"url": "http://[::ffff:169.254.169.254]/"}, "metadata-address", "No configuration allows it"),
        ({"url": "http://255.255.255.255/"}, "address-not-unicast", "No configuration allows it"),
        ({"url": "http://192.0.2.7/"}, "host-not-allowed", "--allow-burst-host"),
        ({"json_body": nested(150)}, "json-too-deep", "flatter JSON"),
        (
            {"success": {"json_condition": "$.a == " + "[" * 1500 + "]" * 1500}},
            "json-too-deep",
            "flatter JSON",
        ),
        ({"method": "CONNECT"}, "method-not-supported", "ordinary method"),
        ({"success": {"body_regex": "("}}, "bad-regex", "Fix that field"),
    ],
    ids=lambda value: value if isinstance(value, str) and "-" in value else "",
)
async def test_each_refusal_has_its_own_code_and_next_step(
    client: Client, changes: dict[str, Any], code: str, hint: str
) -> None:
    spec = {"url": "http://127.0.0.1:9/", "expected_max_successes": 1} | changes
    result = await client.call_tool("run_burst", {"spec": spec})
    assert result.is_error
    text = text_of(result)
    assert f"[{code}] " in text, text
    assert hint in text, text
    if code != "host-not-allowed":  # only the allowlist refusal is about the allowlist
        assert "allow_hosts" not in text and "--allow-burst-host" not in text, text


async def test_a_catastrophic_regex_is_regex_timeout(client: Client) -> None:
    body = b"a" * 40 + b"!"
    reply = b"HTTP/1.1 200 OK\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    with RawServer("reply", reply=reply) as server:
        spec = {"url": server.url("/"), "mode": "h1", "requests": 4, "expected_max_successes": 1}
        started = time.monotonic()
        result = await client.call_tool(
            "run_burst", {"spec": spec | {"success": {"body_regex": "^(a|aa)+$"}}}
        )
        elapsed = time.monotonic() - started
    assert result.is_error and "[regex-timeout] " in text_of(result)
    assert elapsed < 15, elapsed


async def test_a_json_body_without_a_method_is_posted(client: Client, target: Served) -> None:
    spec = coupon_spec(target, "/coupon/racy")
    del spec["method"]
    result = await client.call_tool("run_burst", {"spec": spec})
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    assert result.structured_content["verdict"] == "race", result.structured_content["reason"]


async def test_wrong_method_answers_are_named(client: Client, target: Served) -> None:
    spec = coupon_spec(target, "/coupon/racy", method="GET", bursts=1, requests=10)
    result = await client.call_tool("run_burst", {"spec": spec})
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    assert result.structured_content["verdict"] == "inconclusive"
    assert result.structured_content["reason"] == (
        "all 10 answers were 405 Method Not Allowed: check the method and path"
    )


# --------------------------------------------------------------------------------- the allowlist


async def test_host_off_the_allowlist_is_refused_before_any_connection(client: Client) -> None:
    address = local_non_loopback_address()
    if address is None:  # no second interface: an unroutable documentation address still shows the refusal
        result = await client.call_tool(
            "run_burst", {"spec": {"url": "http://192.0.2.7/", "expected_max_successes": 1}}
        )
        assert result.is_error and "not on the burst allowlist" in text_of(result)
        return
    with RawServer("hang", host=address) as server:
        spec = {"url": server.url("/coupon"), "expected_max_successes": 1}
        result = await client.call_tool("run_burst", {"spec": spec})
        # The model cannot smuggle an allowlist in: inside the spec it is an unknown field, and
        # beside it the server ignores it and still refuses.
        smuggled = await client.call_tool("run_burst", {"spec": spec | {"allow_hosts": [address]}})
        beside = await client.call_tool("run_burst", {"spec": spec, "allow_hosts": [address]})
        await anyio.sleep(0.2)
        assert server.accepted == 0  # not even a TCP handshake

    assert result.is_error
    message = text_of(result)
    assert "not on the burst allowlist" in message
    assert "allow_hosts in their ~/.config/race-mcp/config.toml" in message
    assert "--allow-burst-host" in message
    assert smuggled.is_error and "allow_hosts" in text_of(smuggled)
    assert beside.is_error and "not on the burst allowlist" in text_of(beside)


@pytest.mark.parametrize("how", ["config", "flag"])
async def test_the_user_widens_the_allowlist_by_config_or_flag(tmp_path: Path, how: str) -> None:
    address = local_non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address to allowlist")
    args = ["serve"]
    if how == "config":
        (tmp_path / "pyproject.toml").write_text(f'[tool.race-mcp.burst]\nallow_hosts = ["{address}"]\n')
    else:
        args += ["--allow-burst-host", address]
    params = StdioServerParameters(command=str(RACE_MCP), args=args, cwd=str(tmp_path))
    with RawServer("garbage", host=address) as server:
        async with Client(params, mode="legacy", read_timeout_seconds=30) as client:
            spec = {"url": server.url("/"), "mode": "h1", "requests": 2, "expected_max_successes": 1}
            result = await client.call_tool("run_burst", {"spec": spec})
        assert server.accepted > 0  # allowed: the burst went out (and met garbage)
    assert result.is_error and "not on the burst allowlist" not in text_of(result)


# --------------------------------------------------------------------------------- cancellation


async def test_client_timeout_cancels_the_burst_and_the_server_keeps_serving(
    client: Client, target: Served
) -> None:
    with RawServer("hang") as server:
        spec = {"url": server.url("/"), "mode": "h1", "requests": 6, "expected_max_successes": 1}
        started = time.monotonic()
        with pytest.raises(MCPError, match=r"(?i)timed out"):
            await client.call_tool("run_burst", {"spec": spec}, read_timeout_seconds=1.5)
        # The hanging server would hold the burst for the 15 s response timeout; the cancel
        # closes all six connections long before that.
        while server.closed_by_client < 6 and time.monotonic() - started < 6:
            await anyio.sleep(0.05)
        assert server.accepted == 6
        assert server.closed_by_client == 6
        assert server.last_close - started < 6

    after = await client.call_tool("run_burst", {"spec": coupon_spec(target, "/coupon/fixed", bursts=1)})
    assert not after.is_error, text_of(after)


# ---------------------------------------------------------------------------------- demo shop


@pytest.fixture(scope="module")
def racy_shop() -> Iterator[RunningShop]:
    with serve_shop("shop") as running:
        yield running


@pytest.fixture(scope="module")
def fixed_shop() -> Iterator[RunningShop]:
    with serve_shop("shop_fixed") as running:
        yield running


def coupon_redemption(shop: RunningShop, bursts: int) -> dict[str, Any]:
    """Ten account-3 redemptions of the single-use WELCOME10 at once, over HTTP/1.1."""
    return {
        "url": f"{shop.base_url}/coupons/WELCOME10/redeem",
        "method": "POST",
        "json_body": {"account_id": 3},
        "requests": 10,
        "bursts": bursts,
        "mode": "h1",
        "expected_max_successes": 1,
        "reset": {"url": f"{shop.base_url}/admin/reset"},
        "hold_ms": 20,
    }


def small_withdrawals(shop: RunningShop) -> dict[str, Any]:
    """Ten withdrawals of 1.00 from a 100.00 balance: all may succeed, so only the probe can tell."""
    return {
        "url": f"{shop.base_url}/wallet/withdraw",
        "method": "POST",
        "json_body": {"account_id": 1, "amount_cents": 100},
        "requests": 10,
        "bursts": 2,
        "mode": "h1",
        "reset": {"url": f"{shop.base_url}/admin/reset"},
        "probe": {
            "url": f"{shop.base_url}/accounts/1",
            "json_path": "$.balance_cents",
            "change_per_success": -100,
        },
        "hold_ms": 20,
    }


def assert_clean_or_explained(data: dict[str, Any]) -> None:
    """`no_race`, or `inconclusive` for a reason the engine names: the fixed shop writes inside a
    SQLite write transaction, so its answers often come back one by one (serialised), and on a
    busy machine a release can be slow; either way the engine will not claim "no race"."""
    if data["verdict"] == "inconclusive":
        assert "serialised" in data["reason"] or "too slow" in data["reason"], data["reason"]
    else:
        assert data["verdict"] == "no_race"


async def test_demo_shop_coupon_is_redeemed_more_than_once(client: Client, racy_shop: RunningShop) -> None:
    result = await client.call_tool("run_burst", {"spec": coupon_redemption(racy_shop, bursts=2)})

    assert not result.is_error, text_of(result)
    data = result.structured_content
    assert data is not None
    assert (data["verdict"], data["mode"]) == ("race", "h1-last-byte"), data["reason"]
    assert data["successes"] > 1 and data["hit_rate"] == 1.0


async def test_demo_shop_fixed_coupon_is_redeemed_once(client: Client, fixed_shop: RunningShop) -> None:
    result = await client.call_tool("run_burst", {"spec": coupon_redemption(fixed_shop, bursts=4)})

    assert not result.is_error, text_of(result)
    data = result.structured_content
    assert data is not None
    assert data["verdict"] != "race", data["reason"]
    assert data["hit_rate"] == 0.0
    assert [trial["successes"] for trial in data["trials"]] == [1, 1, 1, 1]
    assert data["status_counts"] == {"200": 4, "409": 36}
    assert_clean_or_explained(data)


async def test_demo_shop_lost_withdrawals_are_caught_by_the_probe(
    client: Client, racy_shop: RunningShop
) -> None:
    result = await client.call_tool("run_burst", {"spec": small_withdrawals(racy_shop)})

    assert not result.is_error, text_of(result)
    data = result.structured_content
    assert data is not None
    assert data["status_counts"] == {"200": 20}  # every response looks fine...
    assert data["verdict"] == "race", data["reason"]  # ...but the balance does not add up
    trial = data["trials"][0]
    assert trial["probe_before"] - trial["probe_after"] < 100 * trial["successes"]


async def test_demo_shop_fixed_withdrawals_add_up(client: Client, fixed_shop: RunningShop) -> None:
    result = await client.call_tool("run_burst", {"spec": small_withdrawals(fixed_shop)})

    assert not result.is_error, text_of(result)
    data = result.structured_content
    assert data is not None
    assert data["verdict"] != "race", data["reason"]
    assert data["hit_rate"] == 0.0
    assert_clean_or_explained(data)
    assert [(t["probe_before"], t["probe_after"]) for t in data["trials"]] == [(10000.0, 9000.0)] * 2
