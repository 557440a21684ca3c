"""``consentctl subscribers import FILE.csv`` / ``show MSISDN`` / ``list``: the directory
(``sync`` is in ``directory_sync.py``).

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
import itertools
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

from consent_core.msisdn import canonical
from consentctl.cli import EXIT_BAD_ROWS, EXIT_OK, Context, UsageError, msisdn_arg, positive_arg
from consentctl.output import print_json, print_table
from consentctl.progress import Progress

_TRUE = frozenset({"true", "1", "yes", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "f"})
_FLAGS = _TRUE | _FALSE
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

    from consentctl.directory_sync import add_parser as add_sync

    add_sync(subs_sub, common)

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
    seen: dict[int, int] = {}
    for line, row in numbered_rows(fh, name, tally, report, tick, columns=3):
        first_at = seen.setdefault(int(row.msisdn), line)
        if first_at != line:
            tally.good -= 1
            _bad(tally, report, f"{name}:{line}: {row.msisdn} is listed again (first at line "
                                f"{first_at}); row skipped")
            continue
        yield row


def numbered_rows(fh: TextIO, name: str, tally: Tally,
                  report: Callable[[str], None] | None = None,
                  tick: Callable[[int], None] | None = None,
                  columns: int = 4) -> Iterator[tuple[int, Any]]:
    """Yield ``(line, SubscriberRow)`` per good line of up to ``columns`` cells (the
    fourth is the holder); count and report the bad ones. Numbers listed twice are not
    looked for here (the sync finds them in SQL, the import in ``read_rows``)."""
    from consent_store.views import SubscriberRow

    first = fh.readline()
    lines = io.StringIO(first)
    reader = csv.reader(itertools.chain(lines, fh), delimiter=sniff_delimiter(first))
    for row in reader:
        line = reader.line_num
        if tick is not None and line % 1000 == 0:
            tick(line)
        cells = [c.strip() for c in row]
        if not any(cells):
            continue  # blank line
        if line == 1 and cells[0].lower().lstrip("\ufeff") == "msisdn":
            continue  # header
        problem, parsed = _parse(cells, columns)
        if problem is not None:
            _bad(tally, report, f"{name}:{line}: {problem}")
            continue
        tally.good += 1
        yield line, SubscriberRow(*parsed)


def _bad(tally: Tally, report: Callable[[str], None] | None, line: str) -> None:
    tally.bad += 1
    if tally.bad <= MAX_REPORTED:
        (report or (lambda text: print(text, file=sys.stderr)))(line)


_NO_ROW: tuple[str, str, bool, str | None] = ("", "", True, None)
HOLDER_MAX = 200


def _parse(cells: list[str], columns: int = 3) -> tuple[str | None,
                                                        tuple[str, str, bool, str | None]]:
    if not 2 <= len(cells) <= columns:
        return f"expected 2 to {columns} columns, found {len(cells)}", _NO_ROW
    msisdn = canonical(cells[0])
    if msisdn is None:
        try:
            msisdn = msisdn_arg(cells[0])
        except argparse.ArgumentTypeError as exc:
            return str(exc), _NO_ROW
    group = cells[1].lower()
    if group not in ("lmt", "other"):
        return f"client_group must be lmt or other, not {cells[1]!r}", _NO_ROW
    independent = True
    if len(cells) >= 3 and cells[2]:
        flag = cells[2].lower()
        if flag not in _FLAGS:
            return f"independent must be true or false, not {cells[2]!r}", _NO_ROW
        independent = flag in _TRUE
    holder = cells[3] if len(cells) == 4 and cells[3] else None
    if holder is not None and (len(holder) > HOLDER_MAX or not holder.isprintable()):
        return f"holder must be at most {HOLDER_MAX} printable characters", _NO_ROW
    return None, (msisdn, group, independent, holder)


def open_csv(path: str) -> tuple[TextIO, Callable[[Progress], Callable[[int], None] | None]]:
    """The file as text (UTF-8, a byte order mark skipped), and a maker of the progress
    callback for a bar (None off a terminal): total rows estimated from the bytes read."""
    try:
        raw = open(path, "rb")
        size = os.fstat(raw.fileno()).st_size
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from None

    def ticker(bar: Progress) -> Callable[[int], None] | None:
        def tick(rows: int) -> None:
            read = raw.tell()
            bar.set(rows, max(rows, round(rows * size / read)) if read else None)
        return tick if bar.active else None

    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline=""), ticker


def import_file(args: argparse.Namespace, ctx: Context) -> int:
    tally = Tally()
    fh, ticker = open_csv(args.file)
    try:
        with fh, Progress(f"importing {os.path.basename(args.file)}") as bar:
            rows = read_rows(fh, args.file, tally, report=bar.write, tick=ticker(bar))
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
          f"holder: {row['holder'] or '-'}  "
          f"(directory row updated {row['updated_at']})"
          + (f"\n  left LMT's directory at {row['left_at']}" if row["left_at"] else ""))
    return EXIT_OK


def list_subscribers(args: argparse.Namespace, ctx: Context) -> int:
    rows = ctx.store.subscribers(after=args.after or "", limit=args.limit,
                                 client_group=args.group)
    if args.json:
        print_json(rows)
        return EXIT_OK
    print_table(["MSISDN", "GROUP", "INDEPENDENT", "HOLDER", "UPDATED", "LEFT"],
                [[r["msisdn"], r["client_group"], "yes" if r["independent"] else "no",
                  r["holder"], r["updated_at"], r["left_at"]] for r in rows])
    if len(rows) == args.limit:
        print(f"(more may follow: --after {rows[-1]['msisdn']})", file=sys.stderr)
    return EXIT_OK
