"""Guards for the few tests whose subject is the machine's own "today" (consentctl status).

Those tests run real processes that read the system clock, so their clock cannot be pinned;
instead they never run across a UTC midnight, where "today" would change under them.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


def away_from_midnight(margin: float = 90.0) -> None:
    """Return at once unless UTC midnight is less than ``margin`` seconds away; then wait
    until it has passed (at most ``margin`` seconds), so the test sees one calendar day."""
    now = datetime.now(UTC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    left = (midnight - now).total_seconds()
    if left < margin:
        time.sleep(left + 1.0)
