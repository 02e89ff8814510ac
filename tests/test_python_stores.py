"""Each Python store recognizer on lowered snippets: the effects a call has, as the interpreter sees them."""

from __future__ import annotations

from race_mcp.analyzer.core import model
from race_mcp.analyzer.core.effects import ALL, Effect
from race_mcp.analyzer.core.state import ANY_COLUMN
from race_mcp.analyzer.python.stores.dynamodb import DynamoRecognizer, condition_guard
from race_mcp.analyzer.python.stores.fs import FileRecognizer
from race_mcp.analyzer.python.stores.orm import OrmRecognizer
from race_mcp.analyzer.python.stores.redis import RedisRecognizer
from race_mcp.analyzer.python.stores.sql import SqlRecognizer
from tests._store_helpers import FakeAccess, FakeState, FakeStep, call_of, calls, context, effects, lower

# -- SQL --------------------------------------------------------------------------------------------
SQL = lower(
    '''
    import sqlite3
    from sqlalchemy import text

    SCHEMA = """CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT UNIQUE, name TEXT);"""
    db = sqlite3.connect("app.db")

    def lock_row(cur, uid):
        cur.execute("SELECT balance FROM accounts WHERE id = ? FOR UPDATE", (uid,))

    def spend(cur, uid, n):
        cur.execute("UPDATE accounts SET balance = balance - ? WHERE id = ? AND balance >= ?", (n, uid, n))
        if cur.rowcount == 0:
            raise ValueError

    def blind(cur, uid):
        cur.execute("UPDATE accounts SET name = 'x' WHERE id = ? AND name = 'y'", (uid,))

    def join(cur, email):
        cur.execute("INSERT INTO users (email) VALUES (?)", (email,))

    def join_waitlist(cur, email):
        cur.execute("INSERT INTO waitlist (email) VALUES (?) ON CONFLICT DO NOTHING", (email,))

    def wrapped(conn):
        conn.execute(text("SELECT * FROM t WHERE a = :a"), {"a": 1})
        conn.commit()

    def session(conn):
        with conn:
            pass

    @database.transaction()
    def moved():
        pass
    '''
)


def test_a_select_for_update_locks_and_reads_its_where_columns() -> None:
    found = effects(SqlRecognizer(SQL), SQL, "lock_row", "execute", state=FakeState(in_transaction=1))
    balance = frozenset({"balance"})
    assert found == [
        Effect("lock"),
        # The row holds `balance` without naming it: a check of `row[0]` looked at that column.
        Effect("read", "sql:accounts", detail=frozenset({"id"}), bind_receiver=True, selected=balance),
    ]


def test_a_guarded_update_guards_only_when_its_rowcount_is_read() -> None:
    recognizer = SqlRecognizer(SQL)
    guarded = effects(recognizer, SQL, "spend", "execute", used=False)
    assert guarded is not None and guarded[0].guard == ALL and guarded[0].columns == {"balance"}
    assert guarded[1] == Effect("store_write", "sql", autocommit=False)
    unread = effects(recognizer, SQL, "blind", "execute", used=False)
    # Unguarded, yet still a compare-and-set on `name`: no blind overwrite (core/writes.py `_unrelated`).
    assert unread is not None and unread[0] == Effect(
        "write", "sql:accounts", "RC201", columns=frozenset({"name"}), compares=frozenset({"name"})
    )


def test_an_insert_is_guarded_by_unique_ddl_on_conflict_or_a_handled_integrity_error() -> None:
    recognizer = SqlRecognizer(SQL)
    join = effects(recognizer, SQL, "join", "execute")
    assert join is not None and join[0].guard == {"id", "email"} and join[0].needs_check
    assert effects(recognizer, SQL, "join_waitlist", "execute")[0].guard == ALL  # type: ignore[index]
    caught = effects(recognizer, SQL, "join", "execute", caught=("IntegrityError",))
    assert caught is not None and caught[0].guard == ALL


