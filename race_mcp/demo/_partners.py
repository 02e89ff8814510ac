"""Stand-ins for the partner APIs the demo shop calls: fraud screening, shipping quotes, the gift-card
issuer, email deliverability and an SMS gateway.

A real shop makes an HTTPS round trip to each of these in the middle of a request. Here each call
waits for the same time instead (`$RACE_MCP_DEMO_LATENCY_MS`, default 40 ms, a quick call inside one
cloud region), so the shop's handlers behave as they would in production: an async handler yields the
event loop to other requests while it awaits, and a threaded handler holds its worker thread while the
blocking SMS client waits. The decisions are deterministic so that tests can predict them.
"""

from __future__ import annotations

import asyncio
import os
import time

__all__ = [
    "LATENCY_ENV",
    "email_is_deliverable",
    "gift_card_is_active",
    "partner_latency",
    "quote_shipping",
    "reward_in_stock",
    "screen_payment",
    "send_sms",
]

LATENCY_ENV = "RACE_MCP_DEMO_LATENCY_MS"
_DEFAULT_LATENCY_MS = 40.0
_SCREENING_LIMIT_CENTS = 500_000
_UNDELIVERABLE_DOMAINS = frozenset({"example.invalid", "mailinator.invalid"})
_REPORTED_STOLEN_CARDS = frozenset({"GC-STOLEN"})


def partner_latency() -> float:
    """Seconds one partner call takes: `$RACE_MCP_DEMO_LATENCY_MS`, or 40 ms."""
    raw = os.environ.get(LATENCY_ENV, "")
    try:
        millis = float(raw) if raw else _DEFAULT_LATENCY_MS
    except ValueError:
        millis = _DEFAULT_LATENCY_MS
    return max(millis, 0.0) / 1000


async def screen_payment(account_id: int, amount_cents: int) -> bool:
    """The fraud-screening API: approves movements of money up to its per-call limit."""
    await asyncio.sleep(partner_latency())
    return account_id > 0 and amount_cents <= _SCREENING_LIMIT_CENTS


async def quote_shipping(product_id: int, quantity: int) -> int:
    """The carrier's rate API: shipping cost in cents for a parcel."""
    await asyncio.sleep(partner_latency())
    return 499 + 150 * (quantity - 1) if product_id > 0 else 0


async def gift_card_is_active(code: str) -> bool:
    """The gift-card issuer: false for cards reported lost or stolen."""
    await asyncio.sleep(partner_latency())
    return code not in _REPORTED_STOLEN_CARDS


async def email_is_deliverable(email: str) -> bool:
    """The email provider's verification API: false for domains that cannot receive mail."""
    await asyncio.sleep(partner_latency())
    return email.rpartition("@")[2] not in _UNDELIVERABLE_DOMAINS


async def reward_in_stock(reward: str) -> bool:
    """The rewards fulfilment partner: whether a reward can still be shipped."""
    await asyncio.sleep(partner_latency())
    return bool(reward)


def send_sms(account_id: int, text: str) -> None:
    """The SMS gateway's blocking client: returns once the gateway accepted the message."""
    if account_id > 0 and text:
        time.sleep(partner_latency())
