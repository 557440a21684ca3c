"""The one backoff: how long to wait before the next try after ``attempt`` failures.

Used by the gateway's rebind and the webhook deliverer. Exponential (each failure doubles
the wait, as RFC 6298 §5.5 doubles a TCP retransmission timer), capped, with ±20 % jitter
so that many clients that failed together do not retry in step.
"""

from __future__ import annotations

import random


def backoff(attempt: int, first: float, cap: float, *, jitter: float = 0.2,
            rand: random.Random | None = None) -> float:
    """Seconds to wait after ``attempt`` failures (0 for the first retry, …): ``first``
    doubled ``attempt`` times, at most ``cap``, then scaled by a random factor within
    ``1 ± jitter``."""
    base = min(cap, first * (2 ** min(max(attempt, 0), 40)))
    factor = (rand or random).uniform(1.0 - jitter, 1.0 + jitter)
    return float(base * factor)
