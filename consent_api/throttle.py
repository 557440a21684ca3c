"""Throttling of authentication: console sign-ins and failed bearer tokens.

The choice (docs/api.md, "Throttling"): limits are **per source address and global**,
never per agent name. A count per name let anyone who knew a name lock that agent out,
and a spray of new names made a new counter (and an argon2 hash, 64 MiB) per try. Here:

- each source address has a budget of sign-in attempts and of failed bearer tokens per
  minute, counted in Redis (shared by every API process; one key per address, kept for
  the minute from its first attempt, whatever names or tokens it sprays);
- at most ``api.sign_in_concurrency`` password verifications run at once in a process;
  the rest wait their turn without holding a thread, and one that waits longer than
  ``SIGN_IN_QUEUE_SECONDS`` gets 429. Memory is bounded by that number of argon2 hashes.

So a stranger exhausts only their own address's budget; the agent at another address
signs in as usual.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass, field

import redis

# KEYS: the source's counter; ARGV: the window's length. The window starts at the source's
# first attempt (not at a calendar minute), so a burst is never split in two by a clock
# boundary. Returns the count after this attempt and the seconds left in the window.
_COUNT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}
"""
WINDOW_SECONDS = 60
# A sign-in that cannot start its verification within this long is refused with 429:
# argon2 takes ~50 ms, so this is a queue of about a hundred attempts per verifier.
SIGN_IN_QUEUE_SECONDS = 5.0
# Addresses a process remembers as over their bearer budget (oldest forgotten first).
_BLOCKED_MAX = 10_000


@dataclass(frozen=True, slots=True)
class Count:
    n: int  # attempts of this source in its current window, this one included
    retry_after: int  # seconds until the window ends (at least 1)


def count(client: redis.Redis, prefix: str, kind: str, source: str) -> Count:
    """Count one more ``kind`` attempt from ``source`` (one key per source and kind)."""
    key = f"{prefix}:throttle:{kind}:{source}"
    n, ttl = client.eval(_COUNT, 1, key, WINDOW_SECONDS)
    return Count(int(n), max(1, int(ttl)))


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

    def failed(self, client: redis.Redis, prefix: str, source: str, now: float) -> int:
        """Count a failure of ``source``; the seconds it is now refused (0: within budget)."""
        if self.limit <= 0:
            return 0
        try:
            found = count(client, prefix, "bearer", source)
        except redis.RedisError:
            return 0  # the 401 stands; the counter is best effort while Redis is away
        if found.n <= self.limit:
            return 0
        self._blocked[source] = now + found.retry_after
        self._blocked.move_to_end(source)
        while len(self._blocked) > _BLOCKED_MAX:
            self._blocked.popitem(last=False)
        return found.retry_after
