"""``consentctl db upgrade``: create or upgrade the schema (Alembic)."""

from __future__ import annotations

import argparse
from typing import Any

from consentctl.cli import EXIT_OK, Context
from consentctl.output import print_json


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    db = sub.add_parser("db", help="database schema", parents=[common])
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = db_sub.add_parser("upgrade", help="create or upgrade the schema to the newest revision",
                           parents=[common])
    up.add_argument("--revision", default="head", help=argparse.SUPPRESS)
    up.add_argument("--json", action="store_true")
    up.set_defaults(handler=upgrade)


def upgrade(args: argparse.Namespace, ctx: Context) -> int:
    from consent_store.engine import current_revision, make_engine, upgrade
    from consent_store.errors import safe_url

    url = ctx.database_url
    upgrade(url, args.revision)
    engine = make_engine(url)
    try:
        revision = current_revision(engine)
        if args.json:
            print_json({"database": safe_url(url), "revision": revision})
        else:
            print(f"schema of {safe_url(url)} at revision {revision}")
    finally:
        engine.dispose()
    return EXIT_OK
