"""Engines for SQLite and PostgreSQL, and the schema upgrade (Alembic) entry point."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from consent_store.errors import (
    SchemaError,
    StoreUnavailable,
    UnsupportedDatabase,
    safe_url,
)

# Waiting for another writer is normal with several workers on one SQLite file; an
# error after this long means something holds the write lock far too long.
SQLITE_BUSY_TIMEOUT_MS = 30_000
WRITE = {"consent_store_write": True}

_MIGRATIONS = Path(__file__).with_name("migrations")


def make_engine(url: str, *, pool_size: int = 5) -> Engine:
    """An engine for ``url`` (``sqlite:///…`` or ``postgresql+psycopg://…``).

    SQLite: WAL, foreign keys and a busy timeout on every connection, and write
    transactions that take the write lock at BEGIN (no lock upgrade deadlocks).
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise UnsupportedDatabase(f"database.url is not a database URL: {safe_url(url)}") from None
    backend = parsed.get_backend_name()
    kwargs: dict[str, Any] = {}
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        # Prepared statements (psycopg prepares after 5 runs) save the parse of every
        # statement, but PostgreSQL may then switch to a generic plan made while the tables
        # were still empty (sequential scans): measured in bench/store.py on a fresh
        # database, batched apply fell from 2,300 to 600 changes/s within 24,000 changes.
        # plan_cache_mode=force_custom_plan keeps the parse saving and plans each execution
        # with its real parameters.
        # No pre-ping: it costs a round trip per checkout (measured: may_use p99 1.1 ms with
        # it); a connection that died with the server fails its statement, SQLAlchemy then
        # invalidates the pool and the caller's retry (StoreUnavailable) gets a fresh one.
        kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=False,
                      connect_args={"options": "-c plan_cache_mode=force_custom_plan"})
    elif backend != "sqlite":
        raise UnsupportedDatabase(f"database.url {safe_url(url)}: only sqlite and postgresql are supported")
    try:
        engine = sa.create_engine(parsed, **kwargs)
    except (NoSuchModuleError, ImportError) as exc:
        raise UnsupportedDatabase(f"database.url {safe_url(url)}: driver not installed ({exc})") from None
    if backend == "postgresql":
        # Batches of ledger rows go out as multi-row INSERTs (SQLAlchemy's insertmanyvalues)
        # instead of one statement per row: without prepared statements each of those would
        # be parsed and planned on its own. Measured with /tmp-style profiling of
        # apply_batch: the per-row form spent most of its time waiting on the server.
        engine.dialect.use_insertmanyvalues_wo_returning = True
    if backend == "sqlite":
        _sqlite_setup(engine)
    return engine


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is deferred).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys = ON")
        if engine.url.database not in (None, "", ":memory:"):
            cur.execute("PRAGMA journal_mode = WAL")
            # WAL + FULL: the WAL is fsynced at every commit, so a committed batch
            # survives a power cut or an OS crash too. NORMAL (fsync only at checkpoints)
            # may roll the last commits back then — after the batch's RQ job was gone
            # and the SMSC had status 0 (sqlite.org/pragma.html#pragma_synchronous).
            # EXTRA adds only a directory sync for rollback journals, none in WAL mode.
            # What it costs: docs/store.md, "Durability".
            cur.execute("PRAGMA synchronous = FULL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        immediate = conn.get_execution_options().get("consent_store_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def alembic_config(connection: sa.Connection | None = None) -> Any:
    """An Alembic ``Config`` for the packaged migrations (no alembic.ini needed)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Create or upgrade the schema at ``url`` to ``revision`` (default: the newest)."""
    from alembic import command

    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), revision)
    except OperationalError as exc:
        raise StoreUnavailable(
            f"database {safe_url(url)}: cannot upgrade schema: {_first_line(exc)}"
        ) from None
    finally:
        engine.dispose()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise SchemaError("no migrations packaged with consent_store")
    return head


def require_head(engine: Engine) -> None:
    """Raise ``SchemaError`` (the line to show an operator) unless the schema is at head;
    a database that does not answer raises as SQLAlchemy does."""
    found = current_revision(engine)
    if found != head_revision():
        raise SchemaError(f"database schema is at {found or 'nothing'}, the code needs "
                          f"{head_revision()}; run `consentctl db upgrade`")


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
