"""Printing for consentctl: JSON for scripts, aligned tables for people.

Whatever a subscriber typed may reach the screen (texts as received, notes, reasons), so
nothing consentctl prints can act on a terminal or hide what follows it: C0 and C1 control
characters, U+2028/U+2029 and the bidi controls are written as ``\\uXXXX`` — in JSON that
is the escape JSON itself defines, so the output stays valid. ``main`` installs the filter
on stdout and stderr for every command (``escaping``); table cells also escape line breaks
and tabs, which would break the table.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TextIO

# Bidi embeddings, overrides, isolates and marks (Unicode TR #9).
_BIDI = [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_UNSAFE = [c for c in range(0x20) if c != 0x0A] + [0x7F, *range(0x80, 0xA0), 0x2028, 0x2029,
                                                   *_BIDI]
_STREAM = {c: f"\\u{c:04x}" for c in _UNSAFE}
_CELL = _STREAM | {0x0A: "\\n", 0x09: "\\t", 0x0D: "\\r"}


def escape(text: str) -> str:
    """``text`` with every character that could act on a terminal written as ``\\uXXXX``
    (newline kept: it is the output's own line break)."""
    return text.translate(_STREAM)


class EscapingWriter:
    """A text stream that escapes as ``escape`` does before writing to ``inner``."""

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner

    def write(self, text: str) -> int:
        self._inner.write(text.translate(_STREAM))
        return len(text)

    def __getattr__(self, name: str) -> Any:  # flush, isatty, encoding, fileno, …
        return getattr(self._inner, name)


@contextmanager
def escaping() -> Iterator[None]:
    """Escape everything written to stdout and stderr inside the block."""
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = EscapingWriter(out), EscapingWriter(err)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = out, err


def print_json(data: Any) -> None:
    # ensure_ascii=False keeps Latvian letters readable; the stream filter escapes the rest.
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2).translate(_STREAM))
    sys.stdout.write("\n")


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    text = str(value).translate(_CELL)
    # Anything else not printable (zero-width and format characters) is shown, not acted on.
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)
