"""``consent-worker run [--burst] [--shard N]``: RQ workers applying queued consent events.

Worker class: rq's ``SimpleWorker`` (no fork per job). Measured on this 2-core machine
(RQ 3.0, noop job): SimpleWorker ≈ 340 jobs/s, the forking Worker ≈ 93 jobs/s; our jobs
carry a batch of events each, so the per-job overhead matters and forking buys nothing
(jobs hold no state between runs that a fork would protect).

Ordering: every shard queue is served by one worker at a time, enforced with a Redis
lock per shard that the worker renews while alive. A worker that takes over a shard
(after a crash) puts jobs the dead worker had started back at the front of the queue.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import redis
import structlog
from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer

from config.endpoint import DatabaseCheck, serve
from config.logs import configure_logging
from config.notify import Notifier
from config.settings import ConfigError, Settings, settings_for
from config.version import add_version_argument
from consent_queue.backlog import sms_texts
from consent_queue.connection import redis_client, redis_where
from consent_queue.keys import APPLY_EVENTS_JOB
from consent_queue.persistence import PersistenceRefused, PersistenceWatch, check_at_start
from consent_queue.rq_port import (
    RQ_WORKER_SOCKET_TIMEOUT,
    PortWorker,
    RecoveringQueue,
    quiet_per_job_lines,
    recover_abandoned,
)
from consent_store.errors import StoreError
from workers import runtime
from workers.checkpoints import CheckpointPublisher
from workers.health import QueueCollector
from workers.outage import Outages, ride_out

log = structlog.get_logger("worker")
LOCK_TTL = 15
LOCK_RENEW = 5


class ShardLocks:
    """Holds the Redis locks of the shards this worker serves; renews them in a thread."""

    def __init__(self, client: redis.Redis, keys: Any, shards: list[int], me: str,
                 notifier: Notifier) -> None:
        self._r = client
        self._keys = keys
        self.shards = shards
        self._me = me
        self._notifier = notifier
        self._stop = threading.Event()
        self._main = threading.main_thread()
        self.lost = threading.Event()

    def acquire(self, wait: bool = True) -> None:
        pending = list(self.shards)
        announced = False
        while pending:
            for shard in list(pending):
                if self._r.set(self._keys.shard_lock(shard), self._me, nx=True, ex=LOCK_TTL):
                    pending.remove(shard)
                elif _text(self._r.get(self._keys.shard_lock(shard))) == self._me:
                    pending.remove(shard)
            if pending:
                if not announced:
                    holder = self._r.get(self._keys.shard_lock(pending[0]))
                    log.warning("worker.shard_busy", shards=pending,
                                holder=_text(holder) or "?",
                                action=f"waiting (a crashed holder's lock expires in {LOCK_TTL}s)")
                    announced = True
                if not wait:
                    raise SystemExit(3)
                time.sleep(1.0)
                self._notifier.watchdog()

    def start(self) -> None:
        threading.Thread(target=self._renew, name="shard-locks", daemon=True).start()

    def _renew(self) -> None:
        renew = self._r.register_script(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then "
            "return redis.call('EXPIRE', KEYS[1], ARGV[2]) "
            "elseif redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then return 1 "
            "else return 0 end")
        failing = False
        while not self._stop.wait(LOCK_RENEW):
            try:
                for shard in self.shards:
                    if not renew(keys=[self._keys.shard_lock(shard)], args=[self._me, LOCK_TTL]):
                        log.error("worker.shard_lock_lost", shard=shard,
                                  action="another worker serves this shard; stopping")
                        self.lost.set()
                        os.kill(os.getpid(), 15)
                if self._main.is_alive():
                    self._notifier.watchdog()
                failing = False
            except redis.RedisError as exc:
                if not failing:  # once per outage; the worker's loop says how long it waits
                    log.warning("worker.lock_renew_failed", error=str(exc))
                failing = True

    def release(self) -> None:
        self._stop.set()
        try:
            for shard in self.shards:
                key = self._keys.shard_lock(shard)
                if _text(self._r.get(key)) == self._me:
                    self._r.delete(key)
        except redis.RedisError:
            pass


class ConsentWorker(PortWorker):
    """RQ's worker as this product runs it (``rq_port.PortWorker``) that tells systemd it
    is alive after every job and while idle, and counts failed job runs."""

    notifier: Notifier = Notifier()
    _pinged = 0.0

    def request_stop(self, signum: Any, frame: Any) -> None:
        runtime.STOPPING.set()  # a job retrying a database outage stops waiting
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]

    def job_failed(self, job: Job, queue: Queue, retry: bool) -> None:
        job_name = (job.func_name or "?").rsplit(".", 1)[-1]
        runtime.JOB_FAILURES.labels(job=job_name, next="retry" if retry else "failed").inc()
        if retry:
            return
        log.error("job.failed", job_id=job.id, queue=queue.name, job=job_name,
                  action="kept in the failed registry; consentctl jobs requeue")
        if job.func_name == APPLY_EVENTS_JOB:
            # Failed is not waiting: its texts must not hold the gateways' bound shut
            # (the failed registry has its own alert).
            try:
                runtime.current().backlog.done([(job.id, sms_texts(job.args[0]))])
            except (redis.RedisError, IndexError) as exc:
                log.warning("backlog.not_counted", job_id=job.id, error=str(exc))

    def heartbeat_lost(self, exc: Exception) -> None:
        runtime.REDIS_RETRIES.inc()
        log.warning("redis.unavailable", during="heartbeat", error=str(exc),
                    action="heartbeat skipped; the next one renews")

    def alive(self, now: float) -> None:
        if now - self._pinged >= 1.0:
            self._pinged = now
            self.notifier.watchdog()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="consent-worker", description="apply queued consent events")
    ap.add_argument("--config", help="TOML file (default: $SMSGW_CONFIG, then "
                    "/etc/sms-gateway/gateway.toml; none of them is an error)")
    add_version_argument(ap)
    sub = ap.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="run a worker in the foreground")
    run.add_argument("--config", dest="config_sub", help=argparse.SUPPRESS)
    run.add_argument("--burst", action="store_true", help="drain the queues and exit")
    run.add_argument("--shard", type=int, action="append",
                     help="serve this shard (repeatable; default: every shard)")
    args = ap.parse_args(argv)
    try:
        settings = settings_for(getattr(args, "config_sub", None) or args.config)
    except ConfigError as exc:
        print(f"consent-worker: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log, service="consent-worker",
                      secrets=[settings.smpp.password.get_secret_value()])
    return run_worker(settings, burst=args.burst, shards=args.shard,
                      config=getattr(args, "config_sub", None) or args.config)


def run_worker(settings: Settings, *, burst: bool, shards: list[int] | None,
               config: str | None = None) -> int:
    count = settings.queue.shards
    shards = sorted(set(shards if shards is not None else range(count)))
    bad = [s for s in shards if not 0 <= s < count]
    if bad:
        print(f"consent-worker: --shard {bad[0]} is outside 0..{count - 1} (queue.shards = {count})",
              file=sys.stderr)
        return 2
    if len(shards) > 1:
        return supervise_shards(shards, burst=burst, config=config)
    try:
        rt = runtime.build(settings)
    except StoreError as exc:
        print(f"consent-worker: {exc}", file=sys.stderr)
        return 2
    runtime.install(rt)
    try:
        checkpoints = CheckpointPublisher.from_settings(settings, rt.store) if 0 in shards \
            else None
    except StoreError as exc:
        print(f"consent-worker: {exc}", file=sys.stderr)
        return 2
    notifier = Notifier()
    ConsentWorker.notifier = notifier
    me = f"{socket.gethostname()}.{os.getpid()}"
    locks = ShardLocks(rt.redis, rt.keys, shards, me, notifier)
    main_thread = threading.main_thread()
    serving = threading.Event()  # set once the shard locks are held
    database = DatabaseCheck(rt.store.engine)

    where = redis_where(settings.redis)
    # Metrics read INFO at scrape time (workers/health.py); the watch feeds /healthz and
    # logs the moment persistence is lost.
    watch = PersistenceWatch(rt.redis, settings.redis.persistence_check_interval, where)

    def healthy() -> tuple[bool, dict[str, Any]]:
        try:
            redis_ok = bool(rt.redis.ping())
        except redis.RedisError:
            redis_ok = False
        checks: dict[str, Any] = {
            "serving": serving.is_set() and not locks.lost.is_set() and main_thread.is_alive(),
            "redis": redis_ok, "database": database()}
        persisted = watch.last
        # Shown always; unhealthy only when persistence is required (with the override the
        # operator has accepted the risk, and the gauge still says so).
        checks["redis_persistent"] = persisted.ok if persisted else None
        if database.error:
            checks["database_error"] = database.error
        informational = {"database_error"} | (
            set() if settings.redis.require_persistence else {"redis_persistent"})
        return all(v for k, v in checks.items() if k not in informational), checks

    server = _start_metrics(settings, shards, rt, healthy)
    while True:
        try:
            locks.acquire()
            break
        except redis.RedisError as exc:
            log.warning("worker.redis_unavailable", error=str(exc), action="retrying in 2s")
            time.sleep(2)
    try:
        watch.start(check_at_start(rt.redis, settings.redis, where))
    except PersistenceRefused as exc:
        print(f"consent-worker: {exc}", file=sys.stderr)
        log.error("worker.redis_not_persistent", error=str(exc), action="not starting")
        locks.release()
        if server is not None:
            server.shutdown()
            server.server_close()
        return 2
    except redis.RedisError as exc:  # it answered a moment ago: check again later
        log.warning("worker.persistence_unknown", error=str(exc))
        watch.start(None)
    locks.start()
    serving.set()
    # RQ's loop gets a client of its own, with the socket timeout its blocking dequeue
    # needs (rq_port.RQ_WORKER_SOCKET_TIMEOUT); the runtime's keeps redis.socket_timeout.
    rq_redis = redis_client(settings.redis, socket_timeout=RQ_WORKER_SOCKET_TIMEOUT)
    queues = [RecoveringQueue(rt.keys.event_queue(s), connection=rq_redis,
                              serializer=JSONSerializer) for s in shards]
    recovered = recover_abandoned(rt.redis, queues)

    def reload_catalog(signum: int, frame: Any) -> None:
        try:
            rt.reload_catalog()
            log.info("worker.catalog_reloaded", version=rt.catalog.version)
        except Exception as exc:  # a broken catalog file must not stop a running worker
            log.error("worker.catalog_reload_failed", error=str(exc),
                      action="keeping the catalog loaded before")

    signal.signal(signal.SIGHUP, reload_catalog)
    quiet_per_job_lines()  # one info line per batch is ours (batch.applied)
    # RecoveringQueue: a job whose dequeue's answer a Redis stop lost goes back at once.
    worker = ConsentWorker(queues, connection=rq_redis, queue_class=RecoveringQueue,
                           serializer=JSONSerializer, name=f"consent-worker.{me}")
    where = _safe(settings.database.url.get_secret_value())
    database_ok = database()  # the first probe; /healthz repeats it (unhealthy while down)
    if not database_ok:
        log.error("worker.database_unreachable", database=where, error=database.error,
                  action="serving the queues anyway: jobs fail and retry until it answers; "
                         "/healthz reports unhealthy")
    log.info("worker.started", shards=shards, burst=burst, recovered=recovered,
             database=where, database_ok=database_ok)
    notifier.ready(f"serving shards {','.join(map(str, shards))}"
                   + ("" if database_ok else "; database unreachable"))
    if checkpoints is not None:
        checkpoints.start()
    outages = Outages(clients=[rt.redis, rq_redis], queues=queues, reacquire=locks.acquire,
                      notifier=notifier, stopping=runtime.STOPPING)
    try:
        status = ride_out(worker, outages, burst=burst,
                          logging_level=settings.log.level.upper(), with_scheduler=False)
    finally:
        if checkpoints is not None:
            checkpoints.stop()
        notifier.stopping()
        serving.clear()
        watch.stop()
        locks.release()
        if server is not None:
            server.shutdown()
            server.server_close()
        rt.store.close()
    return status


def supervise_shards(shards: list[int], *, burst: bool, config: str | None) -> int:
    """Serve several shards with one child process each (``--shard N``).

    One RQ worker per queue on purpose: RQ 3 dequeues from a single queue with LMOVE into
    a safety list, but from several queues with a plain LPOP, and a worker killed between
    that LPOP and the started registry would lose the job.
    """
    notifier = Notifier()
    base = [sys.executable, "-m", "workers.cli"]
    if config:
        base += ["--config", config]
    children = {s: subprocess.Popen([*base, "run", "--shard", str(s), *(["--burst"] if burst else [])])
                for s in shards}
    stopping = threading.Event()

    def forward(signum: int, frame: Any) -> None:
        stopping.set()
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, forward)
    notifier.ready(f"serving shards {','.join(map(str, shards))} in {len(shards)} processes")
    log.info("worker.supervising", shards=shards, pids=[c.pid for c in children.values()])
    status = 0
    while children:
        for shard, child in list(children.items()):
            rc = child.poll()
            if rc is None:
                continue
            del children[shard]
            if rc != 0 and not stopping.is_set():
                # One shard down means its numbers wait: stop all, let systemd restart us.
                log.error("worker.shard_process_died", shard=shard, exit_status=rc,
                          action="stopping the other shards; the service manager restarts us")
                status = rc if rc > 0 else 1
                forward(signal.SIGTERM, None)
        notifier.watchdog()
        time.sleep(0.5)
    notifier.stopping()
    return status


def _start_metrics(settings: Settings, shards: list[int], rt: runtime.Runtime,
                   healthy: Any) -> Any:
    """/metrics and /healthz on ``metrics.worker_port`` (+ the shard when serving one)."""
    port = settings.metrics.worker_port
    if not port:
        return None
    from prometheus_client import REGISTRY

    port += shards[0] if len(shards) == 1 else 0
    try:
        server = serve(REGISTRY, healthy, settings.metrics.bind, port)
    except OSError as exc:
        log.warning("metrics.unavailable", port=port, error=exc.strerror,
                    action="running without /metrics and /healthz")
        return None
    REGISTRY.register(QueueCollector(
        rt.redis, [rt.keys.event_queue(s) for s in shards]))
    return server


def _text(value: Any) -> str:
    """A Redis reply as str (the client returns bytes; None for a missing key)."""
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else str(value)


def _safe(url: str) -> str:
    from consent_store.errors import safe_url

    return safe_url(url)


if __name__ == "__main__":
    sys.exit(main())
