"""RC4xx fixers: before/after rewrites, fixtures fixed or declined, and one RC401 handler run against
moto's DynamoDB server on loopback before (oversold) and after (exact) the patch."""

from __future__ import annotations

import importlib.util
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import libcst as cst
import pytest

from race_mcp.analyzer import analyze_source
from race_mcp.remediate._fixers import FIXERS, Fixed
from tests._moto import moto_server
from tests._remediate_helpers import dedent, fix, fix_and_verify, guidance_for

FIXTURES = Path(__file__).parent / "fixtures" / "analyzer"

HOLD_ITEM = dedent(
    """
    import os
    import time

    import boto3
    from fastapi import FastAPI, HTTPException

    app = FastAPI()
    table = boto3.resource(
        "dynamodb",
        endpoint_url=os.environ["RACE_MCP_TEST_DYNAMODB"],
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ).Table("inventory")


    @app.post("/items/{sku}/hold")
    def hold_item(sku: str, quantity: int) -> dict[str, int]:
        item = table.get_item(Key={"sku": sku}, ConsistentRead=True)["Item"]
        if item["stock"] < quantity:
            raise HTTPException(409, "out of stock")
        time.sleep(0.05)  # the warehouse API confirms the hold: a network round trip
        table.update_item(
            Key={"sku": sku},
            UpdateExpression="SET stock = :left",
            ExpressionAttributeValues={":left": item["stock"] - quantity},
        )
        return {"held": quantity}
    """
)

HOLD_ITEM_FIXED_TAIL = dedent(
    """
        time.sleep(0.05)  # the warehouse API confirms the hold: a network round trip
        try:
            table.update_item(
                Key={"sku": sku},
                UpdateExpression="SET stock = stock - :left",
                ExpressionAttributeValues={":left": quantity},
                ConditionExpression=Attr("stock").gte(quantity),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            raise HTTPException(409, "out of stock") from None
        return {"held": quantity}
    """
)


def test_limit_check_becomes_a_guarded_decrement(tmp_path: Path) -> None:
    result = fix_and_verify(HOLD_ITEM, "inventory.py", "RC401", "hold_item", tmp_path)
    code = result.module.code
    assert code.endswith(textwrap.indent(HOLD_ITEM_FIXED_TAIL, "    "))
    assert "from boto3.dynamodb.conditions import Attr\n" in code
    assert "from botocore.exceptions import ClientError\n" in code


def test_unguarded_decrement_gets_a_floor(tmp_path: Path) -> None:
    before = dedent(
        """
        import boto3

        wallets = boto3.resource("dynamodb").Table("wallets")


        def debit(wallet_id: str, amount: int) -> None:
            wallets.update_item(
                Key={"wallet_id": wallet_id},
                UpdateExpression="SET balance = balance - :amount",
                ExpressionAttributeValues={":amount": amount},
            )
        """
    )
    result = fix_and_verify(before, "wallets.py", "RC402", "debit", tmp_path)
    assert result.module.code == before.replace(
        '        ExpressionAttributeValues={":amount": amount},\n',
        '        ExpressionAttributeValues={":amount": amount},\n'
        '        ConditionExpression="balance >= :amount",\n',
    )
    assert result.safety == "unsafe"


FIXABLE = [
    ("RC4xx_boto3_resource.py", "RC401", "hold_item"),
    ("RC4xx_boto3_resource.py", "RC401", "claim_username"),
    ("RC4xx_boto3_resource.py", "RC401", "apply_coupon"),
    ("RC4xx_boto3_resource.py", "RC402", "debit_wallet"),
    ("RC4xx_seeds.py", "RC401", "take_last_unit"),
    ("RC4xx_seeds.py", "RC402", "redeem_gift_card_unguarded"),
    ("RC4xx_aioboto3.py", "RC401", "dispatch_shipment"),
    ("RC4xx_aioboto3.py", "RC402", "take_stock"),
]

DECLINED = [
    # The client API's typed values ({"N": "..."}): the fixer does not translate them.
    ("RC4xx_boto3_client.py", "RC401", "deduct_balance"),
    # `profile.get("tags", [])`: an absent attribute cannot be pinned by `eq`.
    ("RC4xx_boto3_resource.py", "RC401", "add_profile_tag"),
    # `ADD credits :delta` with a negative delta: needs rewriting by hand.
    ("RC4xx_boto3_resource.py", "RC402", "consume_credits"),
    ("RC4xx_boto3_resource.py", "RC403", "book_tickets"),
    ("RC4xx_lambda.py", "RC404", None),
]


@pytest.mark.parametrize(("fixture", "rule_id", "function"), FIXABLE)
def test_fixture_race_is_fixed(fixture: str, rule_id: str, function: str, tmp_path: Path) -> None:
    fix_and_verify(
        (FIXTURES / fixture).read_text(), f"tests/fixtures/analyzer/{fixture}", rule_id, function, tmp_path
    )


@pytest.mark.parametrize(("fixture", "rule_id", "function"), DECLINED)
def test_fixture_race_without_a_sound_rewrite_gets_guidance(
    fixture: str, rule_id: str, function: str | None
) -> None:
    source = (FIXTURES / fixture).read_text()
    if function is None:  # module-level consumers: take the first finding of the rule
        finding = next(f for f in analyze_source(source, fixture) if f.rule_id == rule_id)
        result = FIXERS[rule_id](cst.parse_module(source), finding)
        assert not isinstance(result, Fixed)
        message = result.message
    else:
        message = guidance_for(source, fixture, rule_id, function)
    assert "Condition" in message or "transact_write_items" in message or "idempotent" in message


# --- moto's server mode: the race before, none after ----------------------------------------------


@pytest.fixture(scope="module")
def dynamodb_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


def _load(source: str, name: str, folder: Path) -> ModuleType:
    path = folder / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _holds_at_once(module: ModuleType, sku: str, requests: int) -> tuple[int, int, int]:
    """`requests` threads call the handler together: (successes, 409s, stock left)."""
    from fastapi import HTTPException

    start = threading.Barrier(requests)
    outcomes: list[Any] = []

    def one() -> None:
        start.wait()
        try:
            outcomes.append(module.hold_item(sku, 1))
        except HTTPException as exc:
            outcomes.append(exc.status_code)

    threads = [threading.Thread(target=one) for _ in range(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    left = module.table.get_item(Key={"sku": sku}, ConsistentRead=True)["Item"]["stock"]
    return sum(isinstance(o, dict) for o in outcomes), outcomes.count(409), int(left)


def test_rc401_handler_oversells_before_the_patch_and_not_after(
    dynamodb_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    boto3 = pytest.importorskip("boto3")
    monkeypatch.setenv("RACE_MCP_TEST_DYNAMODB", dynamodb_url)
    client = boto3.client(
        "dynamodb",
        endpoint_url=dynamodb_url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    client.create_table(
        TableName="inventory",
        KeySchema=[{"AttributeName": "sku", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "sku", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for sku in ("racy", "fixed"):
        client.put_item(TableName="inventory", Item={"sku": {"S": sku}, "stock": {"N": "3"}})

    racy = _load(HOLD_ITEM, "racy_inventory", tmp_path)
    successes, _, left = _holds_at_once(racy, "racy", 10)
    assert successes > 3 and left == 2, "the unpatched handler should oversell"

    result = fix(HOLD_ITEM, "inventory.py", "RC401", "hold_item")
    assert isinstance(result, Fixed)
    fixed = _load(result.module.code, "fixed_inventory", tmp_path)
    assert _holds_at_once(fixed, "fixed", 10) == (3, 7, 0)
