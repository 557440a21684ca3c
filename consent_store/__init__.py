"""The consent store: the ledger of every consent change, the current state derived from
it, the subscriber directory and reply tracking, on SQLite or PostgreSQL (docs/store.md)."""

from consent_store.engine import make_engine, upgrade
from consent_store.errors import (
    BadRequest,
    ConflictRetriesExhausted,
    NotFound,
    SchemaError,
    StoreError,
    StoreUnavailable,
)
from consent_store.requests import AppliedChange, ChangeRequest
from consent_store.store import ConsentStore
from consent_store.views import (
    ConsentStatus,
    ErasureReport,
    LapseCandidate,
    LedgerEntry,
    NumberState,
    SubscriberRow,
)

__all__ = [
    "AppliedChange",
    "BadRequest",
    "ChangeRequest",
    "ConflictRetriesExhausted",
    "ConsentStatus",
    "ConsentStore",
    "ErasureReport",
    "LapseCandidate",
    "LedgerEntry",
    "NotFound",
    "NumberState",
    "SchemaError",
    "StoreError",
    "StoreUnavailable",
    "SubscriberRow",
    "make_engine",
    "upgrade",
]
