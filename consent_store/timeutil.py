"""UTC timestamps: one column type for both databases and one text form for output."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


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


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC in and out. PostgreSQL stores ``timestamptz``; SQLite stores naive UTC text,
    always in the same format, so that text comparison is time comparison."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected datetime, got {type(value).__name__}")
        value = as_utc(value)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return as_utc(value)
