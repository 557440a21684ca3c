"""The one way the API and the console read an instant a caller wrote (``at``).

Only ISO 8601 text with a date and a time of day is an instant: a plain number is not a
Unix time here (``at=-309`` was read as 1969), and an instant that has no UTC form
(``0001-01-01T00:00:00+01:00`` is before year 1 in UTC) is a 422, not a crash.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import PlainValidator, WithJsonSchema

from consent_core.instants import as_utc

# RFC 3339's date-time, with the offset optional (no offset means UTC, as in consentctl)
# and a space allowed for the T (RFC 3339 §5.6 NOTE). The same text is the schema's pattern.
PATTERN = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?"
           r"([Zz]|[+-][0-9]{2}:[0-9]{2})?$")
_FORM = re.compile(PATTERN)
EXAMPLE = "2026-11-24T20:01:02Z"


class NotAnInstant(ValueError):
    """The text is not an ISO 8601 instant, or one with no UTC form."""


def read_instant(text: str) -> datetime:
    """``text`` as aware UTC; NotAnInstant (a ValueError) names what is wrong."""
    if not _FORM.fullmatch(text):
        raise NotAnInstant(f"not an ISO 8601 instant such as {EXAMPLE}")
    try:
        return as_utc(datetime.fromisoformat(text.upper().replace(" ", "T")))
    except (ValueError, OverflowError):
        # fromisoformat: a month 13 or an offset of 25 hours; as_utc: nothing representable
        # in UTC (year 1 east of Greenwich, year 9999 west of it).
        raise NotAnInstant(f"{text!r} is not a representable instant") from None


def _validate(value: object) -> datetime:
    if isinstance(value, datetime):  # built in Python (tests, internal callers)
        try:
            return as_utc(value)
        except OverflowError:
            raise NotAnInstant("not a representable instant") from None
    if not isinstance(value, str):
        raise NotAnInstant(f"not an ISO 8601 instant such as {EXAMPLE} (a number is not one)")
    return read_instant(value)


# A field or parameter type: validated as above, documented as a pattern-bound date-time.
Instant = Annotated[datetime, PlainValidator(_validate),
                    WithJsonSchema({"type": "string", "format": "date-time",
                                    "pattern": PATTERN, "example": EXAMPLE})]
