"""The MongoDB store (RC801, RC802): its recognizer on lowered snippets, and end to end on the
fixtures, the rule docs and a project of several modules. No MongoDB server is needed."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from race_mcp import RULES, analyze_paths, analyze_source
from race_mcp.analyzer.core.effects import ALL, Effect
from race_mcp.analyzer.python.stores.mongodb import MongoRecognizer, unique_indexes
from race_mcp.config import Settings
from tests._store_helpers import FakeAccess, FakeState, call_of, context, effects, lower
from tests.corpus import score_file

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "analyzer").glob("mongodb_*.py"))

SHOP = lower(
    """
    from pymongo import MongoClient

    db = MongoClient().shop
    products = db["products"]
    users = db.get_collection("users")
    users.create_index("email", unique=True)
    db.carts.create_indexes([IndexModel([("user", 1), ("sku", 1)], unique=True)])

    def read(sku):
        return products.find_one({"_id": sku, "stock": {"$gt": 0}})

    def overwrite(sku, n):
        db.products.update_one({"_id": sku}, {"$set": {"stock": n}})

    def decrement(sku):
        db.products.update_one({"_id": sku}, {"$inc": {"stock": -1}})

    def guarded(sku):
        result = products.update_one({"_id": sku, "stock": {"$gte": 1}}, {"$inc": {"stock": -1}})
        return result.modified_count

    def versioned(sku, doc, seen):
        products.replace_one({"_id": sku, "version": seen}, doc)

    def transition(oid):
        return db.orders.find_one_and_update({"_id": oid, "status": "new"}, {"$set": {"status": "paid"}})

    def upsert(email):
        users.update_one({"email": email}, {"$setOnInsert": {"email": email}}, upsert=True)

    def signup(email):
        users.insert_one({"email": email})

    def note(text):
        db.notes.insert_one({"text": text})

    def remove(sku):
        db.products.delete_one({"_id": sku})

    def local(sku):
        coll = db["stock"]
        coll.find_one({"sku": sku})

    def count(team):
        return db.members.count_documents({"team": team})
    """
)


def _mongo(function: str, method: str, **options: object) -> list[Effect] | None:
    return effects(MongoRecognizer(SHOP), SHOP, function, method, **options)


def test_find_one_reads_the_filtered_fields_of_its_collection() -> None:
    assert _mongo("read", "find_one") == [
        Effect("read", "mongo:products", detail=frozenset({"_id", "stock"}))
    ]
    assert _mongo("local", "find_one") == [Effect("read", "mongo:stock", detail=frozenset({"sku"}))]
    assert _mongo("count", "count_documents") == [Effect("read", "mongo:members", detail=frozenset({"team"}))]


def test_a_write_filtered_on_the_document_alone_guards_nothing() -> None:
    assert _mongo("overwrite", "update_one") == [
        Effect("write", "mongo:products", "RC801", columns=frozenset({"stock"}))
    ]
    # `$inc` is computed by the server: only a decision on the old value makes it racy.
    assert _mongo("decrement", "update_one") == [
        Effect("write", "mongo:products", "RC801", needs_check=True, columns=frozenset({"stock"}))
    ]


def test_a_filter_on_what_was_read_guards_only_when_the_result_is_looked_at() -> None:
    stock = frozenset({"stock"})
    # `compares`: the filter re-checks the field the update sets, counted or not (core/writes.py).
    guarded = Effect("write", "mongo:products", "RC801", stock, True, columns=stock, compares=stock)
    assert _mongo("guarded", "update_one") == [guarded]
    # The result is assigned, but `modified_count` is read: guarded even when the call's value is dropped.
    assert _mongo("guarded", "update_one", used=False) == [guarded]
    unread = _mongo("decrement", "update_one", used=False)
    assert unread is not None and unread[0].guard == frozenset()


def test_reads_only_the_filter_carries_are_not_written_values() -> None:
    identity, value = FakeAccess("mongo:products"), FakeAccess("mongo:products")
    ctx = context(SHOP, "overwrite", args=[identity, value], arguments=[[identity], [value]])
    MongoRecognizer(SHOP).effects(call_of(SHOP, "overwrite", "update_one"), ctx)
    assert ctx.args == [value] and ctx.args[0] is value


def test_a_version_in_the_filter_or_a_state_transition_is_a_compare_and_set() -> None:
    versioned = _mongo("versioned", "replace_one", used=True)
    assert versioned is not None and versioned[0].guard == ALL
    transition = _mongo("transition", "find_one_and_update")
    assert transition is not None and transition[0].guard == {"status"}
    dropped = _mongo("transition", "find_one_and_update", used=False)
    assert dropped is not None and dropped[0].guard == frozenset()


def test_an_upsert_decides_on_the_server() -> None:
    assert _mongo("upsert", "update_one") == [Effect("write", "mongo:users", "RC801", ALL, needs_check=True)]


def test_an_insert_is_guarded_by_unique_indexes_or_a_handled_duplicate_key() -> None:
    assert _mongo("signup", "insert_one") == [
        Effect("write", "mongo:users", "RC802", frozenset({"email", "_id"}), needs_check=True)
    ]
    assert _mongo("note", "insert_one") == [Effect("write", "mongo:notes", "RC802", frozenset({"_id"}), True)]
    caught = _mongo("note", "insert_one", caught=("DuplicateKeyError",))
    assert caught is not None and caught[0].guard == ALL


def test_a_transaction_does_not_cover_the_document_an_insert_creates() -> None:
    found = _mongo("note", "insert_one", held=("transaction",))
    assert found is not None and [e.kind for e in found] == ["unlock", "write", "lock"]


def test_a_project_unique_index_counts_too() -> None:
    class Facts:
        mongo_unique = {"notes": {"text"}}

    found = _mongo("note", "insert_one", project=Facts())
    assert found is not None and found[0].guard == {"text", "_id"}


def test_unique_indexes_are_read_from_create_index_and_create_indexes() -> None:
    assert unique_indexes(SHOP) == {"users": {"email"}, "carts": {"user", "sku"}}


def test_delete_claims_the_document_when_its_count_is_read() -> None:
    assert _mongo("remove", "delete_one") == [Effect("write", "mongo:products", "RC801", ALL)]
    unread = _mongo("remove", "delete_one", used=False)
    assert unread == [Effect("write", "mongo:products", "RC801")]


SESSIONS = lower(
    """
    class Repo:
        def __init__(self, db):
            self.collection = db["stock"]

        def take(self, session, sku):
            return self.collection.find_one({"sku": sku}, session=session)

        def move(self, client, sku):
            with client.start_session() as session:
                session.with_transaction(lambda s: self.take(s, sku))

        def other(self, sku):
            return self.collection.find_one({"sku": sku})

    def callback(session):
        pass

    def run(client):
        with client.start_session() as session:
            with session.start_transaction():
                session.with_transaction(callback)
    """
)


def test_a_repository_attribute_names_the_collection_bound_in_init() -> None:
    found = effects(MongoRecognizer(SESSIONS), SESSIONS, "Repo.other", "find_one")
    assert found == [Effect("read", "mongo:stock", detail=frozenset({"sku"}))]


def test_start_transaction_and_with_transaction_callbacks_are_transactions() -> None:
    recognizer = MongoRecognizer(SESSIONS)
    inner = SESSIONS.functions["run"].body[0].body[0].items[0].context  # type: ignore[attr-defined]
    assert recognizer.enter(inner, context(SESSIONS, "run")) == [Effect("begin"), Effect("lock")]
    assert recognizer.transactional(SESSIONS.functions["callback"])
    assert recognizer.transactional(SESSIONS.classes["Repo"].methods["take"])
    assert not recognizer.transactional(SESSIONS.classes["Repo"].methods["other"])
    # The callback's reads take the transaction's lock (released at its commit).
    ctx = context(SESSIONS, "Repo.take", state=FakeState(in_transaction=1))
    found = recognizer.effects(call_of(SESSIONS, "Repo.take", "find_one"), ctx)
    assert found is not None and [e.kind for e in found] == ["lock", "read"]


def test_calls_that_are_not_mongodb_are_not_its_business() -> None:
    module = lower(
        """
        def f(text, items):
            text.find("x")
            items.update({"a": 1})
        """
    )
    recognizer = MongoRecognizer(module)
    assert effects(recognizer, module, "f", "find") is None
    assert effects(recognizer, module, "f", "update") is None


# -- end to end ----------------------------------------------------------------------------------
@pytest.mark.parametrize("path", FIXTURES, ids=[p.name for p in FIXTURES])
def test_mongodb_fixture_matches_its_markers(path: Path) -> None:
    strict, _ = score_file(path)
    assert not strict.problems, "\n".join(strict.problems)
    assert strict.true_positives >= 2


@pytest.mark.parametrize("rule_id", ["RC801", "RC802"])
def test_the_rule_docs_examples_hold(rule_id: str) -> None:
    rule = RULES[rule_id]
    racy = analyze_source(rule.example, f"{rule_id}_example.py")
    assert [(f.rule_id, f.fix) for f in racy] == [(rule_id, rule.fix)]
    assert "MongoDB collection `" in racy[0].message
    assert analyze_source(rule.use_instead, f"{rule_id}_fixed.py") == []


def test_an_insert_after_an_absence_check_reads_as_duplicates() -> None:
    findings = analyze_source(RULES["RC802"].example, "signup.py")
    assert "all find nothing and all insert, so duplicates are created" in findings[0].message
    assert [e.role for e in findings[0].evidence] == ["check", "write"]


def test_a_unique_index_created_in_another_module_of_the_project_guards_the_insert(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("", encoding="utf-8")
    package = tmp_path / "app"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "db.py").write_text(
        "from pymongo import MongoClient\n\n"
        "db = MongoClient().shop\n\n\n"
        "def ensure_indexes():\n"
        '    db.accounts.create_index("email", unique=True)\n',
        encoding="utf-8",
    )
    (package / "views.py").write_text(
        dedent(
            """
            from flask import Flask, request

            from .db import db

            app = Flask(__name__)


            @app.post("/accounts")
            def open_account():
                email = request.json["email"]
                if db.accounts.find_one({"email": email}) is not None:
                    return {"error": "exists"}, 409
                db.accounts.insert_one({"email": email})
                return {"ok": True}, 201


            @app.post("/nicknames")
            def add_nickname():
                nick = request.json["nick"]
                if db.nicknames.find_one({"nick": nick}) is not None:
                    return {"error": "exists"}, 409
                db.nicknames.insert_one({"nick": nick})
                return {"ok": True}, 201
            """
        ),
        encoding="utf-8",
    )
    report = analyze_paths([tmp_path], settings=Settings(jobs=1))
    assert not report.errors
    assert [(f.rule_id, f.function) for f in report.findings] == [("RC802", "add_nickname")]
    alone = analyze_source((package / "views.py").read_text(encoding="utf-8"), "views.py")
    assert sorted(f.function or "" for f in alone) == ["add_nickname", "open_account"]


_LEASE = """
from celery import shared_task
from pymongo import MongoClient

