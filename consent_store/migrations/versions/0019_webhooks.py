"""Webhook subscriptions and where each one's delivery stands.

Revision ID: 0019_webhooks
Revises: 0016_directory
Create Date: 2026-12-07

Downstream systems are pushed every consent change (issue 30): a subscription per URL,
delivered in feed order by ``consent-webhooks run`` (docs/api.md, "Webhooks"). On
PostgreSQL a statement trigger on the ledger NOTIFYs channel ``consent_feed`` so the
deliverer wakes at each commit instead of waiting for its next look.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019_webhooks"
down_revision = "0016_directory"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  primary_key=True, autoincrement=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("consents", sa.String(64), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("removed_at", TS, nullable=True),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("failing_since", TS, nullable=True),
        sa.Column("next_attempt_at", TS, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", TS, nullable=True),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until", TS, nullable=True),
        sa.CheckConstraint("state IN ('active', 'parked')", name=op.f("ck_webhooks_state")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
    )
    if op.get_bind().dialect.name == "postgresql":
        # Wake consent-webhooks the moment a ledger insert commits (NOTIFY is delivered at
        # commit, in commit order; notifications of one transaction are folded into one).
        op.execute(NOTIFY_FUNCTION)
        op.execute("CREATE TRIGGER consent_events_feed_notify AFTER INSERT ON consent_events "
                   "FOR EACH STATEMENT EXECUTE FUNCTION consent_feed_notify()")


NOTIFY_FUNCTION = """
CREATE FUNCTION consent_feed_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('consent_feed', '');
  RETURN NULL;
END $$
"""


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS consent_events_feed_notify ON consent_events")
        op.execute("DROP FUNCTION IF EXISTS consent_feed_notify()")
    op.drop_table("webhooks")
