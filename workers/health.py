"""Worker metrics read from Redis when Prometheus scrapes: queue depths and failed-job
counts, as fresh as the scrape and costing nothing in between. The worker's /metrics and
/healthz endpoint itself is config/endpoint.py, shared with the gateway.
"""

from __future__ import annotations

from collections.abc import Iterator

import redis
import structlog
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from rq import Queue
from rq.registry import FailedJobRegistry

log = structlog.get_logger("worker.health")


class QueueCollector(Collector):
    """``smsgw_worker_queue_depth`` and ``smsgw_worker_failed_jobs`` of the queues a worker
    serves (its shards and the deliveries queue), read at scrape time."""

    def __init__(self, client: redis.Redis, queue_names: list[str]) -> None:
        self._r = client
        self._names = list(queue_names)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily("smsgw_worker_queue_depth",
                                  "jobs waiting in an RQ queue", labels=["queue"])
        failed = GaugeMetricFamily("smsgw_worker_failed_jobs",
                                   "jobs in RQ's failed registry of a queue (retries spent; "
                                   "consentctl jobs failed)", labels=["queue"])
        names = self._names
        try:
            with self._r.pipeline(transaction=False) as p:
                for name in names:
                    p.llen(Queue.redis_queue_namespace_prefix + name)
                    p.zcard(FailedJobRegistry.key_template.format(name))
                counts = p.execute()
        except redis.RedisError:
            return  # no samples rather than a failed scrape; the healthz says why
        for i, name in enumerate(names):
            depth.add_metric([name], counts[2 * i])
            failed.add_metric([name], counts[2 * i + 1])
        yield depth
        yield failed


