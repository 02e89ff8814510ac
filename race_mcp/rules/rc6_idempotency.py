"""Catalog entries for the RC6xx family: money-moving handlers that a retry or a burst runs twice."""

from __future__ import annotations

from ._model import Rule, snippet

__all__ = ["FAMILY", "PREFIX", "RULES"]

PREFIX = "RC6"
FAMILY = "RC6xx idempotency"


RULES: list[Rule] = [
    Rule(
        id="RC601",
        name="money-handler-without-idempotency-key",
        title="Handler that moves money or creates an order or payment accepts no idempotency key",
        family=FAMILY,
        severity="medium",
        cwe="CWE-837",
        fix=(
            "Accept an `Idempotency-Key` header, store the key with the result in the same transaction as "
            "the write, and replay the stored result for a repeated key."
        ),
        what_it_does=(
            "Flags an HTTP handler (FastAPI, Starlette, Flask, aiohttp, a Django view or DRF "
            "view/viewset action) whose route, function or view class name says it moves money, "
            "redeems, or creates an order or payment (pay, charge, transfer, withdraw, refund, redeem, "
            "checkout, order, purchase, payment) when it accepts no client key - no parameter, header "
            "or body field named like `idempotency_key`, `Idempotency-Key`, `X-Idempotency-Key`, "
            "`request_id` or `client_token`, and no route dependency such as "
            "`Depends(require_idempotency_key)` - and writes unconditionally: it inserts a row, "
            "changes a balance or calls a payment provider on every call, without first checking "
            "that this request's effect was already applied. The finding points at the `def` line. "
            "GET handlers are left alone. In JavaScript/TypeScript (Express, Fastify, Hono, NestJS, "
            "Next.js) and Rust (Axum, actix-web) the key must also reach a call that stores or "
            "forwards it (an INSERT under a unique key, `SET NX`, the provider's idempotency option): "
            "a key read and then dropped, only looked up, echoed or logged is reported too; route "
            "middleware, `app.use`, NestJS interceptors, Tower layers or actix `wrap` naming a key "
            "count as taking it."
        ),
        why_bad=(
            "Clients retry a POST whose response was lost, users double-click, and race attacks send "
            "the same request twenty times at once. Without a key the server cannot tell a retry "
            "from a new request, so each one charges, transfers or creates an order again. Row locks "
            "and guarded updates stop a balance going negative; they do not stop a valid request "
            "from being applied twice. A key the server generates itself (`uuid4()` per request) is "
            "new on every retry and deduplicates nothing."
        ),
        example=snippet(
            """
            from fastapi import Depends, FastAPI
            from pydantic import BaseModel
            from sqlalchemy.ext.asyncio import AsyncSession

            from app.db import get_session
            from app.models import Payment

            app = FastAPI()

            class PaymentIn(BaseModel):
                customer_id: int
                amount: int

            @app.post("/payments")
            async def create_payment(body: PaymentIn, session: AsyncSession = Depends(get_session)):
                session.add(Payment(customer_id=body.customer_id, amount=body.amount))
                await session.commit()
                return {"status": "pending"}
            """
        ),
        use_instead=snippet(
            """
            from typing import Annotated

            from fastapi import Depends, FastAPI, Header
            from pydantic import BaseModel
            from sqlalchemy.dialects.postgresql import insert
            from sqlalchemy.ext.asyncio import AsyncSession

            from app.db import get_session
            from app.models import Payment

            app = FastAPI()

            class PaymentIn(BaseModel):
                customer_id: int
                amount: int

            @app.post("/payments")
            async def create_payment(
                body: PaymentIn,
                idempotency_key: Annotated[str, Header(alias="Idempotency-Key")],
                session: AsyncSession = Depends(get_session),
            ):
                # payments.idempotency_key is UNIQUE: a retry inserts nothing
                stmt = (
                    insert(Payment)
                    .values(customer_id=body.customer_id, amount=body.amount, idempotency_key=idempotency_key)
                    .on_conflict_do_nothing(index_elements=[Payment.idempotency_key])
                )
                await session.execute(stmt)
                await session.commit()
                return {"status": "pending"}
            """
        ),
        fix_safety=(
            "Accepting the key is only half of the fix: store it under a unique constraint in the same "
            "transaction as the effect (or pass it to the payment provider, e.g. Stripe's "
            "`idempotency_key=`), return the first response to a retry with the same key, answer 409 "
            "while the first request is still running and 422 when the key is reused with a different "
            "body. Making the header required breaks clients that do not send it yet."
        ),
        known_problems=(
            "Money handlers are recognised by words in their route, function and class names, so "
            "`/api/v1/tx` is missed and `/reorder-columns` may be flagged. Keys enforced by middleware "
            "registered elsewhere (not a route dependency or decorator argument in the same file) "
            "are not seen. A status check on the entity the route names (`if invoice.status == 'paid': "
            "return`) counts as a guard; a balance or stock check does not. A key the server invents "
            "(`idempotency_key = str(uuid4())`) does not count: only a parameter, a header or body field "
            "read by name, or a field of the body parameter does. Django views are recognised by "
            "`@require_POST`, `@require_http_methods`, `@api_view` and `@action(methods=...)`, or as "
            "`post`/`put`/`patch`/`create` methods of View, APIView and ViewSet classes. Payment "
            "provider calls are recognised for common SDK names (stripe, braintree, adyen...) and "
            "methods named like `charge`, `capture`, `refund`."
        ),
        references=[
            "CWE-837: Improper Enforcement of a Single, Unique Action",
            "IETF draft-ietf-httpapi-idempotency-key-header (Idempotency-Key; 409 and 422 answers)",
            "https://docs.stripe.com/api/idempotent_requests",
            "https://portswigger.net/research/smashing-the-state-machine",
        ],
    ),
    Rule(
        id="RC602",
        name="event-handled-without-its-claim",
        title="Event handed to its handler without the claim taken before it elsewhere",
        family=FAMILY,
        severity="medium",
        cwe="CWE-837",
        fix=(
            "Claim each item before handling it, as the other path does: call the claim (a guarded "
            "`UPDATE ... WHERE taken_at IS NULL` with its row count checked, `SET NX`, a row lock "
            "with SKIP LOCKED) inside the loop and handle the item only when the claim succeeds."
        ),
        what_it_does=(
            "Flags a loop that hands every item of a batch to a handler (`on_event(event)`) when the "
            "same module calls that handler elsewhere only behind a claim on the item (`if "
            "event.mark_as_taken(): on_event(event)`; claims are methods named like "
            "`mark_as_taken`, `claim`, `acquire`, `try_lock`, `reserve`). The claim shows that the "
            "handler must run once per item; the loop skips it. The finding points at the call."
        ),
        why_bad=(
            "A retry loop, a dead-letter sweeper or a second worker reads the same pending items as "
            "the live consumer. Without the claim, an item that the live path is still handling, or "
            "that two sweepers read at once, is handled twice: a webhook is sent twice, a mailbox "
            "is synced twice, a payment is captured twice."
        ),
        example=snippet(
            """
            from app.models import Job

            class LiveQueue:
                def run(self, handle):
                    for job_id in self.notifications():
                        job = Job.get(job_id)
                        if job.claim():
                            handle(job)

            class RetrySweeper:
                def run(self, handle):
                    for job in Job.stale(minutes=10):
                        handle(job)
            """
        ),
        use_instead=snippet(
            """
            from app.models import Job

            class LiveQueue:
                def run(self, handle):
                    for job_id in self.notifications():
                        job = Job.get(job_id)
                        if job.claim():
                            handle(job)

            class RetrySweeper:
                def run(self, handle):
                    for job in Job.stale(minutes=10):
                        if job.claim(older_than_minutes=10):
                            handle(job)
            """
        ),
        known_problems=(
            "Only claims and handlers within one module are compared, by the handler's name (a "
            "parameter such as `on_event`, or a function); a batch that the query already claimed "
            "(`UPDATE ... RETURNING`, `SELECT ... FOR UPDATE SKIP LOCKED` inside one transaction) "
            "looks unclaimed when the claim is not a method call on the item."
        ),
        references=[
            "CWE-837: Improper Enforcement of a Single, Unique Action",
            "https://www.postgresql.org/docs/current/sql-select.html#SQL-FOR-UPDATE-SHARE (SKIP LOCKED)",
        ],
    ),
]
