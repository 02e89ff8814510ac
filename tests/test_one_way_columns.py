"""One-way columns (`project/_columns.py`, `project/_one_way.py`, `core/idempotent.one_way`).

A column every live writer of the project sets to one value (a status only ever closed, an
`is_active` only ever cleared after creation) settles a check-then-write of that value: two
requests both store it and nothing is lost. The markers of `tests/fixtures/projects/one_way_columns/`
are checked end to end by `test_analyzer_projects.py`; here the facts behind them, their limits, and
what counts as acting under the check (which keeps a one-way write racy).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from race_mcp.analyzer.core import model
from race_mcp.analyzer.core.idempotent import pure_call, stored_value_text
from race_mcp.analyzer.project import ProjectIndex
from race_mcp.analyzer.project._columns import ANY, column_writes, edited_columns, value_text
from tests._project_files import write_project

FIXTURE = Path(__file__).parent / "fixtures" / "projects" / "one_way_columns"


def _writes(source: str, owner: str | None = None) -> list[tuple[str, str, str]]:
    node = ast.parse(source).body[0]
    assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    return column_writes(node, owner, lambda name: f"app.{name}")


def test_the_fixture_project_has_one_way_and_two_way_columns() -> None:
    writers = ProjectIndex.for_path(FIXTURE, memo=False).model_writers()
    assert writers.one_way_value("Ticket", "status") == "CLOSED"  # `close()` only; the default is creation
    assert writers.one_way_value("Membership", "is_active") == "False"  # `join` sets True on a new row
    assert writers.one_way_value("Gift", "used") == "True"  # one-way, yet its branch sends the gift
    assert writers.one_way_value("Seat", "is_active") == "False"  # `vacate` also inserts a note
    assert writers.one_way_value("Lamp", "lit") is None  # switched on and off
    assert writers.one_way_value("Team", "is_active") is None  # archived and restored
    assert writers.one_way_value("Badge", "revoked") is None  # the admin edits every column
    assert writers.one_way_value("Visit", "seen") is None  # a counter
    assert writers.one_way_value("Ticket", "subject") is None  # no write at all: nothing to go by


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("True", "True"),
        ("'closed'", "'closed'"),
        ("None", "None"),
        ("CLOSED", "CLOSED"),
        ("self.CLOSED", "CLOSED"),
        ("Ticket.CLOSED", "CLOSED"),
        ("Status.closed", "closed"),
        ("settings.DEFAULT_STATE", "DEFAULT_STATE"),
        ("self.status", ANY),  # another attribute's value
        ("state", ANY),
        ("n + 1", ANY),
        ("now()", ANY),
    ],
)
def test_values_are_spelt_alike_from_the_syntax_tree_and_the_model(text: str, expected: str) -> None:
    node = ast.parse(text, mode="eval").body
    assert value_text(node) == expected
    lowered = _lowered(node)
    if lowered is not None:
        assert stored_value_text(lowered) == expected


def _lowered(node: ast.expr) -> model.Expr | None:
    """The interpreter's model of a literal, a name or an attribute chain (others: not compared)."""
    if isinstance(node, ast.Constant):
        return model.Literal(node.value)
    if isinstance(node, ast.Name):
        return model.Name(node.id)
    if isinstance(node, ast.Attribute):
        inner = _lowered(node.value)
        return model.Attribute(inner, node.attr) if inner is not None else None
    return None


def test_receivers_are_typed_by_lookups_annotations_and_helpers() -> None:
    source = """
    async def handler(self, db, team: Optional[Team], key):
        stmt = select(Member).where(Member.id == key)
        member = db.execute(stmt).scalar_one_or_none()
        member.is_active = False
        team.is_active = True
        row = await self.find_row(key)
        row.state = State.DONE
        lamp = get_object_or_404(Lamp, pk=key)
        lamp.lit = LIT
        for seat in Seat.objects.filter(free=True):
            seat.free = False
        locked = get_for_update(db, Wallet, key)
        locked.balance += 1
        existing.flag = True
        fresh = Member(name="x")
        fresh.is_active = True
    """
    found = _writes(source.replace("\n    ", "\n"), owner="Service")
    assert found == [
        ("Member", "is_active", "False"),
        ("Team", "is_active", "True"),
        ("=self.find_row", "state", "DONE"),
        ("Lamp", "lit", "LIT"),
        ("Seat", "free", "False"),
        ("Wallet", "balance", ANY),
        ("?existing", "flag", "True"),
    ]


def test_updates_setattr_and_bulk_writes_are_column_writes() -> None:
    source = """
    def handler(db, key, name, data, context):
        Ticket.objects.filter(pk=key).update(status=Ticket.CLOSED, seen=F("seen") + 1)
        db.query(Team).filter(Team.id == key).update({"is_active": False, Team.name: name})
        db.execute(update(Gift).where(Gift.id == key).values(used=True))
        Lamp.objects.bulk_update(rows, ["lit"])
        Badge.objects.update_or_create(holder=name, defaults={"revoked": False})
        setattr(obj, "flag", True)
        setattr(obj, name, data)
        context.update(status="shown")
    """
    assert _writes(source.replace("\n    ", "\n")) == [
        ("Ticket", "status", "CLOSED"),
        ("Ticket", "seen", ANY),
        ("Team", "is_active", "False"),
        ("Team", "name", ANY),
        ("Gift", "used", "True"),
        ("Lamp", "lit", ANY),
        ("Badge", "revoked", "False"),
        ("?obj", "flag", "True"),
        ("?obj", ANY, ANY),
    ]  # `context.update(..)` is a dict's


