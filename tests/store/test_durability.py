"""A commit the store reports is on disk: SQLite as the product opens it, and the
PostgreSQL the benchmarks measure (docs/store.md, "Durability")."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from consent_store.engine import make_engine
from tests.support import servers

# sqlite.org/pragma.html#pragma_synchronous: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA.
SQLITE_FULL = 2


def test_sqlite_store_commits_with_synchronous_full_in_wal_mode(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/consents.db")
    try:
        with engine.connect() as conn:
            journal = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
            synchronous = conn.exec_driver_sql("PRAGMA synchronous").scalar()
    finally:
        engine.dispose()
    assert journal == "wal"
    assert synchronous is not None and synchronous >= SQLITE_FULL


def test_benchmark_postgresql_runs_the_stock_durable_settings() -> None:
    srv = servers.PostgresServer(dir=servers.new_tempdir("smsgw-durable-pg-"), durable=True)
    srv.init()
    srv.start()
    try:
        engine = sa.create_engine(srv.admin_url)
        with engine.connect() as conn:
            shown = {name: conn.exec_driver_sql(f"SHOW {name}").scalar()
                     for name in ("fsync", "synchronous_commit", "full_page_writes")}
        engine.dispose()
    finally:
        srv.stop("immediate")
    assert shown == {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
