"""Catalog entries for the RC8xx family: MongoDB through pymongo (sync and `AsyncMongoClient`) and motor.

Preview: the rules are documented before the analyzer recognises MongoDB; tests/test_rules.py lists
their examples as pending until the store is wired.
"""

from __future__ import annotations

from ._model import CWE_362, Rule, snippet

__all__ = ["FAMILY", "PREFIX", "RULES"]

PREFIX = "RC8"
FAMILY = "RC8xx MongoDB"

_DRIVERS = (
    "Recognised drivers: pymongo `Collection` (sync, and the `AsyncCollection` of `AsyncMongoClient`) "
    "and motor's `AsyncIOMotorCollection`, reached as `client.db.coll`, `client['db']['coll']` or "
    "`db.get_collection('coll')`."
)
_ATOMICITY = "https://www.mongodb.com/docs/manual/core/write-operations-atomicity/"
_IF_CURRENT = "MongoDB Manual, 'Update Document if Current' (the read values in the update's filter)"
_FIND_AND_MODIFY = "https://www.mongodb.com/docs/manual/reference/method/db.collection.findOneAndUpdate/"
_UNIQUE = "https://www.mongodb.com/docs/manual/core/index-unique/"
_PYMONGO_ERRORS = "https://pymongo.readthedocs.io/en/stable/api/pymongo/errors.html (DuplicateKeyError)"

RULES: list[Rule] = [
    Rule(
        id="RC801",
        name="mongodb-find-then-update-without-guard",
        title="MongoDB find_one, decide in application code, then update_one with no filter on what was read",
        family=FAMILY,
        severity="high",
        status="preview",
        cwe="CWE-362",
        fix=(
            "Put what the decision read into the write's filter and check the result: "
            "`update_one({'_id': id, 'stock': {'$gte': 1}}, {'$inc': {'stock': -1}})` with `modified_count` "
            "checked, or `find_one_and_update` with the guard in its filter; for whole-document "
            "rewrites, match a version field in the filter and increment it in the update."
        ),
        what_it_does=(
            "Flags a `find_one` whose document feeds a decision or a computation in Python, followed "
            "by an `update_one`, `update_many`, `replace_one` or `find_one_and_update` / "
            "`find_one_and_replace` on the same collection whose filter "
            "names only the document (`{'_id': ...}`) and not the fields the decision read, so the "
            "server writes whatever the document holds by then. A filter that repeats the checked "
            "condition (`'stock': {'$gte': 1}`) or a version field, with `matched_count` or "
            "`modified_count` read afterwards (or the document `find_one_and_update` returns), is the "
            "guard. A read and write inside one session's transaction are not flagged: MongoDB aborts "
            "the second writer of a document with a write conflict. " + _DRIVERS
        ),
        why_bad=(
            "MongoDB makes each single-document write atomic, but a `find_one` takes no lock and the "
            "write does not know what the application saw. Twenty concurrent requests all read "
            "`stock: 1`, all pass the check and all write `stock: 0` (or `$set` a balance computed "
            "from a stale read): the last item is sold twenty times and updates are lost."
        ),
        example=snippet(
            """
            from flask import Flask, abort
            from pymongo import MongoClient

            app = Flask(__name__)
            products = MongoClient()["shop"]["products"]

            @app.post("/products/<sku>/buy")
            def buy(sku):
                product = products.find_one({"_id": sku})
                if product is None or product["stock"] < 1:
                    abort(409)
                products.update_one({"_id": sku}, {"$set": {"stock": product["stock"] - 1}})
                return {"ok": True}
            """
        ),
        use_instead=snippet(
            """
            from flask import Flask, abort
            from pymongo import MongoClient

            app = Flask(__name__)
            products = MongoClient()["shop"]["products"]

            @app.post("/products/<sku>/buy")
            def buy(sku):
                result = products.update_one(
                    {"_id": sku, "stock": {"$gte": 1}}, {"$inc": {"stock": -1}}
                )
                if result.modified_count == 0:
                    abort(409)
                return {"ok": True}
            """
        ),
        fix_safety=(
            "A guarded write can now match nothing: the handler must answer that (409, retry after a "
            "re-read) instead of reporting success. `find_one_and_update` with "
            "`return_document=ReturnDocument.AFTER` returns the new document when the caller needs it."
        ),
        known_problems=(
            "Preview: the pattern is fixed by this page, the recognition of collections (names bound "
            "across modules, helpers that return a collection) may still change. A relative update "
            "(`$inc`, `$push`) with no guard is flagged only when something was decided on the read "
            "first; a `$set` of a value computed from the read is flagged either way (a lost update)."
        ),
        references=[CWE_362, _ATOMICITY, _IF_CURRENT, _FIND_AND_MODIFY],
    ),
    Rule(
        id="RC802",
        name="mongodb-find-then-insert-without-unique-index",
        title="find_one to check absence, then insert_one, with no unique index to back it",
        family=FAMILY,
        severity="medium",
        status="preview",
        cwe="CWE-362",
        fix=(
            "Create a unique index on the looked-up fields (`create_index('email', unique=True)`) and "
            "insert directly, answering `DuplicateKeyError` with 409, instead of checking with `find_one` "
            "first."
        ),
        what_it_does=(
            "Flags a `find_one` (or `count_documents`) on a filter followed, when nothing was found, "
            "by an `insert_one` or `insert_many` into the same collection, when the insert is not "
            "inside a `try` that "
            "handles `DuplicateKeyError` and no `create_index(..., unique=True)` on the looked-up "
            "fields is seen for that collection. " + _DRIVERS
        ),
        why_bad=(
            "Two concurrent sign-ups with the same e-mail both find no user and both insert: the "
            "account exists twice, a coupon is claimed twice, a webhook is processed twice. Only the "
            "server can arbitrate between them, through a unique index that makes the second insert "
            "fail with `DuplicateKeyError` (E11000). A transaction does not help: two inserts of "
            "different documents never conflict."
        ),
        example=snippet(
            """
            from flask import Flask, request
            from pymongo import MongoClient

            app = Flask(__name__)
            users = MongoClient()["app"]["users"]

            @app.post("/signup")
            def signup():
                email = request.json["email"]
                if users.find_one({"email": email}) is not None:
                    return {"error": "email taken"}, 409
                users.insert_one({"email": email, "name": request.json["name"]})
                return {"ok": True}, 201
            """
        ),
        use_instead=snippet(
            """
            from flask import Flask, request
            from pymongo import MongoClient
            from pymongo.errors import DuplicateKeyError

            app = Flask(__name__)
            users = MongoClient()["app"]["users"]
            users.create_index("email", unique=True)

            @app.post("/signup")
            def signup():
                email = request.json["email"]
                try:
                    users.insert_one({"email": email, "name": request.json["name"]})
                except DuplicateKeyError:
                    return {"error": "email taken"}, 409
                return {"ok": True}, 201
            """
        ),
        fix_safety=(
            "Creating a unique index fails while the collection already holds duplicates; they must "
            "be merged or removed first."
        ),
        known_problems=(
            "Indexes created outside the analysed code (a migration run from the shell, Atlas, "
            "mongosh scripts) are invisible, so the `DuplicateKeyError` handler is what the rule "
            "accepts as proof there; `# race-mcp: ignore[RC802]` documents an index made elsewhere. "
            "An `update_one(..., upsert=True)` on a non-unique filter can insert twice too and is not "
            "flagged."
        ),
        references=[CWE_362, _UNIQUE, _PYMONGO_ERRORS],
    ),
]
