"""The demo shop's safe twin: the same routes as `shop.py`, and the same answers to one request at a
time, without its races.

- In-memory state (gift cards, loyalty points, the SMS limit, page views) is read, checked and written
  while one lock is held: an `asyncio.Lock` in async handlers, a `threading.Lock` in threaded ones.
- Balances, stock and coupons change through one guarded `UPDATE ... WHERE <still allowed>` whose row
  count says whether the change happened; statements that belong together run in one transaction
  (`BEGIN IMMEDIATE` on SQLite).
- Email addresses are UNIQUE in the schema; a duplicate signup gets 409 from the IntegrityError.
- Withdrawals and transfers honour an `Idempotency-Key` header, so a retried request moves money once.

    uvicorn race_mcp.demo.shop_fixed:app --host 127.0.0.1 --port 8000

`$RACE_MCP_DEMO_DB` names the SQLite file (default: a temporary file per run) and
`$RACE_MCP_DEMO_LATENCY_MS` sets how long each partner API call takes (default 40 ms).

Features: wallet (withdraw, transfer), single-use coupons, a product catalogue with orders, and an
in-memory part: cached gift-card balances, loyalty points and a daily SMS rate limit.
"""

import asyncio
import hashlib
import secrets
import sqlite3
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Annotated, TypeVar

from fastapi import Depends, FastAPI, Header, HTTPException, Request, Response
from pydantic import BaseModel

from . import _partners as partners
from ._models import (
    Account,
    AccountCreate,
    AccountUpdate,
    Coupon,
    CouponReceipt,
    CouponRedemption,
    GiftCard,
    GiftCardReceipt,
    GiftCardSpend,
    Health,
    LoyaltyBalance,
    Order,
    OrderCreate,
    Product,
    ProductDetails,
    ProductUpdate,
    RewardReceipt,
    RewardRedemption,
    TransferReceipt,
    TransferRequest,
    VerificationCodeSent,
    Withdrawal,
    WithdrawalReceipt,
    etag_for,
    version_from_if_match,
)
from ._store import (
    DAILY_VERIFICATION_CODES,
    REWARD_COSTS,
    SEED_GIFT_CARDS,
    SEED_LOYALTY_POINTS,
    Database,
    Statements,
    Transaction,
    open_database,
)

ResponseModel = TypeVar("ResponseModel", bound=BaseModel)

SCHEMA = """
CREATE TABLE accounts (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    balance_cents INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE products (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    price_cents INTEGER NOT NULL,
    stock INTEGER NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE coupons (
    code TEXT PRIMARY KEY,
    value_cents INTEGER NOT NULL,
    redeemed_by INTEGER REFERENCES accounts (id)
);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    product_id INTEGER NOT NULL REFERENCES products (id),
    quantity INTEGER NOT NULL,
    total_cents INTEGER NOT NULL
);
CREATE TABLE withdrawals (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    amount_cents INTEGER NOT NULL
);
CREATE TABLE transfers (
    id INTEGER PRIMARY KEY,
    from_account_id INTEGER NOT NULL REFERENCES accounts (id),
    to_account_id INTEGER NOT NULL REFERENCES accounts (id),
    amount_cents INTEGER NOT NULL
);
CREATE TABLE idempotency_keys (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    response TEXT NOT NULL,
    PRIMARY KEY (scope, key)
);
"""

# Balances of the gift cards sold here, cached from the issuer so checkout need not ask it each time.
gift_card_balances: dict[str, int] = dict(SEED_GIFT_CARDS)
gift_cards_lock = asyncio.Lock()
# SMS verification codes sent per (account, day), for the daily limit.
verification_codes_sent: dict[tuple[int, str], int] = {}
verification_codes_lock = threading.Lock()
# Product page views since start, shown on the product page.
product_views: dict[int, int] = {}
product_views_lock = threading.Lock()
# Guards the loyalty points kept in app.state.
loyalty_lock = asyncio.Lock()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with open_database(SCHEMA) as database:
        app.state.database = database
        app.state.loyalty_points = dict(SEED_LOYALTY_POINTS)
        yield


