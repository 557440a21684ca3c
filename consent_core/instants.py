"""Instants as the wire and the store write them: aware UTC, ISO 8601 with ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload


def as_utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime; a naive value is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_instant(text: str) -> datetime:
    """Parse ISO 8601 (``Z`` or an offset; no offset means UTC) into aware UTC."""
    return as_utc(datetime.fromisoformat(text.strip().replace("z", "Z")))


@overload
def iso(value: datetime, timespec: str | None = None) -> str: ...


@overload
def iso(value: None, timespec: str | None = None) -> None: ...


def iso(value: datetime | None, timespec: str | None = None) -> str | None:
    """``2026-11-24T20:01:02Z`` (fraction only when there is one), or None. The one ISO 8601
    formatter of the tree; ``timespec`` (``"seconds"`` for status lines) fixes the
    precision as ``datetime.isoformat`` takes it."""
    if value is None:
        return None
    value = as_utc(value)
    spec = timespec or ("microseconds" if value.microsecond else "seconds")
    return value.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def iso_at(seconds: float, timespec: str | None = None) -> str:
    """``iso`` of a POSIX timestamp."""
    return iso(datetime.fromtimestamp(seconds, UTC), timespec)
