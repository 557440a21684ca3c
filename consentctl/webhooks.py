"""``consentctl webhook add|list|remove|replay``: who is pushed every consent change.

Delivery itself is ``consent-webhooks run`` (docs/api.md, "Webhooks").
"""

from __future__ import annotations

import argparse
from typing import Any

from consentctl.cli import EXIT_OK, Context, UsageError
from consentctl.output import print_json, print_table


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    wh = sub.add_parser("webhook", parents=[common],
                        help="webhook subscriptions (delivered by consent-webhooks run)")
    wsub = wh.add_subparsers(dest="webhook_command", metavar="ACTION", required=True)
    p = wsub.add_parser("add", parents=[common], help="push every change (or those of some "
                        "consents) to URL, signed with SECRET (Standard Webhooks)")
    p.add_argument("url", metavar="URL")
    p.add_argument("--secret", required=True, metavar="SECRET",
                   help="whsec_ + base64 of 24–64 random bytes, e.g. "
                        "whsec_$(openssl rand -base64 32); the receiver verifies with it")
    p.add_argument("--consents", metavar="C,…", default=None,
                   help="only these consents (comma-separated; default: all); an erasure "
                        "is sent to every subscription")
    p.add_argument("--from", dest="start", metavar="POSITION", default="latest",
                   help="feed position to start after: 'latest' (default: changes from now "
                        "on) or a number (0: every change ever recorded)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=webhook_add)
    p = wsub.add_parser("list", parents=[common], help="subscriptions and how delivery stands")
    p.add_argument("--all", action="store_true", help="include removed subscriptions")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=webhook_list)
    p = wsub.add_parser("remove", parents=[common], help="stop pushing to subscription ID")
    p.add_argument("id", type=int, metavar="ID")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=webhook_remove)
    p = wsub.add_parser("replay", parents=[common],
                        help="resume a parked or backing-off subscription now; with --from, "
                             "send again every change after POSITION")
    p.add_argument("id", type=int, metavar="ID")
    p.add_argument("--from", dest="start", type=int, metavar="POSITION", default=None)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=webhook_replay)


def _show(args: argparse.Namespace, data: dict[str, Any]) -> None:
    if args.json:
        print_json(data)
        return
    print_table(["ID", "URL", "CONSENTS", "STATE", "POSITION", "TRIES", "NEXT TRY", "LAST ERROR"],
                [_cells(data)])


def _cells(d: dict[str, Any]) -> list[Any]:
    return [d["id"], d["url"], ",".join(d["consents"]) if d["consents"] else "all", d["state"],
            d["position"], d["attempts"], d["next_attempt_at"] or "-", d["last_error"] or "-"]


def webhook_add(args: argparse.Namespace, ctx: Context) -> int:
    from consent_store import webhooks
    from consent_store.errors import BadRequest

    if args.start == "latest":
        start = None
    elif args.start.isdigit():
        start = int(args.start)
    else:
        raise UsageError(f"--from: 'latest' or a feed position, not {args.start!r}")
    consents = None if args.consents is None else args.consents.split(",")
    try:
        sub = webhooks.add(ctx.store.engine, args.url, args.secret, consents, ctx.clock(), start)
    except BadRequest as exc:  # a bad URL, secret or consent is a usage error (exit 2)
        raise UsageError(str(exc)) from None
    _show(args, sub.to_dict())
    return EXIT_OK


def webhook_list(args: argparse.Namespace, ctx: Context) -> int:
    from consent_store import webhooks

    found = [s.to_dict() for s in webhooks.subscriptions(ctx.store.engine,
                                                         include_removed=args.all)]
    if args.json:
        print_json({"webhooks": found})
    else:
        print_table(["ID", "URL", "CONSENTS", "STATE", "POSITION", "TRIES", "NEXT TRY",
                     "LAST ERROR"], [_cells(d) for d in found])
    return EXIT_OK


def webhook_remove(args: argparse.Namespace, ctx: Context) -> int:
    from consent_store import webhooks

    _show(args, webhooks.remove(ctx.store.engine, args.id, ctx.clock()).to_dict())
    return EXIT_OK


def webhook_replay(args: argparse.Namespace, ctx: Context) -> int:
    from consent_store import webhooks

    _show(args, webhooks.replay(ctx.store.engine, args.id, args.start).to_dict())
    return EXIT_OK
