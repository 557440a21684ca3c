"""Progress of long work, on a terminal only: rows done, rate and ETA on stderr (tqdm).

In a pipe, a file or under cron nothing is printed, so scripts and logs see only results.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any


class Progress:
    """``with Progress("importing", total=n, unit="B") as p: p.update(k)``; a no-op when
    stderr is not a terminal. ``total`` may be set later with ``p.set_total``."""

    def __init__(self, desc: str, *, total: int | None = None, unit: str = "rows",
                 unit_scale: bool = False) -> None:
        self._bar: Any = None
        if not sys.stderr.isatty():
            return
        import shutil

        from tqdm import tqdm

        # shutil falls back to 100x24 where the terminal reports no size (a bare pty, on
        # which tqdm would draw nothing).
        size = shutil.get_terminal_size((100, 24))
        self._bar = tqdm(desc=desc, total=total, unit=unit, unit_scale=unit_scale,
                         file=sys.stderr, ncols=size.columns, nrows=size.lines,
                         leave=True, mininterval=0.2)

    @property
    def active(self) -> bool:
        return self._bar is not None

    def update(self, n: int) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def set(self, done: int, total: int | None = None) -> None:
        if self._bar is None:
            return
        if total is not None and self._bar.total != total:
            self._bar.total = total
        self._bar.update(done - self._bar.n)

    def note(self, **fields: Any) -> None:
        if self._bar is not None:
            self._bar.set_postfix(fields, refresh=False)

    def write(self, line: str) -> None:
        """A line on stderr that does not tear the bar."""
        if self._bar is not None:
            self._bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.close()
