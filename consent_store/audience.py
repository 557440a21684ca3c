"""Audiences: every number with a consent in force, now or at a past instant, streamed.

The list is read in one snapshot together with the feed position it is consistent with
(``api_reads.latest_position`` in the same transaction), so a campaign tool can take the
list and then follow ``/v1/changes?after=POSITION`` (or a webhook) from exactly there.

"Now" reads ``consent_state`` (the current state, kept with the ledger in one
transaction); a past instant replays the ledger as ``queries.state_at`` does for one
number: per number the last state change of the consent (or erasure) received at or
before the instant, in ledger order. On PostgreSQL the rows leave the server through
``COPY … TO STDOUT`` with each line already formatted, so memory stays flat and the
Python side only passes bytes on; SQLite streams rows through a cursor.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, Engine, and_, func, literal_column, or_, select

from consent_core.model import Status
from consent_store import api_reads
from consent_store.queries import ERASE, STATE_CHANGES
from consent_store.schema import consent_events, consent_state
from consent_store.timeutil import iso

Format = Literal["ndjson", "csv"]
CSV_HEADER = b"msisdn,since,position\r\n"
_CHUNK_ROWS = 5000


def _rows_stmt(consent: str, at: datetime | None) -> Any:
    """(msisdn, since) of every number with ``consent`` given, now or at ``at``."""
    if at is None:
        return select(consent_state.c.msisdn, consent_state.c.since).where(
            consent_state.c.consent == consent, consent_state.c.status == Status.GIVEN.value)
    e = consent_events.c
    last = (select(e.msisdn, e.outcome, e.action, e.received_at,
                   func.row_number().over(partition_by=e.msisdn, order_by=e.id.desc())
                   .label("rn"))
            .where(e.received_at <= at, or_(e.consent == consent, e.action == ERASE),
                   or_(e.outcome.in_(list(STATE_CHANGES)), e.action == ERASE),
                   # an erased number's earlier rows carry its pseudonym (docs/store.md)
                   ~e.msisdn.startswith("h:"))
            .subquery())
    return select(last.c.msisdn, last.c.received_at.label("since")).where(
        and_(last.c.rn == 1, last.c.outcome == "given", last.c.action != ERASE))


@dataclass
class Audience:
    """An open snapshot: ``position`` is known, the rows are read as they are iterated.
    Iterate one of ``ndjson()``/``csv()`` once; the connection closes at its end (or on
    ``close()``)."""

    consent: str
    at: datetime | None
    position: int
    _conn: Connection

    def close(self) -> None:
        with suppress(Exception):
            self._conn.close()

    def lines(self, fmt: Format) -> Iterator[bytes]:
        """The audience as byte chunks of whole lines (CSV: with its header first)."""
        try:
            if fmt == "csv":
                yield CSV_HEADER
            if self._conn.dialect.name == "postgresql":
                yield from self._copy(fmt)
            else:
                yield from self._cursor(fmt)
        finally:
            self.close()

    def _cursor(self, fmt: Format) -> Iterator[bytes]:
        pos = self.position
        result = self._conn.execution_options(yield_per=_CHUNK_ROWS).execute(
            _rows_stmt(self.consent, self.at))
        for rows in result.partitions():
            if fmt == "csv":
                yield "".join(f"{m},{iso(s)},{pos}\r\n" for m, s in rows).encode()
            else:
                yield "".join(f'{{"msisdn":"{m}","since":"{iso(s)}","position":{pos}}}\n'
                              for m, s in rows).encode()

    def _copy(self, fmt: Format) -> Iterator[bytes]:
        from psycopg import sql

        inner = _rows_stmt(self.consent, self.at).subquery()
        # iso(): seconds, the fraction only when there is one, then Z (consent_core.instants).
        since = (f"to_char({inner.c.since.name} AT TIME ZONE 'UTC', "
                 "'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN date_trunc('second', since) = since "
                 "THEN '' ELSE to_char(since AT TIME ZONE 'UTC', '.US') END || 'Z'")
        line: Any
        if fmt == "csv":
            line = literal_column(f"msisdn || ',' || {since} || ',{self.position}'")
        else:
            line = literal_column(f"'{{\"msisdn\":\"' || msisdn || '\",\"since\":\"' || {since} "
                                  f"|| '\",\"position\":{self.position}}}'")
        query = select(line).select_from(inner)
        compiled = str(query.compile(self._conn, compile_kwargs={"literal_binds": True}))
        raw = self._conn.connection.driver_connection
        assert raw is not None
        # Each line is digits, punctuation and a timestamp: nothing COPY's text format would
        # escape, so its output is the lines as they are (one per row, \n-terminated).
        statement = sql.SQL("COPY ({}) TO STDOUT").format(sql.SQL(compiled))
        with raw.cursor() as cur, cur.copy(statement) as copy:
            buf: list[bytes] = []
            size = 0
            for block in copy:
                data = bytes(block)
                if fmt == "csv":
                    data = data.replace(b"\n", b"\r\n")
                buf.append(data)
                size += len(data)
                if size >= 1 << 16:
                    yield b"".join(buf)
                    buf, size = [], 0
            if buf:
                yield b"".join(buf)


def open_audience(engine: Engine, consent: str, at: datetime | None) -> Audience:
    """A snapshot of ``consent``'s audience (now, or at ``at``) and its feed position."""
    conn = engine.connect()
    try:
        if conn.dialect.name == "postgresql":
            # One snapshot for the position and every row (PostgreSQL takes it at the first
            # statement of a REPEATABLE READ transaction).
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        conn.begin()
        position = api_reads.latest_position(conn)
    except BaseException:
        conn.close()
        raise
    return Audience(consent, at, position, conn)
