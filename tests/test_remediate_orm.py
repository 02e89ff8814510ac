"""RC3xx fixers: Django `F()` updates and `transaction.atomic()`, SQLAlchemy `with_for_update`, and
guidance where a unique constraint and a migration are needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests._remediate_helpers import dedent, fix_and_verify, guidance_for

FIXTURES = Path(__file__).parent / "fixtures" / "analyzer"

SPEND = dedent(
    """
    from django.http import HttpResponseBadRequest, JsonResponse
    from django.views.decorators.http import require_POST

    from .models import Wallet


    @require_POST
    def spend_points(request):
        cost = int(request.POST["cost"])
        wallet = Wallet.objects.get(owner=request.user)
        if wallet.points < cost:
            return HttpResponseBadRequest("not enough points")
        wallet.points -= cost
        # persist the new balance
        wallet.save()
        return JsonResponse({"points": wallet.points})
    """
)


def test_get_change_save_becomes_a_conditional_f_update(tmp_path: Path) -> None:
    result = fix_and_verify(SPEND, "views.py", "RC301", "spend_points", tmp_path)
    assert result.module.code == (
        "from django.http import HttpResponseBadRequest, JsonResponse\n"
        "from django.views.decorators.http import require_POST\n\n"
        "from .models import Wallet\n"
        "from django.db.models import F\n"
        + SPEND.split("from .models import Wallet\n", 1)[1].replace(
            "    # persist the new balance\n    wallet.save()\n",
            "    # persist the new balance\n"
            "    updated = Wallet.objects.filter(owner=request.user, points__gte=cost)"
            '.update(points=F("points") - cost)\n'
            "    if not updated:\n"
            '        return HttpResponseBadRequest("not enough points")\n',
        )
    )


def test_select_for_update_outside_atomic_is_wrapped(tmp_path: Path) -> None:
    before = dedent(
        """
        from django.http import JsonResponse

        from .models import Product


        def hold(request, sku):
            product = Product.objects.select_for_update().get(sku=sku)
            product.stock -= 1
            product.save()
            return JsonResponse({"stock": product.stock})
        """
    )
    result = fix_and_verify(before, "views.py", "RC302", "hold", tmp_path)
    assert (
        "    with transaction.atomic():\n"
        "        product = Product.objects.select_for_update().get(sku=sku)\n"
        "        product.stock -= 1\n"
        "        product.save()\n"
    ) in result.module.code
    assert "from django.db import transaction\n" in result.module.code


def test_sqlalchemy_session_get_takes_the_row_lock(tmp_path: Path) -> None:
    before = dedent(
        """
        from flask import Flask, abort, jsonify, request
        from sqlalchemy.orm import Session

        from .models import Account, db_session

        app = Flask(__name__)


        @app.post("/accounts/<int:account_id>/spend")
        def spend(account_id):
            amount = request.json["amount"]
            account = db_session.get(Account, account_id)
            if account.balance < amount:
                abort(409)
            account.balance -= amount
            db_session.commit()
            return jsonify(balance=account.balance)
        """
    )
    result = fix_and_verify(before, "app.py", "RC304", "spend", tmp_path)
    assert result.module.code == before.replace(
        "db_session.get(Account, account_id)", "db_session.get(Account, account_id, with_for_update=True)"
    )
    assert "SQLite" in result.note


FIXABLE = [
    ("RC3xx_django_views.py", "RC301", "spend_points"),
    ("RC3xx_django_views.py", "RC301", "vote"),
    ("RC3xx_django_views.py", "RC301", "hold_stock"),
    ("RC3xx_django_views.py", "RC301", "restock"),
    ("RC3xx_django_views.py", "RC301", "take_one"),
    ("RC3xx_django_views.py", "RC302", "spend_points_no_atomic"),
    ("RC3xx_django_views.py", "RC302", "hold_after_audit"),
    ("RC3xx_django_drf.py", "RC301", "DebitPointsView.post"),
    ("RC3xx_django_drf.py", "RC301", "PromoCode.consume"),
    ("RC3xx_django_drf.py", "RC302", "DebitPointsNoTransactionView.post"),
    ("RC3xx_sqlalchemy_sync.py", "RC304", "spend"),
    ("RC3xx_sqlalchemy_sync.py", "RC304", "use_coupon"),
    ("RC3xx_sqlalchemy_sync.py", "RC304", "reserve_stock"),
    ("RC3xx_sqlalchemy_async.py", "RC304", "spend_credits"),
    ("RC3xx_sqlalchemy_async.py", "RC304", "take_seat"),
    ("RC3xx_seeds.py", "RC304", "purchase_unlocked"),
]

DECLINED = [
    # Several fields of the instance change before one save().
    ("RC3xx_django_drf.py", "RC301", "award_loyalty_points"),
    # The lock is taken in a helper that returns the row.
    ("RC3xx_django_views.py", "RC302", "hold_via_helper"),
    # Unique constraints need a migration: always guidance.
    ("RC3xx_django_views.py", "RC303", "join_newsletter"),
    ("RC3xx_sqlalchemy_sync.py", "RC303", "add_subscriber"),
    # A repository method whose read and write are in other methods.
    ("RC3xx_sqlalchemy_sync.py", "RC304", "AccountRepository.debit"),
]


@pytest.mark.parametrize(("fixture", "rule_id", "function"), FIXABLE)
def test_fixture_race_is_fixed(fixture: str, rule_id: str, function: str, tmp_path: Path) -> None:
    source = (FIXTURES / fixture).read_text()
    fix_and_verify(source, f"tests/fixtures/analyzer/{fixture}", rule_id, function, tmp_path)


@pytest.mark.parametrize(("fixture", "rule_id", "function"), DECLINED)
def test_fixture_race_without_a_sound_rewrite_gets_guidance(
    fixture: str, rule_id: str, function: str
) -> None:
    message = guidance_for((FIXTURES / fixture).read_text(), fixture, rule_id, function)
    assert any(word in message for word in ("F(", "atomic", "unique", "with_for_update"))