def test_builders_commits_contexts_and_transactional_decorators() -> None:
    recognizer = SqlRecognizer(SQL)
    assert effects(recognizer, SQL, "wrapped", "text") == []
    assert effects(recognizer, SQL, "wrapped", "commit") == [Effect("commit")]
    read = effects(recognizer, SQL, "wrapped", "execute")
    # `SELECT *`: the row may hold any column, so a check of it races a write of any.
    any_column = frozenset({ANY_COLUMN})
    assert read == [Effect("read", "sql:t", detail=frozenset({"a"}), bind_receiver=True, selected=any_column)]
    with_item = SQL.functions["session"].body[0].items[0].context  # type: ignore[attr-defined]
    assert recognizer.enter(with_item, context(SQL, "session")) == [Effect("begin")]
    assert recognizer.transactional(SQL.functions["moved"])
    assert not recognizer.transactional(SQL.functions["session"])


def test_an_autocommit_driver_makes_every_write_its_own_unit() -> None:
    module = lower(
        """
        import asyncpg

        async def debit(conn, uid):
            await conn.execute("UPDATE accounts SET balance = balance - 1 WHERE id = $1", uid)
        """
    )
    found = effects(SqlRecognizer(module), module, "debit", "execute")
    assert found is not None and found[1] == Effect("store_write", "sql", autocommit=True)


# -- ORM --------------------------------------------------------------------------------------------
DJANGO = lower(
    """
    from django.db import models, transaction
    from django.db.models import F
    from django.utils.decorators import method_decorator

    class Account(models.Model):
        email = models.EmailField(unique=True)
        owner = models.CharField(max_length=40)
        balance = models.IntegerField()

    def read(pk):
        return Account.objects.get(pk=pk)

    def locked_outside(pk):
        return Account.objects.select_for_update().get(pk=pk)

    def guarded(pk, n):
        Account.objects.filter(pk=pk, balance__gte=n).update(balance=F("balance") - n)

    def by_owner(owner):
        Account.objects.get_or_create(owner=owner)

    def by_email(email):
        Account.objects.get_or_create(email=email)

    def save(account):
        account.save()

    @transaction.atomic
    def atomic_view():
        pass

    @method_decorator(transaction.atomic, name="dispatch")
    class View:
        def post(self):
            pass
    """
)


def test_a_django_get_reads_the_fields_it_filters_on() -> None:
    assert effects(OrmRecognizer(DJANGO), DJANGO, "read", "get") == [
        Effect("read", "orm:Account", detail=frozenset({"pk"}))
    ]


def test_select_for_update_evaluated_outside_atomic_is_rc302_and_a_row_lock() -> None:
    found = effects(OrmRecognizer(DJANGO), DJANGO, "locked_outside", "get")
    assert found is not None
    assert [(e.kind, e.rule, e.region) for e in found] == [
        ("direct", "RC302", "transaction"),
        ("lock", "", "transaction:orm:Account"),
        ("read", "", "transaction"),
    ]
    inside = effects(
        OrmRecognizer(DJANGO), DJANGO, "locked_outside", "get", state=FakeState(in_transaction=1)
    )
    assert inside is not None and [e.kind for e in inside] == ["lock", "read"]


def test_a_filtered_update_guards_and_f_is_computed_by_the_database() -> None:
    recognizer = OrmRecognizer(DJANGO)
    # The columns it sets: an earlier `exists()` on the rows decides nothing about them.
    assert effects(recognizer, DJANGO, "guarded", "update") == [
        Effect("write", "orm:Account", "RC301", ALL, columns=frozenset({"balance"}))
    ]
    assert effects(recognizer, DJANGO, "guarded", "F") == [Effect("atomic")]


def test_get_or_create_on_a_field_that_is_not_unique_is_rc303() -> None:
    recognizer = OrmRecognizer(DJANGO)
    racy = effects(recognizer, DJANGO, "by_owner", "get_or_create")
    assert racy is not None and [e.rule for e in racy] == ["RC303", ""]
    unique = effects(recognizer, DJANGO, "by_email", "get_or_create")
    assert unique is not None and [e.kind for e in unique] == ["read"]


def test_save_writes_the_change_computed_from_the_row() -> None:
    change = FakeAccess("orm:Account", (FakeStep(None, "read"), FakeStep(None, "change")))
    ctx = context(
        DJANGO, "save", state=FakeState(dirty={"orm:Account": change}), receiver=[FakeAccess("orm:Account")]
    )
    found = OrmRecognizer(DJANGO).effects(call_of(DJANGO, "save", "save"), ctx)
    assert found == [Effect("write", "orm:Account", "RC301")]
    assert ctx.args == [change] and ctx.state.dirty == {}


