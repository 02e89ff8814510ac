"""Request and response models of the demo shop, shared by `shop.py` and `shop_fixed.py`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

__all__ = [
    "Account",
    "AccountCreate",
    "AccountUpdate",
    "Coupon",
    "CouponReceipt",
    "CouponRedemption",
    "GiftCard",
    "GiftCardReceipt",
    "GiftCardSpend",
    "Health",
    "LoyaltyBalance",
    "Order",
    "OrderCreate",
    "Product",
    "ProductDetails",
    "ProductUpdate",
    "RewardReceipt",
    "RewardRedemption",
    "TransferReceipt",
    "TransferRequest",
    "VerificationCodeSent",
    "Withdrawal",
    "WithdrawalReceipt",
    "etag_for",
    "version_from_if_match",
]

AccountId = int
Cents = int
_EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_MAX_AMOUNT_CENTS = 10_000_000


def etag_for(version: int) -> str:
    """The strong ETag of a row version."""
    return f'"{version}"'


def version_from_if_match(header: str) -> int | None:
    """The row version an `If-Match` header names, or None when it names none."""
    tag = header.strip().removeprefix("W/").strip('"')
    return int(tag) if tag.isdigit() else None


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    shop: Literal["racy", "fixed"]


class AccountCreate(BaseModel):
    email: str = Field(pattern=_EMAIL_PATTERN, max_length=254)
    name: str = Field(min_length=1, max_length=80)

    @field_validator("email")
    @classmethod
    def _lowercase(cls, email: str) -> str:
        return email.lower()


class AccountUpdate(BaseModel):
    name: str = Field(min_length=1, max_length=80)


class Account(BaseModel):
    id: AccountId
    email: str
    name: str
    balance_cents: Cents
    version: int


class Withdrawal(BaseModel):
    account_id: AccountId = Field(gt=0)
    amount_cents: Cents = Field(gt=0, le=_MAX_AMOUNT_CENTS)


class WithdrawalReceipt(BaseModel):
    withdrawal_id: int
    account_id: AccountId
    amount_cents: Cents
    balance_cents: Cents


class TransferRequest(BaseModel):
    from_account_id: AccountId = Field(gt=0)
    to_account_id: AccountId = Field(gt=0)
    amount_cents: Cents = Field(gt=0, le=_MAX_AMOUNT_CENTS)

    @model_validator(mode="after")
    def _distinct_accounts(self) -> TransferRequest:
        if self.from_account_id == self.to_account_id:
            raise ValueError("from_account_id and to_account_id must differ")
        return self


class TransferReceipt(BaseModel):
    transfer_id: int
    from_account_id: AccountId
    to_account_id: AccountId
    amount_cents: Cents
    from_balance_cents: Cents


class Coupon(BaseModel):
    code: str
    value_cents: Cents
    redeemed_by: AccountId | None


class CouponRedemption(BaseModel):
    account_id: AccountId = Field(gt=0)


class CouponReceipt(BaseModel):
    code: str
    account_id: AccountId
    credited_cents: Cents
    balance_cents: Cents


class Product(BaseModel):
    id: int
    name: str
    price_cents: Cents
    stock: int
    version: int


class ProductDetails(Product):
    views: int


class ProductUpdate(BaseModel):
    price_cents: Cents = Field(gt=0, le=_MAX_AMOUNT_CENTS)


class OrderCreate(BaseModel):
    account_id: AccountId = Field(gt=0)
    product_id: int = Field(gt=0)
    quantity: int = Field(1, ge=1, le=10)


class Order(BaseModel):
    order_id: int
    account_id: AccountId
    product_id: int
    quantity: int
    total_cents: Cents
    shipping_cents: Cents


class GiftCard(BaseModel):
    code: str
    balance_cents: Cents


class GiftCardSpend(BaseModel):
    amount_cents: Cents = Field(gt=0, le=_MAX_AMOUNT_CENTS)


class GiftCardReceipt(BaseModel):
    code: str
    spent_cents: Cents
    balance_cents: Cents


class LoyaltyBalance(BaseModel):
    account_id: AccountId
    points: int


class RewardRedemption(BaseModel):
    reward: Literal["free-shipping", "coffee-mug"]


class RewardReceipt(BaseModel):
    account_id: AccountId
    reward: str
    points_spent: int
    points_left: int


class VerificationCodeSent(BaseModel):
    account_id: AccountId
    sent_today: int
    daily_limit: int
