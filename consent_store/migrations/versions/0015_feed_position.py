"""Feed positions in commit order: ``consent_events.position`` and the one-row ``ledger_feed``.

Revision ID: 0015_feed_position
Revises: 0014_reply_smsc
Create Date: 2026-12-07

A ledger row's ``id`` is taken when it is inserted, so on PostgreSQL a later id can
commit before an earlier one and a reader following ids either waits at a gap or skips
a row that commits late. ``position`` is taken as a transaction's last ledger write,
under the row lock of ``ledger_feed`` held until commit: positions are contiguous and
commit-ordered (docs/api.md, "The changes feed"; docs/store.md, "Feed positions").

Existing rows keep their id as their position, so a consumer's cursor taken before the
upgrade (an id) still means the same place in the feed; the counter goes on from the
largest. The same order is the proof log's leaf order (docs/store.md, "Merkle log").
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_feed_position"
down_revision = "0014_reply_smsc"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_feed",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_position", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_ledger_feed_one_row"),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_feed"),
    )
    with op.batch_alter_table("consent_events") as batch:
        batch.add_column(sa.Column("position", sa.BigInteger(), nullable=True))
    op.execute("UPDATE consent_events SET position = id")
    with op.batch_alter_table("consent_events") as batch:
        batch.alter_column("position", existing_type=sa.BigInteger(), nullable=False)
        batch.create_index("ix_consent_events_position", ["position"], unique=True)
    op.execute("INSERT INTO ledger_feed (id, last_position) "
               "SELECT 1, COALESCE(MAX(position), 0) FROM consent_events")


def downgrade() -> None:
    with op.batch_alter_table("consent_events") as batch:
        batch.drop_index("ix_consent_events_position")
        batch.drop_column("position")
    op.drop_table("ledger_feed")
