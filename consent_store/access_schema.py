"""Tables of the API and the console: bearer tokens, agent accounts, the sign-in audit.

Kept apart from the consent tables (``schema.py`` imports this module so that the one
``metadata`` describes the head revision). No consent data lives here: only who may reach
the store over HTTP and who signed in when (revision ``0013_api``).
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, String, Table, Text

from consent_store.schema import LedgerId, metadata
from consent_store.timeutil import UtcDateTime

# A token is shown once at creation; only its SHA-256 is stored (tokens are 256 random
# bits, so a fast hash is enough: docs/api.md, "Tokens").
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_id", String(32), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("scopes", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime(), nullable=True),
    Index("ix_api_tokens_name", "name"),
)

# Customer-centre agents of the console; passwords hashed with argon2id.
agents = Table(
    "agents",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("password_hash", Text(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("disabled_at", UtcDateTime(), nullable=True),
)

# Every console sign-in attempt and sign-out, kept for the audit.
sign_ins = Table(
    "sign_ins",
    metadata,
    Column("id", LedgerId, primary_key=True, autoincrement=True),
    Column("agent", String(64), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("event", String(16), nullable=False),  # signed_in / refused / signed_out
    Column("ok", Boolean(create_constraint=False), nullable=False),
    Column("remote", String(64), nullable=True),
    Column("user_agent", String(200), nullable=True),
    Index("ix_sign_ins_agent_at", "agent", "at"),
)
