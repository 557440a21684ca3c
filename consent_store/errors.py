"""Errors of the consent store, each phrased so an operator can act on it.

Expected outcomes (a refused consent, an unknown command, a replayed event) are values
in ``AppliedChange``; only what stops the store from doing its job is an exception.
"""

from __future__ import annotations

from consent_core.changes import BadRequest as _ChangeBadRequest


class StoreError(Exception):
    """Base of every consent-store error."""


class StoreUnavailable(StoreError):
    """The database cannot be reached or refused the connection."""


class UnsupportedDatabase(StoreError):
    """``database.url`` is not one the store can use (not a URL, another database, no
    driver): a configuration error, not an outage."""


class SchemaError(StoreError):
    """The schema is missing or older than the code; ``consentctl db upgrade`` fixes it."""


class NotFound(StoreError):
    """Nothing is held about the number (no directory row, no ledger row)."""


# A change request or import row that cannot be applied as given. Defined with the values
# that raise it (a ValueError, not a StoreError: callers catch it by name).
BadRequest = _ChangeBadRequest


class ConflictRetriesExhausted(StoreError):
    """Concurrent writers kept conflicting; the batch was not applied."""


def safe_url(url: str) -> str:
    """``url`` with the password replaced by ``***`` (for messages and logs)."""
    try:
        from sqlalchemy.engine import make_url  # here: consentctl imports errors early

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparseable URL may still hold a secret: show only the scheme
        return url.split(":", 1)[0] + ":…"
