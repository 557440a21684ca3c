"""``ConsentStore``: the one object through which everything reads and writes consents."""

from __future__ import annotations

import hashlib
import hmac
import random
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, true
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, ProgrammingError

from consent_core.catalog import Catalog
from consent_core.changes import ReceiptUpdate, SubmitResult
from consent_core.clock import Clock, system_clock
from consent_core.decide import DEFAULT_CONFIRM_WINDOW
from consent_core.model import CONSENTS
from consent_store import chain, directory, queries, upkeep
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
from consent_store.schema import consent_events
from consent_store.timeutil import as_utc, iso
from consent_store.views import (
    NONE,
    ErasureReport,
    LapseCandidate,
    LedgerEntry,
    NumberState,
    SubscriberRow,
    VerifyReport,
    verify_rows,
)

# Channels through which LMT communicates with a subscriber (``record_contact``).
CONTACT_CHANNELS = ("call", "sms", "email", "web", "customer_centre")

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
    ``clock`` is where every instant the store stamps by itself comes from (when a change
    was applied, when an erasure, reset or import happened); tests pin it.
    """

    def __init__(self, engine_or_url: Engine | str, *, lang: str = "lv",
                 pseudonym_key: bytes = b"", clock: Clock = system_clock) -> None:
        self.engine = make_engine(engine_or_url) if isinstance(engine_or_url, str) \
            else engine_or_url
        self._writer = self.engine.execution_options(**WRITE)
        self.lang = lang
        self._key = pseudonym_key
        self.clock = clock
        # Transactions run again after a concurrent writer got in the way (for metrics).
        self.conflict_retries = 0
        # Digests of the descriptions committed to consent_descriptions by this store (the
        # table is append-only: a batch need not write them again; one statement less).
        self._stored_digests: set[str] = set()

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
                    lang: str | None = None,
                    confirm_window: timedelta = DEFAULT_CONFIRM_WINDOW,
                    submits: Sequence[SubmitResult] = (),
                    receipts: Sequence[ReceiptUpdate] = ()) -> list[AppliedChange]:
        """Apply ``requests`` in order in one transaction; one ``AppliedChange`` each.

        An event id already in the ledger (or earlier in the batch) returns its first
        outcome with ``replayed=True`` and changes nothing. A JĀ within ``confirm_window``
        of a near-miss give applies it (docs/commands.md). ``submits`` and ``receipts``
        (as ``record_deliveries`` takes them) are recorded before the changes in the same
        transaction: one commit per batch, not two.
        """
        if not requests and not submits and not receipts:
            return []
        reqs = list(requests)
        subs, recs = _delivery_rows(submits, receipts)

        def work(conn: Connection) -> tuple[list[AppliedChange], set[str]]:
            wrote: set[str] = set()
            # Deliveries first: the changes end with the ledger insert, which holds the
            # feed's lock until commit (consent_store/feed.py).
            if subs or recs:
                upkeep.record_deliveries(conn, subs, recs)
            applied = apply_in_transaction(conn, reqs, catalog=catalog, lang=lang or self.lang,
                                           now=self.clock(), pseudonym=self.pseudonym,
                                           confirm_window=confirm_window,
                                           stored_digests=self._stored_digests,
                                           wrote_digests=wrote) if reqs else []
            return applied, wrote

        result: list[AppliedChange]
        result, wrote = self._write(work)
        self._stored_digests |= wrote  # committed: _write returned
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

    def history(self, msisdn: str, *, all_holders: bool = False) -> list[LedgerEntry]:
        """The ledger rows of ``msisdn`` (including erased ones), oldest first: the current
        holder's period only, unless ``all_holders`` (an operator's audit; seed rule 6)."""
        with self._read() as conn:
            return queries.history(conn, msisdn, self.pseudonym(msisdn), all_holders)

    def export(self, msisdn: str, catalog: Catalog | None = None, *,
               digest_dir: str | Path | None = None) -> dict[str, Any]:
        """Everything held about ``msisdn``'s current holder as JSON-able data (GDPR Art. 15,
        seed rules 6 and 8): their consents with what they were told, their ledger rows with
        the chain values, their replies with each one's fate. ``catalog`` is not needed:
        the descriptions shown are kept in the store. With ``digest_dir`` (the checkpoints,
        ``ledger.digest_dir``; "" is none) each ledger row carries its receipt: an inclusion proof to
        the latest checkpoint and that checkpoint (consent_store/receipts.py)."""
        del catalog  # kept for callers that pass it; the store has every text it cited
        with self._read() as conn:
            pseudonym = self.pseudonym(msisdn)
            if queries.number_state(conn, msisdn, pseudonym, None) is None:
                raise NotFound(f"nothing is held about {msisdn}")
            sub = queries.subscriber(conn, msisdn)
            start = queries.holder_start(conn, msisdn, pseudonym)
            entries = queries.history(conn, msisdn, pseudonym, all_holders=False)
            consents = queries.replay(entries)
            texts = queries.descriptions(
                conn, {e.description_digest for e in entries if e.description_digest})
            replies = queries.reply_rows(conn, msisdn, {e.event_id for e in entries})
            contacts = queries.contact_rows(conn, msisdn, None if start is None else start[1])
            data: dict[str, Any] = {
                "msisdn": msisdn,
                "exported_at": iso(self.clock()),
                "holder_since": None if start is None else iso(start[1]),
                "subscriber": None if sub is None else {
                    "client_group": sub.client_group, "independent": bool(sub.independent),
                    "updated_at": iso(sub.updated_at)},
                "consents": {c: consents.get(c, NONE).to_dict() for c in CONSENTS},
                "receipts": _receipts(entries, texts),
                "history": [e.to_dict() for e in entries],
                "replies": replies,
                "contacts": contacts,
                "chain": {"algorithm": "sha256", "version": chain.VERSION,
                          "rules": "docs/store.md#hash-chain"},
            }
            if digest_dir:
                from consent_store import receipts

                receipts.attach(conn, data, Path(digest_dir))
        return data

    def verify(self, msisdn: str | None = None) -> VerifyReport:
        """Recompute the hash chains (of ``msisdn``, or of the whole ledger)."""
        with self._read() as conn:
            if msisdn is None:
                where: Any = true()
                heads = queries.heads(conn, None)
            else:
                where = consent_events.c.msisdn.in_([msisdn, self.pseudonym(msisdn)])
                heads = {k: v for k, v in queries.heads(conn, None).items()
                         if v["msisdn"] == msisdn}
            return verify_rows(queries.chain_rows(conn, where), heads)

    def publish_checkpoint(self, digest_dir: Path, key: Any) -> Any:
        """Sign a checkpoint over every committed ledger row into ``digest_dir`` with
        ``key`` (an Ed25519 private key), unless the ledger has not grown since the latest
        one there (``digests.Published``; docs/store.md, "Merkle log and checkpoints")."""
        from consent_store import digests

        with self._read() as conn:
            return digests.publish(conn, digest_dir, key, self.clock())

    def verify_digests(self, digest_dir: Path, keys: dict[str, Any]) -> Any:
        """Check the ledger against the checkpoints in ``digest_dir`` signed by ``keys``
        (``digests.DigestReport``)."""
        from consent_store import digests

        with self._read() as conn:
            return digests.verify(conn, digest_dir, keys)

    def guardian_may_act(self, msisdn: str) -> bool:
        """Whether a parent or guardian may act for ``msisdn``: only for a line the directory
        marks not independent (seed rule 5); elsewhere the subscriber acts for themselves.
        Every caller that accepts ``on_behalf="guardian"`` asks this first."""
        with self._read() as conn:
            sub = queries.subscriber(conn, msisdn)
        return sub is not None and not sub.independent

    def replies(self, msisdn: str) -> list[dict[str, Any]]:
        """The replies sent to ``msisdn`` with their submit and delivery status, oldest first."""
        with self._read() as conn:
            return queries.reply_rows(conn, msisdn)

    def subscriber(self, msisdn: str) -> dict[str, Any] | None:
        """The directory row of ``msisdn``, or None."""
        with self._read() as conn:
            rows = queries.subscriber_rows(conn, only=msisdn, after="", limit=1,
                                           client_group=None)
        return rows[0] if rows else None

    def subscribers(self, *, after: str = "", limit: int = 100,
                    client_group: str | None = None) -> list[dict[str, Any]]:
        """Directory rows in number order, ``limit`` of them after ``after`` (keyset paging)."""
        with self._read() as conn:
            return queries.subscriber_rows(conn, only=None, after=after, limit=limit,
                                           client_group=client_group)

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
        now = as_utc(now or self.clock())
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        with self._read() as conn:
            return queries.counts_since(conn, start)

    # --- changes from outside the SMS path -------------------------------------------

    def lapse(self, as_of: datetime, period: timedelta, *, dry_run: bool = False,
              progress: Callable[[int, int], None] | None = None) -> list[LapseCandidate]:
        """Lapse every given JAUNUMI with no communication since ``as_of - period`` (seed
        rule 4). With ``dry_run`` report them and change nothing (``as_of`` may then be in
        the future: a preview).

        ``progress(done, total)`` is called before the first chunk and after each one
        (``total`` is counted up front, only when ``progress`` is given)."""
        as_of = as_utc(as_of)
        now = self.clock()
        if as_of > now and not dry_run:
            raise BadRequest(f"cannot lapse as of {iso(as_of)}: it is in the future "
                             f"(now {iso(now)}); preview it with a dry run")
        cutoff = as_of - period
        days = period.total_seconds() / 86400
        out: list[LapseCandidate] = []
        after = ""
        if progress is not None:
            with self._read() as conn:
                total = upkeep.lapse_count(conn, cutoff)
            progress(0, total)
        while True:
            if dry_run:
                with self._read() as conn:
                    rows = upkeep.lapse_candidates(conn, cutoff, after, LAPSE_CHUNK, lock=False)
                chunk = [LapseCandidate(r.msisdn, r.since, r.last_activity_at,
                                        upkeep.lapse_event_id(r.msisdn, r.since)) for r in rows]
            else:
                def work(conn: Connection, after: str = after) -> tuple[list[Any], list[Any]]:
                    rows = upkeep.lapse_candidates(conn, cutoff, after, LAPSE_CHUNK, lock=True)
                    return rows, upkeep.apply_lapse(conn, rows, as_of, now, days)

                rows, chunk = self._write(work)
            out.extend(chunk)
            if progress is not None:
                progress(len(out), max(total, len(out)))
            if len(rows) < LAPSE_CHUNK:
                return out
            after = rows[-1].msisdn

    def record_contact(self, msisdn: str, channel: str, at: datetime | None = None,
                       note: str | None = None) -> dict[str, Any]:
        """A communication with the number that LMT's systems report (seed rule 4): it
        restarts JAUNUMI's inactivity period. ``at`` defaults to now, never in the future."""
        now = self.clock()
        when = now if at is None else as_utc(at)
        if channel not in CONTACT_CHANNELS:
            raise BadRequest(f"contact channel {channel!r} is not one of "
                             f"{', '.join(CONTACT_CHANNELS)}")
        if not msisdn.isdigit() or not 3 <= len(msisdn) <= 15:
            raise BadRequest(f"msisdn {msisdn!r} must be 3..15 digits")
        if when > now:
            raise BadRequest(f"a contact at {iso(when)} is in the future (now {iso(now)}); "
                             "record it when it has happened")
        row = {"msisdn": msisdn, "channel": channel, "occurred_at": when, "recorded_at": now,
               "note": storable(note)}
        self._write(lambda conn: upkeep.record_contact(conn, row))
        return {k: iso(v) if isinstance(v, datetime) else v for k, v in row.items()}

    def record_suppressed(self, withheld: Sequence[tuple[str, str]]) -> int:
        """Replies (event_id, reason) that were not sent (e.g. the per-number limit): their
        rows say ``suppressed`` and why, instead of staying pending. Returns how many."""
        if not withheld:
            return 0
        n: int = self._write(lambda conn: upkeep.record_suppressed(conn, withheld))
        return n

    def reset(self, msisdn: str, reason: str, channel: str = "operator", *,
              event_id: str | None = None, note: str | None = None) -> list[AppliedChange]:
        """Number reassigned (seed rule 6): every given consent withdrawn, outcome ``reset``.
        With ``event_id`` (a handover from the directory) the rows are named after it and
        the same reset again is a replay; ``note`` (e.g. the old and new holder) is kept
        with the rows."""
        _check_channel(channel)
        with self._read() as conn:
            if queries.number_state(conn, msisdn, self.pseudonym(msisdn), None) is None:
                raise NotFound(f"nothing is held about {msisdn}")
        result: list[AppliedChange] = self._write(
            lambda conn: upkeep.reset(conn, msisdn, storable(reason) or "", channel,
                                      self.clock(), event_id=event_id, note=storable(note)))
        return result

    def leave(self, msisdn: str, event_id: str, reason: str,
              catalog: Catalog) -> list[AppliedChange]:
        """The number left LMT (docs/store.md, "The directory"): its consents only LMT's
        clients may give are fulfilled (outcome ``left``); the same ``event_id`` again is a
        replay. Nothing in force: nothing is written and the list is empty."""
        result: list[AppliedChange] = self._write(
            lambda conn: upkeep.leave(conn, msisdn, event_id, storable(reason) or "",
                                      self.clock(), catalog))
        return result

    # --- the directory as LMT's customer systems keep it -------------------------------

    @contextmanager
    def directory_sync(self, source: str) -> Iterator[directory.Sync]:
        """A whole-directory sync on one connection (its staging table lives there)."""
        with self._errors():
            sync = directory.Sync(self.engine.connect(), self.clock, source)
            try:
                yield sync
            finally:
                sync.close()

    def put_subscriber(self, row: SubscriberRow) -> tuple[list[str], list[dict[str, Any]]]:
        """Make ``row`` the number's directory row: what changed (the kinds a sync counts)
        and the consent changes it causes, written to the outbox to be queued."""
        r = _as_row(row)
        base = f"dir:put:{uuid.uuid4().hex}"
        result: tuple[list[str], list[dict[str, Any]]] = self._write(
            lambda conn: directory.put_row(conn, r, self.clock(), base))
        return result

    def pending_directory_changes(self, limit: int = 1000) -> list[Any]:
        """Consent changes of directory changes not queued yet, oldest first."""
        with self._read() as conn:
            return directory.pending_changes(conn, limit)

    def mark_directory_changes_queued(self, ids: list[int]) -> None:
        if ids:
            self._write(lambda conn: directory.mark_queued(conn, ids, self.clock()))

    def last_directory_sync(self) -> dict[str, Any] | None:
        """The newest directory sync (applied, dry run or refused) and the outbox's backlog."""
        with self._read() as conn:
            return directory.last_sync(conn)

    def erase(self, msisdn: str, reason: str, channel: str = "operator") -> ErasureReport:
        """Erase what is held about ``msisdn`` except the proof of consent (docs/store.md)."""
        _check_channel(channel)
        with self._read() as conn:
            if queries.number_state(conn, msisdn, self.pseudonym(msisdn), None) is None:
                raise NotFound(f"nothing is held about {msisdn}")
        report: ErasureReport = self._write(
            lambda conn: upkeep.erase(conn, msisdn, self.pseudonym(msisdn), storable(reason) or "", channel,
                                      self.clock()))
        return report

    def import_subscribers(self, rows: Iterable[SubscriberRow | tuple[str, str, bool]], *,
                           chunk_size: int = IMPORT_CHUNK) -> int:
        """Upsert directory rows, ``chunk_size`` per transaction (memory stays bounded);
        return how many were written."""
        total = 0
        for chunk in upkeep.chunked((_as_row(r) for r in rows), chunk_size):
            self._write(lambda conn, chunk=chunk: upkeep.import_chunk(conn, chunk, self.clock()))
            total += len(chunk)
        return total

    def record_submit(self, event_id: str, message_id: str | None, status: str,
                      at: datetime | None = None) -> bool:
        """Note the SMSC's answer to the reply of ``event_id``; False if no such reply."""
        when = as_utc(at or self.clock())
        found: bool = self._write(
            lambda conn: upkeep.record_submit(conn, event_id, message_id, status, when))
        return found

    def record_deliveries(self, submits: Sequence[SubmitResult],
                          receipts: Sequence[ReceiptUpdate]) -> None:
        """Many ``record_submit`` and receipts in one transaction: what the SMSC said about
        our replies. A receipt with its number (and SMSC) matches only the reply sent to
        that number through that SMSC."""
        subs, recs = _delivery_rows(submits, receipts)
        self._write(lambda conn: upkeep.record_deliveries(conn, subs, recs))

    def record_receipt(self, message_id: str, stat: str, at: datetime) -> int:
        """Note a delivery receipt; returns how many replies it matched (0 or 1)."""
        n: int = self._write(lambda conn: upkeep.record_receipt(conn, message_id, stat,
                                                                as_utc(at)))
        return n


