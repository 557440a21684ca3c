"""``consentctl subscribers import FILE.csv``: load the subscriber directory.

Columns ``msisdn,client_group[,independent]`` (SPEC §7); a header row is optional. The
file is streamed and written in chunks, so a million rows need little memory. Bad rows
are reported as ``FILE:LINE: problem`` on stderr and skipped; the good ones are loaded;
the exit code is 3 when any row was bad (0 otherwise).
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

from consentctl.cli import EXIT_BAD_ROWS, EXIT_OK, Context, UsageError, msisdn_arg
from consentctl.output import print_json

_TRUE = frozenset({"true", "1", "yes", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "f"})
MAX_REPORTED = 100


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    subs = sub.add_parser("subscribers", help="subscriber directory", parents=[common])
    subs_sub = subs.add_subparsers(dest="subscribers_command", metavar="ACTION", required=True)
    imp = subs_sub.add_parser("import", parents=[common],
                              help="load msisdn,client_group[,independent] rows from a CSV file")
    imp.add_argument("file", metavar="FILE.csv")
    imp.add_argument("--json", action="store_true")
    imp.set_defaults(handler=import_file)


@dataclass
class Tally:
    good: int = 0
    bad: int = 0
    reported: list[str] = field(default_factory=list)


def read_rows(fh: TextIO, name: str, tally: Tally) -> Iterator[Any]:
    """Yield a ``SubscriberRow`` per good line; count and report the bad ones."""
    from consent_store.views import SubscriberRow

    reader = csv.reader(fh)
    for row in reader:
        line = reader.line_num
        cells = [c.strip() for c in row]
        if not any(cells):
            continue  # blank line
        if line == 1 and cells[0].lower().lstrip("\ufeff") == "msisdn":
            continue  # header
        problem, parsed = _parse(cells)
        if problem is not None:
            tally.bad += 1
            if tally.bad <= MAX_REPORTED:
                print(f"{name}:{line}: {problem}", file=sys.stderr)
            continue
        tally.good += 1
        yield SubscriberRow(*parsed)


def _parse(cells: list[str]) -> tuple[str | None, tuple[str, str, bool]]:
    if len(cells) not in (2, 3):
        return f"expected 2 or 3 columns, found {len(cells)}", ("", "", True)
    try:
        msisdn = msisdn_arg(cells[0])
    except argparse.ArgumentTypeError as exc:
        return str(exc), ("", "", True)
    group = cells[1].lower()
    if group not in ("lmt", "other"):
        return f"client_group must be lmt or other, not {cells[1]!r}", ("", "", True)
    independent = True
    if len(cells) == 3 and cells[2]:
        flag = cells[2].lower()
        if flag not in _TRUE | _FALSE:
            return f"independent must be true or false, not {cells[2]!r}", ("", "", True)
        independent = flag in _TRUE
    return None, (msisdn, group, independent)


def import_file(args: argparse.Namespace, ctx: Context) -> int:
    tally = Tally()
    try:
        fh = open(args.file, newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise UsageError(f"{args.file}: cannot read: {exc.strerror}") from None
    try:
        with fh:
            written = ctx.store.import_subscribers(read_rows(fh, args.file, tally))
    except UnicodeDecodeError as exc:
        raise UsageError(f"{args.file}: not UTF-8 text ({exc.reason})") from None
    except csv.Error as exc:
        raise UsageError(f"{args.file}: not a CSV file ({exc})") from None
    if tally.bad > MAX_REPORTED:
        print(f"{args.file}: … and {tally.bad - MAX_REPORTED} more bad rows", file=sys.stderr)
    if args.json:
        print_json({"file": args.file, "imported": written, "bad_rows": tally.bad})
    else:
        print(f"imported {written} subscribers from {args.file}; {tally.bad} bad rows skipped")
    return EXIT_BAD_ROWS if tally.bad else EXIT_OK