def test_atomic_decorators_make_a_function_transactional() -> None:
    recognizer = OrmRecognizer(DJANGO)
    assert recognizer.transactional(DJANGO.functions["atomic_view"])
    assert recognizer.transactional(DJANGO.classes["View"].methods["post"])
    assert not recognizer.transactional(DJANGO.functions["read"])


SQLALCHEMY = lower(
    """
    from sqlalchemy import Column, Integer, String, update
    from sqlalchemy.orm import declarative_base

    Base = declarative_base()

    class User(Base):
        __tablename__ = "users"
        id = Column(Integer, primary_key=True)
        email = Column(String, unique=True)
        credits = Column(Integer)

    def load(session, uid):
        return session.get(User, uid, with_for_update=True)

    def spend(session, uid):
        session.execute(update(User).where(User.credits >= 1).values(credits=User.credits - 1))

    def register(session, email):
        session.add(User(email=email))

    def flask_lookup(name):
        return User.query.filter_by(name=name).first()
    """
)


def test_sqlalchemy_get_with_for_update_locks_the_rows_of_its_model() -> None:
    assert effects(OrmRecognizer(SQLALCHEMY), SQLALCHEMY, "load", "get") == [
        Effect("lock", region="transaction:orm:User"),
        Effect("read", "orm:User", detail=frozenset({"pk"})),
    ]


def test_sqlalchemy_update_guarded_by_its_where_and_add_by_unique_columns() -> None:
    recognizer = OrmRecognizer(SQLALCHEMY)
    found = effects(recognizer, SQLALCHEMY, "spend", "values")
    assert found == [Effect("write", "orm:User", "RC304", ALL), Effect("store_write", "sql")]
    added = effects(recognizer, SQLALCHEMY, "register", "add")
    # Unique email, no `except IntegrityError` around the add: reported, at low severity (issue 11).
    unique = frozenset({"pk", "id", "email"})
    assert added == [Effect("write", "orm:User", "RC303", unique, needs_check=True, refused=True)]


def test_flask_sqlalchemy_model_query_reads_its_model() -> None:
    assert effects(OrmRecognizer(SQLALCHEMY), SQLALCHEMY, "flask_lookup", "first") == [
        Effect("read", "orm:User", detail=frozenset({"name"}))
    ]
    assert OrmRecognizer(SQLALCHEMY).owns_chain(call_of(SQLALCHEMY, "flask_lookup", "first"))


def test_session_add_of_a_local_built_from_an_imported_model_is_an_insert() -> None:
    module = lower(
        """
        from .models import Member

        def join(session, email):
            member = Member(email=email)
            session.add(member)
        """
    )
    # The model is another module's: only its primary key is known to be unique.
    assert effects(OrmRecognizer(module), module, "join", "add") == [
        Effect("write", "orm:Member", "RC303", frozenset({"pk"}), needs_check=True, refused=True)
    ]


def test_project_facts_add_unique_fields_declared_in_other_modules() -> None:
    class Facts:
        def unique_fields(self, name: str) -> set[str] | None:
            return {"name"} if name == "User" else None

    added = effects(OrmRecognizer(SQLALCHEMY), SQLALCHEMY, "register", "add", project=Facts())
    assert added is not None and added[0].guard == {"pk", "id", "email", "name"}


# -- DynamoDB ---------------------------------------------------------------------------------------
DYNAMO = lower(
    """
    import boto3

    table = boto3.resource("dynamodb").Table("items")

    def get(pk):
        return table.get_item(Key={"pk": pk})

    def take(pk, n):
        table.update_item(
            Key={"pk": pk}, UpdateExpression="SET stock = stock - :n", ExpressionAttributeValues={":n": n}
        )

    def create(pk):
        table.put_item(Item={"pk": pk}, ConditionExpression="attribute_not_exists(pk)")

    def many(client, requests):
        client.batch_write_item(RequestItems=requests)
    """
)


def test_dynamodb_reads_name_the_table_the_resource_was_built_for() -> None:
    assert effects(DynamoRecognizer(DYNAMO), DYNAMO, "get", "get_item") == [Effect("read", "dynamodb:items")]


def test_an_unguarded_decrement_is_rc402_and_a_create_if_absent_is_guarded() -> None:
    recognizer = DynamoRecognizer(DYNAMO)
    found = effects(recognizer, DYNAMO, "take", "update_item")
    assert found is not None and [(e.kind, e.rule) for e in found] == [
        ("write", "RC401"),
        ("store_write", ""),
        ("direct", "RC402"),
    ]
    created = effects(recognizer, DYNAMO, "create", "put_item")
    assert created is not None and created[0].guard == ALL
    batch = effects(recognizer, DYNAMO, "many", "batch_write_item")
    assert batch is not None and batch[0].rule == "RC403"


