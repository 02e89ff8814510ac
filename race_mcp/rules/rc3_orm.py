"""Catalog entries for the RC3xx family: read-modify-write races through the Django and SQLAlchemy ORMs."""

from __future__ import annotations

from ._model import CWE_362, Rule, snippet

__all__ = ["FAMILY", "PREFIX", "RULES"]

PREFIX = "RC3"
FAMILY = "RC3xx ORMs"
_DJANGO_F = (
    "https://docs.djangoproject.com/en/stable/ref/models/expressions/#avoiding-race-conditions-using-f"
)
_DJANGO_SFU = "https://docs.djangoproject.com/en/stable/ref/models/querysets/#select-for-update"
_DJANGO_TX = "https://docs.djangoproject.com/en/stable/topics/db/transactions/"
_ZULIP = "https://zulip.readthedocs.io/en/latest/subsystems/database-concurrency.html"


_DJANGO_LOCKED_VIEW = snippet(
    """
    from django.db import transaction
    from django.http import JsonResponse
    from django.views.decorators.http import require_POST

    from shop.models import Product

    @require_POST
    def hold_item(request, sku):
        with transaction.atomic():
            product = Product.objects.select_for_update().get(sku=sku)
            if product.stock == 0:
                return JsonResponse({"error": "sold out"}, status=409)
            product.stock -= 1
            product.save(update_fields=["stock"])
        return JsonResponse({"stock": product.stock})
    """
)

