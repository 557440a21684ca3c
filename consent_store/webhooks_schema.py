"""The webhook subscriptions and where each one's delivery stands (revision ``0019_webhooks``).

A subscription is a URL, its signing secret and an optional set of consents; its delivery
state is a feed position (the last change the receiver accepted) and, while the receiver
fails, when the failures began, how many tries were made, when the next one is due and
whether it is parked. Nothing else is stored: the events themselves are the ledger's, read
through the same feed as ``GET /v1/changes`` (docs/api.md, "Webhooks").
"""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Column, Integer, String, Table, Text

from consent_store.schema import LedgerId, metadata
from consent_store.timeutil import UtcDateTime

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", LedgerId, primary_key=True, autoincrement=True),
    Column("url", Text(), nullable=False),
    # The Standard Webhooks secret ("whsec_" + base64). It must be kept in clear to sign;
    # the database is already the place that holds the consents themselves.
    Column("secret", String(128), nullable=False),
    Column("consents", String(64), nullable=True),  # comma-separated; NULL = every consent
    Column("created_at", UtcDateTime(), nullable=False),
    Column("removed_at", UtcDateTime(), nullable=True),
    Column("position", BigInteger(), nullable=False),  # last feed position delivered
    Column("state", String(16), nullable=False),
    Column("attempts", Integer(), nullable=False),  # failed tries since the last success
    Column("failing_since", UtcDateTime(), nullable=True),
    Column("next_attempt_at", UtcDateTime(), nullable=True),
    Column("last_error", Text(), nullable=True),
    Column("delivered_at", UtcDateTime(), nullable=True),  # the last success
    # One deliverer at a time per subscription (order per subscription): a lease.
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", UtcDateTime(), nullable=True),
    CheckConstraint("state IN ('active', 'parked')", name="state"),
)
