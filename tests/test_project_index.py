"""The whole-project index: facts resolved across files, every uniqueness declaration style,
transaction wrappers through several levels, the call graph, and the on-disk cache."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest

from race_mcp.analyzer.project import FactsCache, ProjectIndex, cache_directory, find_project_root
from race_mcp.analyzer.project._discover import module_names
from race_mcp.roots import AllowedRoots
from tests._project_files import write_project

PROJECTS = Path(__file__).parent / "fixtures" / "projects"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("RACE_MCP_CACHE_DIR", str(directory))
    return directory


def _index(path: Path, **kwargs: object) -> ProjectIndex:
    kwargs.setdefault("memo", False)  # these tests look at the on-disk cache
    return ProjectIndex.for_path(path, **kwargs)  # type: ignore[arg-type]


def _def_line(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if text in line)


def _keys(index: ProjectIndex, qualname: str) -> list[list[str]]:
    keys = index.unique_keys(qualname)
    assert keys is not None, f"{qualname} is not a known model"
    return sorted(sorted(key) for key in keys)


# -- discovery and names ------------------------------------------------------------------------


def test_project_root_is_the_nearest_marker_below_the_boundary(tmp_path: Path) -> None:
    write_project(tmp_path, {"outer/.git/HEAD": "", "outer/app/setup.cfg": "", "outer/app/pkg/mod.py": ""})
    everywhere = AllowedRoots([tmp_path])
    assert (
        find_project_root(tmp_path / "outer/app/pkg/mod.py", everywhere) == (tmp_path / "outer/app").resolve()
    )
    assert find_project_root(tmp_path / "outer", everywhere) == (tmp_path / "outer").resolve()
    # Without roots the boundary is the path named, as for the directory walk.
    assert find_project_root(tmp_path / "outer/app/pkg") == (tmp_path / "outer/app/pkg").resolve()
    # The boundary (the allowed roots) is never crossed, even to reach a marker.
    boundary = AllowedRoots([tmp_path / "outer/app/pkg"])
    assert (
        find_project_root(tmp_path / "outer/app/pkg/mod.py", boundary)
        == (tmp_path / "outer/app/pkg").resolve()
    )


def test_project_roots_remembered_per_folder_are_the_roots_found_one_by_one(tmp_path: Path) -> None:
    files = {
        "outer/.git/HEAD": "",
        "outer/app/setup.cfg": "",
        "outer/app/pkg/a.py": "",
        "outer/app/pkg/b.py": "",
        "outer/lib/c.py": "",
        "outer/lib/d.py": "",
        "loose/e.py": "",
    }
    write_project(tmp_path, files)
    named = [tmp_path / name for name in files if name.endswith(".py")] + [tmp_path / "outer/app"]
    everywhere = AllowedRoots([tmp_path])
    memo: dict[Path, Path] = {}
    remembered = [find_project_root(path, everywhere, memo=memo) for path in named]
    assert remembered == [find_project_root(path, everywhere) for path in named]
    assert remembered[0] == (tmp_path / "outer/app").resolve()
    assert remembered[2] == (tmp_path / "outer").resolve()
    assert len(memo) == 4  # pkg, lib, loose and app: one look per folder


def test_module_names_follow_packages_and_src_layout(tmp_path: Path) -> None:
    root = write_project(
        tmp_path,
        {
            "src/app/__init__.py": "",
            "src/app/core/__init__.py": "",
            "src/app/core/db.py": "",
            "scripts/tool.py": "",
            "deploy/svc/__init__.py": "",
            "deploy/svc/handlers.py": "",
        },
    )
    files = sorted(root.rglob("*.py"))
    names = {str(path.relative_to(root)): value for path, value in module_names(root, files).items()}
    assert names["src/app/core/db.py"] == ("app.core.db",)
    assert names["src/app/__init__.py"] == ("app",)
    assert names["scripts/tool.py"] == ("tool", "scripts.tool")  # a script dir, or a namespace package
    assert names["deploy/svc/handlers.py"] == ("svc.handlers", "deploy.svc.handlers")


def test_relative_imports_and_reexports_resolve_to_the_definition() -> None:
    shop = _index(PROJECTS / "django_shop")
    # views.py: `from shop.orders.models import Order`; models/__init__.py re-exports from .order
    assert shop.resolve("shop.orders.views", "Order") == "shop.orders.models.order.Order"
    assert shop.resolve("shop.orders.views", "Order.mark_paid") == "shop.orders.models.order.Order.mark_paid"
    # services.py: `from ..core.db import atomic_block` (two dots) and `from . import locking`
    assert shop.resolve("shop.orders.services", "atomic_block") == "shop.core.db.atomic_block"
    assert shop.resolve("shop.orders.services", "locking.lock_order") == "shop.orders.locking.lock_order"
    blog = _index(PROJECTS / "flask_blog")
    # routes.py: `from .. import Author` -> blog/__init__.py re-exports `from .models import Author`
    assert blog.resolve("blog.api.routes", "Author") == "blog.models.Author"
    assert blog.function_location("blog.api.routes.create_author") == (
        str((PROJECTS / "flask_blog/src/blog/api/routes.py").resolve()),
        _def_line(PROJECTS / "flask_blog/src/blog/api/routes.py", "def create_author("),
    )


def test_class_bases_are_transitive_across_files_and_methods_found_through_them() -> None:
    shop = _index(PROJECTS / "django_shop")
    assert shop.class_bases("shop.orders.models.Order") == [
        "shop.core.models.CodedMixin",
        "shop.core.models.Timestamped",
        "django.db.models.Model",
    ]
    assert (
        shop.lookup_method("shop.orders.models.Order", "mark_paid")
        == "shop.orders.models.order.Order.mark_paid"
    )
    assert shop.lookup_method("shop.orders.models.Order", "missing") is None


def test_star_imports_and_cycles_end(tmp_path: Path) -> None:
    root = write_project(
        tmp_path,
        {
            "pyproject.toml": "",
            "pkg/__init__.py": "from .a import *\n",
            "pkg/a.py": "from .b import X\ndef helper():\n    pass\n",
            "pkg/b.py": "from .a import X\n",  # a re-export cycle: a.X <-> b.X
            "pkg/use.py": "from pkg import helper, X\n",
        },
    )
    index = _index(root)
    assert index.resolve("pkg.use", "helper") == "pkg.a.helper"
    assert index.resolve("pkg.use", "X").endswith(".X")  # followed until the hop limit, no recursion error


def test_modules_that_star_import_each_other_resolve_in_linear_time(tmp_path: Path) -> None:
    # Each of eight modules star-imports every other: following an unknown name used to branch at
    # every hop (8 ** 24 paths; a real project's analysis never finished). Each name is followed once.
    names = [f"m{i}" for i in range(8)]
    files = {"pyproject.toml": "", "pkg/__init__.py": "from .m0 import *\n"}
    for name in names:
        files[f"pkg/{name}.py"] = "".join(f"from .{other} import *\n" for other in names if other != name)
    files["pkg/use.py"] = "from pkg import missing\n"
    index = _index(write_project(tmp_path, files))
    started = time.perf_counter()
    assert index.resolve("pkg.use", "missing").endswith("missing")
    assert time.perf_counter() - started < 2


# -- uniqueness ----------------------------------------------------------------------------------


def test_django_uniqueness_from_fields_meta_abstract_bases_and_migrations() -> None:
    shop = _index(PROJECTS / "django_shop")
    # unique=True here and on the abstract base in another module; implicit id / pk
    assert _keys(shop, "shop.accounts.models.Customer") == [["email"], ["external_ref"], ["id"], ["pk"]]
    assert _keys(shop, "shop.accounts.models.Profile") == [["id"], ["pk"], ["user"]]  # OneToOneField
    # a mixin (abstract, other package), unique_together and the inherited abstract field
    assert _keys(shop, "shop.orders.models.Order") == [
        ["code"],
        ["customer", "number"],
        ["external_ref"],
        ["id"],
        ["pk"],
    ]
    assert _keys(shop, "shop.orders.models.Voucher") == [
        ["campaign", "label"],
        ["id"],
        ["pk"],
    ]  # UniqueConstraint
    # declared only by migrations/0002 (AddConstraint)
    assert _keys(shop, "shop.orders.models.Ticket") == [["id"], ["pk"], ["seat", "show"]]
    assert _keys(shop, "shop.accounts.models.Newsletter") == [["id"], ["pk"]]
    assert shop.unique_keys("shop.orders.views.PayView") is None  # not a model
    assert shop.unique_keys("django.contrib.auth.models.User") is None  # outside the project: unknown


def test_django_lookups_are_normalised() -> None:
    shop = _index(PROJECTS / "django_shop")
    order = "shop.orders.models.Order"
    assert shop.is_unique(order, ["pk"]) is True
    assert shop.is_unique(order, ["customer_id", "number"]) is True  # FK column spelling
    assert shop.is_unique(order, ["number"]) is False
    assert shop.is_unique(order, ["code__exact"]) is True
    assert shop.is_unique(order, ["customer__email"]) is False  # a lookup across a relation
    assert shop.is_unique("shop.Nothing", ["id"]) is None
    assert {"campaign", "label", "pk", "id"} <= shop.unique_fields("shop.orders.models.Voucher")  # type: ignore[operator]


def test_django_meta_of_its_own_drops_abstract_parents_meta(tmp_path: Path) -> None:
    root = write_project(
        tmp_path,
        {
            "pyproject.toml": "",
            "app/__init__.py": "",
            "app/base.py": """
                from django.db import models
                class Base(models.Model):
                    a = models.IntegerField()
                    b = models.IntegerField()
                    class Meta:
                        abstract = True
                        unique_together = ("a", "b")
            """,
            "app/models.py": """
                from django.db import models
                from .base import Base
                class Inherits(Base):
                    class Meta(Base.Meta):
                        db_table = "inherits"
                class Own(Base):
                    class Meta:
                        ordering = ["a"]
                class NoMeta(Base):
                    pass
            """,
            "app/migrations/__init__.py": "",
            "app/migrations/0001_initial.py": """
                from django.db import migrations, models
                class Migration(migrations.Migration):
                    operations = [
                        migrations.CreateModel(
                            name="Own",
                            fields=[
                                ("id", models.AutoField(primary_key=True)),
                                ("c", models.SlugField(unique=True)),
                            ],
                            options={"unique_together": {("a", "c")}},
                        ),
                        migrations.AlterUniqueTogether(name="NoMeta", unique_together={("b",)}),
                        migrations.AddField(
                            model_name="nometa", name="d", field=models.CharField(unique=True)
                        ),
                        migrations.RunSQL("CREATE UNIQUE INDEX own_lower_c ON app_own (lower(c))"),
                    ]
            """,
        },
    )
    index = _index(root)
    assert ["a", "b"] in _keys(index, "app.models.Inherits")
    assert ["a", "b"] in _keys(index, "app.models.NoMeta")
    assert ["a", "b"] not in _keys(index, "app.models.Own")
    assert _keys(index, "app.models.Own") == [["a", "c"], ["c"], ["id"], ["pk"]]  # from the migration
    assert ["b"] in _keys(index, "app.models.NoMeta") and ["d"] in _keys(index, "app.models.NoMeta")
    assert index.table_unique_keys("app_own") >= {frozenset({"c"})}  # RunSQL and the model both say so


def test_sqlalchemy_uniqueness_from_columns_mixins_table_args_and_alembic() -> None:
    blog = _index(PROJECTS / "flask_blog")
    assert _keys(blog, "blog.models.Author") == [["email"], ["id"]]
    # SluggedMixin (plain class, other module), UniqueConstraint and Index(unique=True) in __table_args__
    assert _keys(blog, "blog.models.Post") == [
        ["author_id", "position"],
        ["author_id", "title"],
        ["id"],
        ["slug"],
    ]
    # create_unique_constraint in migrations/versions/0003_tag_label.py
    assert _keys(blog, "blog.models.Tag") == [["id"], ["label"]]
    inventory = _index(PROJECTS / "fastapi_inventory")
    assert _keys(inventory, "inventory.models.Sku") == [["barcode"], ["code", "warehouse"], ["id"]]


def test_sql_files_core_tables_alembic_and_mongodb(tmp_path: Path) -> None:
    root = write_project(
        tmp_path,
        {
            ".git/HEAD": "",
            "schema/001.sql": """
                CREATE TABLE IF NOT EXISTS "public"."users" (
                    id bigserial PRIMARY KEY,
                    email text NOT NULL UNIQUE,
                    org int, handle text,
                    CONSTRAINT users_org_handle UNIQUE (org, handle)
                );
                -- CREATE UNIQUE INDEX commented_out ON users (nothing);
                ALTER TABLE ONLY users ADD CONSTRAINT users_phone_key UNIQUE (phone);
                CREATE UNIQUE INDEX CONCURRENTLY partial ON users (nick) WHERE deleted_at IS NULL;
            """,
            "app/__init__.py": "",
            "app/tables.py": """
                import sqlalchemy as sa
                meta = sa.MetaData()
                keys = sa.Table(
                    "api_keys", meta,
                    sa.Column("user_id", sa.Integer, primary_key=True),
                    sa.Column("label", sa.String, primary_key=True),
                    sa.Column("token", sa.String, unique=True),
                )
            """,
            "app/alembic_rev.py": """
                import sqlalchemy as sa
                from alembic import op
                def upgrade():
                    op.create_index("ix_carts_user", "carts", ["user_id"], unique=True)
                    op.create_index("ix_carts_any", "carts", ["created"])
                    op.create_table(
                        "wallets",
                        sa.Column("id", sa.Integer, primary_key=True),
                        sa.Column("owner", sa.String, unique=True),
                        sa.UniqueConstraint("bank", "number"),
                    )
                    op.add_column("wallets", sa.Column("iban", sa.String, unique=True))
            """,
            "app/sqlmodels.py": """
                from sqlmodel import Field, SQLModel
                class Hero(SQLModel, table=True):
                    id: int | None = Field(default=None, primary_key=True)
                    secret_name: str = Field(unique=True)
                    age: int | None = None
            """,
            "app/mongo.py": """
                from pymongo import ASCENDING, IndexModel
                def setup(db):
                    db.accounts.create_index("email", unique=True)
                    db["sessions"].create_index([("user", ASCENDING), ("device", ASCENDING)], unique=True)
                    db.carts.create_indexes([IndexModel([("owner", 1)], unique=True)])
                    db.logs.create_index("when")
            """,
        },
    )
    index = _index(root)
    assert index.table_unique_keys("users") == {
        frozenset({"id"}),
        frozenset({"email"}),
        frozenset({"org", "handle"}),
        frozenset({"phone"}),
    }
    assert index.table_unique_keys("api_keys") == {frozenset({"user_id", "label"}), frozenset({"token"})}
    assert index.table_unique_keys("carts") == {frozenset({"user_id"})}
    assert index.table_unique_keys("wallets") == {
        frozenset({"id"}),
        frozenset({"owner"}),
        frozenset({"bank", "number"}),
        frozenset({"iban"}),
    }
    assert _keys(index, "app.sqlmodels.Hero") == [["id"], ["secret_name"]]
    assert index.collection_unique_keys("accounts") == {frozenset({"_id"}), frozenset({"email"})}
    assert index.collection_unique_keys("sessions") >= {frozenset({"user", "device"})}
    assert index.collection_unique_keys("carts") >= {frozenset({"owner"})}
    assert index.collection_unique_keys("logs") == {frozenset({"_id"})}


def test_raw_sql_project_reads_the_migration_file() -> None:
    ledger = _index(PROJECTS / "raw_sql_ledger")
    assert ledger.table_unique_keys("accounts") == {frozenset({"id"}), frozenset({"owner"})}  # lower(owner)
    assert ledger.table_unique_keys("invites") == {frozenset({"id"})}  # the partial index does not count


# -- transactions, locks and callers --------------------------------------------------------------


def test_transaction_wrappers_through_two_levels_and_decorators() -> None:
    shop = _index(PROJECTS / "django_shop")
    assert shop.is_transaction_wrapper("shop.core.db.atomic_block")  # @contextmanager around atomic()
    assert shop.is_transaction_wrapper("shop.core.db.audited_block")  # ... around atomic_block()
    assert shop.is_transaction_wrapper("shop.core.db.in_transaction")  # decorator around audited_block
    assert not shop.is_transaction_wrapper("shop.core.db.timed")
    assert shop.is_transaction_context("audited_block()", "shop.orders.services")
    assert not shop.is_transaction_context("timed()", "shop.orders.services")
    assert shop.runs_in_transaction("shop.orders.services.refund")  # @in_transaction
    inventory = _index(PROJECTS / "fastapi_inventory")
    assert inventory.is_transaction_wrapper("inventory.db.unit_of_work")  # async with session.begin()
    assert not inventory.is_transaction_wrapper("inventory.db.get_session")


def test_wrapper_shapes_and_locks(tmp_path: Path) -> None:
    root = write_project(
        tmp_path,
        {
            "setup.py": "",
            "svc/__init__.py": "",
            "svc/tx.py": """
                import threading
                from contextlib import contextmanager
                from django.db import transaction
                _guard = threading.Lock()

                def atomic_on(db):
                    return transaction.atomic(using=db)

                def retrying(using=None):
                    def decorate(func):
                        def run(*args, **kwargs):
                            with atomic_on(using):
                                return func(*args, **kwargs)
                        return run
                    return decorate

                @contextmanager
                def guarded():
                    _guard.acquire()
                    try:
                        yield
                    finally:
                        _guard.release()

                @contextmanager
                def cache_locked(cache, key):
                    with cache.lock(f"lock:{key}"):
                        yield

                @contextmanager
                def loops_forever():
                    with loops_forever():
                        yield
            """,
            "svc/jobs.py": """
                from .tx import _guard, guarded, retrying

                @retrying(using="default")
                def settle(batch):
                    step(batch)

                def step(batch):
                    pass

                def locked_step():
                    with _guard:
                        step(1)
            """,
        },
    )
    index = _index(root)
    assert index.is_transaction_wrapper("svc.tx.atomic_on")  # returns atomic(...)
    assert index.is_transaction_wrapper("svc.tx.retrying")  # decorator factory, through atomic_on
    assert index.runs_in_transaction("svc.jobs.settle")
    assert index.is_lock_wrapper("svc.tx.guarded") and index.is_lock_wrapper("svc.tx.cache_locked")
    assert not index.is_transaction_wrapper("svc.tx.loops_forever")  # recursion ends
    assert index.is_lock_context("_guard", "svc.jobs")
    sites = {site.caller: site for site in index.callers("svc.jobs.step")}
    assert sites["svc.jobs.settle"].transaction and not sites["svc.jobs.settle"].lock
    assert sites["svc.jobs.locked_step"].lock and not sites["svc.jobs.locked_step"].transaction


def test_class_based_context_managers_are_wrappers(tmp_path: Path) -> None:
    root = write_project(
        tmp_path,
        {
            "setup.py": "",
            "svc/__init__.py": "",
            "svc/blocks.py": """
                import asyncio
                import threading
                from django.db import transaction
                _guard = threading.Lock()

                class AuditedBlock:
                    def __enter__(self):
                        self._atomic = transaction.atomic()
                        self._atomic.__enter__()
                        return self

                    def __exit__(self, *exc):
                        return self._atomic.__exit__(*exc)

                class NamedAudit(AuditedBlock):
                    pass

                class UnitOfWork:
                    def __init__(self, session):
                        self.session = session

                    async def __aenter__(self):
                        self.tx = await self.session.begin()
                        return self.session

                    async def __aexit__(self, *exc):
                        await self.tx.commit()

                class Guarded:
                    def __enter__(self):
                        _guard.acquire()

                    def __exit__(self, *exc):
                        _guard.release()

                class AsyncGuarded:
                    def __init__(self):
                        self._lock = asyncio.Lock()

                    async def __aenter__(self):
                        await self._lock.acquire()

                    async def __aexit__(self, *exc):
                        self._lock.release()

                class Timed:
                    def __enter__(self):
                        self.started = self.clock()
                        return self

                    def clock(self):
                        return 0

                    def __exit__(self, *exc):
                        pass
            """,
            "svc/jobs.py": """
                from .blocks import AuditedBlock, Guarded, NamedAudit, Timed

                def step(batch):
                    pass

                def audited():
                    with AuditedBlock():
                        step(1)

                def guarded():
                    with Guarded():
                        step(2)

                def timed():
                    with Timed():
                        step(3)
            """,
        },
    )
    index = _index(root)
    assert index.is_transaction_wrapper("svc.blocks.AuditedBlock")  # __enter__ enters atomic()
    assert index.is_transaction_wrapper("svc.blocks.NamedAudit")  # inherited __enter__
    assert index.is_transaction_wrapper("svc.blocks.UnitOfWork")  # __aenter__: self.session.begin()
    assert index.is_lock_wrapper("svc.blocks.Guarded") and index.is_lock_wrapper("svc.blocks.AsyncGuarded")
    assert not index.is_lock_wrapper("svc.blocks.AuditedBlock")
    assert not index.is_transaction_wrapper("svc.blocks.Guarded")
    assert not index.is_transaction_wrapper("svc.blocks.Timed")  # its own method is not followed
    assert not index.is_lock_wrapper("svc.blocks.Timed")
    assert index.is_transaction_context("NamedAudit()", "svc.jobs")
    assert not index.is_transaction_context("NamedAudit", "svc.jobs")  # the class itself, not entered
    sites = {site.caller: site for site in index.callers("svc.jobs.step")}
    assert sites["svc.jobs.audited"].transaction and not sites["svc.jobs.audited"].lock
    assert sites["svc.jobs.guarded"].lock and not sites["svc.jobs.guarded"].transaction
    assert not sites["svc.jobs.timed"].lock and not sites["svc.jobs.timed"].transaction


def test_helper_whose_every_caller_holds_the_transaction() -> None:
    shop = _index(PROJECTS / "django_shop")
    callers = {site.caller for site in shop.callers("shop.orders.locking.lock_order")}
    assert callers == {
        "shop.orders.services.pay",
        "shop.orders.services.refund",
        "shop.orders.services.cancel",
    }
    assert all(site.transaction for site in shop.callers("shop.orders.locking.lock_order"))
    assert shop.all_callers_hold_transaction("shop.orders.locking.lock_order")
    assert not shop.all_callers_hold_transaction("shop.orders.locking.lock_order_anywhere")  # no callers
    assert not shop.all_callers_hold_transaction(
        "shop.orders.services.pay"
    )  # called by a view, no transaction


def test_a_function_used_as_a_value_may_have_unseen_callers(tmp_path: Path) -> None:
    root = write_project(
        tmp_path,
        {
            "pyproject.toml": "",
            "m.py": """
                from django.db import transaction
                def helper():
                    pass
                def caller():
                    with transaction.atomic():
                        helper()
                def nested_caller():
                    caller()
                CALLBACKS = [caller]
            """,
        },
    )
    index = _index(root)
    assert index.all_callers_hold_transaction("m.helper")
    assert index.referenced("m.caller") and not index.all_callers_hold_transaction("m.caller")


def test_broken_and_odd_files_do_not_stop_the_index(tmp_path: Path) -> None:
    root = write_project(
        tmp_path,
        {
            "pyproject.toml": "",
            "good.py": "def f():\n    pass\n",
            "bad.py": "def (:\n",
            "deep.py": "x = " + "(" * 150 + "1" + ")" * 150 + "\n",
            "weird.sql": "CREATE UNIQUE INDEX ON (;;; ' unterminated",
        },
    )
    (root / "binary.py").write_bytes(b"\x00\xff\xfe garbage")
    index = _index(root)
    assert "good.f" in index.functions
    assert index.stats.files == 5


# -- the cache ---------------------------------------------------------------------------------


def test_cache_reuse_and_invalidation_by_content(tmp_path: Path, _private_cache: Path) -> None:
    root = write_project(
        tmp_path / "proj",
        {"pyproject.toml": "", **{f"pkg/m{i}.py": f"def f{i}():\n    pass\n" for i in range(5)}},
    )
    first = _index(root)
    assert (first.stats.extracted, first.stats.cached) == (5, 0)
    second = _index(root)
    assert (second.stats.extracted, second.stats.cached) == (0, 5)
    (root / "pkg/m3.py").write_text("def g():\n    pass\n", encoding="utf-8")
    os.utime(root / "pkg/m1.py")  # a new timestamp alone changes nothing
    third = _index(root)
    assert third.stats.extracted_paths == [str((root / "pkg/m3.py").resolve())]
    assert "m3.g" in third.functions and "m3.f3" not in third.functions
    assert not any(path.is_relative_to(root) for path in root.rglob("*") if path.suffix == ".sqlite3")
    assert list(_private_cache.glob("*.sqlite3"))


def test_corrupt_entries_and_a_corrupt_database_are_rebuilt(tmp_path: Path, _private_cache: Path) -> None:
    root = write_project(
        tmp_path / "proj", {"pyproject.toml": "", "a.py": "def f():\n    pass\n", "b.py": "X = 1\n"}
    )
    _index(root)
    database = next(_private_cache.glob("*.sqlite3"))
    with sqlite3.connect(database) as db:
        db.execute(
            "UPDATE facts SET data = ? WHERE rowid = (SELECT MIN(rowid) FROM facts)", (b"\x78garbage",)
        )
    again = _index(root)
    assert (again.stats.extracted, again.stats.cached) == (1, 1)
    assert "a.f" in again.functions
    for suffix in ("-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    database.write_bytes(b"this is not a database" * 100)  # truncated or overwritten
    rebuilt = _index(root)
    assert rebuilt.stats.extracted == 2 and "a.f" in rebuilt.functions
    assert _index(root).stats.cached == 2  # and the replaced file works again


def test_unusable_cache_directory_means_no_cache_not_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_project(tmp_path / "proj", {"pyproject.toml": "", "a.py": "def f():\n    pass\n"})
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("RACE_MCP_CACHE_DIR", str(blocker / "sub"))  # a file where a directory should be
    assert "a.f" in _index(root).functions
    monkeypatch.setenv("RACE_MCP_CACHE_DIR", "off")
    assert cache_directory() is None
    assert _index(root).stats.extracted == 1


def test_default_cache_location_is_per_user_and_never_inside_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RACE_MCP_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_directory() == tmp_path / "xdg" / "race-mcp"
    assert cache_directory(tmp_path / "elsewhere") == tmp_path / "xdg" / "race-mcp"
    assert cache_directory(tmp_path) is None  # the default would land in the analysed tree
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # not absolute: ignored, as the spec says
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_directory() == tmp_path / "home" / ".cache" / "race-mcp"
    monkeypatch.setenv("RACE_MCP_CACHE_DIR", str(tmp_path / "chosen"))
    assert cache_directory(tmp_path) == tmp_path / "chosen"  # configured: the user's choice stands


def test_parallel_cold_build_shares_the_cache(tmp_path: Path) -> None:
    root = write_project(
        tmp_path / "proj",
        {"pyproject.toml": "", **{f"p/m{i}.py": f"def f{i}():\n    g{i}()\n" for i in range(80)}},
    )
    cold = _index(root, jobs=2)
    assert cold.stats.extracted == 80 and len(cold.functions) == 80
    assert _index(root).stats.cached == 80
    cache = FactsCache.default(root)
    assert cache is not None and cache.usable
    cache.close()


# -- what the analysis of one file sees ---------------------------------------------------------------


def test_session_answers_recognizers_and_resolves_calls_into_other_modules() -> None:
    from race_mcp.analyzer.core import model
    from race_mcp.analyzer.project import ProjectSession
    from race_mcp.analyzer.python.lower import lower_module
    from race_mcp.analyzer.python.memory import PythonMemory

    root = PROJECTS / "django_shop"
    session = ProjectSession(_index(root))
    views = str(root / "shop/orders/views.py")
    facts = session.facts_for(views)
    assert facts.module == "shop.orders.views"
    assert {"email", "external_ref", "pk"} <= (facts.unique_fields("Customer") or set())
    assert facts.unique_fields("Unknown") is None
    assert facts.unique_fields("Newsletter") == {"id", "pk"}
    # a model method reached through a row (`order.mark_paid()`), run with `self` as an Order
    callee = facts.row_method("orm:Order", "mark_paid")
    assert callee is not None and callee[0].qualname == "Order.mark_paid" and callee[1].self_class == "Order"
    assert callee[1].module is not None and callee[1].module.path.endswith("order.py")

    services_path = str(root / "shop/orders/services.py")
    services = lower_module(Path(services_path).read_text(encoding="utf-8"), services_path)
    pay = services.functions["pay"]
    with_statement = pay.body[0]
    assert isinstance(with_statement, model.With)
    assert session.facts_for(services_path).opens_transaction(with_statement.items[0].context, services)
    call = next(
        node.value
        for node in with_statement.body
        if isinstance(node, model.Assign) and isinstance(node.value, model.Call)
    )
    frame = PythonMemory(services).frame(pay)
    resolved = session.resolver_for(services_path)(call, frame)
    assert resolved is not None and resolved[0].qualname == "lock_order"
    locking = resolved[1].module
    assert locking is not None and locking.path.endswith("locking.py")
    assert session.facts_for(services_path).holds_transaction(resolved[0], locking)
    assert not session.facts_for(services_path).holds_transaction(resolved[0], locking, callers=False)
    ledger = ProjectSession(_index(PROJECTS / "raw_sql_ledger")).facts_for("x.py")
    assert ledger.sql_unique.get("accounts") == {"id", "owner"} and ledger.sql_unique.get("nope") is None


def test_a_run_indexes_each_named_project_once_and_serves_its_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from race_mcp.analyzer.project import activate_in_worker, context_for, end_run, start_run
    from race_mcp.config import Settings

    shop, ledger = PROJECTS / "django_shop", PROJECTS / "raw_sql_ledger"
    roots = AllowedRoots([PROJECTS])
    views = shop / "shop/orders/views.py"
    try:
        specs = start_run([shop / "shop/orders", views, ledger, tmp_path / "missing"], roots, Settings())
        assert sorted(Path(spec.root).name for spec in specs) == ["django_shop", "raw_sql_ledger"]
        facts, resolver = context_for(views)
        assert facts is not None and facts.module == "shop.orders.views" and resolver is not None
        assert context_for(tmp_path / "elsewhere.py") == (None, None)
        end_run()
        assert context_for(views) == (None, None)
        activate_in_worker(specs)  # what each worker of a process pool does, from the warm cache
        facts, _ = context_for(views)
        assert facts is not None and facts.unique_fields("Customer")
    finally:
        end_run()
    # The CLI has no roots: the working directory and the named paths bound the search.
    monkeypatch.chdir(shop)
    try:
        specs = start_run([Path("shop/orders")], None, Settings())
        assert [Path(spec.root) for spec in specs] == [shop.resolve()]
    finally:
        end_run()


def test_hostile_declarations_stay_linear() -> None:
    import time

    from race_mcp.analyzer.project._extract import extract_python, extract_sql

    table = "CREATE TABLE t (" + "".join(f"c{i} int unique, " for i in range(40_000)) + ")"
    args = "".join(f'UniqueConstraint("c{i}"), ' for i in range(20_000))
    source = f"class M(Base):\n    __table_args__ = ({args})\n"
    started = time.perf_counter()
    assert len(extract_sql(table.encode(), "schema").tables["sql:t"]) == 256  # capped, not quadratic
    assert len(extract_python(source.encode(), "m", False).classes["M"].unique_together) == 256
    assert extract_sql(b"create unique index x on t (" + b"(" * 100_000, "s").tables == {}
    assert extract_python(b"x = a" + b".b" * 50_000, "m", False).broken  # too deep for the walk
    assert time.perf_counter() - started < 10


def test_the_walk_of_a_huge_project_stops_at_the_cap(tmp_path: Path) -> None:
    from race_mcp.analyzer.project import project_files

    root = write_project(tmp_path, {"pyproject.toml": "", **{f"p/m{i}.py": "" for i in range(30)}})
    assert len(project_files(root, max_files=10)) == 10
    assert len(project_files(root)) == 30


def test_a_marker_that_links_outside_the_roots_is_not_followed(tmp_path: Path) -> None:
    inside = write_project(tmp_path / "inside", {"app/m.py": ""})
    (inside / "pyproject.toml").symlink_to(tmp_path / "outside" / "missing.toml")  # dangling, outside
    boundary = AllowedRoots([inside])
    assert find_project_root(inside / "app" / "m.py", boundary) == inside.resolve()


def test_processes_building_at_once_share_one_cache(tmp_path: Path, _private_cache: Path) -> None:
    import subprocess
    import sys

    root = write_project(
        tmp_path / "proj",
        {"pyproject.toml": "", **{f"p/m{i}.py": f"def f{i}():\n    pass\n" for i in range(200)}},
    )
    child = (
        "import sys; from pathlib import Path; from race_mcp.analyzer.project import ProjectIndex; "
        "i = ProjectIndex.for_path(Path(sys.argv[1])); print(len(i.functions))"
    )
    env = {**os.environ, "RACE_MCP_CACHE_DIR": str(_private_cache)}
    runs = [
        subprocess.Popen([sys.executable, "-c", child, str(root)], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    assert [run.communicate(timeout=120)[0].strip() for run in runs] == ["200"] * 3
    assert _index(root).stats.cached == 200


def test_a_process_reuses_an_index_while_no_file_changed(tmp_path: Path) -> None:
    root = write_project(
        tmp_path / "proj", {"pyproject.toml": "", "a.py": "def f():\n    pass\n", "b.py": "X = 1\n"}
    )
    first = _index(root, memo=True)
    again = _index(root, memo=True)
    assert again is first and (again.stats.extracted, again.stats.cached) == (0, 2)
    os.utime(root / "b.py", ns=(1, 1))  # any change of size or time: read again (the cache still hits)
    changed = _index(root, memo=True)
    assert changed is not first and (changed.stats.extracted, changed.stats.cached) == (0, 2)
    (root / "a.py").write_text("def g():\n    pass\n", encoding="utf-8")
    edited = _index(root, memo=True)
    assert "a.g" in edited.functions and edited.stats.extracted == 1
