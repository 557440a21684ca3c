"""UTC timestamps: one column type for both databases and one text form for output."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from consent_core.instants import as_utc, iso, parse_instant

__all__ = ["UtcDateTime", "as_utc", "iso", "parse_instant"]


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
