"""Changes from other channels (API, console) on the SMS path's queue, and their outcomes.

A web or customer-centre change is queued exactly like a batch of texts: an
``apply_events`` job on the shard queue of its number, so that a number's changes keep one
order whatever channel they come from. The request carries ``report_outcome``; the worker
then writes the outcome under ``Keys.outcome(event_id)`` (a one-element list kept for
``OUTCOME_TTL``), and the caller waits for it with a blocking read that leaves it in place.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

import redis
import redis.asyncio
from rq import Queue, Retry
from rq.serializers import JSONSerializer

from consent_queue.events import JobOptions
from consent_queue.keys import APPLY_EVENTS_JOB, Keys

REPORT_FLAG = "report_outcome"
OUTCOME_TTL = 7 * 86400
# A queued entry with this ``kind`` is a handover of the number (seed rule 6), not a
# ``ChangeRequest``: the worker applies it in its place in the shard's order.
RESET_KIND = "reset"


def wants_outcome(request: Any) -> bool:
    """Whether a queued request dict asks the worker to report its outcome."""
    return isinstance(request, dict) and bool(request.get(REPORT_FLAG))


# Changes of the directory (docs/store.md, "The directory"): a new holder (the same reset,
# its rows named after the event id, with the old and new holder) and a number that left
# LMT (its LMT-only consents fulfilled). Like a reset they take their place in the order.
HANDOVER_KIND = "handover"
LEAVE_KIND = "leave"
NUMBER_KINDS = frozenset({RESET_KIND, HANDOVER_KIND, LEAVE_KIND})


def reset_request(event_id: str, msisdn: str, reason: str, channel: str) -> dict[str, Any]:
    return {"kind": RESET_KIND, "event_id": event_id, "msisdn": msisdn, "reason": reason,
            "channel": channel}


def directory_request(kind: str, event_id: str, msisdn: str, reason: str,
                      old_holder: str | None = None,
                      new_holder: str | None = None) -> dict[str, Any]:
    """A queued handover or leave (``kind``), recorded with channel ``directory``."""
    if kind not in (HANDOVER_KIND, LEAVE_KIND):
        raise ValueError(f"not a directory change: {kind!r}")
    return {"kind": kind, "event_id": event_id, "msisdn": msisdn, "reason": reason,
            "channel": "directory", "old_holder": old_holder, "new_holder": new_holder}


def is_reset(request: Any) -> bool:
    """Whether a queued entry changes the whole number (a reset, handover or leave)
    rather than being a ``ChangeRequest``."""
    return isinstance(request, dict) and request.get("kind") in NUMBER_KINDS


def publish_outcomes(client: redis.Redis, keys: Keys, outcomes: Sequence[dict[str, Any]]) -> None:
    """Worker side: record each outcome (an ``AppliedChange`` dict) under its event id."""
    if not outcomes:
        return
    with client.pipeline(transaction=True) as p:
        outcomes_in(p, keys, outcomes)
        p.execute()


def outcomes_in(pipe: redis.client.Pipeline, keys: Keys,
                outcomes: Sequence[dict[str, Any]]) -> None:
    """``publish_outcomes`` as more commands of ``pipe``. Each outcome's three commands
    may be repeated whole: a reader waits for the list to hold one element."""
    for o in outcomes:
        key = keys.outcome(str(o["event_id"]))
        pipe.delete(key)
        pipe.rpush(key, json.dumps(o, ensure_ascii=False, separators=(",", ":")))
        pipe.expire(key, OUTCOME_TTL)


class ChangeQueue:
    """API side: queue one change on its number's shard and learn its outcome."""

    def __init__(self, client: redis.Redis, keys: Keys, options: JobOptions,
                 waiter: redis.Redis | None = None,
                 async_waiter: redis.asyncio.Redis | None = None) -> None:
        self._r = client
        # Blocking reads need a connection whose socket timeout outlasts the wait.
        self._waiter = waiter or client
        self._async_waiter = async_waiter
        self._keys = keys
        self._opt = options
        self._queues = [Queue(keys.event_queue(s), connection=client, serializer=JSONSerializer)
                        for s in range(keys.shards)]

    def submit(self, request: dict[str, Any]) -> None:
        """Queue ``request`` (a ``ChangeRequest`` dict). Raises a redis error if not queued."""
        data = dict(request)
        data[REPORT_FLAG] = True
        shard = self._keys.shard_of(str(data["msisdn"]))
        job = Queue.prepare_data(
            APPLY_EVENTS_JOB, args=([data],), job_id=f"chg-{data['event_id']}",
            timeout=self._opt.timeout, result_ttl=self._opt.result_ttl,
            failure_ttl=self._opt.failure_ttl,
            retry=Retry(max=self._opt.retry_max, enqueue_at_front=True)
            if self._opt.retry_max else None,
            description=f"apply 1 {data['channel']} event")
        with self._r.pipeline(transaction=True) as p:
            self._queues[shard].enqueue_many([job], pipeline=p)
            p.execute()

    def submit_many(self, requests: Sequence[dict[str, Any]], batch: int = 200) -> int:
        """Queue ``requests`` without waiting for outcomes: one job per shard and ``batch``
        requests, in order, all in one Redis transaction. How many jobs were queued."""
        per_shard: dict[int, list[dict[str, Any]]] = {}
        for data in requests:
            per_shard.setdefault(self._keys.shard_of(str(data["msisdn"])), []).append(data)
        jobs = 0
        with self._r.pipeline(transaction=True) as p:
            for shard, items in sorted(per_shard.items()):
                prepared = [Queue.prepare_data(
                    APPLY_EVENTS_JOB, args=(items[i:i + batch],), job_id=f"dir-{uuid.uuid4().hex}",
                    timeout=self._opt.timeout, result_ttl=self._opt.result_ttl,
                    failure_ttl=self._opt.failure_ttl,
                    retry=Retry(max=self._opt.retry_max, enqueue_at_front=True)
                    if self._opt.retry_max else None,
                    description=f"apply {len(items[i:i + batch])} directory changes")
                    for i in range(0, len(items), batch)]
                self._queues[shard].enqueue_many(prepared, pipeline=p)
                jobs += len(prepared)
            p.execute()
        return jobs

    def outcome(self, event_id: str) -> dict[str, Any] | None:
        """The outcome the worker reported for ``event_id``, if any (no waiting)."""
        raw = self._r.lindex(self._keys.outcome(event_id), 0)
        return None if raw is None else _loads(raw)

    def wait(self, event_id: str, timeout: float) -> dict[str, Any] | None:
        """Wait up to ``timeout`` seconds for the outcome of ``event_id``."""
        if timeout <= 0:
            return self.outcome(event_id)
        key = self._keys.outcome(event_id)
        # BLMOVE from the list onto itself: blocks until the worker writes, and leaves the
        # outcome in place for later readers (the status URL, idempotent replays).
        raw = self._waiter.blmove(key, key, timeout, "LEFT", "LEFT")  # type: ignore[arg-type]
        return None if raw is None else _loads(raw)

    async def wait_async(self, event_id: str, timeout: float) -> dict[str, Any] | None:
        """``wait`` for an event loop: the wait holds a Redis connection, not a thread."""
        if self._async_waiter is None or timeout <= 0:
            return self.outcome(event_id)
        key = self._keys.outcome(event_id)
        raw = await self._async_waiter.blmove(key, key, timeout, "LEFT", "LEFT")  # type: ignore[arg-type]
        return None if raw is None else _loads(raw)

    def depth(self, msisdn: str) -> int:
        return int(self._r.llen(self._queues[self._keys.shard_of(msisdn)].key))


def _loads(raw: bytes | str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(raw)
    return data
