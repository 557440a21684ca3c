"""Where SQLite and PostgreSQL need different SQL: INSERT … ON CONFLICT, and batches.

On PostgreSQL a batch of rows is one statement whatever its size: the rows travel as one
JSON document (a list of objects, one parameter) and ``json_to_recordset`` turns it back
into typed rows (``INSERT … SELECT FROM ROWS FROM (json_to_recordset(…))``), and a lookup
by many keys is ``= ANY(:array)``. The statement text is then the same for every batch, so
psycopg prepares it once (after five runs) and PostgreSQL parses it once, where a
multi-row VALUES list or an ``IN (…)`` list makes a new text for every batch size.

Why one JSON document and not one array per column (``unnest``, as before 2026-12-07):
psycopg adapts a list parameter in Python, element by element, to find its type and
quote it; a batch of five texts sent about 60 arrays, and that was a quarter of the
worker's CPU for the batch. orjson writes the document in C and PostgreSQL reads it in C
(docs/performance.md).

SQLite gets the plain forms (an executemany, ``IN``), which it runs in-process at no parse
cost worth saving.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import JSON, Column, ColumnElement, Connection, Row, Table, any_, bindparam, text
from sqlalchemy.dialects import postgresql, sqlite


def is_postgresql(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def _insert(conn: Connection, table: Table) -> Any:
    if is_postgresql(conn):
        return postgresql.insert(table)
    return sqlite.insert(table)


def among_keys(dialect_name: str, column: Column[Any], name: str = "keys") -> ColumnElement[bool]:
    """``column IN :name`` (a list, given at execute time); on PostgreSQL ``column =
    ANY(:name)`` (one statement text whatever the list's length). A statement built with it
    once is run again and again, and SQLAlchemy then reuses its cache key instead of
    walking a new statement each time (a few percent of a batch's CPU for the worker's
    four lookups)."""
    if dialect_name == "postgresql":
        return column == any_(bindparam(name, type_=postgresql.ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


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
        _unnest_insert(conn, table, rows, conflict_clause(conn.dialect, tuple(rows[0]), keys))
        return
    stmt = _insert(conn, table)
    update = {c: stmt.excluded[c] for c in rows[0] if c not in keys}
    conn.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=update), list(rows))


def arrays(conn: Connection, table: Table, rows: Sequence[dict[str, Any]],
           columns: Sequence[str], param: str = "rows") -> dict[str, str]:
    """``rows`` as the one parameter (``param``) of a statement made by ``unnest_source``:
    a JSON list of objects keyed ``c0``, ``c1``, … in the order of ``columns``, each value
    as the column's type binds it (a JSON column's value as itself)."""
    pairs = _binders(conn.dialect, table, tuple(columns))
    doc = [{k: proc(r[c]) if proc else r[c] for k, c, proc in pairs} for r in rows]
    return {param: orjson.dumps(doc).decode()}


@lru_cache(maxsize=64)
def _binders(dialect: Any, table: Table, columns: tuple[str, ...]
             ) -> tuple[tuple[str, str, Callable[[Any], Any] | None], ...]:
    """(key, column, bind processor) for each of ``columns``, looked up once per shape
    (every batch asked the column types for them again)."""
    return tuple((f"c{i}", c, _bind(dialect, table.c[c])) for i, c in enumerate(columns))


def unnest_source(conn: Connection, table: Table, columns: Sequence[str],
                  param: str = "rows") -> tuple[str, str]:
    """(FROM item, select list) turning the document of ``arrays`` back into typed rows,
    as ``u`` with columns ``c0``, ``c1``, … and ``ord`` (the row's place in the batch)."""
    return _unnest_source(conn.dialect, table, tuple(columns), param)


def rows_source(dialect: Any, table: Table, columns: tuple[str, ...],
                param: str = "rows") -> tuple[str, str]:
    """``unnest_source`` for a statement built from the dialect alone (cached by shape)."""
    return _unnest_source(dialect, table, columns, param)


@lru_cache(maxsize=64)
def _unnest_source(dialect: Any, table: Table, columns: tuple[str, ...],
                   param: str = "rows") -> tuple[str, str]:
    # json_to_recordset reads each value with its column's input function: a string as
    # text, a timestamp or a number; a JSON column's value stays JSON.
    defs = ", ".join(
        f"c{i} {'JSON' if isinstance(table.c[n].type, JSON) else table.c[n].type.compile(dialect=dialect)}"
        for i, n in enumerate(columns))
    alias = ", ".join(f"c{i}" for i in range(len(columns)))
    return (f"ROWS FROM (json_to_recordset(CAST(:{param} AS JSON)) AS ({defs})) "
            f"WITH ORDINALITY AS u({alias}, ord)",
            ", ".join(f"u.c{i}" for i in range(len(columns))))


def _unnest_insert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]],
                   conflict: str, *, returning: bool = False) -> list[Row[Any]] | None:
    columns = tuple(rows[0])
    stmt = _unnest_statement(conn.dialect, table, columns, conflict, returning)
    result = conn.execute(stmt, arrays(conn, table, rows, columns))
    return list(result) if returning else None


def conflict_clause(dialect: Any, columns: Sequence[str], keys: Sequence[str] | None) -> str:
    """The ON CONFLICT clause of an upsert on ``keys`` (every other column overwritten), or
    "" for a plain insert (``keys`` None)."""
    if keys is None:
        return ""
    q = dialect.identifier_preparer.quote
    sets = ", ".join(f"{q(c)} = EXCLUDED.{q(c)}" for c in columns if c not in keys)
    return f"ON CONFLICT ({', '.join(q(k) for k in keys)}) DO UPDATE SET {sets}"


def insert_sql(dialect: Any, table: Table, columns: tuple[str, ...], conflict: str,
               param: str = "rows") -> str:
    """``INSERT … SELECT`` of the rows in parameter ``param`` (made by ``arrays``)."""
    q = dialect.identifier_preparer.quote
    source, select = _unnest_source(dialect, table, columns, param)
    # ORDER BY ord: the ledger's ids follow the batch's order (history reads by id).
    # Only identifiers of our own tables go into the text; every value is a parameter.
    return (f"INSERT INTO {q(table.name)} ({', '.join(q(c) for c in columns)}) "  # noqa: S608
            f"SELECT {select} FROM {source} ORDER BY u.ord {conflict}")


@lru_cache(maxsize=128)
def _unnest_statement(dialect: Any, table: Table, columns: tuple[str, ...], conflict: str,
                      returning: bool) -> Any:
    # Built once per statement shape: a batch's statement is the same text every time,
    # and making the TextClause (a regex over the text) and its cache key each time cost
    # a few percent of the worker's CPU.
    q = dialect.identifier_preparer.quote
    sql = insert_sql(dialect, table, columns, conflict)
    if returning:
        sql += " RETURNING " + ", ".join(q(c.name) for c in table.columns)
        return text(sql).columns(*table.columns)
    return text(sql)


def _bind(dialect: Any, col: Column[Any]) -> Callable[[Any], Any] | None:
    if isinstance(col.type, JSON):
        return None  # the value goes into the document as it is
    proc: Callable[[Any], Any] | None = col.type.bind_processor(dialect)
    return proc