jobs = MongoClient().work.jobs


@shared_task
def lease(worker):
    job = jobs.find_one({FILTER})
    if job is None:
        return None
    CLAIM
    return job
"""
_CLAIM = 'jobs.update_one({"_id": job["_id"], "owner": None}, {"$set": {"owner": worker}})'


@pytest.mark.parametrize(
    ("lookup", "claim", "flagged"),
    [
        # Picked by its state, claimed, nobody reads whether the claim took it: every worker leases it.
        ('"state": "queued"', _CLAIM, True),
        # The same claim with its count read: only one worker goes on.
        (
            '"state": "queued"',
            f"taken = {_CLAIM}\n    if taken.modified_count == 0:\n        return None",
            False,
        ),
        # Named by its key: that it exists cannot go stale, and the claim's filter is not the pick.
        ('"_id": worker', _CLAIM, False),
        # Picked by its state and overwritten blindly (no compare-and-set): either worker's stamp wins.
        ('"state": "queued"', 'jobs.update_one({"_id": job["_id"]}, {"$set": {"seen_by": worker}})', False),
    ],
)
def test_an_existence_check_of_a_picked_document_races_its_unread_claim(
    lookup: str, claim: str, flagged: bool
) -> None:
    source = _LEASE.replace("FILTER", lookup).replace("CLAIM", claim)
    findings = analyze_source(source, "lease.py")
    assert [f.rule_id for f in findings] == (["RC801"] if flagged else [])
