"""Tables of the HTTP API and the console: tokens, agents, sign-in audit.

Revision ID: 0013_api
Revises: 0012b_near_miss
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_api"
down_revision = "0012b_near_miss"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("token_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("scopes", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("token_id", name="pk_api_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
    )
    op.create_index("ix_api_tokens_name", "api_tokens", ["name"])
    op.create_table(
        "agents",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("disabled_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_agents"),
    )
    op.create_table(
        "sign_ins",
        sa.Column("id", ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("agent", sa.String(64), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("ok", sa.Boolean(create_constraint=False), nullable=False),
        sa.Column("remote", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sign_ins"),
    )
    op.create_index("ix_sign_ins_agent_at", "sign_ins", ["agent", "at"])


def downgrade() -> None:
    op.drop_index("ix_sign_ins_agent_at", table_name="sign_ins")
    op.drop_table("sign_ins")
    op.drop_table("agents")
    op.drop_index("ix_api_tokens_name", table_name="api_tokens")
    op.drop_table("api_tokens")
