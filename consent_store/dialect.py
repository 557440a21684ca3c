"""Where SQLite and PostgreSQL need different SQL: INSERT … ON CONFLICT, and batches.

On PostgreSQL a batch of rows is one statement whatever its size: the rows travel as one
array per column and ``unnest`` turns them back into rows (``INSERT … SELECT FROM
unnest(…)``), and a lookup by many keys is ``= ANY(:array)``. The statement text is then
the same for every batch, so psycopg prepares it once (after five runs) and PostgreSQL
parses it once, where a multi-row VALUES list or an ``IN (…)`` list makes a new text for
every batch size. SQLite gets the plain forms (an executemany, ``IN``), which it runs
in-process at no parse cost worth saving.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import JSON, Column, ColumnElement, Connection, Row, Table, any_, bindparam, text
from sqlalchemy.dialects import postgresql, sqlite


def is_postgresql(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def _insert(conn: Connection, table: Table) -> Any:
    if is_postgresql(conn):
        return postgresql.insert(table)
    return sqlite.insert(table)


def among(conn: Connection, column: Column[Any], values: Sequence[Any]) -> ColumnElement[bool]:
    """``column IN values``; on PostgreSQL ``column = ANY(:array)`` (one statement text)."""
    if is_postgresql(conn):
        return column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))
    return column.in_(list(values))


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (every row with the same keys), in order."""
    if not rows:
        return
    if is_postgresql(conn):
        _unnest_insert(conn, table, rows, "")
    else:
        conn.execute(table.insert(), list(rows))


def insert_ignore(conn: Connection, table: Table, rows: Sequence[dict[str, Any]], *,
                  returning: bool = False) -> list[Row[Any]] | None:
    """Insert ``rows``, skipping any whose primary key (or another unique key) is present.

    With ``returning`` on PostgreSQL, the rows this statement inserted (every column);
    elsewhere None — the caller reads what it needs.
    """
    if not rows:
        return [] if returning and is_postgresql(conn) else None
    if is_postgresql(conn):
        return _unnest_insert(conn, table, rows, "ON CONFLICT DO NOTHING", returning=returning)
    conn.execute(_insert(conn, table).on_conflict_do_nothing(), list(rows))
    return None


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
    """``upsert`` for batches: on PostgreSQL one ``INSERT … SELECT FROM unnest(…) ON
    CONFLICT DO UPDATE``, elsewhere an executemany. A key may appear only once."""
    if not rows:
        return
    if is_postgresql(conn):
        q = conn.dialect.identifier_preparer.quote
        sets = ", ".join(f"{q(c)} = EXCLUDED.{q(c)}" for c in rows[0] if c not in keys)
        _unnest_insert(conn, table, rows,
                       f"ON CONFLICT ({', '.join(q(k) for k in keys)}) DO UPDATE SET {sets}")
        return
    stmt = _insert(conn, table)
    update = {c: stmt.excluded[c] for c in rows[0] if c not in keys}
    conn.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=update), list(rows))


def arrays(conn: Connection, table: Table, rows: Sequence[dict[str, Any]],
           columns: Sequence[str]) -> dict[str, list[Any]]:
    """``rows`` as one list per column (``p0``, ``p1``, … in the order of ``columns``),
    each value as the column's type binds it (JSON as its text): the parameters of a
    statement made by ``unnest_source``."""
    procs = [_bind(conn, table.c[c]) for c in columns]
    return {f"p{i}": [proc(r[c]) for r in rows] if proc else [r[c] for r in rows]
            for i, (c, proc) in enumerate(zip(columns, procs, strict=True))}


def unnest_source(conn: Connection, table: Table, columns: Sequence[str]) -> tuple[str, str]:
    """(FROM item, select list) turning the arrays of ``arrays`` back into rows, as ``u``
    with columns ``c0``, ``c1``, … and ``ord`` (the row's place in the batch)."""
    return _unnest_source(conn.dialect, table, tuple(columns))


@lru_cache(maxsize=64)
def _unnest_source(dialect: Any, table: Table, columns: tuple[str, ...]) -> tuple[str, str]:
    casts, select = [], []
    for i, name in enumerate(columns):
        col = table.c[name]
        if isinstance(col.type, JSON):  # sent as text, read back as json
            casts.append(f"CAST(:p{i} AS TEXT[])")
            select.append(f"CAST(u.c{i} AS JSON)")
        else:
            casts.append(f"CAST(:p{i} AS {col.type.compile(dialect=dialect)}[])")
            select.append(f"u.c{i}")
    alias = ", ".join(f"c{i}" for i in range(len(columns)))
    return (f"unnest({', '.join(casts)}) WITH ORDINALITY AS u({alias}, ord)",
            ", ".join(select))


def _unnest_insert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]],
                   conflict: str, *, returning: bool = False) -> list[Row[Any]] | None:
    columns = tuple(rows[0])
    stmt = _unnest_statement(conn.dialect, table, columns, conflict, returning)
    result = conn.execute(stmt, arrays(conn, table, rows, columns))
    return list(result) if returning else None


@lru_cache(maxsize=128)
def _unnest_statement(dialect: Any, table: Table, columns: tuple[str, ...], conflict: str,
                      returning: bool) -> Any:
    # Built once per statement shape: a batch's statement is the same text every time,
    # and making the TextClause (a regex over the text) and its cache key each time cost
    # a few percent of the worker's CPU.
    q = dialect.identifier_preparer.quote
    source, select = _unnest_source(dialect, table, columns)
    # ORDER BY ord: the ledger's ids follow the batch's order (history reads by id).
    # Only identifiers of our own tables go into the text; every value is a parameter.
    sql = (f"INSERT INTO {q(table.name)} ({', '.join(q(c) for c in columns)}) "  # noqa: S608
           f"SELECT {select} FROM {source} ORDER BY u.ord {conflict}")
    if returning:
        sql += " RETURNING " + ", ".join(q(c.name) for c in table.columns)
        return text(sql).columns(*table.columns)
    return text(sql)


def _bind(conn: Connection, col: Column[Any]) -> Callable[[Any], Any] | None:
    if isinstance(col.type, JSON):
        return lambda v: None if v is None else json.dumps(v)
    proc: Callable[[Any], Any] | None = col.type.bind_processor(conn.dialect)
    return proc
