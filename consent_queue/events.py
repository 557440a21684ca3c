"""Inbound side of the queue: batches of events become RQ jobs, once, in one transaction.

A text is acknowledged to the SMSC only after the transaction holding its job has been
executed by Redis. Between the two, the text is listed as *pending* for its number under
the SMPP connection that received it. If that connection dies before the acknowledgement,
the SMSC redelivers the text on a later connection; finding it pending under another
connection, we acknowledge it without queueing it again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis
from rq import Queue, Retry
from rq.serializers import JSONSerializer

from consent_queue.keys import APPLY_EVENTS_JOB, RECORD_DELIVERIES_JOB, Keys


@dataclass(slots=True)
class QueuedText:
    """One subscriber text on its way to the queue."""

    request: dict[str, Any]  # a consent_store ChangeRequest as JSON-able dict
    fingerprint: str  # identifies the text as the SMSC sent it (number, coding, bytes)
    duplicate: bool = False
    _entry: str = field(default="", repr=False)

    @property
    def msisdn(self) -> str:
        return str(self.request["msisdn"])


@dataclass(frozen=True, slots=True)
class JobOptions:
    timeout: int = 60
    retry_max: int = 5
    result_ttl: int = 300
    failure_ttl: int = 30 * 86400
    pending_ttl: int = 3600


class EventQueue:
    def __init__(self, client: redis.Redis, keys: Keys, options: JobOptions) -> None:
        self._r = client
        self._keys = keys
        self._opt = options
        self._queues = [
            Queue(keys.event_queue(s), connection=client, serializer=JSONSerializer)
            for s in range(keys.shards)
        ]

    def enqueue(
        self,
        texts: Sequence[QueuedText],
        deliveries: Sequence[dict[str, Any]],
        batch_id: str,
        conn_id: str,
    ) -> None:
        """Queue ``texts`` received on connection ``conn_id`` (marking redeliveries of texts
        an earlier connection queued as duplicates) and delivery updates.

        Raises a redis error when nothing could be queued; then nothing was.
        """
        foreign = self._pending_elsewhere({t.msisdn for t in texts}, conn_id)
        by_shard: dict[int, list[dict[str, Any]]] = defaultdict(list)
        new: list[QueuedText] = []
        dups: list[QueuedText] = []
        for t in texts:
            waiting = foreign.get(t.msisdn, [])
            match = next((e for e in waiting if e.split("|", 2)[1] == t.fingerprint), None)
            if match is not None:
                waiting.remove(match)
                t.duplicate, t._entry = True, match
                dups.append(t)
            else:
                t._entry = f"{conn_id}|{t.fingerprint}|{t.request['event_id']}"
                new.append(t)
                by_shard[self._keys.shard_of(t.msisdn)].append(t.request)
        with self._r.pipeline(transaction=True) as p:
            # Delivery updates ride along with the first event job of the batch (one job,
            # not two; a separate deliveries queue would starve behind busy shards).
            riders = list(deliveries)
            for shard, requests in sorted(by_shard.items()):
                kwargs = {"deliveries": riders} if riders else None
                data = Queue.prepare_data(
                    APPLY_EVENTS_JOB, args=(requests,), kwargs=kwargs,
                    job_id=f"{batch_id}-{shard}",
                    timeout=self._opt.timeout, result_ttl=self._opt.result_ttl,
                    failure_ttl=self._opt.failure_ttl,
                    retry=Retry(max=self._opt.retry_max, enqueue_at_front=True)
                    if self._opt.retry_max else None,
                    description=f"apply {len(requests)} events",
                )
                self._queues[shard].enqueue_many([data], pipeline=p)
                riders = []
            if riders:
                data = Queue.prepare_data(
                    RECORD_DELIVERIES_JOB, args=(riders,), job_id=f"{batch_id}-d",
                    timeout=self._opt.timeout, result_ttl=self._opt.result_ttl,
                    failure_ttl=self._opt.failure_ttl,
                    retry=Retry(max=self._opt.retry_max) if self._opt.retry_max else None,
                    description=f"record {len(riders)} deliveries",
                )
                # Shard 0's queue, not a queue of their own: each worker serves exactly one
                # queue, so RQ takes jobs with LMOVE into its safety list (with several
                # queues RQ 3 uses LPOP, and a worker killed right then loses the job).
                self._queues[0].enqueue_many([data], pipeline=p)
            for t in new:
                p.rpush(self._keys.pending(t.msisdn), t._entry)
                p.expire(self._keys.pending(t.msisdn), self._opt.pending_ttl)
            for t in dups:
                p.lrem(self._keys.pending(t.msisdn), 1, t._entry)
            p.execute()

    def acknowledged(self, texts: Sequence[QueuedText]) -> None:
        """The SMSC has our deliver_sm_resp for these: they can no longer be redelivered."""
        fresh = [t for t in texts if not t.duplicate and t._entry]
        if not fresh:
            return
        with self._r.pipeline(transaction=False) as p:
            for t in fresh:
                p.lrem(self._keys.pending(t.msisdn), 1, t._entry)
            p.execute()

    def _pending_elsewhere(self, numbers: set[str], conn_id: str) -> dict[str, list[str]]:
        """Pending entries of these numbers that other (earlier) connections left behind."""
        if not numbers:
            return {}
        ordered = sorted(numbers)
        with self._r.pipeline(transaction=False) as p:
            for n in ordered:
                p.lrange(self._keys.pending(n), 0, -1)
            lists = p.execute()
        out: dict[str, list[str]] = {}
        for n, entries in zip(ordered, lists, strict=True):
            decoded = (e.decode() for e in entries)
            others = [e for e in decoded if not e.startswith(conn_id + "|")]
            if others:
                out[n] = others
        return out

    def acknowledged_quietly(self, texts: Sequence[QueuedText]) -> None:
        """``acknowledged``, but a Redis hiccup here only leaves entries to expire."""
        try:
            self.acknowledged(texts)
        except redis.RedisError:
            pass

    def depths(self) -> dict[str, int]:
        with self._r.pipeline(transaction=False) as p:
            for q in self._queues:
                p.llen(q.key)
            counts = p.execute()
        return {q.name: int(c) for q, c in zip(self._queues, counts, strict=True)}

