"""``ConsentStore``: the one object through which everything reads and writes consents."""

from __future__ import annotations

import hashlib
import hmac
import random
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, ProgrammingError

from consent_core.catalog import Catalog
from consent_core.model import CONSENTS
from consent_store import queries, upkeep
from consent_store.engine import WRITE, make_engine
from consent_store.errors import (
    BadRequest,
    ConflictRetriesExhausted,
    NotFound,
    SchemaError,
    StoreError,
    StoreUnavailable,
    safe_url,
)
from consent_store.ledger import apply_in_transaction
from consent_store.requests import CHANNELS, AppliedChange, ChangeRequest, storable
from consent_store.timeutil import as_utc, utcnow
from consent_store.views import (
    ErasureReport,
    LapseCandidate,
    LedgerEntry,
    NumberState,
    SubscriberRow,
)

# PostgreSQL SQLSTATEs after which the whole transaction may simply be run again:
# serialization_failure, deadlock_detected, unique_violation (a concurrent writer
# committed the same event id first: on the retry it is a replay).
_RETRY_SQLSTATES = frozenset({"40001", "40P01", "23505"})
MAX_ATTEMPTS = 8
IMPORT_CHUNK = 1000
LAPSE_CHUNK = 500


class ConsentStore:
    """The consent store over one database (``sqlite:///…`` or ``postgresql+psycopg://…``).

    ``lang`` is the reply language used when ``apply_batch`` is not told one.
    ``pseudonym_key`` keys the hash that replaces an erased number in the ledger.
    """

    def __init__(self, engine_or_url: Engine | str, *, lang: str = "lv",
                 pseudonym_key: bytes = b"") -> None:
        self.engine = make_engine(engine_or_url) if isinstance(engine_or_url, str) \
            else engine_or_url
        self._writer = self.engine.execution_options(**WRITE)
        self.lang = lang
        self._key = pseudonym_key
        # Transactions run again after a concurrent writer got in the way (for metrics).
        self.conflict_retries = 0

    def close(self) -> None:
        self.engine.dispose()

    # --- transactions and error translation -------------------------------------------

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except StoreError:
            raise
        except (OperationalError, ProgrammingError) as exc:
            url = self._safe_url()
            text = _first_line(exc)
            if _missing_table(exc):
                raise SchemaError(f"database {url}: schema missing or out of date ({text}); "
                                  "run `consentctl db upgrade`") from None
            raise StoreUnavailable(f"database {url}: {text}") from None
        except DBAPIError as exc:
            raise StoreError(f"database {self._safe_url()}: {_first_line(exc)}") from None

    def _safe_url(self) -> str:
        return safe_url(self.engine.url.render_as_string(hide_password=True))

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._errors(), self.engine.connect() as conn:
            yield conn

    def _write(self, work: Any) -> Any:
        """Run ``work(conn)`` in a write transaction, again when a concurrent writer got in
        the way (see _RETRY_SQLSTATES)."""
        with self._errors():
            for attempt in range(1, MAX_ATTEMPTS + 1):
                try:
                    with self._writer.begin() as conn:
                        return work(conn)
                except (IntegrityError, OperationalError) as exc:
                    if _sqlstate(exc) not in _RETRY_SQLSTATES:
                        raise
                    if attempt == MAX_ATTEMPTS:
                        raise ConflictRetriesExhausted(
                            f"gave up after {attempt} attempts: concurrent writers kept "
                            f"conflicting ({_first_line(exc)})") from None
                    self.conflict_retries += 1
                    time.sleep(random.uniform(0, 0.005 * 2**attempt))
        raise AssertionError("unreachable")

    # --- the one entry point for changes ----------------------------------------------

    def apply_batch(self, requests: Sequence[ChangeRequest], *, catalog: Catalog,
                    lang: str | None = None) -> list[AppliedChange]:
        """Apply ``requests`` in order in one transaction; one ``AppliedChange`` each.

        An event id already in the ledger (or earlier in the batch) returns its first
        outcome with ``replayed=True`` and changes nothing.
        """
        if not requests:
            return []
        reqs = list(requests)

        def work(conn: Connection) -> list[AppliedChange]:
            return apply_in_transaction(conn, reqs, catalog=catalog, lang=lang or self.lang,
                                        now=utcnow())

        result: list[AppliedChange] = self._write(work)
        return result

    def apply(self, request: ChangeRequest, *, catalog: Catalog,
              lang: str | None = None) -> AppliedChange:
        return self.apply_batch([request], catalog=catalog, lang=lang)[0]

    # --- reads -----------------------------------------------------------------------

    def pseudonym(self, msisdn: str) -> str:
        """What an erased number is recorded as in the ledger (docs/store.md)."""
        digest = hmac.new(self._key, b"msisdn:" + msisdn.encode(), hashlib.sha256).hexdigest()
        return "h:" + digest

    def state(self, msisdn: str, at: datetime | None = None) -> NumberState:
        """All five consents of ``msisdn`` now, or as they stood at ``at``."""
        with self._read() as conn:
            found = queries.number_state(conn, msisdn, self.pseudonym(msisdn),
                                         None if at is None else as_utc(at))
        if found is None:
            raise NotFound(f"nothing is held about {msisdn}")
        return found

    def history(self, msisdn: str) -> list[LedgerEntry]:
        """Every ledger row of ``msisdn`` (including erased ones), oldest first."""
        with self._read() as conn:
            return queries.history(conn, msisdn, self.pseudonym(msisdn))

    def export(self, msisdn: str) -> dict[str, Any]:
        """Everything held about ``msisdn`` as JSON-able data (GDPR Art. 15, seed rule 8)."""
        with self._read() as conn:
            pseudonym = self.pseudonym(msisdn)
            state = queries.number_state(conn, msisdn, pseudonym, None)
            if state is None:
                raise NotFound(f"nothing is held about {msisdn}")
            sub = queries.subscriber(conn, msisdn)
            return {
                "msisdn": msisdn,
                "exported_at": _iso(utcnow()),
                "subscriber": None if sub is None else {
                    "client_group": sub.client_group, "independent": bool(sub.independent),
                    "updated_at": _iso(sub.updated_at)},
                "consents": state.to_dict()["consents"],
                "history": [e.to_dict() for e in queries.history(conn, msisdn, pseudonym)],
                "replies": queries.reply_rows(conn, msisdn),
            }

    def may_use(self, msisdn: str, consent: str, at: datetime | None = None) -> bool:
        """Whether ``consent`` of ``msisdn`` is in force now (one primary-key read) or at ``at``."""
        if consent not in CONSENTS:
            raise BadRequest(f"consent {consent!r} is not one of {', '.join(CONSENTS)}")
        with self._read() as conn:
            if at is None:
                return queries.may_use_now(conn, msisdn, consent)
            return queries.may_use_at(conn, msisdn, self.pseudonym(msisdn), consent, as_utc(at))

    def counts_today(self, now: datetime | None = None) -> dict[str, dict[str, int]]:
        """Ledger rows received since 00:00 UTC today: ``{consent or "-": {action: n}}``."""
        now = as_utc(now or utcnow())
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        with self._read() as conn:
            return queries.counts_since(conn, start)

    # --- changes from outside the SMS path -------------------------------------------

    def lapse(self, now: datetime, period: timedelta, *,
              dry_run: bool = False) -> list[LapseCandidate]:
        """Lapse every given JAUNUMI whose last activity is older than ``now - period``
        (seed rule 4). With ``dry_run`` report them and change nothing."""
        now = as_utc(now)
        cutoff = now - period
        days = period.total_seconds() / 86400
        out: list[LapseCandidate] = []
        after = ""
        while True:
            if dry_run:
                with self._read() as conn:
                    rows = upkeep.lapse_candidates(conn, cutoff, after, LAPSE_CHUNK, lock=False)
                chunk = [LapseCandidate(r.msisdn, r.since, r.last_activity_at,
                                        upkeep.lapse_event_id(r.msisdn, r.since)) for r in rows]
            else:
                def work(conn: Connection, after: str = after) -> tuple[list[Any], list[Any]]:
                    rows = upkeep.lapse_candidates(conn, cutoff, after, LAPSE_CHUNK, lock=True)
                    return rows, upkeep.apply_lapse(conn, rows, now, days)

                rows, chunk = self._write(work)
            out.extend(chunk)
            if len(rows) < LAPSE_CHUNK:
                return out
            after = rows[-1].msisdn

    def reset(self, msisdn: str, reason: str, channel: str = "operator") -> list[AppliedChange]:
        """Number reassigned (seed rule 6): every given consent withdrawn, outcome ``reset``."""
        _check_channel(channel)
        with self._read() as conn:
            if queries.number_state(conn, msisdn, self.pseudonym(msisdn), None) is None:
                raise NotFound(f"nothing is held about {msisdn}")
        result: list[AppliedChange] = self._write(
            lambda conn: upkeep.reset(conn, msisdn, storable(reason) or "", channel, utcnow()))
        return result

    def erase(self, msisdn: str, reason: str, channel: str = "operator") -> ErasureReport:
        """Erase what is held about ``msisdn`` except the proof of consent (docs/store.md)."""
        _check_channel(channel)
        with self._read() as conn:
            if queries.number_state(conn, msisdn, self.pseudonym(msisdn), None) is None:
                raise NotFound(f"nothing is held about {msisdn}")
        report: ErasureReport = self._write(
            lambda conn: upkeep.erase(conn, msisdn, self.pseudonym(msisdn), storable(reason) or "", channel,
                                      utcnow()))
        return report

    def import_subscribers(self, rows: Iterable[SubscriberRow | tuple[str, str, bool]], *,
                           chunk_size: int = IMPORT_CHUNK) -> int:
        """Upsert directory rows, ``chunk_size`` per transaction (memory stays bounded);
        return how many were written."""
        total = 0
        for chunk in upkeep.chunked((_as_row(r) for r in rows), chunk_size):
            self._write(lambda conn, chunk=chunk: upkeep.import_chunk(conn, chunk, utcnow()))
            total += len(chunk)
        return total

    def record_submit(self, event_id: str, message_id: str | None, status: str,
                      at: datetime | None = None) -> bool:
        """Note the SMSC's answer to the reply of ``event_id``; False if no such reply."""
        when = as_utc(at or utcnow())
        found: bool = self._write(
            lambda conn: upkeep.record_submit(conn, event_id, message_id, status, when))
        return found

    def record_deliveries(self, submits: Sequence[tuple[Any, ...]],
                          receipts: Sequence[tuple[Any, ...]]) -> None:
        """Many ``record_submit`` (event_id, message_id, status, at[, smsc]) and receipts
        (message_id, stat, at[, smsc, msisdn]) in one transaction: what the SMSC said about
        our replies. A receipt with its number (and SMSC) matches only the reply sent to
        that number through that SMSC."""
        subs = [{"b_event_id": t[0], "b_message_id": t[1], "b_status": t[2],
                 "b_at": as_utc(t[3]), "b_smsc": (t[4] if len(t) > 4 else None) or None}
                for t in submits]
        recs = [{"b_message_id": t[0], "b_stat": t[1], "b_at": as_utc(t[2]),
                 "b_smsc": (t[3] if len(t) > 3 else None) or None,
                 "b_msisdn": (t[4] if len(t) > 4 else None) or None} for t in receipts]
        self._write(lambda conn: upkeep.record_deliveries(conn, subs, recs))

    def record_receipt(self, message_id: str, stat: str, at: datetime) -> int:
        """Note a delivery receipt; returns how many replies it matched (0 or 1)."""
        n: int = self._write(lambda conn: upkeep.record_receipt(conn, message_id, stat,
                                                                as_utc(at)))
        return n


def _as_row(row: SubscriberRow | tuple[str, str, bool]) -> SubscriberRow:
    r = row if isinstance(row, SubscriberRow) else SubscriberRow(*row)
    if r.client_group not in ("lmt", "other"):
        raise BadRequest(f"subscriber {r.msisdn}: client_group must be lmt or other")
    if not r.msisdn.isdigit():
        raise BadRequest(f"subscriber {r.msisdn!r}: msisdn must be digits")
    return r


def _check_channel(channel: str) -> None:
    if channel not in CHANNELS:
        raise BadRequest(f"channel {channel!r} is not one of {sorted(CHANNELS)}")


def _iso(value: datetime | None) -> str | None:
    from consent_store.timeutil import iso

    return iso(value)


def _sqlstate(exc: DBAPIError) -> str | None:
    orig = exc.orig
    state = getattr(orig, "sqlstate", None)
    return None if state is None else str(state)


def _first_line(exc: DBAPIError) -> str:
    text = str(exc.orig).strip()
    return text.splitlines()[0] if text else type(exc.orig).__name__


def _missing_table(exc: DBAPIError) -> bool:
    return _sqlstate(exc) == "42P01" or "no such table" in str(exc.orig)
