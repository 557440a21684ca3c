"""``consentctl subscribers sync FILE.csv [--dry-run] [--yes]``: the file is the whole
directory (docs/store.md, "The directory").

Columns ``msisdn,client_group[,independent[,holder]]`` as for the import. The file is
streamed into the database and compared there; the difference (added, changed group,
changed independence, left, new holder) is printed with counts before anything is
written. Nothing is written when a row is bad (a row that cannot be read would otherwise
make its number "leave"), exit 3. A sync that would drop more than
``directory.max_drop_share`` of the directory asks on a terminal and needs ``--yes``
elsewhere (exit 2), as ``erase`` does. Once applied, the consent changes it causes are
queued for the workers.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from typing import Any

from consentctl.cli import (
    EXIT_BAD_ROWS,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    Context,
    UsageError,
    confirm,
    positive_arg,
)
from consentctl.directory import MAX_REPORTED, Tally, numbered_rows, open_csv
from consentctl.output import print_json
from consentctl.progress import Progress

LABELS = {"added": "added", "changed_group": "changed group",
          "changed_independence": "changed independence", "left": "left",
          "new_holder": "new holder"}


def add_parser(subs_sub: Any, common: argparse.ArgumentParser) -> None:
    p = subs_sub.add_parser(
        "sync", parents=[common],
        help="make the directory what FILE says (absent numbers left LMT)",
        epilog="example: consentctl subscribers sync export.csv --dry-run — lines like "
               "37129123456;lmt;true;C-1001 (msisdn, client_group, independent, holder); "
               "a sync dropping more than directory.max_drop_share of the directory needs "
               "--yes off a terminal")
    p.add_argument("file", metavar="FILE.csv")
    p.add_argument("--dry-run", action="store_true",
                   help="print the difference and write nothing")
    p.add_argument("--yes", action="store_true",
                   help="apply even a sync that drops more than directory.max_drop_share")
    p.add_argument("--show", type=positive_arg, default=10, metavar="N",
                   help="numbers listed per kind of change (default %(default)s)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=sync_file)


def sync_file(args: argparse.Namespace, ctx: Context) -> int:
    tally = Tally()
    fh, ticker = open_csv(args.file)
    source = os.path.basename(args.file)
    with ctx.store.directory_sync(source) as sync:
        try:
            with fh, Progress(f"reading {source}") as bar:
                sync.load(numbered_rows(fh, args.file, tally, report=bar.write,
                                        tick=ticker(bar)))
        except UnicodeDecodeError as exc:
            raise UsageError(f"{args.file}: not UTF-8 text ({exc.reason})") from None
        except csv.Error as exc:
            raise UsageError(f"{args.file}: not a CSV file ({exc})") from None
        n_dup, dups = sync.duplicates(max(0, MAX_REPORTED - tally.bad))
        for dup in dups:
            print(f"{args.file}:{dup.line}: {dup.msisdn} is listed again (first at line "
                  f"{dup.first_line})", file=sys.stderr)
        bad = tally.bad + n_dup
        if bad > MAX_REPORTED:
            print(f"{args.file}: … and {bad - MAX_REPORTED} more bad rows", file=sys.stderr)
        diff = sync.difference(sample=args.show)
        result: dict[str, Any] = {"file": args.file, "dry_run": args.dry_run,
                                  "bad_rows": bad, **diff.to_dict()}
        if args.dry_run:
            sync.record("dry_run", diff, bad)
            return _done(args, result, "dry run", EXIT_BAD_ROWS if bad else EXIT_OK)
        if bad:
            sync.record("refused", diff, bad, f"{bad} bad rows")
            return _done(args, result, f"refused: {bad} bad rows (a row that cannot be read "
                         "would make its number leave); nothing changed", EXIT_BAD_ROWS)
        share = ctx.settings.directory.max_drop_share
        if diff.left and diff.drop_share() > share:
            what = (f"sync {source}: {diff.left} of {diff.directory_before} numbers "
                    f"({diff.drop_share():.1%}) would leave the directory, more than "
                    f"directory.max_drop_share ({share:.1%})")
            if not (args.json or args.yes):
                _print(result)  # what is asked about, before the question
            try:
                confirm(args, what)
            except UsageError:
                sync.record("refused", diff, bad, what)
                raise
        _, applied = sync.apply(bad, seen=diff)
    result.update(applied.counts())
    result["outcome"] = "applied"
    try:
        result["queued_changes"] = _queue_changes(ctx)
    except Exception as exc:
        import redis

        if not isinstance(exc, redis.RedisError):
            raise
        print(f"sync applied, but the consent changes it causes could not be queued "
              f"({exc}); they are kept and queued by the next sync or subscriber update",
              file=sys.stderr)
        result["queued_changes"] = None
        return _done(args, result, "applied", EXIT_UNAVAILABLE)
    return _done(args, result, "applied", EXIT_OK)


def _queue_changes(ctx: Context) -> int:
    from consent_queue.directory_outbox import drain
    from consent_queue.events import JobOptions
    from consent_queue.keys import Keys
    from consent_queue.outcomes import ChangeQueue
    from consentctl.jobs import redis_for

    q = ctx.settings.queue
    client = redis_for(ctx.settings)
    try:
        queue = ChangeQueue(client, Keys.from_settings(ctx.settings),
                            JobOptions(timeout=q.job_timeout, retry_max=q.retry_max))
        return drain(ctx.store, queue)
    finally:
        client.close()


def _done(args: argparse.Namespace, result: dict[str, Any], outcome: str, code: int) -> int:
    result.setdefault("outcome", outcome.split(":")[0].replace(" ", "_"))
    if args.json:
        print_json(result)
        return code
    _print(result)
    print(outcome if outcome != "dry run" else "dry run: nothing written")
    if result.get("queued_changes"):
        print(f"{result['queued_changes']} consent changes (handovers, numbers that left) "
              "queued for the workers")
    return code


def _print(r: dict[str, Any]) -> None:
    print(f"{r['file']}: {r['rows']} rows, {r['bad_rows']} bad; directory before: "
          f"{r['directory_before']} numbers")
    for kind, label in LABELS.items():
        shown = ", ".join(_sample(kind, s) for s in r.get("samples", {}).get(kind, []))
        more = "" if len(r.get("samples", {}).get(kind, [])) >= r[kind] else ", …"
        print(f"  {label:<22}{r[kind]:>10}" + (f"   {shown}{more}" if shown else ""))


def _sample(kind: str, s: dict[str, Any]) -> str:
    if "before" in s:
        return f"{s['msisdn']} ({s['before']}→{s['after']})"
    return str(s["msisdn"])
