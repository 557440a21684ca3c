"""Changes that do not come from a subscriber's text: lapse, reset, erasure, the directory
import and the outbound reply tracking."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, select, text, update

from consent_core.arrival import Stamp
from consent_core.catalog import Catalog
from consent_core.eligibility import Subscriber, eligibility
from consent_core.model import CONSENTS, Eligibility, Outcome, Status
from consent_store import chain
from consent_store.dialect import arrays, is_postgresql, rows_source, upsert
from consent_store.ledger import (
    JAUNUMI,
    StateRow,
    append_events,
    lock_heads,
    lock_states,
    note_activity,
    write_states,
)
from consent_store.requests import AppliedChange
from consent_store.schema import (
    consent_events,
    consent_state,
    contacts,
    ledger_heads,
    replies,
    subscribers,
)
from consent_store.timeutil import iso
from consent_store.views import ErasureReport, LapseCandidate, SubscriberRow


def _event(event_id: str, msisdn: str, consent: str | None, action: str, outcome: str,
           channel: str, now: datetime, reason: str | None,
           at: datetime | None = None, note: str | None = None) -> dict[str, Any]:
    # The other columns are filled with None by append_events.
    return {
        "event_id": event_id, "msisdn": msisdn, "consent": consent, "action": action,
        "outcome": outcome, "channel": channel, "received_at": at or now, "applied_at": now,
        "reason": reason, "note": note,
    }


def _replayed(conn: Connection, msisdn: str, event_id: str) -> list[AppliedChange]:
    """The rows a change of the whole number (reset, leave) already wrote under
    ``event_id``: its first outcome, answered as a replay."""
    ids = [event_id, *(f"{event_id}/{c}" for c in CONSENTS)]
    rows = conn.execute(select(consent_events.c.event_id, consent_events.c.consent,
                               consent_events.c.outcome)
                        .where(consent_events.c.event_id.in_(ids))
                        .order_by(consent_events.c.id)).all()
    return [AppliedChange(r.event_id, msisdn, r.consent, Outcome(r.outcome), replayed=True)
            for r in rows]


# --- a number that left LMT (docs/store.md, "The directory") ----------------------------

def leave(conn: Connection, msisdn: str, event_id: str, reason: str, now: datetime,
          catalog: Catalog) -> list[AppliedChange]:
    """The number left LMT: every consent in force that the number may no longer give, as
    the directory now stands, is fulfilled (action ``lapse``, outcome ``left``, status
    ``lapsed``, channel ``directory``); JAUNUMI, open to everyone, stays. Rows
    ``<event_id>/<CONSENT>``; run again, it is a replay. Nothing in force: nothing written."""
    states = lock_states(conn, set(), {msisdn})
    done = _replayed(conn, msisdn, event_id)
    if done:
        return done
    row = conn.execute(select(subscribers).where(subscribers.c.msisdn == msisdn)).first()
    sub = None if row is None else Subscriber(row.msisdn, row.client_group,
                                              bool(row.independent))
    events, out = [], []
    for (_, consent), st in sorted(states.items()):
        if st.status is not Status.GIVEN or consent not in catalog.consents:
            continue
        if eligibility(sub, consent, catalog) is not Eligibility.NOT_LMT_CLIENT:
            continue
        eid = f"{event_id}/{consent}"
        events.append(_event(eid, msisdn, consent, "lapse", Outcome.LEFT.value, "directory",
                             now, reason))
        st.status, st.since, st.channel, st.last_event_id = Status.LAPSED, now, "directory", eid
        st.dirty = True
        out.append(AppliedChange(eid, msisdn, consent, Outcome.LEFT))
    write_states(conn, list(states.values()))
    append_events(conn, events)  # last: the feed's lock is held from here to commit
    return out


# --- lapse (seed rule 4) ---------------------------------------------------------------

def lapse_candidates(conn: Connection, cutoff: datetime, after: str, limit: int,
                     lock: bool) -> list[Any]:
    stmt = (select(consent_state.c.msisdn, consent_state.c.since,
                   consent_state.c.last_activity_at)
            .where(consent_state.c.consent == JAUNUMI,
                   consent_state.c.status == Status.GIVEN.value,
                   consent_state.c.last_activity_at < cutoff,
                   consent_state.c.msisdn > after)
            .order_by(consent_state.c.msisdn).limit(limit))
    if lock:
        # Another lapse run (or a worker) holding a row: leave it, the next run gets it.
        stmt = stmt.with_for_update(skip_locked=True)
    return list(conn.execute(stmt))


def lapse_count(conn: Connection, cutoff: datetime) -> int:
    stmt = (select(func.count()).select_from(consent_state)
            .where(consent_state.c.consent == JAUNUMI,
                   consent_state.c.status == Status.GIVEN.value,
                   consent_state.c.last_activity_at < cutoff))
    return int(conn.execute(stmt).scalar() or 0)


def lapse_event_id(msisdn: str, since: datetime | None) -> str:
    # Deterministic: one lapse per giving, however many lapse runs race.
    return f"lapse:{msisdn}:{JAUNUMI}:{iso(since)}"


def apply_lapse(conn: Connection, rows: list[Any], as_of: datetime, now: datetime,
                period_days: float) -> list[LapseCandidate]:
    """Lapse ``rows`` as of ``as_of`` (recorded at ``now``)."""
    events, states, out = [], [], []
    for r in rows:
        event_id = lapse_event_id(r.msisdn, r.since)
        reason = (f"no communication since {iso(r.last_activity_at)}; "
                  f"lapse period {period_days:g} days")
        events.append(_event(event_id, r.msisdn, JAUNUMI, "lapse", Outcome.LAPSED.value,
                             "system", now, reason, at=as_of))
        states.append({"b_msisdn": r.msisdn, "status": Status.LAPSED.value, "since": as_of,
                       "last_event_id": event_id})
        out.append(LapseCandidate(r.msisdn, r.since, r.last_activity_at, event_id))
    if states:
        conn.execute(
            update(consent_state)
            .where(consent_state.c.msisdn == bindparam("b_msisdn"),
                   consent_state.c.consent == JAUNUMI)
            .values(status=bindparam("status"), since=bindparam("since"), channel="system",
                    last_event_id=bindparam("last_event_id")),
            states)
    append_events(conn, events)  # last: the feed's lock is held from here to commit
    return out


# --- reset (seed rule 6: the number was handed to another person) -------------------

def reset(conn: Connection, msisdn: str, reason: str, channel: str,
          now: datetime, event_id: str | None = None,
          note: str | None = None) -> list[AppliedChange]:
    """Withdraw every given consent of ``msisdn`` (outcome ``reset``). With ``event_id``
    the rows are ``<event_id>/<CONSENT>`` (or ``event_id`` alone when nothing was in
    force) and a reset already in the ledger under it is answered as a replay."""
    # Every consent's row, so each remembers the reset's instant: a text of the previous
    # holder that arrived before it but is applied after it is superseded, not applied to
    # the new holder's consents (consent_core.arrival).
    states = lock_states(conn, {(msisdn, c) for c in CONSENTS}, {msisdn})
    if event_id is not None:
        done = _replayed(conn, msisdn, event_id)
        if done:
            return done
    batch = uuid.uuid4().hex
    events, out = [], []
    given: list[StateRow] = [s for s in states.values() if s.status is Status.GIVEN]
    for st in sorted(given, key=lambda s: s.consent):
        event_id_c = f"reset:{batch}:{st.consent}" if event_id is None \
            else f"{event_id}/{st.consent}"
        events.append(_event(event_id_c, msisdn, st.consent, "reset", Outcome.RESET.value,
                             channel, now, reason, note=note))
        st.status, st.since, st.channel, st.last_event_id = Status.WITHDRAWN, now, channel, \
            event_id_c
        st.dirty = True
        out.append(AppliedChange(event_id_c, msisdn, st.consent, Outcome.RESET))
    for st in states.values():
        st.advance(Stamp(now))
    if not given:
        # Nothing was in force; the reassignment itself is still a fact worth recording.
        event_id_c = f"reset:{batch}" if event_id is None else event_id
        events.append(_event(event_id_c, msisdn, None, "reset", Outcome.RESET.value, channel,
                             now, reason, note=note))
        out.append(AppliedChange(event_id_c, msisdn, None, Outcome.RESET))
    write_states(conn, list(states.values()))
    append_events(conn, events)  # last: the feed's lock is held from here to commit
    return out


# --- erasure (GDPR Art. 17 with Art. 17(3)(e) / Art. 7(1); docs/store.md) -------------

def erase(conn: Connection, msisdn: str, pseudonym: str, reason: str, channel: str,
          now: datetime) -> ErasureReport:
    # Lock the number's state rows and chain head so no change of this number commits
    # half-way through.
    lock_states(conn, set(), {msisdn})
    lock_heads(conn, {msisdn})
    n_replies = conn.execute(delete(replies).where(replies.c.msisdn == msisdn)).rowcount
    n_contacts = conn.execute(delete(contacts).where(contacts.c.msisdn == msisdn)).rowcount
    # The personal fields and their salt go; their digest stays, so the chain verifies.
    n_events = conn.execute(
        update(consent_events).where(consent_events.c.msisdn == msisdn)
        .values({**dict.fromkeys((*chain.PERSONAL, *chain.PERSONAL_EXTENSIONS)),
                 "msisdn": pseudonym, "salt": None})).rowcount
    n_state = conn.execute(delete(consent_state).where(
        consent_state.c.msisdn == msisdn, consent_state.c.status != Status.NONE.value)).rowcount
    conn.execute(delete(consent_state).where(consent_state.c.msisdn == msisdn))
    kept = conn.execute(select(subscribers.c.msisdn).where(
        subscribers.c.msisdn == msisdn)).first() is not None
    event_id = f"erase:{uuid.uuid4().hex}"
    # The erase row closes the number's chain; a later text starts a new one.
    append_events(conn, [_event(event_id, pseudonym, None, "erase", "erased", channel, now,
                                reason)], chain_of={pseudonym: msisdn})
    conn.execute(delete(ledger_heads).where(ledger_heads.c.msisdn == msisdn))
    return ErasureReport(msisdn, pseudonym, event_id, int(n_events), int(n_replies),
                         int(n_state), int(n_contacts), kept)


# --- directory import -------------------------------------------------------------------

def import_chunk(conn: Connection, chunk: list[SubscriberRow], now: datetime) -> None:
    # An imported number is in the directory again (left_at cleared); the holder is the
    # sync's business and stays as it was.
    upsert(conn, subscribers, [
        {"msisdn": r.msisdn, "client_group": r.client_group, "independent": r.independent,
         "updated_at": now, "left_at": None} for r in chunk], keys=["msisdn"])


def chunked(rows: Any, size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --- outbound replies -----------------------------------------------------------------

def record_submit(conn: Connection, event_id: str, message_id: str | None, status: str,
                  at: datetime) -> bool:
    result = conn.execute(update(replies).where(replies.c.event_id == event_id).values(
        message_id=message_id, submit_status=status, submitted_at=at))
    return bool(result.rowcount)


def record_receipt(conn: Connection, message_id: str, stat: str, at: datetime) -> int:
    result = conn.execute(update(replies).where(replies.c.message_id == message_id).values(
        delivery_status=stat, delivered_at=at))
    return int(result.rowcount)


def record_deliveries(conn: Connection, submits: Sequence[dict[str, Any]],
                      receipts: Sequence[dict[str, Any]]) -> None:
    """Submit results, then receipts (a batch = one transaction). Where one batch says two
    things about the same reply, the later one stands."""
    # A receipt naming its number and SMSC matches only the reply sent there through that
    # SMSC (or one recorded before the SMSC was); one without (older gateways) by message id.
    located = [{"b_smsc": None, **r} for r in receipts if r.get("b_msisdn")]
    legacy = [r for r in receipts if not r.get("b_msisdn")]
    if is_postgresql(conn):
        _deliveries_postgresql(conn, submits, located, legacy)
        return
    if submits:
        conn.execute(
            update(replies).where(replies.c.event_id == bindparam("b_event_id")).values(
                message_id=bindparam("b_message_id", type_=replies.c.message_id.type),
                submit_status=bindparam("b_status", type_=replies.c.submit_status.type),
                submitted_at=bindparam("b_at", type_=replies.c.submitted_at.type),
                smsc=bindparam("b_smsc", type_=replies.c.smsc.type)),
            [{"b_smsc": None, **s} for s in submits])
    values = {"delivery_status": bindparam("b_stat", type_=replies.c.delivery_status.type),
              "delivered_at": bindparam("b_at", type_=replies.c.delivered_at.type)}
    if located:
        conn.execute(
            update(replies).where(
                replies.c.message_id == bindparam("b_message_id"),
                replies.c.msisdn == bindparam("b_msisdn"),
                (replies.c.smsc == bindparam("b_smsc")) | replies.c.smsc.is_(None),
            ).values(**values), located)
    if legacy:
        conn.execute(
            update(replies).where(replies.c.message_id == bindparam("b_message_id"))
            .values(**values), legacy)


# The update of each kind on PostgreSQL: one ``UPDATE … FROM unnest(…)`` each, whatever the
# batch's size. Each update finds its replies through a LATERAL subquery that OFFSET 0
# keeps from being flattened into a join: PostgreSQL then looks each one up by index.
# As a join, with the table's statistics behind its growth, it chose a hash join over a
# sequential scan of replies for every batch (seen with EXPLAIN ANALYZE at 20,000 rows).
# DISTINCT ON … ORDER BY ord DESC picks, for a reply matched more than once, the batch's
# last word on it (what a statement per update would have left).
_SUBMITS_PG = """
UPDATE replies AS r SET message_id = m.message_id, submit_status = m.status,
       submitted_at = m.at, smsc = m.smsc
