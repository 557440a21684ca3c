"""Initial schema: subscriber directory, consent ledger, current state, replies.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies of the types as they were at this revision (never import the live schema).
TS = sa.DateTime(timezone=True)
LEDGER_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "subscribers",
        sa.Column("msisdn", sa.String(32), primary_key=True),
        sa.Column("client_group", sa.String(8), nullable=False),
        sa.Column("independent", sa.Boolean(create_constraint=False), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint("client_group IN ('lmt', 'other')",
                           name="ck_subscribers_client_group"),
        sa.PrimaryKeyConstraint("msisdn", name="pk_subscribers"),
    )
    op.create_table(
        "consent_events",
        sa.Column("id", LEDGER_ID, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("msisdn", sa.String(80), nullable=False),
        sa.Column("consent", sa.String(16), nullable=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("applied_at", TS, nullable=False),
        sa.Column("ingest_seq", sa.BigInteger(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("raw_hex", sa.Text(), nullable=True),
        sa.Column("data_coding", sa.Integer(), nullable=True),
        sa.Column("smsc", sa.JSON(), nullable=True),
        sa.Column("correlation_id", sa.String(200), nullable=True),
        sa.Column("catalog_version", sa.String(64), nullable=True),
        sa.Column("description_version", sa.String(64), nullable=True),
        sa.Column("reply_text", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_consent_events"),
        sa.UniqueConstraint("event_id", name="uq_consent_events_event_id"),
    )
    op.create_index("ix_consent_events_msisdn_received_at", "consent_events",
                    ["msisdn", "received_at"])
    op.create_index("ix_consent_events_msisdn_consent_id", "consent_events",
                    ["msisdn", "consent", "id"])
    op.create_table(
        "consent_state",
        sa.Column("msisdn", sa.String(32), nullable=False),
        sa.Column("consent", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("since", TS, nullable=True),
        sa.Column("channel", sa.String(32), nullable=True),
        sa.Column("last_event_id", sa.String(200), nullable=True),
        sa.Column("last_seq", sa.BigInteger(), nullable=True),
        sa.Column("last_activity_at", TS, nullable=True),
        sa.CheckConstraint("status IN ('given', 'withdrawn', 'lapsed', 'none')",
                           name="ck_consent_state_status"),
        sa.PrimaryKeyConstraint("msisdn", "consent", name="pk_consent_state"),
    )
    op.create_table(
        "replies",
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("msisdn", sa.String(32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("submitted_at", TS, nullable=True),
        sa.Column("message_id", sa.String(100), nullable=True),
        sa.Column("submit_status", sa.String(32), nullable=False),
        sa.Column("delivery_status", sa.String(32), nullable=True),
        sa.Column("delivered_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("event_id", name="pk_replies"),
        sa.ForeignKeyConstraint(["event_id"], ["consent_events.event_id"], ondelete="CASCADE",
                                name="fk_replies_event_id_consent_events"),
    )


def downgrade() -> None:
    op.drop_table("replies")
    op.drop_table("consent_state")
    op.drop_index("ix_consent_events_msisdn_consent_id", table_name="consent_events")
    op.drop_index("ix_consent_events_msisdn_received_at", table_name="consent_events")
    op.drop_table("consent_events")
    op.drop_table("subscribers")
