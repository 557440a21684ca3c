"""The worker's loop across Redis outages: RQ's loop runs until Redis goes away; then the
worker waits for Redis (logging, counting, telling the watchdog it is alive), takes its
shard back, puts the interrupted job back at the front, and runs the loop again.

Before this the process quit and lived only because systemd restarted it, so an outage
longer than the unit's restart budget (``StartLimitBurst`` restarts ``RestartSec`` apart)
left the shard without a worker until someone restarted it by hand.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis
import structlog
from rq import Queue, SimpleWorker

from config.notify import Notifier
from consent_queue import rq_port
from workers import runtime

log = structlog.get_logger("worker")

# Seconds between tries to reach Redis again: first soon (a restart takes a second or
# two), then no slower than every 5 s, well inside WatchdogSec.
FIRST_TRY = 0.5
LAST_TRY = 5.0
# While waiting, one warning line this often (plus the first and the last).
SAY_EVERY = 30.0


@dataclass
class Outages:
    """What the ride-out loop needs besides the worker: the clients to probe, the locks
    to take back, the queues whose interrupted jobs go back, the watchdog."""

    clients: Sequence[redis.Redis]
    queues: Sequence[Queue]
    reacquire: Callable[[], None]
    notifier: Notifier
    stopping: threading.Event


def ride_out(worker: SimpleWorker, outages: Outages, **work: Any) -> int:
    """Run ``worker`` until it stops on its own or by request (0), riding out Redis
    outages; 1 when its loop ended on another error (the service manager restarts it)."""
    error = rq_port.run_loop(worker, **work)
    while True:
        if error is None or outages.stopping.is_set():
            return 0
        if not rq_port.is_redis_lost(error):
            log.error("worker.loop_failed", error=f"{type(error).__name__}: {error}",
                      action="exiting; the service manager restarts the worker")
            return 1
        if not wait_for_redis(outages, error):
            return 0
        try:
            outages.reacquire()
            rq_port.reregister(worker)
            recovered = rq_port.recover_abandoned(outages.clients[0], outages.queues)
        except (redis.ConnectionError, redis.TimeoutError) as exc:  # gone again: wait again
            error = exc
            continue
        log.info("worker.redis_back", recovered=recovered, action="serving the queues again")
        error = rq_port.run_loop(worker, **work)


def wait_for_redis(outages: Outages, error: BaseException) -> bool:
    """Wait until every client answers PING; False when a stop was asked for meanwhile.

    RQ's SIGTERM handler talks to Redis (it records the shutdown request), which fails
    now: until the loop runs again a signal only sets the stopping flag."""
    previous = {sig: signal.signal(sig, lambda *_: outages.stopping.set())
                for sig in (signal.SIGTERM, signal.SIGINT)}
    runtime.REDIS_OUTAGES.inc()
    started = said = time.monotonic()
    log.warning("worker.redis_lost", error=str(error),
                action="waiting for Redis; the interrupted job goes back when it answers")
    delay = FIRST_TRY
    try:
        while not outages.stopping.wait(delay):
            outages.notifier.watchdog()
            if _answers(outages.clients):
                runtime.REDIS_OUTAGE_SECONDS.inc(time.monotonic() - started)
                return True
            now = time.monotonic()
            if now - said >= SAY_EVERY:
                said = now
                log.warning("worker.redis_lost", waited_s=round(now - started, 1),
                            action="still waiting for Redis")
            delay = min(delay * 2, LAST_TRY)
        return False
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _answers(clients: Sequence[redis.Redis]) -> bool:
    try:
        return all(c.ping() for c in clients)
    except redis.RedisError:
        return False