app = FastAPI(title="race-mcp demo shop", version="1.0.0", lifespan=lifespan)


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


Db = Annotated[Database, Depends(get_database)]
IdempotencyKey = Annotated[str | None, Header(min_length=1, max_length=255)]


async def load_account(db: Statements, account_id: int) -> Account:
    row = await db.fetch_one(
        "SELECT id, email, name, balance_cents, version FROM accounts WHERE id = ?", account_id
    )
    if row is None:
        raise HTTPException(404, f"no account {account_id}")
    return Account.model_validate(dict(row))


async def load_product(db: Statements, product_id: int) -> Product:
    row = await db.fetch_one(
        "SELECT id, name, price_cents, stock, version FROM products WHERE id = ?", product_id
    )
    if row is None:
        raise HTTPException(404, f"no product {product_id}")
    return Product.model_validate(dict(row))


def request_hash(body: BaseModel) -> str:
    return hashlib.sha256(body.model_dump_json().encode()).hexdigest()


async def replay(
    db: Statements, scope: str, key: str | None, body: BaseModel, model: type[ResponseModel]
) -> ResponseModel | None:
    """The stored response to an earlier request with this Idempotency-Key, if there was one."""
    if key is None:
        return None
    row = await db.fetch_one(
        "SELECT request_hash, response FROM idempotency_keys WHERE scope = ? AND key = ?", scope, key
    )
    if row is None:
        return None
    if row["request_hash"] != request_hash(body):
        raise HTTPException(422, "this Idempotency-Key was already used with a different request")
    return model.model_validate_json(row["response"])


async def remember(
    tx: Transaction, scope: str, key: str | None, body: BaseModel, response: BaseModel
) -> None:
    """Store the response under the Idempotency-Key, in the transaction that made it. A concurrent
    request with the same key that committed first owns it: this one's transaction rolls back and
    its client gets a 409, not the unhandled unique-key error."""
    if key is not None:
        try:
            await tx.execute(
                "INSERT INTO idempotency_keys (scope, key, request_hash, response) VALUES (?, ?, ?, ?)",
                scope,
                key,
                request_hash(body),
                response.model_dump_json(),
            )
        except sqlite3.IntegrityError:
            raise HTTPException(
                409, "a request with this Idempotency-Key was processed concurrently"
            ) from None


@app.get("/health")
async def health() -> Health:
    return Health(shop="fixed")


@app.post("/admin/reset", status_code=204)
async def reset_shop(request: Request, db: Db) -> None:
    """Restore the seed state (database and in-memory caches) so that trials can repeat."""
    gift_card_balances.clear()
    gift_card_balances.update(SEED_GIFT_CARDS)
    verification_codes_sent.clear()
    product_views.clear()
    request.app.state.loyalty_points = dict(SEED_LOYALTY_POINTS)
    await db.reset(SCHEMA)


# --- accounts and wallet -------------------------------------------------------------------------


@app.post("/accounts", status_code=201)
async def create_account(body: AccountCreate, db: Db) -> Account:
    existing = await db.fetch_one("SELECT id FROM accounts WHERE email = ?", body.email)
    if existing is not None:
        raise HTTPException(409, "an account with this email already exists")
    # Deliverability is checked with the email provider's API: a network round trip.
    if not await partners.email_is_deliverable(body.email):
        raise HTTPException(422, "this email address cannot receive mail")
    try:
        account_id = await db.insert(
            "INSERT INTO accounts (email, name) VALUES (?, ?)", body.email, body.name
        )
    except sqlite3.IntegrityError:
        raise HTTPException(409, "an account with this email already exists") from None
    return await load_account(db, account_id)


@app.get("/accounts/{account_id}")
async def get_account(account_id: int, db: Db, response: Response) -> Account:
    account = await load_account(db, account_id)
    response.headers["ETag"] = etag_for(account.version)
    return account