def test_condition_guard_reads_compared_attributes_and_versions() -> None:
    assert condition_guard("stock >= :n AND attribute_exists(pk)", {}) == {"stock"}
    assert condition_guard("#v = :seen", {"#v": "version"}) == ALL


# -- Redis ------------------------------------------------------------------------------------------
REDIS = lower(
    """
    import redis

    r = redis.Redis()

    def limit(user):
        if int(r.get(f"rate:{user}") or 0) > 10:
            return False
        r.set(f"rate:{user}", 1)
        r.set(f"lock:{user}", 1, nx=True)

    def count(user):
        hits = r.incr(f"hits:{user}")
        if hits == 1:
            r.expire(f"hits:{user}", 60)

    def counted(user):
        r.pipeline().incr(f"hits:{user}").expire(f"hits:{user}", 60).execute()

    def not_redis(settings):
        return settings.get("x")
    """
)


def test_redis_get_and_set_name_the_key_by_its_text() -> None:
    recognizer = RedisRecognizer(REDIS)
    assert effects(recognizer, REDIS, "limit", "get") == [Effect("read", 'redis:f"rate:{user}"')]
    set_call = [c for c in _calls(REDIS, "limit") if c.method == "set"]
    ctx = context(REDIS, "limit", used=False)
    assert recognizer.effects(set_call[0], ctx) == [Effect("write", 'redis:f"rate:{user}"', "RC501")]
    assert recognizer.effects(set_call[1], ctx) == [Effect("write", 'redis:f"lock:{user}"', "RC501", ALL)]
    # `if r.set(k, 1, nx=True):`: its answer looked at, the SET NX is also a mutex on the key.
    claimed = recognizer.effects(set_call[1], context(REDIS, "limit", used=True))
    assert claimed is not None and [(e.kind, e.region) for e in claimed] == [
        ("lock", 'named:redis:f"lock:{user}"'),
        ("write", "transaction"),
    ]


def test_incr_then_expire_outside_a_pipeline_is_rc503() -> None:
    recognizer = RedisRecognizer(REDIS)
    ctx = context(REDIS, "count")
    incr, expire = [c for c in _calls(REDIS, "count") if c.method in ("incr", "expire")]
    assert recognizer.effects(incr, ctx) == [
        Effect("write", 'redis:f"hits:{user}"', "RC502", needs_check=True)
    ]
    found = recognizer.effects(expire, ctx)
    assert found is not None and [(e.kind, e.rule) for e in found] == [("direct", "RC503")]
    piped = context(REDIS, "counted")
    for call in reversed(_calls(REDIS, "counted")):
        result = recognizer.effects(call, piped)
        assert result is None or all(e.kind != "direct" for e in result)


def test_a_receiver_that_is_not_redis_is_not_its_business() -> None:
    assert effects(RedisRecognizer(REDIS), REDIS, "not_redis", "get") is None


# -- files ------------------------------------------------------------------------------------------
FILES = lower(
    """
    import os
    from pathlib import Path

    def save(path, data):
        if os.path.exists(path):
            return
        with open(path, "w") as out:
            out.write(data)

    def create(path):
        open(path, "x")

    def folder(path):
        os.makedirs(path, exist_ok=True)

    def check(p):
        return Path(p).exists()
    """
)


def test_files_check_then_create_by_path_text() -> None:
    recognizer = FileRecognizer(FILES)
    assert effects(recognizer, FILES, "save", "exists") == [Effect("read", "fs:path")]
    assert effects(recognizer, FILES, "save", "open") == [
        Effect("write", "fs:path", "RC701", needs_check=True)
    ]
    assert effects(recognizer, FILES, "create", "open") is None
    assert effects(recognizer, FILES, "folder", "makedirs") == [
        Effect("write", "fs:path", "RC701", ALL, needs_check=True)
    ]
    assert effects(recognizer, FILES, "check", "exists") == [Effect("read", "fs:p")]


def _calls(module: model.ModuleModel, function: str) -> list[model.Call]:
    return sorted(calls(module, function), key=lambda c: (c.span.line, c.span.column))
