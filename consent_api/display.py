"""How the console shows values: text with no invisible controls, instants in local time.

Texts in the console come from subscribers' phones (any Unicode) and from agents; Jinja's
autoescape stops markup, but not an ESC or a right-to-left override (U+202E) that makes
``VIETA STOP`` display as ``POTS ATEIV`` or hides part of a line. Every value a template
prints passes through ``neutralise``: such characters are shown as their code point.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from zoneinfo import ZoneInfo

from consent_core.instants import as_utc

# Unicode's bidirectional formatting characters (UAX #9 §2: embeddings, overrides,
# isolates, marks), which reorder what follows them on the screen.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_KEEP = frozenset("\n\t")
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp"})


def _visible(ch: str) -> str:
    return f"[U+{ord(ch):04X}]"


def neutralise(value: object) -> object:
    """``value`` with control (Cc), format (Cf: the bidi controls among them) and line or
    paragraph separator (Zl, Zp) characters replaced by ``[U+XXXX]``, tab and newline
    kept; anything not a string unchanged."""
    if not isinstance(value, str):
        return value
    if value.isprintable():  # the common case: nothing to look at
        return value
    return "".join(_visible(ch) if ch not in _KEEP and (
        ch in _BIDI or unicodedata.category(ch) in _HIDDEN) else ch for ch in value)


def local_time(value: datetime | str | None, zone: ZoneInfo) -> str:
    """``07.12.2026 06:20:53 EET``: as people in Latvia write it, to the second, with the
    zone's abbreviation (EET or EEST in Riga) so that nobody takes it for UTC."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        from consent_core.instants import parse_instant

        value = parse_instant(value)
    local = as_utc(value).astimezone(zone)
    return f"{local:%d.%m.%Y %H:%M:%S} {local.tzname()}"
