"""``consentctl subscribers import FILE.csv`` / ``show MSISDN`` / ``list``: the directory.

Columns ``msisdn,client_group[,independent]`` (SPEC §7); a header row is optional; cells
separated by ``,`` or ``;`` (what spreadsheets set to Latvian save), told from the first
line; a UTF-8 byte order mark is skipped. The file is streamed and written in chunks.
Bad rows are reported as ``FILE:LINE: problem`` on stderr and skipped; the good ones are
loaded; the exit code is 3 when any row was bad (0 otherwise). A number listed twice is
a bad row at its second line (the first one is loaded): the file is ambiguous there, and
silently keeping the last would hide it. Seen numbers are remembered as integers (measured:
110 MB per million rows). On a terminal a progress line shows rows, rate and ETA.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

from consentctl.cli import EXIT_BAD_ROWS, EXIT_OK, Context, UsageError, msisdn_arg, positive_arg
from consentctl.output import print_json, print_table
from consentctl.progress import Progress

_TRUE = frozenset({"true", "1", "yes", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "f"})
MAX_REPORTED = 100


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    subs = sub.add_parser("subscribers", help="subscriber directory", parents=[common])
    subs_sub = subs.add_subparsers(dest="subscribers_command", metavar="ACTION", required=True)
    imp = subs_sub.add_parser("import", parents=[common],
                              help="load msisdn,client_group[,independent] rows from a CSV file",
                              epilog="example: consentctl subscribers import directory.csv — "
                                     "lines like 37129123456;lmt;true or 29123456,other; bad "
                                     "rows are reported as FILE:LINE and skipped (exit 3)")
    imp.add_argument("file", metavar="FILE.csv")
    imp.add_argument("--json", action="store_true")
    imp.set_defaults(handler=import_file)

    show = subs_sub.add_parser("show", parents=[common], help="the directory row of a number")
    show.add_argument("msisdn", type=msisdn_arg, metavar="MSISDN")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=show_subscriber)

    ls = subs_sub.add_parser("list", parents=[common],
                             help="directory rows in number order (page with --after)")
    ls.add_argument("--group", choices=("lmt", "other"), help="only this client group")
    ls.add_argument("--after", type=msisdn_arg, metavar="MSISDN", default=None,
                    help="start after this number (the last one of the previous page)")
    ls.add_argument("--limit", type=positive_arg, default=100, metavar="N",
                    help="at most N rows (default %(default)s)")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=list_subscribers)


@dataclass
class Tally:
    good: int = 0
    bad: int = 0
    reported: list[str] = field(default_factory=list)


def sniff_delimiter(first_line: str) -> str:
    """``;`` when the first line is separated by semicolons, else ``,``."""
    return ";" if first_line.count(";") > first_line.count(",") else ","


def read_rows(fh: TextIO, name: str, tally: Tally,
              report: Callable[[str], None] | None = None,
              tick: Callable[[int], None] | None = None) -> Iterator[Any]:
    """Yield a ``SubscriberRow`` per good line; count and report the bad ones (and a
    number repeated at a later line). ``tick(rows_read)`` is called every 1000 rows."""
    from consent_store.views import SubscriberRow

    say = report or (lambda line: print(line, file=sys.stderr))
    first = fh.readline()
    lines = io.StringIO(first)
    reader = csv.reader(_chain(lines, fh), delimiter=sniff_delimiter(first))
    seen: dict[int, int] = {}
    for row in reader:
        line = reader.line_num
        if tick is not None and line % 1000 == 0:
            tick(line)
        cells = [c.strip() for c in row]
        if not any(cells):
            continue  # blank line
        if line == 1 and cells[0].lower().lstrip("\ufeff") == "msisdn":
            continue  # header
        problem, parsed = _parse(cells)
        if problem is None:
            first_at = seen.setdefault(int(parsed[0]), line)
            if first_at != line:
                problem = f"{parsed[0]} is listed again (first at line {first_at}); row skipped"
        if problem is not None:
            tally.bad += 1
            if tally.bad <= MAX_REPORTED:
                say(f"{name}:{line}: {problem}")
            continue
        tally.good += 1
        yield SubscriberRow(*parsed)


def _chain(head: TextIO, rest: TextIO) -> Iterator[str]:
    yield from head
    yield from rest


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
        raw = open(args.file, "rb")
        size = os.fstat(raw.fileno()).st_size
    except OSError as exc:
        raise UsageError(f"{args.file}: cannot read: {exc.strerror}") from None
    fh = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
    try:
        with fh, Progress(f"importing {os.path.basename(args.file)}") as bar:
            def tick(rows: int) -> None:
                # Total rows estimated from the bytes read so far: rate and ETA in rows.
                read = raw.tell()
                bar.set(rows, max(rows, round(rows * size / read)) if read else None)
            rows = read_rows(fh, args.file, tally, report=bar.write,
                             tick=tick if bar.active else None)
            written = ctx.store.import_subscribers(rows)
            bar.set(tally.good + tally.bad, tally.good + tally.bad)
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


def show_subscriber(args: argparse.Namespace, ctx: Context) -> int:
    from consent_store.errors import NotFound

    row = ctx.store.subscriber(args.msisdn)
    if row is None:
        raise NotFound(f"{args.msisdn} is not in the subscriber directory")
    if args.json:
        print_json(row)
        return EXIT_OK
    print(f"{row['msisdn']}  client group: {row['client_group']}  "
          f"independent: {'yes' if row['independent'] else 'no'}  "
          f"(directory row updated {row['updated_at']})")
    return EXIT_OK


def list_subscribers(args: argparse.Namespace, ctx: Context) -> int:
    rows = ctx.store.subscribers(after=args.after or "", limit=args.limit,
                                 client_group=args.group)
    if args.json:
        print_json(rows)
        return EXIT_OK
    print_table(["MSISDN", "GROUP", "INDEPENDENT", "UPDATED"],
                [[r["msisdn"], r["client_group"], "yes" if r["independent"] else "no",
                  r["updated_at"]] for r in rows])
    if len(rows) == args.limit:
        print(f"(more may follow: --after {rows[-1]['msisdn']})", file=sys.stderr)
    return EXIT_OK
