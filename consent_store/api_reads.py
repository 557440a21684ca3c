"""Reads the HTTP API needs beyond ``ConsentStore``: many statuses at once, one ledger
event by id, and the ordered feed of state changes (cursor = feed position)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, tuple_

from consent_core.model import Status
from consent_store.queries import ERASE, STATE_CHANGES
from consent_store.schema import consent_events, consent_state
from consent_store.timeutil import as_utc, iso

# PostgreSQL: the pairs as two arrays, each looked up in the primary key by a LATERAL
# subquery (one index probe per pair, whatever the planner thinks of the table; the
# LIMIT 1 — the key allows one row anyway — keeps it from being flattened into a join). A
# row-value ``IN`` over the pairs was planned as a scan once the table grew (~105 ms of
# server CPU for 1,000 pairs against ~20,000 rows), and a plain join of the arrays as a
# hash join over a scan of the whole table (issue 30).
#
# The pairs travel as two comma-separated strings split by PostgreSQL (``pg_params``):
# psycopg's dumping of two 1,000-element text arrays cost ~1.4 ms of client CPU a call
# (2.1 against 0.7 ms for the whole statement, measured side by side on one connection).
STATUSES_PG = (
    "SELECT s.msisdn, s.consent, s.status, s.since"
    " FROM unnest(string_to_array(%s, ','), string_to_array(%s, ',')) AS q(msisdn, consent)"
    " CROSS JOIN LATERAL (SELECT c.msisdn, c.consent, c.status, c.since FROM consent_state c"
    " WHERE c.msisdn = q.msisdn AND c.consent = q.consent LIMIT 1) AS s"
)

STATUS_PG = ("SELECT msisdn, consent, status, since FROM consent_state"
             " WHERE msisdn = %s AND consent = %s")


# (msisdn, consent) -> (status, since) of the pairs held.
Statuses = dict[tuple[str, str], tuple[str, datetime | None]]


def pg_params(unique: Sequence[tuple[str, str]]) -> tuple[str, str]:
    """STATUSES_PG's two parameters for distinct pairs. Numbers are digits and consents
    names (the API checks both); a comma would shift every pair after it, so it is refused."""
    msisdns = ",".join(m for m, _ in unique)
    consents = ",".join(c for _, c in unique)
    if msisdns.count(",") != len(unique) - 1 or consents.count(",") != len(unique) - 1:
        raise ValueError("a number or consent name with a comma")
    return msisdns, consents


def statuses(conn: Connection, pairs: Sequence[tuple[str, str]]) -> Statuses:
    """(status, since) of each (msisdn, consent) held; missing pairs are ``none``."""
    out: Statuses = {}
    unique = sorted(set(pairs))
    if unique and conn.dialect.name == "postgresql":
        # Straight through psycopg, in the caller's transaction: SQLAlchemy's row and type
        # processing cost as much client CPU as the statement's own round trip (1,000
        # pairs: 23 ms against 13 ms, measured side by side on one connection).
        raw = conn.connection.driver_connection
        assert raw is not None
        if len(unique) == 1:
            rows = raw.execute(STATUS_PG, unique[0]).fetchall()
        else:
            rows = raw.execute(STATUSES_PG, pg_params(unique)).fetchall()
        return {(m, c): (status, None if since is None else as_utc(since))
                for m, c, status, since in rows}
    for i in range(0, len(unique), 500):
        chunk = unique[i:i + 500]
        stmt = select(consent_state.c.msisdn, consent_state.c.consent, consent_state.c.status,
                      consent_state.c.since)
        if len(chunk) == 1:
            stmt = stmt.where(consent_state.c.msisdn == chunk[0][0],
                              consent_state.c.consent == chunk[0][1])
        else:
            stmt = stmt.where(tuple_(consent_state.c.msisdn, consent_state.c.consent).in_(chunk))
        for r in conn.execute(stmt):
            out[(r.msisdn, r.consent)] = (r.status, r.since)
    return out


def event(conn: Connection, event_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(consent_events.c.position, consent_events.c.event_id,
                              consent_events.c.msisdn, consent_events.c.consent,
                              consent_events.c.outcome, consent_events.c.channel,
                              consent_events.c.received_at, consent_events.c.applied_at)
                       .where(consent_events.c.event_id == event_id)).first()
    return None if row is None else _change(row)


def latest_position(conn: Connection) -> int:
    """The feed position of the newest committed ledger row (0 for an empty ledger)."""
    return int(conn.execute(select(func.coalesce(func.max(consent_events.c.position), 0)))
               .scalar() or 0)


@dataclass(frozen=True, slots=True)
class ChangesPage:
    changes: list[dict[str, Any]]
    next: int  # the cursor to pass as ``after`` next time


def changes_after(conn: Connection, after: int, limit: int) -> ChangesPage:
    """State changes with a feed position above ``after``, in feed order.

    Positions are taken in commit order (consent_store/feed.py), so the rows a reader sees
    above ``after`` are all there will ever be below the last of them: the cursor moves to
    the last row read and nothing below it can appear later. Rows that changed nothing
    (already_given, refused, …) advance the cursor but are not listed; erasure is listed
    (every consent of the number ends).
    """
    rows = conn.execute(
        select(consent_events.c.position, consent_events.c.event_id, consent_events.c.msisdn,
               consent_events.c.consent, consent_events.c.outcome, consent_events.c.action,
               consent_events.c.channel, consent_events.c.received_at,
               consent_events.c.applied_at)
        .where(consent_events.c.position > after).order_by(consent_events.c.position)
        .limit(limit)).all()
    out = [_change(r) for r in rows if r.outcome in STATE_CHANGES or r.action == ERASE]
    return ChangesPage(out, int(rows[-1].position) if rows else after)


def _change(r: Any) -> dict[str, Any]:
    status = STATE_CHANGES.get(r.outcome, Status.NONE if r.outcome == "erased" else None)
    return {"position": int(r.position), "event_id": r.event_id, "msisdn": r.msisdn,
            "consent": r.consent, "outcome": r.outcome,
            "status": None if status is None else status.value,
            "channel": r.channel, "received_at": iso(r.received_at),
            "applied_at": iso(r.applied_at)}
