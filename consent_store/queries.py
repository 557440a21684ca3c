"""Read queries: a number's consents now or at a past instant, its history, its export."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, or_, select

from consent_core.model import CONSENTS, Status
from consent_store.schema import consent_events, consent_state, replies, subscribers
from consent_store.timeutil import iso
from consent_store.views import NONE, ConsentStatus, LedgerEntry, NumberState

# Ledger outcomes that change a consent's status, and what they change it to.
STATE_CHANGES: dict[str, Status] = {
    "given": Status.GIVEN,
    "withdrawn": Status.WITHDRAWN,
    "reset": Status.WITHDRAWN,
    "lapsed": Status.LAPSED,
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


def history(conn: Connection, msisdn: str, pseudonym: str) -> list[LedgerEntry]:
    stmt = (select(consent_events).where(_ledger_numbers(msisdn, pseudonym))
            .order_by(consent_events.c.received_at, consent_events.c.id))
    return [LedgerEntry(**r._asdict()) for r in conn.execute(stmt)]


def reply_rows(conn: Connection, msisdn: str) -> list[dict[str, Any]]:
    stmt = (select(replies).where(replies.c.msisdn == msisdn)
            .order_by(replies.c.created_at, replies.c.event_id))
    out = []
    for r in conn.execute(stmt):
        d = r._asdict()
        for k in ("created_at", "submitted_at", "delivered_at"):
            d[k] = iso(d[k])
        out.append(d)
    return out


def subscriber_rows(conn: Connection, *, only: str | None, after: str, limit: int,
                    client_group: str | None) -> list[dict[str, Any]]:
    stmt = select(subscribers).where(subscribers.c.msisdn > after)
    if only is not None:
        stmt = stmt.where(subscribers.c.msisdn == only)
    if client_group is not None:
        stmt = stmt.where(subscribers.c.client_group == client_group)
    stmt = stmt.order_by(subscribers.c.msisdn).limit(limit)
    return [{"msisdn": r.msisdn, "client_group": r.client_group,
             "independent": bool(r.independent), "updated_at": iso(r.updated_at)}
            for r in conn.execute(stmt)]


def counts_since(conn: Connection, start: datetime) -> dict[str, dict[str, int]]:
    stmt = (select(consent_events.c.consent, consent_events.c.action, func.count())
            .where(consent_events.c.received_at >= start)
            .group_by(consent_events.c.consent, consent_events.c.action))
    out: dict[str, dict[str, int]] = {}
    for consent, action, n in conn.execute(stmt):
        out.setdefault(consent or "-", {})[action] = int(n)
    return out
