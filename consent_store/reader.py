"""A read cache in front of the store for the one question downstream systems ask at
volume: may we use consent X of number N now?

Campaign tools filter lists of hundreds of thousands of numbers; answering each from the
database costs a round trip. ``ConsentReader`` keeps each number's five statuses for
``ttl`` seconds (one query fetches all five), in a bounded LRU. The price is staleness:
an answer may be up to ``ttl`` seconds old, so a withdrawal can take that long to show.
Where that matters (a single decision at the moment of use), ask the store itself
(``ConsentStore.may_use``) or run the reader with ``ttl=0``.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from sqlalchemy import select

from consent_core.model import CONSENTS, Status
from consent_store.errors import BadRequest
from consent_store.schema import consent_state
from consent_store.store import ConsentStore


class ConsentReader:
    def __init__(self, store: ConsentStore, *, ttl: float = 5.0, max_numbers: int = 1_000_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._ttl = ttl
        self._max = max_numbers
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, tuple[float, frozenset[str]]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def may_use(self, msisdn: str, consent: str) -> bool:
        """Whether ``consent`` of ``msisdn`` is given, as the store said at most ``ttl`` s ago."""
        if consent not in CONSENTS:
            raise BadRequest(f"consent {consent!r} is not one of {', '.join(CONSENTS)}")
        return consent in self.given(msisdn)

    def given(self, msisdn: str) -> frozenset[str]:
        """The consents of ``msisdn`` in force (cached)."""
        now = self._clock()
        with self._lock:
            entry = self._cache.get(msisdn)
            if entry is not None and now - entry[0] < self._ttl:
                self._cache.move_to_end(msisdn)
                self.hits += 1
                return entry[1]
        consents = self._load(msisdn)
        with self._lock:
            self.misses += 1
            self._cache[msisdn] = (now, consents)
            self._cache.move_to_end(msisdn)
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)
        return consents

    def _load(self, msisdn: str) -> frozenset[str]:
        stmt = select(consent_state.c.consent).where(consent_state.c.msisdn == msisdn,
                                                     consent_state.c.status == Status.GIVEN.value)
        with self._store.engine.connect() as conn:
            return frozenset(conn.execute(stmt).scalars())
