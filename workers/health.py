"""The worker's HTTP endpoint: ``/metrics`` for Prometheus and ``/healthz`` for probes.

``/healthz`` answers 200 only while this worker serves its shards (holds their locks, its
main loop alive) and Redis and the database answer; 503 otherwise, each check in the body.
Queue depths and failed-job counts are read from Redis when Prometheus scrapes, so they
are as fresh as the scrape and cost nothing in between.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import redis
import structlog
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from rq import Queue
from rq.registry import FailedJobRegistry
from sqlalchemy import text
from sqlalchemy.engine import Engine

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


class DatabaseCheck:
    """``select 1`` on the store's engine, at most once per ``ttl`` seconds; a probe that
    hangs (a database host dropping packets) blocks no other request: they get the last
    answer meanwhile."""

    def __init__(self, engine: Engine, ttl: float = 5.0) -> None:
        self._engine = engine
        self._ttl = ttl
        self._lock = threading.Lock()
        self._checked_at = float("-inf")
        self.ok = False
        self.error: str | None = "not checked yet"

    def __call__(self) -> bool:
        if time.monotonic() - self._checked_at < self._ttl:
            return self.ok
        if not self._lock.acquire(blocking=False):
            return self.ok
        try:
            try:
                with self._engine.connect() as conn:
                    conn.execute(text("select 1"))
                self.ok, self.error = True, None
            except Exception as exc:  # any failure means "not answering"; say which
                first = str(exc).splitlines()[0] if str(exc) else ""
                self.ok, self.error = False, f"{type(exc).__name__}: {first}"
            self._checked_at = time.monotonic()
            return self.ok
        finally:
            self._lock.release()


def serve(healthy: Callable[[], tuple[bool, dict[str, Any]]], host: str,
          port: int) -> ThreadingHTTPServer:
    """Serve /metrics (the process's default registry) and /healthz in a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/metrics"):
                self._send(200, CONTENT_TYPE_LATEST, generate_latest(REGISTRY))
            elif self.path.startswith("/healthz"):
                ok, checks = healthy()
                self._send(200 if ok else 503, "application/json",
                           json.dumps({"ok": ok, **checks}).encode())
            else:
                self._send(404, "text/plain", b"not found\n")

        def _send(self, code: int, ctype: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server
