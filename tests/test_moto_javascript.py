"""JavaScript DynamoDB handlers (AWS SDK v3 from npm) against moto's DynamoDB server on loopback,
before and after their RC401 patch: ten holds of one unit at once oversell a stock of 3, and after
the patch every success is paid for by the stock (successes + stock left = 3), the rest answered
409; ten users claiming one free seat at once all succeed, and after the patch exactly one does
(the seat's holder is absent when read: `attribute_not_exists(#holder) OR #holder = :expected`);
a transfer to an item that does not exist loses the amount with two separate writes, and after
the RC403 patch (one TransactWriteItemsCommand) the source keeps it.

Skipped with the reason when node, npm, the registry or moto_server is missing; a failure under CI=true.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from race_mcp.analyzer import analyze_source
from race_mcp.remediate import apply_patches, propose_patches
from race_mcp.roots import AllowedRoots
from tests._moto import moto_server
from tests._npm import node_modules

FIXTURES = Path(__file__).parent / "fixtures" / "live" / "dynamodb"
STOCK = 3
REQUESTS = 10


@pytest.fixture(scope="module")
def dynamodb_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture(scope="module")
def table(dynamodb_url: str) -> object:
    return _table(dynamodb_url)


@pytest.fixture(scope="module")
def modules() -> Path:
    return node_modules("@aws-sdk/client-dynamodb@3")


def _table(url: str) -> object:
    dynamodb = boto3.resource(
        "dynamodb",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    table = dynamodb.create_table(
        TableName="inventory",
        KeySchema=[{"AttributeName": "sku", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "sku", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for sku in ("racy-1", "racy-2", "racy-3", "fixed", "transfer-racy", "transfer-fixed"):
        table.put_item(Item={"sku": sku, "stock": STOCK})
    for sku in ("seat-racy-1", "seat-racy-2", "seat-racy-3", "seat-fixed"):
        table.put_item(Item={"sku": sku})
    return table


def _hold_at_once(handler: Path, sku: str, url: str, modules: Path) -> tuple[int, int]:
    """REQUESTS calls of the handler in flight together in one node process: (successes, 409s)."""
    env = {**os.environ, "NODE_PATH": str(modules), "DYNAMODB_URL": url}
    done = subprocess.run(
        ["node", str(FIXTURES / "hold_many.js"), str(handler), sku, str(REQUESTS)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    outcome = json.loads(done.stdout)
    return outcome["ok"], outcome["conflicts"]


def _item(table: object, sku: str) -> dict[str, object]:
    item: dict[str, object] = table.get_item(Key={"sku": sku}, ConsistentRead=True)["Item"]  # type: ignore[attr-defined]
    return item


def _stock(table: object, sku: str) -> int:
    return int(str(_item(table, sku)["stock"]))


def _patched(name: str, tmp_path: Path, rule: str = "RC401") -> Path:
    """The fixture handler copied to `tmp_path` with its patch (for `rule`) applied."""
    source = (FIXTURES / name).read_text(encoding="utf-8")
    assert [f.rule_id for f in analyze_source(source, name)] == [rule]
    handler = tmp_path / name
    shutil.copyfile(FIXTURES / name, handler)
    report = propose_patches(source, name, project_file=handler, roots=AllowedRoots([tmp_path]))
    assert [p.rule_id for p in report.patches] == [rule] and not report.unpatched
    apply_patches(handler, report, roots=AllowedRoots([tmp_path]))
    assert analyze_source(handler.read_text(encoding="utf-8"), name) == []
    return handler


def test_javascript_rc401_handler_oversells_before_the_patch_and_not_after(
    dynamodb_url: str, table: object, modules: Path, tmp_path: Path
) -> None:
    # Up to three tries on fresh items: ten calls in flight nearly always overlap, but a race is timing.
    oversold = []
    for attempt in range(1, 4):
        successes, _ = _hold_at_once(FIXTURES / "hold.js", f"racy-{attempt}", dynamodb_url, modules)
        left = _stock(table, f"racy-{attempt}")
        oversold.append((successes, left))
        if successes > STOCK - left:
            break
    else:
        raise AssertionError(f"the unpatched handler should oversell: (holds, left) per try {oversold}")

    handler = _patched("hold.js", tmp_path)
    successes, conflicts = _hold_at_once(handler, "fixed", dynamodb_url, modules)
    left = _stock(table, "fixed")
    assert successes >= 1 and successes + left == STOCK, (successes, left)
    assert successes + conflicts == REQUESTS


def test_javascript_rc401_seat_goes_to_many_before_the_patch_and_to_one_after(
    dynamodb_url: str, table: object, modules: Path, tmp_path: Path
) -> None:
    winners = [
        _hold_at_once(FIXTURES / "seat.js", f"seat-racy-{n}", dynamodb_url, modules)[0] for n in (1, 2, 3)
    ]
    assert max(winners) > 1, f"the unpatched handler should give the seat to several users: {winners}"

    handler = _patched("seat.js", tmp_path)
    assert "attribute_not_exists(#holder) OR #holder = :expected_holder" in handler.read_text()
    successes, conflicts = _hold_at_once(handler, "seat-fixed", dynamodb_url, modules)
    assert (successes, conflicts) == (1, REQUESTS - 1)
    assert str(_item(table, "seat-fixed")["holder"]).startswith("user-")


def _invoke(handler: Path, body: dict[str, object], url: str, modules: Path) -> int:
    env = {**os.environ, "NODE_PATH": str(modules), "DYNAMODB_URL": url}
    command = ["node", str(FIXTURES / "invoke.js"), str(handler), json.dumps(body)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    status: int = json.loads(done.stdout)["statusCode"]
    return status


def test_javascript_rc403_transfer_loses_the_amount_before_the_patch_and_not_after(
    dynamodb_url: str, table: object, modules: Path, tmp_path: Path
) -> None:
    body = {"from": "transfer-racy", "to": "no-such-item", "amount": 1}
    assert _invoke(FIXTURES / "transfer.js", body, dynamodb_url, modules) == 409
    assert _stock(table, "transfer-racy") == STOCK - 1, "the first write should have been applied alone"

    handler = _patched("transfer.js", tmp_path, rule="RC403")
    assert "new TransactWriteItemsCommand({" in handler.read_text(encoding="utf-8")
    body = {"from": "transfer-fixed", "to": "no-such-item", "amount": 1}
    assert _invoke(handler, body, dynamodb_url, modules) == 409
    assert _stock(table, "transfer-fixed") == STOCK, "the transaction must write nothing when one part fails"
    body = {"from": "transfer-fixed", "to": "transfer-racy", "amount": 1}
    assert _invoke(handler, body, dynamodb_url, modules) == 200
    assert (_stock(table, "transfer-fixed"), _stock(table, "transfer-racy")) == (STOCK - 1, STOCK)