FROM (SELECT DISTINCT ON (t.event_id) t.event_id, u.c1 AS message_id, u.c2 AS status,
             u.c3 AS at, u.c4 AS smsc
      FROM {source}
      CROSS JOIN LATERAL (SELECT event_id FROM replies WHERE event_id = u.c0 OFFSET 0) AS t
      ORDER BY t.event_id, u.ord DESC) AS m
WHERE r.event_id = m.event_id"""
_RECEIPTS_PG = """
UPDATE replies AS r SET delivery_status = m.stat, delivered_at = m.at
FROM (SELECT DISTINCT ON (t.event_id) t.event_id, u.c1 AS stat, u.c2 AS at
      FROM {source}
      CROSS JOIN LATERAL (SELECT event_id FROM replies
                          WHERE message_id = u.c0 {match} OFFSET 0) AS t
      ORDER BY t.event_id, u.ord DESC) AS m
WHERE r.event_id = m.event_id"""
_LOCATED = "AND msisdn = u.c3 AND (smsc = u.c4 OR smsc IS NULL)"


@lru_cache(maxsize=8)
def _delivery_stmt(dialect: Any, sql: str, columns: tuple[str, ...]) -> Any:
    # Built once per kind: a TextClause parses its text for parameters when it is made.
    return text(sql.format(source=rows_source(dialect, replies, columns)[0]))


def _deliveries_postgresql(conn: Connection, submits: Sequence[dict[str, Any]],
                           located: Sequence[dict[str, Any]],
                           legacy: Sequence[dict[str, Any]]) -> None:
    def run(sql: str, rows: Sequence[dict[str, Any]], fields: dict[str, str]) -> None:
        if not rows:
            return
        as_rows = [{col: r.get(key) for key, col in fields.items()} for r in rows]
        columns = tuple(fields.values())
        conn.execute(_delivery_stmt(conn.dialect, sql, columns),
                     arrays(conn, replies, as_rows, columns))

    run(_SUBMITS_PG, submits, {"b_event_id": "event_id", "b_message_id": "message_id",
                               "b_status": "submit_status", "b_at": "submitted_at",
                               "b_smsc": "smsc"})
    receipt = {"b_message_id": "message_id", "b_stat": "delivery_status",
               "b_at": "delivered_at"}
    run(_RECEIPTS_PG.replace("{match}", _LOCATED), located,
        {**receipt, "b_msisdn": "msisdn", "b_smsc": "smsc"})
    run(_RECEIPTS_PG.replace("{match}", ""), legacy, receipt)


def record_suppressed(conn: Connection, withheld: Sequence[tuple[str, str]]) -> int:
    result = conn.execute(
        update(replies).where(replies.c.event_id == bindparam("b_event_id"),
                              replies.c.submit_status == "pending")
        .values(submit_status="suppressed", reason=bindparam("b_reason")),
        [{"b_event_id": e, "b_reason": r} for e, r in withheld])
    return int(result.rowcount)


# --- contacts (seed rule 4: communication restarts JAUNUMI's inactivity period) -------

def record_contact(conn: Connection, row: dict[str, Any]) -> None:
    states = lock_states(conn, set(), {row["msisdn"]})
    conn.execute(contacts.insert(), [row])
    st = states.get((row["msisdn"], JAUNUMI))
    note_activity(st, row["occurred_at"])
    if st is not None:
        write_states(conn, [st])
