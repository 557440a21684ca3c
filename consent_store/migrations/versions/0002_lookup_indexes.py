"""Indexes for the scheduled lapse, today's counts and delivery receipts.

Revision ID: 0002_lookup_indexes
Revises: 0001_initial
Create Date: 2026-11-25

The lapse job scans given JAUNUMI consents by last activity; the status screen counts
today's ledger rows; a delivery receipt finds its reply by SMSC message id.
"""

from __future__ import annotations

from alembic import op

revision = "0002_lookup_indexes"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_consent_events_received_at", "consent_events", ["received_at"])
    op.create_index("ix_consent_state_consent_status_last_activity_at", "consent_state",
                    ["consent", "status", "last_activity_at"])
    op.create_index("ix_replies_message_id", "replies", ["message_id"])
    op.create_index("ix_replies_msisdn", "replies", ["msisdn"])


def downgrade() -> None:
    op.drop_index("ix_replies_msisdn", table_name="replies")
    op.drop_index("ix_replies_message_id", table_name="replies")
    op.drop_index("ix_consent_state_consent_status_last_activity_at", table_name="consent_state")
    op.drop_index("ix_consent_events_received_at", table_name="consent_events")
