"""The consent store: the ledger of every consent change, the current state derived from
it, the subscriber directory and reply tracking, on SQLite or PostgreSQL (docs/store.md).

The names below are loaded on first use, so importing a light submodule (``errors``,
``timeutil``) does not import SQLAlchemy and the whole store (``consentctl`` start-up).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# Each public name and the submodule that defines it.
_WHERE = {
    "make_engine": "engine", "upgrade": "engine",
    "BadRequest": "errors", "ConflictRetriesExhausted": "errors", "NotFound": "errors",
    "SchemaError": "errors", "StoreError": "errors", "StoreUnavailable": "errors",
    "AppliedChange": "requests", "ChangeRequest": "requests",
    "ConsentStore": "store",
    "ConsentStatus": "views", "ErasureReport": "views", "LapseCandidate": "views",
    "LedgerEntry": "views", "NumberState": "views", "SubscriberRow": "views",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'consent_store' has no attribute {name!r}")
    value = getattr(import_module(f"consent_store.{module}"), name)
    globals()[name] = value
    return value
