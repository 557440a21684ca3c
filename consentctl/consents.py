"""Consents of a number: show, history, export, grant/withdraw from other channels,
reset (number reassigned), erase, and the scheduled JAUNUMI lapse."""

from __future__ import annotations

import argparse
import sys
import uuid
from datetime import timedelta
from typing import Any

from consentctl.cli import EXIT_OK, EXIT_REFUSED, Context, UsageError, consent_arg, msisdn_arg
from consentctl.output import print_json, print_table

# Channels an operator may name; `sms` changes come only through the gateway (one path).
CLI_CHANNELS = ("web", "customer_centre", "operator")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("show", parents=[common], help="consents of a number, now or at a moment")
    p.add_argument("msisdn", type=msisdn_arg, metavar="MSISDN")
    p.add_argument("--json", action="store_true", help="one JSON object (SPEC §7)")
    p.add_argument("--at", type=_instant, metavar="ISO8601",
                   help="as they stood at this moment (no offset means UTC)")
    p.set_defaults(handler=show)

    p = sub.add_parser("history", parents=[common],
                       help="recorded events of the number's current holder, oldest first")
    p.add_argument("msisdn", type=msisdn_arg, metavar="MSISDN")
    p.add_argument("--all-holders", action="store_true",
                   help="also the events of earlier holders of the number (audit)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=history)

    for name, action in (("grant", "give"), ("withdraw", "withdraw")):
        p = sub.add_parser(name, parents=[common],
                           help=f"{action} a consent on behalf of the subscriber "
                                "(web, customer centre)")
        p.add_argument("msisdn", type=msisdn_arg, metavar="MSISDN")
        p.add_argument("consent", type=consent_arg, metavar="CONSENT")
        p.add_argument("--channel", required=True, choices=CLI_CHANNELS)
        p.add_argument("--at", type=_instant, metavar="ISO8601",
                       help="when the subscriber made the change, if earlier (e.g. a paper "
                            "form); never in the future, never over a later change")
        p.add_argument("--on-behalf", choices=("guardian",),
                       help="a parent or guardian acts for a minor's line "
                            "(--channel customer_centre)")
        p.add_argument("--agent", type=_text(100), help="who entered it")
        p.add_argument("--reference", type=_text(200), help="e.g. the paper form's number")
        p.add_argument("--note", type=_text(2000))
        p.add_argument("--json", action="store_true")
        p.set_defaults(handler=change, action=action)

    p = sub.add_parser("export", parents=[common],
                       help="everything held about the number's current holder (JSON)")
    p.add_argument("msisdn", type=msisdn_arg, metavar="MSISDN")
    p.add_argument("--json", action="store_true", help="the default: export is always JSON")
    p.set_defaults(handler=export)

    p = sub.add_parser("reset", parents=[common],
                       help="number handed to a new user: withdraw every consent, recorded")
    p.add_argument("msisdn", type=msisdn_arg, metavar="MSISDN")
    p.add_argument("--reason", required=True, type=_reason)
    p.add_argument("--channel", default="operator", choices=CLI_CHANNELS)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=reset)

    p = sub.add_parser("erase", parents=[common],
                       help="erase a number's data, keeping pseudonymised proof of consent")
    p.add_argument("msisdn", type=msisdn_arg, metavar="MSISDN")
    p.add_argument("--reason", required=True, type=_reason)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=erase)

    p = sub.add_parser("lapse", parents=[common],
                       help="lapse JAUNUMI consents past the inactivity period")
    p.add_argument("--dry-run", action="store_true", help="list them, change nothing")
    p.add_argument("--as-of", type=_instant, metavar="ISO8601",
                   help="what lapses at this instant (default now; future only with --dry-run)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=lapse)


def _instant(text: str) -> Any:
    from consent_store.timeutil import parse_instant

    try:
        return parse_instant(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 time: {text!r} (e.g. 2026-11-24T20:01:02Z)") from None


def _text(limit: int) -> Any:
    def parse(text: str) -> str:
        if not text.strip() or len(text) > limit:
            raise argparse.ArgumentTypeError(f"must be 1..{limit} characters")
        return text.strip()
    return parse


def _reason(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("a reason is required")
    return text.strip()


def show(args: argparse.Namespace, ctx: Context) -> int:
    state = ctx.store.state(args.msisdn, at=args.at)
    data = state.to_dict()
    if args.json:
        print_json(data)
        return EXIT_OK
    when = "now" if args.at is None else f"at {args.at.isoformat()}"
    print(f"{state.msisdn}  client group: {state.client_group or 'not in directory'}  ({when})")
    print_table(["CONSENT", "STATUS", "SINCE", "CHANNEL"],
                [[c, v["status"], v["since"], v["channel"]]
                 for c, v in data["consents"].items()])
    return EXIT_OK


def history(args: argparse.Namespace, ctx: Context) -> int:
    from consent_store.errors import NotFound

    entries = ctx.store.history(args.msisdn, all_holders=args.all_holders)
    if not entries:
        raise NotFound(f"no recorded events for {args.msisdn}")
    if args.json:
        print_json([e.to_dict() for e in entries])
        return EXIT_OK
    print_table(["RECEIVED", "CONSENT", "ACTION", "OUTCOME", "CHANNEL", "TEXT", "EVENT"],
                [[d["received_at"], d["consent"], d["action"], d["outcome"], d["channel"],
                  d["text"] if d["reason"] is None else f"reason: {d['reason']}", d["event_id"]]
                 for d in (e.to_dict() for e in entries)])
    return EXIT_OK


def change(args: argparse.Namespace, ctx: Context) -> int:
    from consent_store.requests import GUARDIAN_CHANNELS, ChangeRequest
    from consent_store.timeutil import iso

    now = ctx.store.clock()
    if args.at is not None and args.at > now:
        raise UsageError(f"--at {iso(args.at)} is in the future (now {iso(now)}); a change "
                         "can only be entered after it was made")
    if args.on_behalf and args.channel not in GUARDIAN_CHANNELS:
        raise UsageError(f"--on-behalf {args.on_behalf} needs --channel "
                         f"{' or '.join(sorted(GUARDIAN_CHANNELS))} (the guardian is "
                         "identified there)")
    if args.on_behalf and not ctx.store.guardian_may_act(args.msisdn):
        # A guardian speaks only for a line the directory marks not independent; on any
        # other line the subscriber decides themselves (seed rule 5).
        print(f"consentctl: {args.msisdn} is not marked as a minor's line in the directory; "
              "the subscriber acts for themselves, not a guardian", file=sys.stderr)
        return EXIT_REFUSED
    # Applied directly, not queued: it is not the SMS path, and the operator sees the
    # outcome at once. It goes through the same apply_batch as every SMS.
    request = ChangeRequest(
        event_id=f"ctl-{uuid.uuid4().hex}", msisdn=args.msisdn, action=args.action,
        consent=args.consent, channel=args.channel, received_at=now, effective_at=args.at,
        on_behalf=args.on_behalf, agent=args.agent, reference=args.reference, note=args.note,
        text=f"consentctl {'grant' if args.action == 'give' else 'withdraw'} {args.consent}")
    applied = ctx.store.apply(request, catalog=ctx.catalog)
    refused = applied.outcome.value.startswith("refused") or applied.outcome.value == "superseded"
    if args.json:
        print_json(applied.to_dict())
    else:
        basis = f", on behalf of the {args.on_behalf}" if args.on_behalf else ""
        print(f"{applied.msisdn} {applied.consent}: {applied.outcome.value} "
              f"(channel {args.channel}{basis}, event {applied.event_id})"
              + (f"; {applied.reason}" if applied.reason else ""))
    return EXIT_REFUSED if refused else EXIT_OK


def export(args: argparse.Namespace, ctx: Context) -> int:
    print_json(ctx.store.export(args.msisdn))
    return EXIT_OK


def reset(args: argparse.Namespace, ctx: Context) -> int:
    changes = ctx.store.reset(args.msisdn, args.reason, channel=args.channel)
    if args.json:
        print_json([c.to_dict() for c in changes])
        return EXIT_OK
    withdrawn = [c.consent for c in changes if c.consent]
    print(f"{args.msisdn}: reset recorded; withdrawn: {', '.join(withdrawn) or 'none in force'}")
    return EXIT_OK


def erase(args: argparse.Namespace, ctx: Context) -> int:
    report = ctx.store.erase(args.msisdn, args.reason)
    if args.json:
        print_json(report.to_dict())
        return EXIT_OK
    print(f"{args.msisdn}: erased (event {report.event_id}); "
          f"{report.events_pseudonymised} ledger rows pseudonymised, "
          f"{report.replies_deleted} replies and {report.contacts_deleted} contacts deleted; "
          f"directory row {'kept (LMT data)' if report.directory_kept else 'absent'}")
    return EXIT_OK


def lapse(args: argparse.Namespace, ctx: Context) -> int:
    from consent_store.errors import BadRequest
    from consent_store.timeutil import iso

    days = ctx.settings.consent.jaunumi_lapse_days
    as_of = args.as_of or ctx.store.clock()
    try:
        lapsed = ctx.store.lapse(as_of, timedelta(days=days), dry_run=args.dry_run)
    except BadRequest as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        print_json({"dry_run": args.dry_run, "as_of": iso(as_of), "period_days": days,
                    "lapsed": [c.to_dict() for c in lapsed]})
        return EXIT_OK
    verb = "would lapse" if args.dry_run else "lapsed"
    print(f"{verb} {len(lapsed)} JAUNUMI consents as of {iso(as_of)} "
          f"(no communication for {days} days)")
    if lapsed:
        print_table(["MSISDN", "GIVEN SINCE", "LAST COMMUNICATION"],
                    [[c.msisdn, iso(c.since), iso(c.last_activity_at)] for c in lapsed])
    return EXIT_OK