@app.patch("/accounts/{account_id}")
async def update_account(
    account_id: int,
    body: AccountUpdate,
    db: Db,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> Account:
    if if_match is None:
        updated = await db.execute(
            "UPDATE accounts SET name = ?, version = version + 1 WHERE id = ?", body.name, account_id
        )
    else:
        updated = await db.execute(
            "UPDATE accounts SET name = ?, version = version + 1 WHERE id = ? AND version = ?",
            body.name,
            account_id,
            version_from_if_match(if_match),
        )
    if not updated:
        await load_account(db, account_id)
        raise HTTPException(412, "the account changed since you read it; GET it again")
    account = await load_account(db, account_id)
    response.headers["ETag"] = etag_for(account.version)
    return account


@app.post("/wallet/withdraw")
async def withdraw(body: Withdrawal, db: Db, idempotency_key: IdempotencyKey = None) -> WithdrawalReceipt:
    previous = await replay(db, "withdraw", idempotency_key, body, WithdrawalReceipt)
    if previous is not None:
        return previous
    account = await db.fetch_one("SELECT balance_cents FROM accounts WHERE id = ?", body.account_id)
    if account is None:
        raise HTTPException(404, f"no account {body.account_id}")
    if account["balance_cents"] < body.amount_cents:
        raise HTTPException(409, "insufficient funds")
    # Payouts are screened by the fraud API first: a network round trip.
    if not await partners.screen_payment(body.account_id, body.amount_cents):
        raise HTTPException(403, "payout declined by fraud screening")
    async with db.transaction() as tx:
        previous = await replay(tx, "withdraw", idempotency_key, body, WithdrawalReceipt)
        if previous is not None:
            return previous
        debited = await tx.execute(
            "UPDATE accounts SET balance_cents = balance_cents - ? WHERE id = ? AND balance_cents >= ?",
            body.amount_cents,
            body.account_id,
            body.amount_cents,
        )
        if not debited:
            raise HTTPException(409, "insufficient funds")
        withdrawal_id = await tx.insert(
            "INSERT INTO withdrawals (account_id, amount_cents) VALUES (?, ?)",
            body.account_id,
            body.amount_cents,
        )
        account_after = await load_account(tx, body.account_id)
        receipt = WithdrawalReceipt(
            withdrawal_id=withdrawal_id,
            account_id=body.account_id,
            amount_cents=body.amount_cents,
            balance_cents=account_after.balance_cents,
        )
        await remember(tx, "withdraw", idempotency_key, body, receipt)
    return receipt


@app.post("/wallet/transfer")
async def transfer(body: TransferRequest, db: Db, idempotency_key: IdempotencyKey = None) -> TransferReceipt:
    previous = await replay(db, "transfer", idempotency_key, body, TransferReceipt)
    if previous is not None:
        return previous
    source = await db.fetch_one("SELECT balance_cents FROM accounts WHERE id = ?", body.from_account_id)
    target = await db.fetch_one("SELECT id FROM accounts WHERE id = ?", body.to_account_id)
    if source is None or target is None:
        raise HTTPException(404, "no such account")
    if source["balance_cents"] < body.amount_cents:
        raise HTTPException(409, "insufficient funds")
    # Transfers are screened by the fraud API first: a network round trip.
    if not await partners.screen_payment(body.from_account_id, body.amount_cents):
        raise HTTPException(403, "transfer declined by fraud screening")
    async with db.transaction() as tx:
        previous = await replay(tx, "transfer", idempotency_key, body, TransferReceipt)
        if previous is not None:
            return previous
        debited = await tx.execute(
            "UPDATE accounts SET balance_cents = balance_cents - ? WHERE id = ? AND balance_cents >= ?",
            body.amount_cents,
            body.from_account_id,
            body.amount_cents,
        )
        if not debited:
            raise HTTPException(409, "insufficient funds")
        await tx.execute(
            "UPDATE accounts SET balance_cents = balance_cents + ? WHERE id = ?",
            body.amount_cents,
            body.to_account_id,
        )
        transfer_id = await tx.insert(
            "INSERT INTO transfers (from_account_id, to_account_id, amount_cents) VALUES (?, ?, ?)",
            body.from_account_id,
            body.to_account_id,
            body.amount_cents,
        )
        sender = await load_account(tx, body.from_account_id)
        receipt = TransferReceipt(
            transfer_id=transfer_id,
            from_account_id=body.from_account_id,
            to_account_id=body.to_account_id,
            amount_cents=body.amount_cents,
            from_balance_cents=sender.balance_cents,
        )
        await remember(tx, "transfer", idempotency_key, body, receipt)
    return receipt


# --- coupons -------------------------------------------------------------------------------------


@app.get("/coupons/{code}")
async def get_coupon(code: str, db: Db) -> Coupon:
    row = await db.fetch_one("SELECT code, value_cents, redeemed_by FROM coupons WHERE code = ?", code)
    if row is None:
        raise HTTPException(404, f"no coupon {code}")
    return Coupon.model_validate(dict(row))


@app.post("/coupons/{code}/redeem")
async def redeem_coupon(code: str, body: CouponRedemption, db: Db) -> CouponReceipt:
    await load_account(db, body.account_id)
    coupon = await db.fetch_one("SELECT value_cents, redeemed_by FROM coupons WHERE code = ?", code)
    if coupon is None:
        raise HTTPException(404, f"no coupon {code}")
    if coupon["redeemed_by"] is not None:
        raise HTTPException(409, "coupon already redeemed")
    # Store credit is screened by the fraud API like any payment: a network round trip.
    if not await partners.screen_payment(body.account_id, coupon["value_cents"]):
        raise HTTPException(403, "redemption declined by fraud screening")
    async with db.transaction() as tx:
        claimed = await tx.execute(
            "UPDATE coupons SET redeemed_by = ? WHERE code = ? AND redeemed_by IS NULL", body.account_id, code
        )
        if not claimed:
            raise HTTPException(409, "coupon already redeemed")
        await tx.execute(
            "UPDATE accounts SET balance_cents = balance_cents + ? WHERE id = ?",
            coupon["value_cents"],
            body.account_id,
        )
        account = await load_account(tx, body.account_id)
    return CouponReceipt(
        code=code,
        account_id=body.account_id,
        credited_cents=coupon["value_cents"],
        balance_cents=account.balance_cents,
    )


# --- catalogue and orders ------------------------------------------------------------------------


@app.get("/products/{product_id}")
def get_product(product_id: int, db: Db, response: Response) -> ProductDetails:
    row = db.query_one("SELECT id, name, price_cents, stock, version FROM products WHERE id = ?", product_id)
    if row is None:
        raise HTTPException(404, f"no product {product_id}")
    with product_views_lock:
        views = product_views.get(product_id, 0) + 1
        product_views[product_id] = views
    response.headers["ETag"] = etag_for(row["version"])
    return ProductDetails(**dict(row), views=views)


@app.patch("/products/{product_id}")
async def update_product(
    product_id: int,
    body: ProductUpdate,
    db: Db,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> Product:
    if if_match is None:
        raise HTTPException(428, "send If-Match with the ETag from GET /products/{product_id}")
    updated = await db.execute(
        "UPDATE products SET price_cents = ?, version = version + 1 WHERE id = ? AND version = ?",
        body.price_cents,
        product_id,
        version_from_if_match(if_match),
    )
    if not updated:
        await load_product(db, product_id)
        raise HTTPException(412, "the product changed since you read it; GET it again")
    product = await load_product(db, product_id)
    response.headers["ETag"] = etag_for(product.version)
    return product


@app.post("/orders", status_code=201)
async def create_order(body: OrderCreate, db: Db, idempotency_key: IdempotencyKey = None) -> Order:
    previous = await replay(db, "order", idempotency_key, body, Order)
    if previous is not None:
        return previous
    await load_account(db, body.account_id)
    product = await db.fetch_one("SELECT price_cents, stock FROM products WHERE id = ?", body.product_id)
    if product is None:
        raise HTTPException(404, f"no product {body.product_id}")
    if product["stock"] < body.quantity:
        raise HTTPException(409, "not enough stock")
    # The carrier's rate API prices the parcel: a network round trip.
    shipping_cents = await partners.quote_shipping(body.product_id, body.quantity)
    total_cents = product["price_cents"] * body.quantity + shipping_cents
    async with db.transaction() as tx:
        previous = await replay(tx, "order", idempotency_key, body, Order)
        if previous is not None:
            return previous
        reserved = await tx.execute(
            "UPDATE products SET stock = stock - ? WHERE id = ? AND stock >= ?",
            body.quantity,
            body.product_id,
            body.quantity,
        )
        if not reserved:
            raise HTTPException(409, "not enough stock")
        order_id = await tx.insert(
            "INSERT INTO orders (account_id, product_id, quantity, total_cents) VALUES (?, ?, ?, ?)",
            body.account_id,
            body.product_id,
            body.quantity,
            total_cents,
        )
        order = Order(
            order_id=order_id,
            account_id=body.account_id,
            product_id=body.product_id,
            quantity=body.quantity,
            total_cents=total_cents,
            shipping_cents=shipping_cents,
        )
        await remember(tx, "order", idempotency_key, body, order)
    return order


# --- in-memory: gift cards, loyalty points, SMS verification -------------------------------------


@app.get("/gift-cards/{code}")
async def get_gift_card(code: str) -> GiftCard:
    if code not in gift_card_balances:
        raise HTTPException(404, f"no gift card {code}")
    return GiftCard(code=code, balance_cents=gift_card_balances[code])


@app.post("/gift-cards/{code}/spend")
async def spend_gift_card(code: str, body: GiftCardSpend) -> GiftCardReceipt:
    async with gift_cards_lock:
        balance = gift_card_balances.get(code)
        if balance is None:
            raise HTTPException(404, f"no gift card {code}")
        if balance < body.amount_cents:
            raise HTTPException(409, "insufficient gift card balance")
        # The issuer is asked whether the card was reported stolen: a network round trip.
        if not await partners.gift_card_is_active(code):
            raise HTTPException(403, "gift card blocked by the issuer")
        gift_card_balances[code] = balance - body.amount_cents
    return GiftCardReceipt(
        code=code, spent_cents=body.amount_cents, balance_cents=balance - body.amount_cents
    )


@app.get("/loyalty/{account_id}")
async def get_loyalty(account_id: int, request: Request) -> LoyaltyBalance:
    points: int = request.app.state.loyalty_points.get(account_id, 0)
    return LoyaltyBalance(account_id=account_id, points=points)


@app.post("/loyalty/{account_id}/rewards")
async def redeem_reward(account_id: int, body: RewardRedemption, request: Request) -> RewardReceipt:
    async with loyalty_lock:
        points: int = request.app.state.loyalty_points.get(account_id, 0)
        cost = REWARD_COSTS[body.reward]
        if points < cost:
            raise HTTPException(409, "not enough loyalty points")
        # The fulfilment partner confirms the reward can ship: a network round trip.
        if not await partners.reward_in_stock(body.reward):
            raise HTTPException(409, "reward out of stock")
        request.app.state.loyalty_points[account_id] = points - cost
    return RewardReceipt(
        account_id=account_id, reward=body.reward, points_spent=cost, points_left=points - cost
    )


@app.post("/accounts/{account_id}/verification-codes", status_code=202)
def send_verification_code(account_id: int) -> VerificationCodeSent:
    key = (account_id, date.today().isoformat())
    with verification_codes_lock:
        sent = verification_codes_sent.get(key, 0)
        if sent >= DAILY_VERIFICATION_CODES:
            raise HTTPException(
                429, "daily limit of verification codes reached", headers={"Retry-After": "86400"}
            )
        # The SMS gateway's client blocks this worker thread until the gateway accepts the message.
        partners.send_sms(account_id, f"Your verification code is {secrets.randbelow(10**6):06d}")
        verification_codes_sent[key] = sent + 1
    return VerificationCodeSent(
        account_id=account_id, sent_today=sent + 1, daily_limit=DAILY_VERIFICATION_CODES
    )
