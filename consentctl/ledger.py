"""``consentctl verify [MSISDN]``: recompute the ledger's hash chains (docs/store.md)."""

from __future__ import annotations

import argparse
from typing import Any

from consentctl.cli import EXIT_OK, EXIT_VERIFY_FAILED, Context, msisdn_arg
from consentctl.output import print_json


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("verify", parents=[common],
                       help="recompute the ledger's hash chains (exit 8 when one is broken)")
    p.add_argument("msisdn", nargs="?", type=msisdn_arg, metavar="MSISDN",
                   help="only this number's chains (default: the whole ledger)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=verify)


def verify(args: argparse.Namespace, ctx: Context) -> int:
    report = ctx.store.verify(args.msisdn)
    scope = args.msisdn or "ledger"
    if args.json:
        print_json({"scope": scope, **report.to_dict()})
    elif report.first_break is None:
        print(f"{scope}: intact ({report.rows} rows in {report.chains} chains)")
    else:
        b = report.first_break
        print(f"{scope}: BROKEN ({report.broken_chains} of {report.chains} chains); first "
              f"broken event {b.event_id or '-'} (chain {b.chain_id}, position "
              f"{b.chain_seq if b.chain_seq is not None else '-'}): {b.problem}")
    return EXIT_OK if report.intact else EXIT_VERIFY_FAILED
