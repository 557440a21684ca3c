"""The two places where SQLite and PostgreSQL need different SQL: INSERT … ON CONFLICT."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def _insert(conn: Connection, table: Table) -> Any:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def insert_ignore(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows``, skipping any whose primary key is already present."""
    if rows:
        conn.execute(_insert(conn, table).on_conflict_do_nothing(), list(rows))


def upsert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]],
           keys: Sequence[str]) -> None:
    """Insert ``rows``; where the key exists, overwrite the other given columns.

    One multi-row statement per call (callers chunk); within it a key may appear only
    once (PostgreSQL refuses to update a row twice in one statement), so the last wins.
    """
    if not rows:
        return
    unique = list({tuple(r[k] for k in keys): r for r in rows}.values())
    stmt = _insert(conn, table).values(unique)
    update = {c: stmt.excluded[c] for c in unique[0] if c not in keys}
    conn.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=update))


def upsert_many(conn: Connection, table: Table, rows: Sequence[dict[str, Any]],
                keys: Sequence[str]) -> None:
    """``upsert`` as an executemany: the statement is compiled once and cached; on
    PostgreSQL SQLAlchemy's insertmanyvalues sends it as multi-row INSERTs (engine.py)."""
    if not rows:
        return
    stmt = _insert(conn, table)
    update = {c: stmt.excluded[c] for c in rows[0] if c not in keys}
    conn.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=update), list(rows))
