"""Instants as the wire and the store write them: aware UTC, ISO 8601 with ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime


def as_utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime; a naive value is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_instant(text: str) -> datetime:
    """Parse ISO 8601 (``Z`` or an offset; no offset means UTC) into aware UTC."""
    return as_utc(datetime.fromisoformat(text.strip().replace("z", "Z")))


def iso(value: datetime | None) -> str | None:
    """``2026-11-24T20:01:02Z`` (fraction only when there is one), or None."""
    if value is None:
        return None
    value = as_utc(value)
    spec = "microseconds" if value.microsecond else "seconds"
    return value.replace(tzinfo=None).isoformat(timespec=spec) + "Z"
