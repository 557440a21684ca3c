"""What the API process holds: settings, store, catalog, Redis, the change queue, tokens."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis
import redis.asyncio

from config.settings import Settings
from consent_core.catalog import Catalog, load_catalog
from consent_core.clock import Clock, system_clock
from consent_queue.connection import async_redis_client, redis_client
from consent_queue.events import JobOptions
from consent_queue.keys import Keys
from consent_queue.outcomes import ChangeQueue
from consent_store import access
from consent_store.async_reads import AsyncReads
from consent_store.engine import make_engine
from consent_store.store import ConsentStore


@dataclass
class TokenCache:
    """Token lookups, cached for ``ttl`` seconds (a revoked token works at most that long)."""

    store: ConsentStore
    ttl: float
    monotonic: Callable[[], float] = time.monotonic  # seconds; injectable for tests
    _cache: dict[str, tuple[float, access.Token | None]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def cached(self, secret: str) -> tuple[bool, access.Token | None]:
        """(True, the token or None) when a lookup of ``secret`` younger than ``ttl`` is
        held; (False, None) when only ``find`` (a database read) can say. No I/O: the API
        calls this on its event loop and goes to a thread only on a miss."""
        key = hashlib.sha256(secret.encode()).hexdigest()
        now = self.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return True, hit[1]
        return False, None

    def find(self, secret: str) -> access.Token | None:
        held, token = self.cached(secret)
        if held:
            return token
        key = hashlib.sha256(secret.encode()).hexdigest()
        now = self.monotonic()
        token = access.find_token(self.store.engine, secret)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (now, token)
        return token


@dataclass
class Services:
    settings: Settings
    store: ConsentStore
    catalog: Catalog
    redis: redis.Redis
    keys: Keys
    changes: ChangeQueue
    tokens: TokenCache
    clock: Clock = system_clock
    # PostgreSQL: may-use's reads awaited on the event loop (None on SQLite: a thread).
    reads: AsyncReads | None = None

    def close(self) -> None:
        self.store.close()
        self.redis.close()


def build(settings: Settings, clock: Clock = system_clock) -> Services:
    db = settings.database
    store = ConsentStore(make_engine(db.url.get_secret_value(), pool_size=db.pool_size),
                         lang=settings.consent.language, clock=clock)
    rs = settings.redis
    client = redis_client(rs)
    # Waiting for a worker's outcome blocks in Redis for up to api.change_wait seconds.
    waiter = redis_client(rs, socket_timeout=settings.api.change_wait + rs.socket_timeout)
    async_waiter = async_redis_client(
        rs, socket_timeout=settings.api.change_wait + rs.socket_timeout)
    keys = Keys.from_settings(settings)
    q = settings.queue
    options = JobOptions(timeout=q.job_timeout, retry_max=q.retry_max,
                         pending_ttl=q.redelivery_window)
    url = db.url.get_secret_value()
    reads = (AsyncReads(url, db.pool_size) if store.engine.dialect.name == "postgresql"
             else None)
    return Services(settings=settings, store=store, reads=reads,
                    catalog=load_catalog(settings.consent.catalog or None), redis=client,
                    keys=keys, changes=ChangeQueue(client, keys, options, waiter=waiter,
                                                   async_waiter=async_waiter),
                    tokens=TokenCache(store, settings.api.token_cache_ttl), clock=clock)
