"""Consents of a number: show, history, export, grant/withdraw from other channels,
reset (number reassigned), erase, and the scheduled JAUNUMI lapse."""

from __future__ import annotations

import argparse
import sys
import uuid
from datetime import timedelta
from typing import Any

from consentctl.cli import (
    EXIT_OK,
    EXIT_REFUSED,
    Context,
    UsageError,
    confirm,
    consent_arg,
    msisdn_arg,
    positive_arg,
)
from consentctl.output import print_json, print_table
from consentctl.progress import Progress

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
                       help="recorded events with the reply sent and its delivery, oldest first",
                       epilog="example: consentctl history 29123456 --consent VIETA "
                              "--since 2026-11-01 --until 2026-12-01 --limit 20 --json")
    p.add_argument("msisdn", type=msisdn_arg, metavar="MSISDN")
    p.add_argument("--consent", type=consent_arg, metavar="CONSENT", help="only this consent")
    p.add_argument("--since", type=_instant, metavar="ISO8601",
                   help="received at or after (a bare date means 00:00 UTC)")
    p.add_argument("--until", type=_instant, metavar="ISO8601", help="received before")
    p.add_argument("--limit", type=positive_arg, metavar="N", help="the first N that match")
    p.add_argument("--all-holders", action="store_true",
                   help="also the events of earlier holders of the number (audit)")
    p.add_argument("--lang", choices=("en", "lv"), default="en",
                   help="language of the WHAT HAPPENED column (default en; JSON has both)")
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
    p.add_argument("--yes", action="store_true", help="do it without asking (needed off a terminal)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=reset)

    p = sub.add_parser("erase", parents=[common],
                       help="erase a number's data, keeping pseudonymised proof of consent",
                       epilog='example: consentctl erase 37129123456 --reason "Art. 17 request '
                              '2026-11-30" --yes (without --yes it asks on a terminal and '
                              'refuses, exit 2, elsewhere)')
    p.add_argument("msisdn", type=msisdn_arg, metavar="MSISDN")
    p.add_argument("--reason", required=True, type=_reason)
    p.add_argument("--yes", action="store_true", help="do it without asking (needed off a terminal)")
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
    data["independent"] = state.independent
    data.update(holder_fields(state))
    if args.json:
        print_json(data)
        return EXIT_OK
    when = "now" if args.at is None else f"at {args.at.isoformat()}"
    independent = {True: "yes", False: "no", None: "unknown"}[state.independent]
    print(f"{state.msisdn}  client group: {state.client_group or 'not in directory'}  "
          f"independent: {independent}  ({when})")
    for key, value in holder_fields(state).items():
        print(f"{key.replace('_', ' ')}: {value or '-'}")
    print_table(["CONSENT", "STATUS", "SINCE", "CHANNEL"],
                [[c, v["status"], v["since"], v["channel"]]
                 for c, v in data["consents"].items()])
    return EXIT_OK


def holder_fields(state: Any) -> dict[str, Any]:
    """Hook for the number's current holder (``holder_since``: since when the present user
    has the number), added by the consent-semantics work; nothing until the store has it."""
    since = getattr(state, "holder_since", None)
    return {} if since is None else {"holder_since": since}


def history(args: argparse.Namespace, ctx: Context) -> int:
    from consent_store.errors import NotFound

    entries = ctx.store.history(args.msisdn, all_holders=args.all_holders)
    if not entries:
        raise NotFound(f"no recorded events for {args.msisdn}")
    picked = [e for e in entries
              if (args.consent is None or e.consent == args.consent)
              and (args.since is None or e.received_at >= args.since)
              and (args.until is None or e.received_at < args.until)][:args.limit]
    replies = {r["event_id"]: r for r in ctx.store.replies(args.msisdn)}
    from consent_core.wording import LANGUAGES, describe

    rows = []
    for e in picked:
        d = e.to_dict()
        # What the text was read as and what came of it, in words (consent_core.wording).
        d["read_as"] = {lang: describe(d["outcome"], d["consent"], d.get("understood"),
                                       d.get("match_rule"), lang) for lang in LANGUAGES}
        reply = replies.get(e.event_id)
        d["reply"] = None if reply is None else {
            k: reply[k] for k in ("text", "submit_status", "message_id", "submitted_at",
                                  "delivery_status", "delivered_at")}
        rows.append(d)
    if args.json:
        print_json(rows)
        return EXIT_OK
    print_table(["RECEIVED", "CONSENT", "WHAT HAPPENED", "CHANNEL", "TEXT", "REPLY",
                 "DELIVERY", "EVENT"],
                [[d["received_at"], d["consent"], d["read_as"][args.lang], d["channel"],
                  d["text"] if d["reason"] is None else f"reason: {d['reason']}",
                  _reply_text(d), _delivery(d["reply"]), d["event_id"]] for d in rows])
    if not rows:
        print("(no events match)", file=sys.stderr)
    return EXIT_OK


def _reply_text(d: dict[str, Any]) -> str | None:
    # No reply row: the text recorded in the ledger (erased, or none queued).
    text: str | None = d["reply_text"] if d["reply"] is None else d["reply"]["text"]
    return text


def _delivery(reply: dict[str, Any] | None) -> str | None:
    if reply is None:
        return None
    if reply["delivery_status"]:
        return f"{reply['delivery_status']} {reply['delivered_at'] or ''}".strip()
    status: str = reply["submit_status"]
    return status


def change(args: argparse.Namespace, ctx: Context) -> int:
    from consent_core.changes import GUARDIAN_CHANNELS, ChangeRequest
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
    print_json(ctx.store.export(args.msisdn, digest_dir=ctx.settings.ledger.digest_dir))
    return EXIT_OK


def reset(args: argparse.Namespace, ctx: Context) -> int:
    confirm(args, f"reset {args.msisdn} (withdraw every consent)")
    changes = ctx.store.reset(args.msisdn, args.reason, channel=args.channel)
    if args.json:
        print_json([c.to_dict() for c in changes])
        return EXIT_OK
    withdrawn = [c.consent for c in changes if c.consent]
    print(f"{args.msisdn}: reset recorded; withdrawn: {', '.join(withdrawn) or 'none in force'}")
    return EXIT_OK


def erase(args: argparse.Namespace, ctx: Context) -> int:
    confirm(args, f"erase {args.msisdn}")
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
        with Progress("lapse (dry run)" if args.dry_run else "lapse") as bar:
            lapsed = ctx.store.lapse(as_of, timedelta(days=days), dry_run=args.dry_run,
                                     progress=bar.set if bar.active else None)
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
