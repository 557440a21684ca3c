"""What a subscriber's text was understood as: the near-miss reader's decision per ledger row.

Revision ID: 0012b_near_miss
Revises: 0012_semantics
Create Date: 2026-12-02

``understood``: the command as understood ("VIETA STOP"); ``match_rule``: which rule read it
("exact", "form", "filler+typo", "yes+form" for a confirmation, or why nothing was
understood); ``confirms_event_id`` and ``confirmed_text``: on a JĀ/NĒ answer, the event and
the text of the near-miss give it answers (docs/commands.md, "Near misses").
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012b_near_miss"
down_revision = "0012_semantics"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("consent_events") as batch:
        batch.add_column(sa.Column("understood", sa.Text(), nullable=True))
        batch.add_column(sa.Column("match_rule", sa.String(64), nullable=True))
        batch.add_column(sa.Column("confirms_event_id", sa.String(200), nullable=True))
        batch.add_column(sa.Column("confirmed_text", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("consent_events") as batch:
        batch.drop_column("confirmed_text")
        batch.drop_column("confirms_event_id")
        batch.drop_column("match_rule")
        batch.drop_column("understood")
