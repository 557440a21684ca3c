"""Read queries: a number's consents now or at a past instant, its history, its export."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, or_, select

from consent_core.model import CONSENTS, Status
from consent_store.schema import (
    consent_descriptions,
    consent_events,
    consent_state,
    contacts,
    ledger_heads,
    replies,
    subscribers,
)
from consent_store.timeutil import iso
from consent_store.views import NONE, ConsentStatus, LedgerEntry, NumberState

# Ledger outcomes that change a consent's status, and what they change it to.
STATE_CHANGES: dict[str, Status] = {
    "given": Status.GIVEN,
    "withdrawn": Status.WITHDRAWN,
    "reset": Status.WITHDRAWN,
    "lapsed": Status.LAPSED,
    "left": Status.LAPSED,
}
ERASE = "erase"


def _ledger_numbers(msisdn: str, pseudonym: str) -> Any:
    # A number's rows before erasure carry the pseudonym, after it the number again.
    return consent_events.c.msisdn.in_([msisdn, pseudonym])


def subscriber(conn: Connection, msisdn: str) -> Any:
    return conn.execute(select(subscribers).where(subscribers.c.msisdn == msisdn)).first()


def has_ledger(conn: Connection, msisdn: str, pseudonym: str) -> bool:
    stmt = select(consent_events.c.id).where(_ledger_numbers(msisdn, pseudonym)).limit(1)
    return conn.execute(stmt).first() is not None


def state_now(conn: Connection, msisdn: str) -> dict[str, ConsentStatus]:
    stmt = select(consent_state).where(consent_state.c.msisdn == msisdn)
    return {r.consent: ConsentStatus(r.status, r.since, r.channel) for r in conn.execute(stmt)
            if r.status != Status.NONE.value}


def state_at(conn: Connection, msisdn: str, pseudonym: str,
             at: datetime) -> dict[str, ConsentStatus]:
    """Replay the ledger up to ``at`` (by received_at, in apply order)."""
    stmt = (select(consent_events.c.consent, consent_events.c.action,
                   consent_events.c.outcome, consent_events.c.channel,
                   consent_events.c.received_at)
            .where(_ledger_numbers(msisdn, pseudonym), consent_events.c.received_at <= at,
                   or_(consent_events.c.outcome.in_(list(STATE_CHANGES)),
                       consent_events.c.action == ERASE))
            .order_by(consent_events.c.id))
    out: dict[str, ConsentStatus] = {}
    for r in conn.execute(stmt):
        if r.action == ERASE:
            out.clear()  # erasure ends every consent of the number (docs/store.md)
        elif r.consent is not None:
            out[r.consent] = ConsentStatus(STATE_CHANGES[r.outcome].value, r.received_at,
                                           r.channel)
    return out


def may_use_now(conn: Connection, msisdn: str, consent: str) -> bool:
    stmt = select(consent_state.c.status).where(consent_state.c.msisdn == msisdn,
                                                consent_state.c.consent == consent)
    return conn.execute(stmt).scalar() == Status.GIVEN.value


def may_use_at(conn: Connection, msisdn: str, pseudonym: str, consent: str,
               at: datetime) -> bool:
    stmt = (select(consent_events.c.action, consent_events.c.outcome)
            .where(_ledger_numbers(msisdn, pseudonym), consent_events.c.received_at <= at,
                   or_(consent_events.c.consent == consent, consent_events.c.action == ERASE),
                   or_(consent_events.c.outcome.in_(list(STATE_CHANGES)),
                       consent_events.c.action == ERASE))
            .order_by(consent_events.c.id.desc()).limit(1))
    row = conn.execute(stmt).first()
    return row is not None and row.action != ERASE and row.outcome == "given"


def number_state(conn: Connection, msisdn: str, pseudonym: str,
                 at: datetime | None) -> NumberState | None:
    sub = subscriber(conn, msisdn)
    consents = state_now(conn, msisdn) if at is None else state_at(conn, msisdn, pseudonym, at)
    if sub is None and not consents and not has_ledger(conn, msisdn, pseudonym):
        return None
    return NumberState(
        msisdn=msisdn,
        client_group=None if sub is None else sub.client_group,
        independent=None if sub is None else bool(sub.independent),
        consents={c: consents.get(c, NONE) for c in CONSENTS},
        at=at,
    )


def holder_start(conn: Connection, msisdn: str, pseudonym: str) -> tuple[int, datetime] | None:
    """Where the current holder's period starts: the newest reset (seed rule 6), if any."""
    stmt = (select(consent_events.c.id, consent_events.c.received_at)
            .where(_ledger_numbers(msisdn, pseudonym), consent_events.c.action == "reset")
            .order_by(consent_events.c.id.desc()).limit(1))
    row = conn.execute(stmt).first()
    return None if row is None else (int(row.id), row.received_at)


