"""Feed positions: each ledger row's place in commit order, the one sequence that the
changes feed (``api_reads.changes_after``) and the proof log (``merkle``) both follow.

A transaction takes its positions with its last ledger write, by moving the one row of
``ledger_feed``. That row's lock is held until commit, so the next writer gets its
positions only once this one has committed (or rolled back, taking its positions with
it): positions are contiguous from the migration on, and whoever sees a position sees
every smaller one. No reader ever waits at a gap or guesses whether one will fill
(docs/store.md, "Feed positions"; docs/api.md, "The changes feed").
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, text

from consent_store.dialect import arrays, is_postgresql, unnest_source
from consent_store.errors import StoreError
from consent_store.schema import consent_events

# Moves the counter by :n and answers the position before the first new one. On SQLite
# the write lock is the database's (BEGIN IMMEDIATE); the statement is the same.
_TAKE = "UPDATE ledger_feed SET last_position = last_position + :n WHERE id = 1 " \
        "RETURNING last_position - :n AS base"


def insert_ledger(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ledger ``rows`` (every row with the same keys, no ``position``) at the next
    feed positions, in order. Call it as late in the transaction as its foreign keys let
    (only new rows of this transaction may follow it): from here to commit every other
    writer of the ledger waits."""
    if not rows:
        return
    if is_postgresql(conn):
        # One statement: the counter moves and the rows go in with their positions.
        columns = tuple(rows[0])
        stmt = _positioned_insert(conn.dialect.identifier_preparer.quote, columns,
                                  *unnest_source(conn, consent_events, columns))
        done = conn.execute(stmt, {"n": len(rows), **arrays(conn, consent_events, rows,
                                                              columns)}).rowcount
    else:
        base = conn.execute(text(_TAKE), {"n": len(rows)}).scalar()
        if base is None:
            raise StoreError("ledger_feed has no row: run `consentctl db upgrade`")
        conn.execute(consent_events.insert(),
                     [{**r, "position": base + i} for i, r in enumerate(rows, 1)])
        done = len(rows)
    if done != len(rows):
        raise StoreError(f"ledger insert wrote {done} of {len(rows)} rows: ledger_feed has "
                         "no row; run `consentctl db upgrade`")


@lru_cache(maxsize=16)
def _positioned_insert(q: Any, columns: tuple[str, ...], source: str, select: str) -> Any:
    # Built once per shape, like dialect._unnest_statement (a batch's text never changes).
    # Only identifiers of our own tables go into the text; every value is a parameter.
    sql = (f"WITH f AS ({_TAKE}) "  # noqa: S608
           f"INSERT INTO {q(consent_events.name)} "
           f"({', '.join(q(c) for c in columns)}, {q('position')}) "
           f"SELECT {select}, f.base + u.ord FROM f, {source} ORDER BY u.ord")
    return text(sql)

