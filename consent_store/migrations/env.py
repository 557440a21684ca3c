"""Alembic environment: runs on the connection handed over by ``consent_store.engine.upgrade``
or, when run by hand with alembic.ini, on ``$SMSGW_DATABASE__URL``."""

from __future__ import annotations

import os

from alembic import context

from consent_store.schema import metadata

config = context.config


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies tables
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from consent_store.engine import make_engine

    url = os.environ.get("SMSGW_DATABASE__URL") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("set SMSGW_DATABASE__URL (or use `consentctl db upgrade`)")
    engine = make_engine(url)
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) mode is not supported; run against a database")
run()
