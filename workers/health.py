"""Worker metrics read from Redis when Prometheus scrapes: queue depths, the age of the
oldest waiting job, failed-job counts and whether Redis persists what we queue, as fresh
as the scrape and costing nothing in between. The worker's /metrics and
/healthz endpoint itself is config/endpoint.py, shared with the gateway.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import redis
import structlog
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from consent_core.clock import Clock, system_clock
from consent_queue import rq_port

log = structlog.get_logger("worker.health")


class QueueCollector(Collector):
    """``smsgw_worker_queue_depth`` and ``smsgw_worker_failed_jobs`` of the queues a worker
    serves (its shards and the deliveries queue), read at scrape time."""

    def __init__(self, client: redis.Redis, queue_names: list[str],
                 clock: Clock = system_clock) -> None:
        self._r = client
        self._names = list(queue_names)
        self._clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from self._queues()
        yield from self._persistence()

    def _persistence(self) -> Iterator[GaugeMetricFamily]:
        """Redis without AOF, or whose last write to disk failed, loses queued texts that
        were already acknowledged to the SMSC on a crash (README, "Redis")."""
        try:
            info = self._r.info("persistence")
        except redis.RedisError:
            return
        aof = GaugeMetricFamily("smsgw_redis_aof_enabled",
                                "1 when Redis runs with appendonly yes")
        aof.add_metric([], float(info.get("aof_enabled", 0)))
        ok = GaugeMetricFamily("smsgw_redis_persistence_ok",
                               "1 when Redis' last AOF write and last RDB save succeeded")
        good = (info.get("aof_last_write_status", "ok") == "ok"
                and info.get("rdb_last_bgsave_status", "ok") == "ok")
        ok.add_metric([], 1.0 if good else 0.0)
        yield aof
        yield ok

    def _queues(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily("smsgw_worker_queue_depth",
                                  "jobs waiting in an RQ queue", labels=["queue"])
        failed = GaugeMetricFamily("smsgw_worker_failed_jobs",
                                   "jobs in RQ's failed registry of a queue (retries spent; "
                                   "consentctl jobs failed)", labels=["queue"])
        oldest = GaugeMetricFamily("smsgw_worker_queue_oldest_age_seconds",
                                   "seconds the job at the head of an RQ queue has waited "
                                   "(0 when empty)", labels=["queue"])
        try:
            figures = rq_port.queue_figures(self._r, self._names)
        except redis.RedisError:
            return  # no samples rather than a failed scrape; the healthz says why
        now = self._clock()
        for name, f in zip(self._names, figures, strict=True):
            depth.add_metric([name], f.waiting)
            failed.add_metric([name], f.failed)
            oldest.add_metric([name], _age(f.head_enqueued_at, now))
        yield depth
        yield failed
        yield oldest


def _age(enqueued_at: bytes | str | None, now: datetime) -> float:
    """Seconds since RQ's ``enqueued_at`` (``2026-11-24T20:01:02.123456Z``); 0 if unknown."""
    if not enqueued_at:
        return 0.0
    text = enqueued_at.decode() if isinstance(enqueued_at, bytes) else enqueued_at
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return max(0.0, (now - at).total_seconds())