RULES: list[Rule] = [
    Rule(
        id="RC301",
        name="django-get-then-save-without-lock",
        title="Django row read, changed in application code and saved without a row lock",
        family=FAMILY,
        severity="high",
        cwe="CWE-362",
        fix=(
            "Update with `F()` in a queryset `.update()` guarded by a filter, or lock the row with "
            "`select_for_update()` inside `transaction.atomic()` and repeat the check on the locked row."
        ),
        what_it_does=(
            "Flags a Django model instance loaded with `Model.objects.get()`, `.filter(...).first()`, a "
            "related manager's `.get()`, `get_object_or_404()` or DRF's `self.get_object()`, whose "
            "attributes are then changed from what was read (`stock -= 1`, `used = True` after "
            "`if coupon.used`) and written back with `.save()`, when the read was not a "
            "`select_for_update()` evaluated inside `transaction.atomic()` (a `with` block, the "
            '`@transaction.atomic` decorator or `method_decorator(transaction.atomic, name="dispatch")`). '
            "The finding points at the read. Reads in helpers, model methods and services that the "
            "view calls in the same file are followed. A `select_for_update()` evaluated outside "
            "`atomic()` is reported once, as RC302."
        ),
        why_bad=(
            "Between the SELECT and the UPDATE that `save()` issues, other requests read the same row. "
            "Twenty concurrent requests all see `stock == 1` or `used is False`, all pass the check and "
            "all save: stock is oversold, a coupon is used twenty times, and increments such as the "
            "Django tutorial's `votes += 1` are lost. `transaction.atomic()` alone does not help: under "
            "READ COMMITTED both transactions read the old value before either writes."
        ),
        example=snippet(
            """
            from django.http import JsonResponse
            from django.views.decorators.http import require_POST

            from shop.models import Product

            @require_POST
            def hold_item(request, sku):
                product = Product.objects.get(sku=sku)
                if product.stock == 0:
                    return JsonResponse({"error": "sold out"}, status=409)
                product.stock -= 1
                product.save()
                return JsonResponse({"stock": product.stock})
            """
        ),
        use_instead=_DJANGO_LOCKED_VIEW,
        fix_safety=(
            "Adding `select_for_update()` inside `atomic()` keeps the code's shape but makes concurrent "
            "requests wait for the row, and needs a consistent lock order when two rows are locked "
            "(lock by ascending id) to avoid deadlocks. Where the change is a plain counter, one "
            "guarded statement is cheaper: `Product.objects.filter(sku=sku, stock__gt=0)"
            '.update(stock=F("stock") - 1)` and a check that it returned 1. The lock only protects '
            "against other code paths that also lock the row."
        ),
        known_problems=(
            "A check on a stale read followed by an `F()` write (`if product.stock > 0: product.stock = "
            'F("stock") - 1`) is still reported: the count stays exact but the check can be passed '
            "by every request. A blind write of a request value that nothing read is decided on "
            "(`profile.bio = new_bio; profile.save()`) is not reported, even though a plain `save()` "
            "rewrites every column. `ATOMIC_REQUESTS` is not visible in the view, "
            "so a view that relies on it alone for the transaction and uses `select_for_update()` is "
            "reported as RC302, not here. `select_for_update()` is a no-op on SQLite. Model methods "
            "called on a loaded row (`card.add_points(5)`) are followed only for models in the same file."
        ),
        references=[CWE_362, _DJANGO_F, _DJANGO_SFU, _ZULIP],
    ),
    Rule(
        id="RC302",
        name="django-select-for-update-outside-atomic",
        title="select_for_update() evaluated outside transaction.atomic()",
        family=FAMILY,
        severity="medium",
        cwe="CWE-362",
        fix="Evaluate `select_for_update()` inside `transaction.atomic()`; outside it locks nothing.",
        what_it_does=(
            "Flags a queryset with `select_for_update()` that is evaluated (`.get()`, `.first()`, "
            "iteration, `get_object_or_404(qs, ...)`) outside any `transaction.atomic()` block or "
            "`@transaction.atomic` function, including in a helper whose callers in the same file open "
            "no transaction and after an `atomic()` block has already closed."
        ),
        why_bad=(
            "A row lock lasts until the end of the transaction. In autocommit the transaction is the "
            "SELECT itself, so the lock is released before the code decides and saves: the code reads "
            "as if it were protected and is not. On PostgreSQL, MySQL and Oracle Django raises "
            "`TransactionManagementError` at that point, turning the endpoint into a 500; on SQLite, "
            "which has no `FOR UPDATE`, it silently runs unlocked."
        ),
        example=snippet(
            """
            from django.http import JsonResponse
            from django.views.decorators.http import require_POST

            from shop.models import Product

            @require_POST
            def hold_item(request, sku):
                product = Product.objects.select_for_update().get(sku=sku)
                if product.stock == 0:
                    return JsonResponse({"error": "sold out"}, status=409)
                product.stock -= 1
                product.save(update_fields=["stock"])
                return JsonResponse({"stock": product.stock})
            """
        ),
        use_instead=_DJANGO_LOCKED_VIEW,
        fix_safety=(
            "Wrapping the read, the decision and the save in `transaction.atomic()` is safe; keep "
            "slow work (HTTP calls, emails) out of the block, since other requests wait on the lock."
        ),
        known_problems=(
            "Projects that set `ATOMIC_REQUESTS = True` run every view in a transaction; that setting is "
            "not visible in the view, so such views are still reported. A queryset built outside "
            "`atomic()` but evaluated inside it is not reported; one built and then only iterated "
            "(`for row in qs:`) outside `atomic()` is missed. A helper that locks is judged in the "
            "transactions of its callers in the same file, not on its own."
        ),
        references=[CWE_362, _DJANGO_SFU, _DJANGO_TX],
    ),
    Rule(
        id="RC303",
        name="orm-check-then-create-on-non-unique-field",
        title="get_or_create or exists-then-create on fields with no unique constraint",
        family=FAMILY,
        severity="medium",
        cwe="CWE-362",
        fix=(
            "Declare the field unique (`unique=True` or a UniqueConstraint) and handle IntegrityError; "
            "`get_or_create` is only safe on unique fields."
        ),
        what_it_does=(
            "Flags Django `get_or_create(...)` / `update_or_create(...)` and "
            "`if not X.objects.filter(...).exists(): X.objects.create(...)`, and SQLAlchemy "
            "query-then-`session.add()` (`session.query(M).filter_by(...).first()`, "
            "`session.scalars(select(M).where(...)).first()`, `session.get(M, key)` returning None), "
            "when the looked-up fields are not declared unique in the models of the same file: no "
            "`unique=True`, `primary_key=True`, `OneToOneField`, `UniqueConstraint`, "
            "`unique_together` or unique `Index` covers them. The finding points at the "
            "`get_or_create` call or the existence check."
        ),
        why_bad=(
            "Both requests look, both find nothing, both insert: duplicate accounts for one email, two "
            "votes from one user, a waitlist entry twice. Django's documentation warns that "
            "`get_or_create` is only atomic when the database enforces uniqueness of its keyword "
            "arguments. A transaction or `select_for_update()` does not help: there is no row yet to "
            "lock."
        ),
        example=snippet(
            """
            from django.db import models
            from django.http import JsonResponse
            from django.views.decorators.http import require_POST

            class Subscriber(models.Model):
                email = models.EmailField(db_index=True)

            @require_POST
            def join_newsletter(request):
                subscriber, created = Subscriber.objects.get_or_create(email=request.POST["email"])
                return JsonResponse({"created": created})
            """
        ),
        use_instead=snippet(
            """
            from django.db import models
            from django.http import JsonResponse
            from django.views.decorators.http import require_POST

            class Subscriber(models.Model):
                email = models.EmailField(unique=True)

            @require_POST
            def join_newsletter(request):
                subscriber, created = Subscriber.objects.get_or_create(email=request.POST["email"])
                return JsonResponse({"created": created})
            """
        ),
        fix_safety=(
            "Adding a unique constraint needs a migration, which fails while duplicates already exist: "
            "clean them up first. With the constraint, Django's `get_or_create` catches the "
            "`IntegrityError` of the losing insert and returns the winner's row; hand-written "
            "exists-then-create code should catch `IntegrityError` itself."
        ),
        known_problems=(
            "Constraints are only seen on models declared in the same file: check-then-create on a "
            "model imported from elsewhere is reported as if it had none. A row lock taken by the "
            "check (`select_for_update()`, `with_for_update()`) does not make it safe, since it cannot "
            "lock a row that does not exist yet. Conditional constraints (`UniqueConstraint(condition=...)`) "
            "count as unique. Database-level unique indexes created by raw migrations are not seen."
        ),
        references=[
            CWE_362,
            "https://docs.djangoproject.com/en/stable/ref/models/querysets/#get-or-create",
            "Bailis et al., Feral Concurrency Control, SIGMOD 2015 (uniqueness validations without a "
            "unique index)",
        ],
    ),
    Rule(
        id="RC304",
        name="sqlalchemy-read-modify-commit-without-lock",
        title="SQLAlchemy row read, changed in application code and committed without a row lock",
        family=FAMILY,
        severity="high",
        cwe="CWE-362",
        fix=(
            "Lock the row with `.with_for_update()` on the query, or write with one atomic "
            "`update(Model).where(Model.x >= n).values(x=Model.x - n)` and check the rowcount."
        ),
        what_it_does=(
            "Flags a SQLAlchemy ORM object (sync `Session` or `AsyncSession`) loaded with "
            "`session.get(M, id)`, `session.query(M)...first()/one()/get()`, "
            "`session.execute(select(M)...).scalar_one()` or `session.scalars(select(M)...).first()`, "
            "then decided on or changed from what was read, and written by `commit()`, `flush()` or the "
            "end of a `with session.begin():` block, when the query had no `.with_for_update()` "
            "(`session.get(..., with_for_update=True)` counts) and the model has no `version_id_col`. "
            "The finding points at the read; reads in repository methods of the same class are followed."
        ),
        why_bad=(
            "The unit of work writes back whatever the Python object holds. Two requests that load the "
            "same row both see `seats_left == 1`, both decrement and both commit: the seat is sold "
            "twice, and a balance debited twice ends where one debit left it. A transaction "
            "(`session.begin()`) without a lock does not change this under READ COMMITTED."
        ),
        example=snippet(
            """
            from fastapi import Depends, FastAPI, HTTPException
            from sqlalchemy.ext.asyncio import AsyncSession

            from app.db import get_session
            from app.models import Event

            app = FastAPI()

            @app.post("/events/{event_id}/seats")
            async def take_seat(event_id: int, session: AsyncSession = Depends(get_session)):
                event = await session.get(Event, event_id)
                if event.seats_left <= 0:
                    raise HTTPException(409, "full")
                event.seats_left -= 1
                await session.commit()
                return {"seats_left": event.seats_left}
            """
        ),
        use_instead=snippet(
            """
            from fastapi import Depends, FastAPI, HTTPException
            from sqlalchemy.ext.asyncio import AsyncSession

            from app.db import get_session
            from app.models import Event

            app = FastAPI()

            @app.post("/events/{event_id}/seats")
            async def take_seat(event_id: int, session: AsyncSession = Depends(get_session)):
                event = await session.get(Event, event_id, with_for_update=True)
                if event.seats_left <= 0:
                    raise HTTPException(409, "full")
                event.seats_left -= 1
                await session.commit()
                return {"seats_left": event.seats_left}
            """
        ),
        fix_safety=(
            "`with_for_update()` makes concurrent requests wait for the row until commit; lock several "
            "rows in a consistent order. If the object may already be in the identity map, add "
            "`populate_existing` so the locked read refreshes it. An atomic "
            "`update(M).where(M.id == id, M.seats_left > 0).values(seats_left=M.seats_left - 1)` with "
            "a rowcount check avoids the lock entirely."
        ),
        known_problems=(
            "A check on a stale read followed by an unguarded atomic `update()` is still reported. A "
            "blind write of a request value that does not depend on what was read is not. "
            "SERIALIZABLE isolation is only recognised when set on the engine or session used in the "
            "same file. A query-then-`add()` of a new row is RC303, not this rule. A model with "
            "`version_id_col` in `__mapper_args__` counts as protected (the commit is a compare-and-set). "
            "Two rows of one model read separately (a transfer's source and target) are two findings."
        ),
        references=[
            CWE_362,
            "https://docs.sqlalchemy.org/en/20/core/selectable.html#sqlalchemy.sql.expression.Select.with_for_update",
            "https://docs.sqlalchemy.org/en/20/orm/session_api.html#sqlalchemy.orm.Session.get",
            "https://docs.sqlalchemy.org/en/20/orm/queryguide/dml.html",
            "https://docs.sqlalchemy.org/en/20/orm/versioning.html",
        ],
    ),
]
