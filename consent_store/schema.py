"""The tables of the consent store, as the code sees them.

The database schema itself is created and changed only by the Alembic revisions in
``migrations/versions``; this module must describe the head revision (a test checks it).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from consent_store.timeutil import UtcDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid alias).
LedgerId = BigInteger().with_variant(Integer(), "sqlite")

MSISDN_LEN = 32
# An erased number is kept in the ledger only as "h:" + 64 hex digits (see docs/store.md).
LEDGER_MSISDN_LEN = 80
EVENT_ID_LEN = 200

subscribers = Table(
    "subscribers",
    metadata,
    Column("msisdn", String(MSISDN_LEN), primary_key=True),
    Column("client_group", String(8), nullable=False),
    Column("independent", Boolean(create_constraint=False), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    # 0016: the customer systems' reference for whoever holds the line (a new value is a
    # handover), and when the number left LMT's directory (the row is kept as ``other``).
    Column("holder", String(200), nullable=True),
    Column("left_at", UtcDateTime(), nullable=True),
    CheckConstraint("client_group IN ('lmt', 'other')", name="client_group"),
)

# Every directory sync, dry run and refused sync (``consentctl status`` shows the last).
directory_syncs = Table(
    "directory_syncs",
    metadata,
    Column("id", LedgerId, primary_key=True, autoincrement=True),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime(), nullable=True),
    Column("source", String(200), nullable=False),
    Column("outcome", String(16), nullable=False),  # applied, dry_run, refused
    Column("rows", BigInteger(), nullable=False),
    Column("bad_rows", BigInteger(), nullable=False),
    Column("directory_before", BigInteger(), nullable=False),
    Column("added", BigInteger(), nullable=False),
    Column("changed_group", BigInteger(), nullable=False),
    Column("changed_independence", BigInteger(), nullable=False),
    Column("left", BigInteger(), nullable=False),
    Column("new_holder", BigInteger(), nullable=False),
    Column("detail", Text(), nullable=True),
)

# The outbox of consent changes a directory change causes (a handover, the lapse of a
# number that left): written in the directory's transaction, queued after it commits.
directory_changes = Table(
    "directory_changes",
    metadata,
    Column("id", LedgerId, primary_key=True, autoincrement=True),
    Column("event_id", String(EVENT_ID_LEN), nullable=False, unique=True),
    Column("sync_id", BigInteger(), nullable=True),
    Column("msisdn", String(MSISDN_LEN), nullable=False),
    Column("kind", String(16), nullable=False),  # handover, leave
    Column("old_holder", String(200), nullable=True),
    Column("new_holder", String(200), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("queued_at", UtcDateTime(), nullable=True),
    CheckConstraint("kind IN ('handover', 'leave')", name="kind"),
    Index("ix_directory_changes_queued_at", "queued_at"),
)

# The ledger: append-only. Rows are never updated or deleted, except that erasure
# blanks the personal fields of a number's rows (docs/store.md, "Erasure").
consent_events = Table(
    "consent_events",
    metadata,
    Column("id", LedgerId, primary_key=True, autoincrement=True),
    Column("event_id", String(EVENT_ID_LEN), nullable=False, unique=True),
    Column("msisdn", String(LEDGER_MSISDN_LEN), nullable=False),
    Column("consent", String(16), nullable=True),
    Column("action", String(16), nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("applied_at", UtcDateTime(), nullable=False),
    Column("ingest_seq", BigInteger(), nullable=True),
    Column("text", Text(), nullable=True),
    Column("raw_hex", Text(), nullable=True),
    Column("data_coding", Integer(), nullable=True),
    Column("smsc", JSON(), nullable=True),
    Column("correlation_id", String(EVENT_ID_LEN), nullable=True),
    Column("catalog_version", String(64), nullable=True),
    Column("description_version", String(64), nullable=True),
    Column("reply_text", Text(), nullable=True),
    Column("reason", Text(), nullable=True),
    # 0012: back-dated entries, who acted and on what basis (docs/store.md).
    Column("entered_at", UtcDateTime(), nullable=True),
    Column("on_behalf", String(16), nullable=True),
    Column("agent", String(100), nullable=True),
    Column("reference", String(200), nullable=True),
    Column("note", Text(), nullable=True),
    Column("description_digest", String(64), nullable=True),
    # 0012: the hash chain (consent_store/chain.py).
    Column("salt", String(32), nullable=True),
    Column("personal_digest", String(64), nullable=True),
    Column("chain_id", String(32), nullable=True),
    Column("chain_seq", BigInteger(), nullable=True),
    Column("chain_prev", String(64), nullable=True),
    Column("chain_hash", String(64), nullable=True),
    # What an SMS was understood as, and by which rule (docs/commands.md, "Near misses").
    Column("understood", Text(), nullable=True),
    Column("match_rule", String(64), nullable=True),
    Column("confirms_event_id", String(EVENT_ID_LEN), nullable=True),
    Column("confirmed_text", Text(), nullable=True),
    # 0015: the row's place in the feed and the proof log, in commit order (ledger_feed).
    Column("position", BigInteger(), nullable=False),
    Index("ix_consent_events_msisdn_received_at", "msisdn", "received_at"),
    Index("ix_consent_events_chain_id_chain_seq", "chain_id", "chain_seq", unique=True),
    Index("ix_consent_events_msisdn_consent_id", "msisdn", "consent", "id"),
    Index("ix_consent_events_received_at", "received_at"),
    Index("ix_consent_events_position", "position", unique=True),
)

# The last feed position handed out (one row). A writer moves it as the last ledger write
# of its transaction, so its row lock, held until commit, makes positions contiguous and
# commit-ordered (consent_store/feed.py; docs/store.md, "Feed positions").
ledger_feed = Table(
    "ledger_feed",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=False),
    Column("last_position", BigInteger(), nullable=False),
    CheckConstraint("id = 1", name="one_row"),
)

# Current state per number and consent: derived from the ledger, kept in the same
# transaction as the ledger row that changes it. status 'none' rows exist only to carry
# the sequence guard (last_at, last_seq) for a consent that was never in force.
consent_state = Table(
    "consent_state",
    metadata,
    Column("msisdn", String(MSISDN_LEN), primary_key=True),
    Column("consent", String(16), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("since", UtcDateTime(), nullable=True),
    Column("channel", String(32), nullable=True),
    Column("last_event_id", String(EVENT_ID_LEN), nullable=True),
    Column("last_seq", BigInteger(), nullable=True),
    Column("last_activity_at", UtcDateTime(), nullable=True),
    # When the newest change applied to this consent arrived (consent_core.arrival.Stamp;
    # last_seq breaks ties of equal instants). NULL: written before arrival was kept.
    Column("last_at", UtcDateTime(), nullable=True),
    CheckConstraint("status IN ('given', 'withdrawn', 'lapsed', 'none')", name="status"),
    Index("ix_consent_state_consent_status_last_activity_at",
          "consent", "status", "last_activity_at"),
)

# Outbound confirmations: one row per reply, updated as it is submitted and delivered.
replies = Table(
    "replies",
    metadata,
    Column("event_id", String(EVENT_ID_LEN),
           ForeignKey("consent_events.event_id", ondelete="CASCADE"), primary_key=True),
    Column("msisdn", String(MSISDN_LEN), nullable=False),
    Column("text", Text(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("submitted_at", UtcDateTime(), nullable=True),
    Column("message_id", String(100), nullable=True),
    Column("submit_status", String(32), nullable=False),
    Column("delivery_status", String(32), nullable=True),
    Column("delivered_at", UtcDateTime(), nullable=True),
    Column("reason", Text(), nullable=True),  # why it was suppressed or failed
    # The SMSC that accepted the reply (host:port/system_id): a receipt matches a reply by
    # message id, number *and* SMSC, since message ids repeat across SMSCs and restarts.
    Column("smsc", String(200), nullable=True),
    Index("ix_replies_message_id", "message_id"),
    Index("ix_replies_msisdn", "msisdn"),
)

# Where each number's hash chain stands (key: the number as the ledger holds it). The row
# lock on it serialises a number's writers, also those of texts that name no consent.
ledger_heads = Table(
    "ledger_heads",
    metadata,
    Column("msisdn", String(LEDGER_MSISDN_LEN), primary_key=True),
    Column("chain_id", String(32), nullable=False),
    Column("seq", BigInteger(), nullable=False),
    Column("hash", String(64), nullable=False),
)

# Communications LMT's systems report (seed rule 4: the lapse counts them).
contacts = Table(
    "contacts",
    metadata,
    Column("id", LedgerId, primary_key=True, autoincrement=True),
    Column("msisdn", String(MSISDN_LEN), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("occurred_at", UtcDateTime(), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("note", Text(), nullable=True),
    Index("ix_contacts_msisdn_occurred_at", "msisdn", "occurred_at"),
)

# Every consent description a subscriber was shown, by digest (the ledger row cites it).
consent_descriptions = Table(
    "consent_descriptions",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("consent", String(16), nullable=False),
    Column("description_version", String(64), nullable=False),
    Column("lang", String(8), nullable=False),
    Column("text", Text(), nullable=False),
)

# The API's and console's tables (revision 0013_api) and the webhook subscriptions
# (0019_webhooks) join the same metadata.
from consent_store import access_schema as _access_schema  # noqa: E402,F401
from consent_store import webhooks_schema as _webhooks_schema  # noqa: E402,F401
