"""``consentctl audience CONSENT [--at T] [--csv]``: every number with the consent in force.

The same stream as ``GET /v1/audiences/{consent}``: NDJSON (or CSV) on stdout, each row
with the feed position the list is consistent with; that position also goes to stderr.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from consentctl.cli import EXIT_OK, Context, UsageError, consent_arg


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("audience", parents=[common],
                       help="every number with CONSENT in force (now or --at), NDJSON or --csv")
    p.add_argument("consent", type=consent_arg, metavar="CONSENT")
    p.add_argument("--at", metavar="ISO8601", default=None,
                   help="as it stood at this past instant (default: now)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--csv", action="store_true", help="CSV with a header instead of NDJSON")
    fmt.add_argument("--json", action="store_true",
                     help="NDJSON, one object a number (the default; for scripts that pass "
                          "--json to every command)")
    p.set_defaults(handler=audience)


def audience(args: argparse.Namespace, ctx: Context) -> int:
    from consent_store.audience import open_audience
    from consent_store.timeutil import parse_instant

    at = None
    if args.at is not None:
        try:
            at = parse_instant(args.at)
        except ValueError as exc:
            raise UsageError(f"--at: {exc}") from None
        if at > ctx.clock():
            raise UsageError("--at is in the future")
    found = open_audience(ctx.store.engine, args.consent, at)
    print(f"consentctl: {args.consent} audience consistent with feed position "
          f"{found.position}", file=sys.stderr)
    out = sys.stdout.buffer
    for chunk in found.lines("csv" if args.csv else "ndjson"):
        out.write(chunk)
    out.flush()
    return EXIT_OK
