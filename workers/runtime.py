"""What a worker process holds while it runs jobs: settings, store, catalog, Redis, metrics.

Built once per process by ``consent-worker run`` (or lazily from ``$SMSGW_CONFIG`` when a
plain ``rq worker`` runs our jobs) and shared by every job the process performs.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import redis
from prometheus_client import Counter, Histogram

from config.settings import Settings, settings_for
from consent_core.catalog import Catalog, load_catalog
from consent_core.clock import Clock, system_clock
from consent_queue.backlog import Backlog
from consent_queue.connection import redis_client
from consent_queue.keys import Keys
from consent_queue.replies import ReplyQueue
from consent_queue.rq_port import ABSORB_JOBS
from consent_store.store import ConsentStore

EVENTS = Counter("smsgw_worker_events_total", "events applied, by outcome", ["outcome"])
REPLIES = Counter("smsgw_worker_replies_total", "replies queued, by result", ["result"])
JOB_SECONDS = Histogram("smsgw_worker_job_duration_seconds", "time to apply one batch job",
                        ["job"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
DB_RETRIES = Counter("smsgw_worker_db_retries_total", "batches retried after a database error")
REDIS_RETRIES = Counter("smsgw_worker_redis_retries_total",
                        "post-commit Redis steps (replies, outcomes) retried after a Redis error")
REDIS_OUTAGES = Counter("smsgw_worker_redis_outages_total",
                        "times the worker's loop lost Redis and waited for it to answer")
REDIS_OUTAGE_SECONDS = Counter("smsgw_worker_redis_outage_seconds_total",
                               "seconds the worker's loop waited for Redis to answer again")
REPLICA_WAITS = Counter("smsgw_worker_replica_waits_total",
                        "jobs held back until redis.min_replicas_ack replicas held them")
BAD_EVENTS = Counter("smsgw_worker_bad_events_total", "queued events that could not be read")
RECEIPTS = Counter("smsgw_worker_receipts_total",
                   "delivery receipts of our replies recorded, by their stat (DELIVRD, UNDELIV, "
                   "EXPIRED, REJECTD, …)", ["stat"])
JOB_FAILURES = Counter("smsgw_worker_job_failures_total",
                       "job runs that raised, by job and what RQ does next: retry, or failed "
                       "(retries spent; kept in the failed registry)", ["job", "next"])


@dataclass
class Runtime:
    settings: Settings
    store: ConsentStore
    catalog: Catalog
    redis: redis.Redis
    keys: Keys
    replies: ReplyQueue
    absorb: Any  # redis Script: ABSORB_JOBS, registered once per process
    backlog: Backlog

    def reload_catalog(self) -> None:
        self.catalog = load_catalog(self.settings.consent.catalog or None)


# Set when the worker was asked to stop: a job waiting out a database outage gives up its
# retries then (RQ puts it back at the front of the queue for the next worker).
STOPPING = threading.Event()

_lock = threading.Lock()
_current: Runtime | None = None


def build(settings: Settings, clock: Clock = system_clock) -> Runtime:
    client = redis_client(settings.redis)
    keys = Keys.from_settings(settings)
    return Runtime(
        settings=settings,
        store=ConsentStore(settings.database.url.get_secret_value(), lang=settings.consent.language,
                           clock=clock),
        catalog=load_catalog(settings.consent.catalog or None),
        redis=client,
        keys=keys,
        replies=ReplyQueue(client, keys),
        absorb=client.register_script(ABSORB_JOBS),
        backlog=Backlog(client, keys),
    )


def install(rt: Runtime) -> None:
    global _current
    with _lock:
        _current = rt


def current() -> Runtime:
    global _current
    with _lock:
        if _current is None:
            _current = build(settings_for(None))
        return _current
