"""``consentctl contact MSISDN --channel …``: record a communication LMT's systems report
(seed rule 4: JAUNUMI lapses only after six months without communication)."""

from __future__ import annotations

import argparse
from typing import Any

from consentctl.cli import EXIT_OK, Context, UsageError, msisdn_arg
from consentctl.consents import _instant, _text
from consentctl.output import print_json


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    from consent_store.store import CONTACT_CHANNELS

    p = sub.add_parser("contact", parents=[common],
                       help="record a communication with the number (restarts JAUNUMI's "
                            "inactivity period)")
    p.add_argument("msisdn", type=msisdn_arg, metavar="MSISDN")
    p.add_argument("--channel", required=True, choices=CONTACT_CHANNELS)
    p.add_argument("--at", type=_instant, metavar="ISO8601",
                   help="when it happened (default now; never in the future)")
    p.add_argument("--note", type=_text(2000))
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=contact)


def contact(args: argparse.Namespace, ctx: Context) -> int:
    from consent_store.errors import BadRequest

    try:
        row = ctx.store.record_contact(args.msisdn, args.channel, at=args.at, note=args.note)
    except BadRequest as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        print_json(row)
    else:
        print(f"{args.msisdn}: {args.channel} contact at {row['occurred_at']} recorded")
    return EXIT_OK