def _delivery_rows(submits: Sequence[SubmitResult], receipts: Sequence[ReceiptUpdate],
                   ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    subs = [{"b_event_id": u.event_id, "b_message_id": u.message_id, "b_status": u.status,
             "b_at": u.at, "b_smsc": u.smsc or None} for u in submits]
    recs = [{"b_message_id": u.message_id, "b_stat": u.stat, "b_at": u.at,
             "b_smsc": u.smsc or None, "b_msisdn": u.msisdn or None} for u in receipts]
    return subs, recs


def _as_row(row: SubscriberRow | tuple[str, str, bool]) -> SubscriberRow:
    r = row if isinstance(row, SubscriberRow) else SubscriberRow(*row)
    if r.client_group not in ("lmt", "other"):
        raise BadRequest(f"subscriber {r.msisdn}: client_group must be lmt or other")
    if not r.msisdn.isdigit():
        raise BadRequest(f"subscriber {r.msisdn!r}: msisdn must be digits")
    return r


def _receipts(entries: list[LedgerEntry], texts: dict[str, Any]) -> dict[str, Any]:
    """Per consent, the newest give or withdrawal: what the subscriber was told (catalog
    and description versions and the description text) and the row's chain hash."""
    out: dict[str, Any] = {}
    for e in sorted(entries, key=lambda e: e.id):
        if e.consent is None or e.action not in ("give", "withdraw"):
            continue
        d = texts.get(e.description_digest or "")
        out[e.consent] = {
            "event_id": e.event_id, "action": e.action, "outcome": e.outcome,
            "received_at": iso(e.received_at), "channel": e.channel,
            "catalog_version": e.catalog_version,
            "description_version": e.description_version,
            "description_lang": None if d is None else d.lang,
            "description": None if d is None else d.text,
            "description_digest": e.description_digest,
            "chain_id": e.chain_id, "chain_seq": e.chain_seq, "chain_hash": e.chain_hash,
        }
    return out


def _check_channel(channel: str) -> None:
    if channel not in CHANNELS:
        raise BadRequest(f"channel {channel!r} is not one of {sorted(CHANNELS)}")


def _sqlstate(exc: DBAPIError) -> str | None:
    orig = exc.orig
    state = getattr(orig, "sqlstate", None)
    return None if state is None else str(state)


def _first_line(exc: DBAPIError) -> str:
    text = str(exc.orig).strip()
    return text.splitlines()[0] if text else type(exc.orig).__name__


def _missing_table(exc: DBAPIError) -> bool:
    return _sqlstate(exc) == "42P01" or "no such table" in str(exc.orig)
