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
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import redis
import redis.asyncio

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


# KEYS: the token's counter for one second; ARGV: requests to add. Returns the total.
_RATE = """
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
if n == tonumber(ARGV[1]) then redis.call('EXPIRE', KEYS[1], 2) end
return n
"""
# At most this share of the limit is admitted by one process without Redis having seen it.
RATE_STEP_SHARE = 20


@dataclass(slots=True)
class _Second:
    window: int  # the wall-clock second counted
    seen: int = 0  # the shared count (all processes) when this process last added to it
    pending: int = 0  # admitted here, not yet added to the shared count


@dataclass
class TokenRates:
    """``api.rate_per_second`` per token, across every API process, without a Redis round
    trip per request.

    Each process counts a token's requests in the current wall-clock second and adds them
    to the token's shared counter in Redis ``step`` at a time (``limit //
    RATE_STEP_SHARE``, at least 1), learning the shared total in the answer. A request is
    refused once the shared total as last seen plus this process's unsent count reaches
    the limit, or when the Redis answer puts the total above it. The approximation: a
    process admits at most ``step - 1`` requests that Redis has not yet counted, so a token
    gets at most ``limit + processes × (step - 1)`` requests a second (200/s and two
    processes: 218); with a limit under 40 the step is 1 and the count is exact, as
    before (one Redis round trip per request). The round trip is made on the event loop
    with the asyncio client, so no thread waits on it either way. While Redis does not
    answer, every request asks it (and the caller gets 503), as when every request did."""

    limit: int
    client: redis.asyncio.Redis
    prefix: str
    wall: Callable[[], float] = time.time  # names the window only; injectable for tests
    _seconds: dict[str, _Second] = field(default_factory=dict)
    _failing: bool = False  # the last round trip to Redis failed

    @property
    def step(self) -> int:
        return max(1, self.limit // RATE_STEP_SHARE)

    async def admit(self, token_id: str) -> bool:
        window = int(self.wall())
        second = self._seconds.get(token_id)
        if second is None or second.window != window:
            if len(self._seconds) > 10_000:
                self._seconds.clear()
            second = self._seconds[token_id] = _Second(window)
        if second.seen + second.pending >= self.limit:
            return False
        second.pending += 1
        if second.pending < self.step and not self._failing:
            return True
        add, second.pending = second.pending, 0
        key = f"{self.prefix}:api:rate:{token_id}:{window}"
        try:
            total = int(await self.client.eval(_RATE, 1, key, add))
        except redis.RedisError:
            # Not counted: sent again with the next request, which (like every request
            # until Redis answers) asks Redis and is refused with 503 meanwhile.
            second.pending += add
            self._failing = True
            raise
        self._failing = False
        second.seen = max(second.seen, total)
        return total <= self.limit
