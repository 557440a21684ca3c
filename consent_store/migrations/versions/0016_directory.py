"""The directory as LMT's customer systems keep it: holders, numbers that left, syncs.

Revision ID: 0016_directory
Revises: 0015_feed_position
Create Date: 2026-12-07

``subscribers`` gains ``holder`` (the customer systems' reference for whoever holds the
line; a new value is a handover) and ``left_at`` (the number left LMT's directory: the row
is kept, as ``other``, so that a return with a new holder is seen). ``directory_syncs``
records every sync (and dry run, and refusal); ``directory_changes`` is the outbox of the
consent changes a directory change causes (handovers, lapses of numbers that left),
written in the directory's transaction and queued for the workers after it commits.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_directory"
down_revision = "0015_feed_position"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
SyncId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("subscribers", sa.Column("holder", sa.String(200), nullable=True))
    op.add_column("subscribers", sa.Column("left_at", TS, nullable=True))
    op.create_table(
        "directory_syncs",
        sa.Column("id", SyncId, primary_key=True, autoincrement=True),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("bad_rows", sa.BigInteger(), nullable=False),
        sa.Column("directory_before", sa.BigInteger(), nullable=False),
        sa.Column("added", sa.BigInteger(), nullable=False),
        sa.Column("changed_group", sa.BigInteger(), nullable=False),
        sa.Column("changed_independence", sa.BigInteger(), nullable=False),
        sa.Column("left", sa.BigInteger(), nullable=False),
        sa.Column("new_holder", sa.BigInteger(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_directory_syncs"),
    )
    op.create_table(
        "directory_changes",
        sa.Column("id", SyncId, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("sync_id", sa.BigInteger(), nullable=True),
        sa.Column("msisdn", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("old_holder", sa.String(200), nullable=True),
        sa.Column("new_holder", sa.String(200), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("queued_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_directory_changes"),
        sa.UniqueConstraint("event_id", name="uq_directory_changes_event_id"),
        sa.CheckConstraint("kind IN ('handover', 'leave')",
                           name="ck_directory_changes_kind"),
    )
    op.create_index("ix_directory_changes_queued_at", "directory_changes", ["queued_at"])


def downgrade() -> None:
    op.drop_index("ix_directory_changes_queued_at", table_name="directory_changes")
    op.drop_table("directory_changes")
    op.drop_table("directory_syncs")
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_column("left_at")
        batch.drop_column("holder")
