"""Consent semantics and proof: back-dated entries, guardian basis, contacts, reply fates,
description texts, and the ledger's hash chain.

Revision ID: 0012_semantics
Revises: 0002_lookup_indexes
Create Date: 2026-12-02

Existing ledger rows are chained in apply order, one chain per number as the ledger holds
it (a pseudonym's rows form their own chain, closed by its erase row); rows erased before
this revision have no salt, their personal digest is taken over what erasure left.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0012_semantics"
down_revision = "0002_lookup_indexes"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_EVENT_COLUMNS = (
    ("entered_at", TS), ("on_behalf", sa.String(16)), ("agent", sa.String(100)),
    ("reference", sa.String(200)), ("note", sa.Text()), ("description_digest", sa.String(64)),
    ("salt", sa.String(32)), ("personal_digest", sa.String(64)), ("chain_id", sa.String(32)),
    ("chain_seq", sa.BigInteger()), ("chain_prev", sa.String(64)),
    ("chain_hash", sa.String(64)),
)


def upgrade() -> None:
    with op.batch_alter_table("consent_events") as batch:
        for name, type_ in _EVENT_COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))
    with op.batch_alter_table("replies") as batch:
        batch.add_column(sa.Column("reason", sa.Text(), nullable=True))
    op.create_table(
        "ledger_heads",
        sa.Column("msisdn", sa.String(80), nullable=False),
        sa.Column("chain_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("msisdn", name="pk_ledger_heads"),
    )
    op.create_table(
        "contacts",
        sa.Column("id", ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("msisdn", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_contacts"),
    )
    op.create_index("ix_contacts_msisdn_occurred_at", "contacts", ["msisdn", "occurred_at"])
    op.create_table(
        "consent_descriptions",
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("consent", sa.String(16), nullable=False),
        sa.Column("description_version", sa.String(64), nullable=False),
        sa.Column("lang", sa.String(8), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name="pk_consent_descriptions"),
    )
    _chain_existing_rows()
    op.create_index("ix_consent_events_chain_id_chain_seq", "consent_events",
                    ["chain_id", "chain_seq"], unique=True)


def _chain_existing_rows() -> None:
    from consent_store import chain

    conn = op.get_bind()
    # Reflected, not the live schema: later revisions may add columns.
    meta = sa.MetaData()
    consent_events = sa.Table("consent_events", meta, autoload_with=conn)
    ledger_heads = sa.Table("ledger_heads", meta, autoload_with=conn)
    heads: dict[str, chain.Head] = {}
    updates: list[dict[str, Any]] = []
    rows = conn.execute(sa.select(consent_events).order_by(consent_events.c.id)).mappings()
    for r in rows:
        row = dict(r)
        head = heads.setdefault(row["msisdn"],
                                chain.Head(row["msisdn"], chain.new_chain_id(), 0, chain.GENESIS))
        chain.seal(row, head)
        if str(row["msisdn"]).startswith("h:") and row["action"] != "erase":
            row["salt"] = None  # erased before this revision: nothing left to salt
        updates.append({"b_id": row["id"], **{k: row[k] for k in chain.CHAIN_COLUMNS}})
    for start in range(0, len(updates), 1000):
        conn.execute(sa.update(consent_events)
                     .where(consent_events.c.id == sa.bindparam("b_id"))
                     .values({k: sa.bindparam(k) for k in chain.CHAIN_COLUMNS}),
                     updates[start:start + 1000])
    closed = {r.msisdn for r in conn.execute(
        sa.select(consent_events.c.msisdn).where(consent_events.c.action == "erase"))}
    open_heads = [{"msisdn": h.key, "chain_id": h.chain_id, "seq": h.seq, "hash": h.hash}
                  for h in heads.values() if h.key not in closed]
    if open_heads:
        conn.execute(ledger_heads.insert(), open_heads)


def downgrade() -> None:
    op.drop_index("ix_consent_events_chain_id_chain_seq", table_name="consent_events")
    op.drop_table("consent_descriptions")
    op.drop_index("ix_contacts_msisdn_occurred_at", table_name="contacts")
    op.drop_table("contacts")
    op.drop_table("ledger_heads")
    with op.batch_alter_table("replies") as batch:
        batch.drop_column("reason")
    with op.batch_alter_table("consent_events") as batch:
        for name, _ in reversed(_EVENT_COLUMNS):
            batch.drop_column(name)
