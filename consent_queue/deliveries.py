"""Delivery updates on their way to the store: what the SMSC said about our replies.

The outbound sender adds a ``SubmitResult`` for every reply accepted or finally refused.
The updates ride with the next batch of texts (``EventQueue.enqueue`` takes them, ahead of
the receipts that batch brings, which are never older); when no batch comes for
``linger`` seconds they are queued on their own (``EventQueue.queue_due_deliveries``).
Either way one lock covers taking them and the transaction that queues them, so a receipt
is never queued ahead of the submit result it confirms: with one shard both land on the
same RQ queue in the order their transactions ran.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from consent_core.changes import DeliveryUpdate

LINGER = 0.05  # seconds an update waits for a batch of texts to ride with
LIMIT = 100_000  # updates kept while Redis is away; the oldest beyond go (the store's loss)


class DeliverySink:
    """Thread-safe: the outbound thread adds, the inbound and outbound threads queue."""

    def __init__(self, linger: float = LINGER, limit: int = LIMIT,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._linger = linger
        self._limit = limit
        self._clock = clock
        self._lock = threading.Lock()  # the list
        self._sending = threading.Lock()  # taking + the transaction that queues them
        self._updates: list[DeliveryUpdate] = []
        self._since: float | None = None  # when the oldest waiting update came
        self.dropped = 0

    def add(self, update: DeliveryUpdate) -> None:
        with self._lock:
            if self._since is None:
                self._since = self._clock()
            self._updates.append(update)

    def due(self) -> bool:
        """Updates have waited ``linger`` without a batch to ride with."""
        with self._lock:
            return self._since is not None and self._clock() - self._since >= self._linger

    def __len__(self) -> int:
        with self._lock:
            return len(self._updates)

    @contextmanager
    def sending(self) -> Iterator[list[DeliveryUpdate]]:
        """The waiting updates, oldest first, taken for one transaction; given back (at the
        front) when the block raises. Blocks while another sender holds them."""
        with self._sending:
            with self._lock:
                taken, self._updates, self._since = self._updates, [], None
            try:
                yield taken
            except BaseException:
                self.give_back(taken)
                raise

    def give_back(self, updates: Sequence[DeliveryUpdate]) -> None:
        """Updates taken for a transaction that may not have held: queued again later (the
        store takes an update twice as once)."""
        with self._lock:
            kept = [*updates, *self._updates]
            self.dropped += max(0, len(kept) - self._limit)
            self._updates = kept[-self._limit:]  # the newest: older ones' replies are older
            if self._updates and self._since is None:
                self._since = self._clock()
