"""Throttling of authentication: console sign-ins and failed bearer tokens.

The choice (docs/api.md, "Throttling"): limits are **per source address and global**,
never per agent name. A count per name let anyone who knew a name lock that agent out,
and a spray of new names made a new counter (and an argon2 hash, 64 MiB) per try. Here:

- each source address has a budget of sign-in attempts and of failed bearer tokens per
  minute, counted in Redis (shared by every API process; one key per address and minute,
  whatever names or tokens it sprays);
- at most ``api.sign_in_concurrency`` password verifications run at once in a process;
  the rest wait their turn without holding a thread, and one that waits longer than
  ``SIGN_IN_QUEUE_SECONDS`` gets 429. Memory is bounded by that number of argon2 hashes.

So a stranger exhausts only their own address's budget; the agent at another address
signs in as usual.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import redis

# KEYS: the window's counter. Returns the count after this attempt.
_COUNT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], 120) end
return n
"""
WINDOW_SECONDS = 60
# A sign-in that cannot start its verification within this long is refused with 429:
# argon2 takes ~50 ms, so this is a queue of about a hundred attempts per verifier.
SIGN_IN_QUEUE_SECONDS = 5.0
# Addresses a process remembers as over their bearer budget (oldest forgotten first).
_BLOCKED_MAX = 10_000


def window(now: float) -> int:
    return int(now // WINDOW_SECONDS)


def retry_after(now: float) -> int:
    """Seconds until the current window ends (at least 1)."""
    return max(1, int(WINDOW_SECONDS - now % WINDOW_SECONDS))


def count(client: redis.Redis, prefix: str, kind: str, source: str, now: float) -> int:
    """Count one more ``kind`` event from ``source`` in this minute; the count."""
    key = f"{prefix}:throttle:{kind}:{source}:{window(now)}"
    return int(client.eval(_COUNT, 1, key))


@dataclass
class SignInGate:
    """At most ``concurrency`` password verifications at once in this process."""

    concurrency: int
    _semaphore: asyncio.Semaphore | None = None

    def semaphore(self) -> asyncio.Semaphore:
        # Made on first use, inside the server's event loop.
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.concurrency)
        return self._semaphore


@dataclass
class BearerFailures:
    """Source addresses over their budget of failed bearer tokens, remembered by this
    process until the window ends, so that a blocked address costs no Redis round trip and
    no token lookup. Only failures are counted in Redis; a good token costs nothing here."""

    limit: int
    _blocked: OrderedDict[str, float] = field(default_factory=OrderedDict)

    def blocked_for(self, source: str, now: float) -> int:
        """Seconds ``source`` is still refused, or 0."""
        until = self._blocked.get(source)
        if until is None:
            return 0
        if now >= until:
            del self._blocked[source]
            return 0
        return max(1, int(until - now))

    def failed(self, client: redis.Redis, prefix: str, source: str, now: float) -> bool:
        """Count a failure of ``source``; True if it is now over its budget."""
        if self.limit <= 0:
            return False
        try:
            n = count(client, prefix, "bearer", source, now)
        except redis.RedisError:
            return False  # the 401 stands; the counter is best effort while Redis is away
        if n <= self.limit:
            return False
        self._blocked[source] = now + retry_after(now)
        self._blocked.move_to_end(source)
        while len(self._blocked) > _BLOCKED_MAX:
            self._blocked.popitem(last=False)
        return True


def monotonic_now() -> float:
    """Wall-clock seconds name the window (shared across processes); no date is reasoned on."""
    return time.time()
