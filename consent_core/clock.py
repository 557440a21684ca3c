"""The one clock: everything that needs "now" is handed a ``Clock`` at its edge.

A ``Clock`` is a callable returning an aware UTC ``datetime``. ``system_clock`` is the only
place in the product that reads the wall clock for calendar time; tests and tools that
reason about dates pass a ``FixedClock`` instead (issue: tests must never compare a fixed
date with the real "now"). Monotonic time for timeouts and intervals (``time.monotonic``)
is not calendar time and stays where it is used.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The machine's wall clock, in UTC."""
    return datetime.now(UTC)


class FixedClock:
    """A clock that stands still until told to move: for tests and previews."""

    def __init__(self, at: datetime) -> None:
        self._at = _aware(at)

    def __call__(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = _aware(at)

    def advance(self, by: timedelta) -> datetime:
        self._at += by
        return self._at


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("FixedClock needs an aware datetime (UTC)")
    return at.astimezone(UTC)
