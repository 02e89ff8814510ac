"""The store registry: each store declared once, nothing unknown slips through as in-process state."""

from __future__ import annotations

import pytest

from race_mcp.analyzer.core import model
from race_mcp.analyzer.core.effects import CallContext, Effect
from race_mcp.analyzer.core.stores import MEMORY, StoreSpec, register, spec, store_of, stores
from race_mcp.analyzer.python import stores as python_stores
from race_mcp.analyzer.python.lower import lower_module
from race_mcp.analyzer.python.stores._common import StoreRecognizer, check_effects
from tests._store_helpers import FakeContext, calls

# The pre-filter words of the libcst analyzer (`_stores.STORE_MARKERS`): the registry's union must
# not be narrower, or files it analysed would now be skipped.
_LIBCST_MARKERS = [
    "SELECT",
    "select",
    "UPDATE",
    "INSERT",
    "DELETE",
    "objects",
    "session",
    "_item",
    "redis",
    "cache",
    "exists(",
    "isfile(",
    "isdir(",
    "Records",
    "open(",
    "mkdir",
    "rename",
    "execute",
    "incr",
]


def _spec(name: str) -> StoreSpec:
    return StoreSpec(name=name, markers=("x",), label=lambda key: key, outcome="o")


def test_the_python_stores_are_registered_in_recognizer_order() -> None:
    assert python_stores.__name__ in __import__("sys").modules
    assert list(stores()) == ["orm", "dynamodb", "mongo", "sql", "redis", "fs"]


@pytest.mark.parametrize("name", ["sql", "orm", "mongo", MEMORY])
def test_a_second_declaration_of_a_store_is_refused(name: str) -> None:
    before = dict(stores())
    with pytest.raises(ValueError, match="registered twice"):
        register(_spec(name))
    assert dict(stores()) == before


def test_a_module_declaring_a_known_store_again_fails_at_import(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "second_sql.py").write_text(
        "from race_mcp.analyzer.core.stores import StoreSpec, register\n"
        "register(StoreSpec(name='sql', markers=('SELECT',), label=str, outcome='o'))\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ValueError, match="'sql' is registered twice"):
        __import__("second_sql")


def test_an_unknown_store_is_refused_with_the_known_ones_named() -> None:
    with pytest.raises(KeyError, match=r"unknown store 'mango'; registered: .*mongo.*sql"):
        spec("mango")
    assert store_of("mango:orders") == MEMORY  # keys are classified; recognizers are checked below
    assert store_of("mongo:orders") == "mongo"


@pytest.mark.parametrize(
    "effect",
    [Effect("read", "mango:orders"), Effect("write", "sqll:t", "RC201"), Effect("store_write", "mango")],
    ids=["read", "write", "store_write"],
)
def test_an_effect_naming_an_unregistered_store_fails_loudly(effect: Effect) -> None:
    with pytest.raises(KeyError, match="unknown store"):
        check_effects([effect])


def test_a_recognizer_emitting_an_unregistered_prefix_fails_instead_of_going_quiet() -> None:
    class Typo(StoreRecognizer):
        def recognize(self, call: model.Call, ctx: CallContext) -> list[Effect] | None:
            return [Effect("read", "mongodb:orders")]

    module = lower_module("db.orders.find_one({})\n", "m.py")
    call = module.body[0].value  # type: ignore[attr-defined]
    with pytest.raises(KeyError, match="unknown store 'mongodb'"):
        Typo(module).effects(call, None)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", list(stores()))
def test_every_store_declares_markers_label_outcome_rules_and_a_python_recognizer(name: str) -> None:
    store = stores()[name]
    assert store.markers and all(store.markers)
    label = store.label("accounts")
    assert "accounts" in label and label != "accounts"
    assert store.outcome.startswith("concurrent requests") or store.name == "fs"
    assert store.default_rule is not None and store.default_rule.startswith("RC")
    assert callable(store.recognizers["python"])


def test_the_registry_keeps_todays_wording_and_rules() -> None:
    assert spec("sql").label("accounts") == "table `accounts`"
    assert spec("orm").label("Account") == "`Account` rows"
    assert spec("dynamodb").label("items") == "DynamoDB table `items`"
    assert spec("redis").label("rate:?") == "Redis key `rate:?`"
    assert spec("fs").label("path") == "path `path`"
    assert spec("mongo").label("orders") == "MongoDB collection `orders`"
    assert {name for name, s in stores().items() if s.insert_outcome} == {"sql", "orm", "mongo"}
    assert {name: s.multi_write_rule for name, s in stores().items() if s.multi_write_rule} == {
        "sql": "RC202",
        "dynamodb": "RC403",
    }
    assert [name for name, s in stores().items() if s.per_row] == ["orm"]


def test_the_markers_cover_what_the_libcst_analyzer_looked_for() -> None:
    markers = {marker for store in stores().values() for marker in store.markers}
    assert set(_LIBCST_MARKERS) - {"Records"} <= markers


_CLAIMS = lower_module(
    """
import os
import redis
import boto3
from pymongo import MongoClient
from django.db import models

r = redis.Redis()
table = boto3.resource("dynamodb").Table("items")
db = MongoClient().shop


class Account(models.Model):
    balance = models.IntegerField()


def calls(cur, path):
    Account.objects.get(pk=1)
    table.get_item(Key={"pk": 1})
    db.orders.find_one({"_id": 1})
    db.users.create_index("email", unique=True)
    cur.execute("SELECT balance FROM accounts WHERE id = 1")
    r.watch("k")
    r.get("k")
    os.path.exists(path)
""",
    "claims.py",
)
_EXPECTED_CLAIMS = {
    "get": "orm",
    "get_item": "dynamodb",
    "find_one": "mongo",
    "create_index": None,
    "execute": "sql",
    "watch": "redis",
    "exists": "fs",
}


def test_each_call_is_claimed_by_its_own_store_in_registry_order() -> None:
    function = _CLAIMS.functions["calls"]
    recognizers = {name: store.recognizers["python"](_CLAIMS) for name, store in stores().items()}
    claimed: dict[str, str | None] = {}
    for call in calls(_CLAIMS, "calls"):
        method = call.method or (call.name or "").split(".")[-1]
        if method not in _EXPECTED_CLAIMS:
            continue
        owner = None
        for name, recognizer in recognizers.items():
            if recognizer.effects(call, FakeContext(_CLAIMS, function)) is not None:
                owner = name
                break
        claimed.setdefault(method, owner)
    assert claimed == _EXPECTED_CLAIMS