def test_writes_in_init_on_self_are_creation() -> None:
    assert _writes("def __init__(self):\n    self.status = 'open'\n", owner="Ticket") == []
    assert _writes("def close(self):\n    self.status = 'closed'\n", owner="Ticket") == [
        ("Ticket", "status", "'closed'")
    ]


def test_forms_serializers_and_admin_edit_columns() -> None:
    tree = ast.parse(
        "class TicketForm(ModelForm):\n"
        "    class Meta:\n"
        "        model = Ticket\n"
        "        fields = ['subject', 'status']\n"
        "class LampSerializer(ModelSerializer):\n"
        "    class Meta:\n"
        "        model = Lamp\n"
        "        fields = '__all__'\n"
        "class TicketList(ListView):\n"
        "    model = Ticket\n"
        "@admin.register(Badge)\n"
        "class BadgeAdmin(admin.ModelAdmin):\n"
        "    pass\n"
        "admin.site.register([Visit])\n"
    )
    assert sorted(edited_columns(tree.body)) == sorted(
        [("Ticket", "subject"), ("Ticket", "status"), ("Lamp", ANY), ("Badge", ANY), ("Visit", ANY)]
    )


def test_receivers_of_no_known_model_count_by_their_name(tmp_path: Path) -> None:
    root = write_project(
        tmp_path,
        {
            "shop/models.py": """
            from django.db import models

            class Order(models.Model):
                status = models.CharField(max_length=10)

            class StockAlert(models.Model):
                status = models.CharField(max_length=10)

                def close(self):
                    self.status = "closed"
                    self.save()

            class Invoice(models.Model):
                paid = models.BooleanField(default=False)

                def pay(self):
                    self.paid = True
                    self.save()
            """,
            "shop/services.py": """
            def cancel(order):
                # named like Order, not like StockAlert: StockAlert.status stays one-way
                order.status = "cancelled"
                order.save()

            def reset(obj):
                # named like no model: it may be any row
                obj.paid = False
                obj.save()

            def copy_fields(row, data):
                for name, value in data.items():
                    setattr(row, name, value)  # a row of no known model: left out
            """,
            "shop/tests.py": """
            def test_reopen(alert):
                alert.status = "open"  # tests never race requests
            """,
        },
    )
    writers = ProjectIndex.for_path(root, memo=False).model_writers()
    assert writers.one_way_value("StockAlert", "status") == "'closed'"
    assert writers.one_way_value("Order", "status") == "'cancelled'"
    assert writers.one_way_value("Invoice", "paid") is None


def test_a_helper_s_return_annotation_types_the_row(tmp_path: Path) -> None:
    root = write_project(
        tmp_path,
        {
            "club/db.py": """
            from sqlalchemy import Boolean, Column, Integer
            from sqlalchemy.orm import declarative_base

            Base = declarative_base()

            class Grant(Base):
                __tablename__ = "grants"
                id = Column(Integer, primary_key=True)
                is_active = Column(Boolean, default=True)

            class Account(Base):
                __tablename__ = "accounts"
                id = Column(Integer, primary_key=True)
                is_active = Column(Boolean, default=True)
            """,
            "club/services.py": """
            from typing import Optional

            from .db import Account, Grant

            class Service:
                def grant(self, key) -> Optional[Grant]:
                    return self.db.get(Grant, key)

                def account(self, key) -> "Account | None":
                    return self.db.get(Account, key)

                def revoke(self, key):
                    found = self.grant(key)
                    found.is_active = False

                def reopen(self, key):
                    # an Account, not a Grant, by the helper's annotation
                    found = self.account(key)
                    found.is_active = True
            """,
        },
    )
    writers = ProjectIndex.for_path(root, memo=False).model_writers()
    assert writers.one_way_value("Grant", "is_active") == "False"
    assert writers.one_way_value("Account", "is_active") == "True"


def _method_call(receiver: str, method: str, *args: model.Expr, **named: model.Expr) -> model.Call:
    arguments = (*(model.Arg(a) for a in args), *(model.Arg(v, keyword=k) for k, v in named.items()))
    return model.Call(model.Attribute(model.Name(receiver), method), arguments)


@pytest.mark.parametrize(
    ("call", "pure"),
    [
        (_method_call("text", "replace", model.Literal("\n"), model.Literal(" ")), True),
        (_method_call("expires_at", "replace", tzinfo=model.Name("utc")), True),
        (_method_call("os", "replace", model.Name("src"), model.Name("dst")), False),  # a file moved
        (_method_call("path", "replace", model.Name("target")), False),
        (_method_call("db", "refresh", model.Name("row")), True),  # the row read again
        (_method_call("token", "refresh"), False),  # a new token asked for
        (_method_call("Member", "is_", model.Literal(None)), True),  # a query built
        (_method_call("result", "scalar_one_or_none"), True),
        (_method_call("PATTERN", "sub", model.Literal(""), model.Name("text")), True),
        (_method_call("mailer", "send", model.Name("message")), False),
    ],
)
def test_what_acts_under_a_check(call: model.Call, pure: bool) -> None:
    """A settled write stays settled only when nothing under its check acts (`pure_call`)."""
    assert pure_call(call) is pure
