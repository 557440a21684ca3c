"""Each consent remembers the arrival of the newest change applied to it.

Revision ID: 0018_arrival
Revises: 0019_webhooks
Create Date: 2026-12-07

A consent follows its number's latest word by arrival (a text: when its deliver_sm reached
a gateway; another channel's change: when it was taken), not by the order changes were
applied: ``consent_state.last_at`` is the instant of the newest change applied so far, and
a change from before it is recorded as superseded (docs/store.md "Sequence guard"). Rows
written before this column keep NULL and are guarded by ``last_seq`` alone, as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018_arrival"
down_revision = "0019_webhooks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("consent_state", sa.Column("last_at", sa.DateTime(timezone=True),
                                             nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("consent_state") as batch:
        batch.drop_column("last_at")
