"""The SMSC that accepted a reply, so receipts match by message id, number and SMSC.

Revision ID: 0014_reply_smsc
Revises: 0013_api
Create Date: 2026-12-02

SMSC message ids are unique only per SMSC (and some restart their counters): a receipt
is matched to the reply sent to its number through the SMSC it came from (issue 11).
Replies recorded before this column keep NULL and match by message id and number.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_reply_smsc"
down_revision = "0013_api"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("replies", sa.Column("smsc", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("replies") as batch:
        batch.drop_column("smsc")