def history(conn: Connection, msisdn: str, pseudonym: str,
            all_holders: bool = True) -> list[LedgerEntry]:
    """The number's ledger rows, oldest first; without ``all_holders`` only those of the
    current holder's period (after the newest reset, and about instants after it)."""
    stmt = (select(consent_events).where(_ledger_numbers(msisdn, pseudonym))
            .order_by(consent_events.c.received_at, consent_events.c.id))
    start = None if all_holders else holder_start(conn, msisdn, pseudonym)
    if start is not None:
        stmt = stmt.where(consent_events.c.id > start[0],
                          consent_events.c.received_at >= start[1])
    return [LedgerEntry(**r._asdict()) for r in conn.execute(stmt)]


def replay(entries: list[LedgerEntry]) -> dict[str, ConsentStatus]:
    """The consents the given ledger rows leave in force (in apply order)."""
    out: dict[str, ConsentStatus] = {}
    for e in sorted(entries, key=lambda e: e.id):
        if e.action == ERASE:
            out.clear()
        elif e.consent is not None and e.outcome in STATE_CHANGES:
            out[e.consent] = ConsentStatus(STATE_CHANGES[e.outcome].value, e.received_at,
                                           e.channel)
    return out


def reply_fate(row: Any) -> str:
    """What became of a reply: queued, accepted, delivered, failed or suppressed."""
    if row.submit_status == "suppressed":
        return "suppressed"
    if row.submit_status == "pending":
        return "queued"
    if row.submit_status != "0x00":
        return "failed"
    if row.delivery_status is None or row.delivery_status in ("ENROUTE", "ACCEPTD"):
        return "accepted"
    return "delivered" if row.delivery_status == "DELIVRD" else "failed"


def reply_rows(conn: Connection, msisdn: str,
               event_ids: set[str] | None = None) -> list[dict[str, Any]]:
    """The number's replies (only those answering ``event_ids`` when given), each with
    its ``fate``."""
    stmt = (select(replies).where(replies.c.msisdn == msisdn)
            .order_by(replies.c.created_at, replies.c.event_id))
    out = []
    for r in conn.execute(stmt):
        if event_ids is not None and r.event_id not in event_ids:
            continue
        d = r._asdict()
        for k in ("created_at", "submitted_at", "delivered_at"):
            d[k] = iso(d[k])
        d["fate"] = reply_fate(r)
        out.append(d)
    return out


def contact_rows(conn: Connection, msisdn: str, since: datetime | None) -> list[dict[str, Any]]:
    """The communications recorded for the number (from ``since`` on), oldest first."""
    stmt = (select(contacts.c.channel, contacts.c.occurred_at, contacts.c.recorded_at,
                   contacts.c.note)
            .where(contacts.c.msisdn == msisdn).order_by(contacts.c.occurred_at, contacts.c.id))
    if since is not None:
        stmt = stmt.where(contacts.c.occurred_at >= since)
    return [{"channel": r.channel, "occurred_at": iso(r.occurred_at),
             "recorded_at": iso(r.recorded_at), "note": r.note} for r in conn.execute(stmt)]


def descriptions(conn: Connection, digests: set[str]) -> dict[str, Any]:
    stmt = select(consent_descriptions).where(consent_descriptions.c.digest.in_(sorted(digests)))
    return {r.digest: r for r in conn.execute(stmt)}


def chain_rows(conn: Connection, where: Any) -> Iterator[dict[str, Any]]:
    """Ledger rows in chain order (chain id, position), as mappings."""
    stmt = (select(consent_events).where(where)
            .order_by(consent_events.c.chain_id, consent_events.c.chain_seq))
    for r in conn.execution_options(yield_per=2000).execute(stmt).mappings():
        yield dict(r)


def heads(conn: Connection, chain_ids: set[str] | None) -> dict[str, dict[str, Any]]:
    stmt = select(ledger_heads)
    if chain_ids is not None:
        stmt = stmt.where(ledger_heads.c.chain_id.in_(sorted(chain_ids)))
    return {r.chain_id: {"seq": int(r.seq), "hash": r.hash, "msisdn": r.msisdn}
            for r in conn.execute(stmt)}


def subscriber_rows(conn: Connection, *, only: str | None, after: str, limit: int,
                    client_group: str | None) -> list[dict[str, Any]]:
    stmt = select(subscribers).where(subscribers.c.msisdn > after)
    if only is not None:
        stmt = stmt.where(subscribers.c.msisdn == only)
    if client_group is not None:
        stmt = stmt.where(subscribers.c.client_group == client_group)
    stmt = stmt.order_by(subscribers.c.msisdn).limit(limit)
    return [{"msisdn": r.msisdn, "client_group": r.client_group,
             "independent": bool(r.independent), "updated_at": iso(r.updated_at),
             "holder": r.holder, "left_at": iso(r.left_at)}
            for r in conn.execute(stmt)]


def counts_since(conn: Connection, start: datetime) -> dict[str, dict[str, int]]:
    stmt = (select(consent_events.c.consent, consent_events.c.action, func.count())
            .where(consent_events.c.received_at >= start)
            .group_by(consent_events.c.consent, consent_events.c.action))
    out: dict[str, dict[str, int]] = {}
    for consent, action, n in conn.execute(stmt):
        out.setdefault(consent or "-", {})[action] = int(n)
    return out
