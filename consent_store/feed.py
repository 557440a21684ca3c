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
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Table, text

from consent_store.dialect import (
    arrays,
    conflict_clause,
    insert_rows,
    insert_sql,
    is_postgresql,
    rows_source,
    upsert_many,
)
from consent_store.errors import StoreError
from consent_store.schema import consent_events


@dataclass(frozen=True)
class Write:
    """Another write of the transaction that may travel with the ledger insert: ``rows``
    for ``table``, inserted (``keys`` None) or upserted on ``keys``.

    Not the delivery updates of a batch (``upkeep.record_deliveries``): a submit result
    and a receipt of the same reply may come in one batch, and the receipt finds its reply
    by the message id the submit result writes. In one statement both would read the
    same snapshot (and PostgreSQL leaves a row updated twice in one statement to chance),
    so they stay statements of their own, before the ledger's."""

    table: Table
    rows: Sequence[dict[str, Any]]
    keys: tuple[str, ...] | None = None

    def columns(self) -> tuple[str, ...]:
        return tuple(self.rows[0])

# Moves the counter by :n and answers the position before the first new one. On SQLite
# the write lock is the database's (BEGIN IMMEDIATE); the statement is the same.
_TAKE = "UPDATE ledger_feed SET last_position = last_position + :n WHERE id = 1 " \
        "RETURNING last_position - :n AS base"


def insert_ledger(conn: Connection, rows: Sequence[dict[str, Any]], *,
                  before: Sequence[Write] = (), after: Sequence[Write] = ()) -> None:
    """Insert ledger ``rows`` (every row with the same keys, no ``position``) at the next
    feed positions, in order, with the transaction's other last writes: ``before`` (rows
    the ledger's may refer to) and ``after`` (rows referring to the ledger's). Call it as
    late in the transaction as it can be: from here to commit every other writer of the
    ledger waits.

    On PostgreSQL all of it is one statement (data-modifying CTEs; foreign keys are
    checked at its end): the counter moves, the rows go in with their positions, and the
    other writes ride along — one round trip where there were four. On SQLite (one
    writer, in-process) they run in order."""
    if not rows or not is_postgresql(conn):
        for w in before:
            write(conn, w)
        if rows:
            _insert_sqlite(conn, rows)
        for w in after:
            write(conn, w)
        return
    writes = [w for w in (*before, *after) if w.rows]
    columns = tuple(rows[0])
    shape = tuple((w.table, w.columns(), w.keys) for w in writes)
    stmt = _together(conn.dialect, columns, shape)
    params: dict[str, Any] = {"n": len(rows), **arrays(conn, consent_events, rows, columns)}
    for i, w in enumerate(writes):
        params.update(arrays(conn, w.table, w.rows, w.columns(), f"w{i}"))
    done = conn.execute(stmt, params).scalar()
    if done != len(rows):
        raise StoreError(f"ledger insert wrote {done} of {len(rows)} rows: ledger_feed has "
                         "no row; run `consentctl db upgrade`")


def write(conn: Connection, w: Write) -> None:
    """``w`` on its own (a statement of its own)."""
    if not w.rows:
        return
    if w.keys is None:
        insert_rows(conn, w.table, w.rows)
    else:
        upsert_many(conn, w.table, w.rows, w.keys)


def _insert_sqlite(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    base = conn.execute(text(_TAKE), {"n": len(rows)}).scalar()
    if base is None:
        raise StoreError("ledger_feed has no row: run `consentctl db upgrade`")
    conn.execute(consent_events.insert(),
                 [{**r, "position": base + i} for i, r in enumerate(rows, 1)])


@lru_cache(maxsize=64)
def _together(dialect: Any, columns: tuple[str, ...],
              shape: tuple[tuple[Table, tuple[str, ...], tuple[str, ...] | None], ...]) -> Any:
    # Built once per shape, like dialect._unnest_statement (a batch's text rarely changes:
    # which of the other writes have rows). Only identifiers of our own tables go into the
    # text; every value is a parameter.
    q = dialect.identifier_preparer.quote
    source, select = rows_source(dialect, consent_events, columns)
    parts = [f"f AS ({_TAKE})"]
    for i, (table, cols, keys) in enumerate(shape):
        body = insert_sql(dialect, table, cols, conflict_clause(dialect, cols, keys), f"w{i}")
        parts.append(f"w{i} AS ({body})")
    parts.append(f"e AS (INSERT INTO {q(consent_events.name)} "  # noqa: S608
                 f"({', '.join(q(c) for c in columns)}, {q('position')}) "
                 f"SELECT {select}, f.base + u.ord FROM f, {source} ORDER BY u.ord "
                 f"RETURNING 1)")
    return text(f"WITH {', '.join(parts)} SELECT count(*) FROM e")  # noqa: S608


