"""The one module that goes below RQ's public API, and why each step must.

RQ (read at 2.x/3.0) gives no public call for these things the product needs:
- **Recovering a dead worker's jobs.** RQ moves a job it dequeues into the queue's safety
  list (``<queue key>:intermediate``, LMOVE) before the started registry knows of it; a
  worker killed in between leaves the job there. We put such jobs back at the front.
- **Forgetting a started-registry entry.** RQ >= 2 keys entries ``job_id:execution_id`` and
  its ``StartedJobRegistry.remove`` raises NotImplementedError.
- **Taking the following jobs along** (a worker behind on its shard applies them in the
  same transaction): the queue's Redis list is read and trimmed atomically by a script.
- **Reading queue figures at every metrics scrape** in two pipelined round trips
  (``queue_figures``): RQ's key names for a queue, its failed registry and a job.
- **Running its worker the way this product needs** (``PortWorker``): no command
  channel, fewer heartbeats, a retry decided before RQ records the failure.
Every other use of RQ (enqueue, work, failed registry, requeue) goes through its API;
every RQ version the pins allow is checked against this module (tests/queue/test_rq_port.py,
docs/design.md "RQ").

It also knows RQ's per-job log lines (``PerJobLinesAtDebug``): the worker logs one info
line per batch of its own (``batch.applied``, every correlation id), so RQ's two or three
lines about every job are debug detail.

And how RQ's work loop ends (``run_loop``): on any exception but a few of its own it logs
"found an unhandled exception, quitting" and returns, so a Redis outage under any of its
steps (state, heartbeats, a job's bookkeeping) ended the worker process. RQ gives no hook
for that, so the exception is read off that log line, and a lost Redis connection under
the dequeue — which RQ retries itself, sleeping up to a minute between tries with no
word to the service manager's watchdog — is turned into ``RedisLost`` so it ends the loop
the same way. The worker then waits for Redis and runs the loop again (workers/outage.py).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis
import structlog
from rq import Queue, SimpleWorker
from rq.defaults import DEFAULT_WORKER_TTL
from rq.intermediate_queue import IntermediateQueue
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer

log = structlog.get_logger("worker")

# RQ 2.x's worker blocks in BLMOVE for worker_ttl - 15 s and wants its connection's
# socket timeout 10 s above that. It raises the pool's setting itself, but that reaches
# only connections made afterwards, and redis-py 8 connects at client creation: the
# worker's client is made with this timeout from the start.
RQ_WORKER_SOCKET_TIMEOUT = float(max(1, DEFAULT_WORKER_TTL - 15) + 10)

# The message templates of RQ 2.x's info lines about one job (dequeued, done, result
# kept); its lifecycle lines (started, listening, shutting down) have other templates.
RQ_PER_JOB_TEMPLATES = frozenset({
    "Worker %s: %s: %s (%s)",  # "<queue>: <description> (<id>)" and "<queue>: Job OK (<id>)"
    "Worker %s: %s: %s",  # "<queue>: <id>" (log_job_description off)
    "Worker %s: job %s result is kept for %s seconds",
    "Worker %s: job %s result discarded immediately",
    "Successfully completed %s job in %ss on worker %s",
    "Successfully completed job %s in %ss on worker %s",
})


class PerJobLinesAtDebug(logging.Filter):
    """On RQ's worker logger: its info lines about each job become debug lines (dropped
    unless the log level is debug). Everything else passes unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or record.msg not in RQ_PER_JOB_TEMPLATES:
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(logging.DEBUG)


def quiet_per_job_lines(logger_name: str = "rq.worker") -> None:
    """Install ``PerJobLinesAtDebug`` on RQ's worker logger (once)."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, PerJobLinesAtDebug) for f in logger.filters):
        logger.addFilter(PerJobLinesAtDebug())


# The lines RQ 2.x's ``Worker.work`` logs when an exception ends its loop (it then tears
# down and returns instead of raising).
RQ_LOOP_EXIT_TEMPLATES = frozenset({
    "Worker %s: found an unhandled exception, quitting...",
    "Worker %s: Redis connection timeout, quitting...",
})


class RedisLost(Exception):
    """Redis could not be reached under RQ's dequeue (raised by ``RecoveringQueue``)."""


def is_redis_lost(exc: BaseException | None) -> bool:
    """Whether ``exc``, or an exception it was raised from, is a lost Redis connection."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, (RedisLost, redis.ConnectionError, redis.TimeoutError)):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


class LoopExit(logging.Filter):
    """On RQ's worker logger while its loop runs: keeps the exception that ended the loop;
    RQ's line for a lost Redis connection is dropped (the worker logs its own and waits)."""

    def __init__(self) -> None:
        super().__init__()
        self.error: BaseException | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg not in RQ_LOOP_EXIT_TEMPLATES:
            return True
        # Logged inside RQ's except clause: the exception is the one being handled.
        self.error = record.exc_info[1] if record.exc_info else sys.exc_info()[1]
        return not is_redis_lost(self.error)


def run_loop(worker: SimpleWorker, logger_name: str = "rq.worker", **work: Any) -> BaseException | None:
    """``worker.work(**work)``; the exception that ended its loop, or None when it ended
    on its own (burst done, stop requested). A lost Redis connection raised by RQ's
    start-up or tear-down (registering the worker's birth or death) is returned too."""
    capture = LoopExit()
    logger = logging.getLogger(logger_name)
    logger.addFilter(capture)
    try:
        worker.work(**work)
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        return capture.error or exc
    finally:
        logger.removeFilter(capture)
    return capture.error


def reregister(worker: SimpleWorker) -> None:
    """Let ``worker`` run its loop again under the same name: RQ refuses to register the
    birth of a worker whose key has no death recorded, which a tear-down during an
    outage could not write."""
    worker.register_death()  # type: ignore[no-untyped-call]


class PortWorker(SimpleWorker):
    """RQ's ``SimpleWorker`` as this product runs it, its overrides of RQ's methods kept
    here; the worker's own behaviour goes in the hooks ``job_failed``,
    ``heartbeat_lost`` and ``alive``, which know nothing of RQ's internals."""

    # Seconds between the worker's own (unpipelined) heartbeats.
    heartbeat_every = 1.0
    _beat = float("-inf")

    def subscribe(self) -> None:
        # No RQ command channel (rq:pubsub:<worker>): a worker is stopped by its signals
        # (systemd), and nothing here sends RQ commands. Its listening thread also held
        # every exit: redis-py 8.2's PubSubWorkerThread.stop() joins the thread, which
        # RQ 2.x starts with a 60 s read timeout, so a burst run or a SIGTERM waited up to
        # a minute after the last job (seen in make test on a loaded host).
        return None

    def unsubscribe(self) -> None:
        return None

    def handle_job_failure(self, job: Job, queue: Queue, *args: Any, **kwargs: Any) -> None:
        # Decided before rq updates the job: a run with retries left goes back to the
        # queue, the last one to the failed registry. ``_stopped_job_id``: a job stopped
        # by an RQ command is never retried (RQ keeps that on the worker).
        retry = bool(job.should_retry) and getattr(self, "_stopped_job_id", None) != job.id
        self.job_failed(job, queue, retry)
        super().handle_job_failure(job, queue, *args, **kwargs)

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        # RQ calls this three times around every job, each time three commands of their own
        # (issue 15: nine of the worker's Redis round trips per job). The worker key lives
        # worker_ttl + 60 s (480 s), so one unpipelined heartbeat a second keeps it as alive;
        # those RQ puts in its own transactions, and those with their own timeout, always go.
        now = time.monotonic()
        if pipeline is None and timeout is None and now - self._beat < self.heartbeat_every:
            self.alive(now)
            return
        if pipeline is None:
            self._beat = now
        try:
            super().heartbeat(timeout, pipeline)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            # A Redis failover takes seconds; a missed heartbeat only shortens the worker
            # key's life, while letting it through made RQ quit the worker mid-job.
            self.heartbeat_lost(exc)
        self.alive(now)

    def job_failed(self, job: Job, queue: Queue, retry: bool) -> None:
        """A run of ``job`` raised; ``retry``: RQ puts it back (else the failed registry)."""

    def heartbeat_lost(self, exc: Exception) -> None:
        """A heartbeat could not reach Redis (the next one renews)."""

    def alive(self, now: float) -> None:
        """Called around every job and dequeue: the loop is turning."""


# KEYS: the shard's RQ queue, this job's absorbed list. ARGV: how many jobs at most.
# Moves the next jobs of the queue into the absorbed list, atomically; when the list
# exists already (this job ran before and died), returns what it holds instead.
ABSORB_JOBS = """
local held = redis.call('LRANGE', KEYS[2], 0, -1)
if #held > 0 then return held end
local ids = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #ids == 0 then return ids end
redis.call('LTRIM', KEYS[1], #ids, -1)
redis.call('RPUSH', KEYS[2], unpack(ids))
redis.call('EXPIRE', KEYS[2], 30 * 86400)
return ids
"""


def queue_key(name: str) -> str:
    """The Redis list behind RQ queue ``name``."""
    return f"{Queue.redis_queue_namespace_prefix}{name}"


def failed_registry_key(name: str) -> str:
    """The sorted set behind RQ's failed-job registry of queue ``name``."""
    return str(FailedJobRegistry.key_template.format(name))


def job_key(job_id: str) -> str:
    """The hash RQ keeps a job in."""
    return f"{Job.redis_job_namespace_prefix}{job_id}"


@dataclass(frozen=True)
class QueueFigures:
    """What a metrics scrape reports of one RQ queue."""

    waiting: int  # jobs in the queue
    failed: int  # jobs in its failed registry
    head_enqueued_at: str | None  # RQ's ``enqueued_at`` of the job at its head


def queue_figures(client: redis.Redis, names: Sequence[str]) -> list[QueueFigures]:
    """Each queue's figures in two pipelined round trips whatever their number: RQ's own
    calls (``Queue.count``, ``FailedJobRegistry.count``, ``Job.fetch``) would take one or
    more each, on every scrape."""
    with client.pipeline(transaction=False) as p:
        for name in names:
            p.llen(queue_key(name))
            p.zcard(failed_registry_key(name))
            p.lindex(queue_key(name), 0)
        counts = p.execute()
    with client.pipeline(transaction=False) as p:
        for i in range(len(names)):
            head = counts[3 * i + 2]
            if head:
                p.hget(job_key(_text(head)), "enqueued_at")
            else:
                p.echo(b"")
        enqueued = p.execute()
    return [QueueFigures(int(counts[3 * i]), int(counts[3 * i + 1]),
                         _text(enqueued[i]) or None) for i in range(len(names))]


def safety_list_key(name: str) -> str:
    """RQ's list of jobs dequeued from queue ``name`` but not yet registered as started."""
    return str(IntermediateQueue.get_intermediate_queue_key(queue_key(name)))


def recover_abandoned(client: redis.Redis, queues: Sequence[Queue]) -> int:
    """Put jobs a dead worker had taken back at the front of their queue, oldest first:
    first those it had started, then those still in RQ's safety list (moved there by
    LMOVE at dequeue, before the started registry knew of them)."""
    n = 0
    for q in queues:
        n += put_back_taken(client, q)
        registry = StartedJobRegistry(queue=q)
        for job_id in reversed(registry.get_job_ids(cleanup=False)):
            try:
                job = Job.fetch(job_id, connection=client, serializer=JSONSerializer)
            except Exception:
                forget_started(registry, job_id)
                continue
            if job.get_status() != JobStatus.STARTED:
                forget_started(registry, job_id)
                continue
            forget_started(registry, job_id)
            q.enqueue_job(job, at_front=True)
            n += 1
            log.warning("worker.job_recovered", job_id=job.id, queue=q.name,
                        action="requeued at the front; replayed events change nothing")
    return n


def put_back_taken(client: redis.Redis, q: Queue) -> int:
    """Put the jobs in ``q``'s safety list back at the front of the queue, oldest first;
    how many. Only for the one worker serving ``q``, between its jobs: then a job in the
    list is one whose dequeue's answer was lost (Redis stopped, or the link to it broke,
    right after the LMOVE), which nobody would run for RQ's ten minutes of maintenance
    interval and then only as a failure."""
    safety = safety_list_key(q.name)
    taken = [_text(j) for j in client.lrange(safety, 0, -1)]
    for job_id in reversed(taken):
        with client.pipeline(transaction=True) as p:
            p.lrem(safety, 1, job_id)
            p.lpush(q.key, job_id)
            p.execute()
        log.warning("worker.job_recovered", job_id=job_id, queue=q.name, source="safety list",
                    action="requeued at the front; replayed events change nothing")
    return len(taken)


class RecoveringQueue(Queue):
    """The queue class of a worker that alone serves its queues (the shard lock): before
    each dequeue, jobs left in the safety list by a dequeue whose answer was lost go back
    to the front (``put_back_taken``). One LRANGE per dequeue, not only after a failed
    one: redis-py retries a command whose connection broke (ten times by default), so a
    lost answer to BLMOVE need not reach RQ as an error at all."""

    @classmethod
    def dequeue_any(cls, queues: Any, timeout: Any, connection: Any, *args: Any,
                    **kwargs: Any) -> Any:
        try:
            for q in queues:
                put_back_taken(connection, q)
            return super().dequeue_any(queues, timeout, connection, *args, **kwargs)
        except redis.ConnectionError as exc:  # not RQ's own retry: see the module docstring
            raise RedisLost(str(exc)) from exc


def forget_started(registry: StartedJobRegistry, job_id: str) -> None:
    """Drop a job from a started registry (see the module docstring)."""
    if hasattr(registry, "get_job_and_execution_ids"):
        entries = [f"{j}:{e}" for j, e in registry.get_job_and_execution_ids(cleanup=False)
                   if j == job_id]
        if entries:
            registry.connection.zrem(registry.key, *entries)
    else:
        registry.remove(job_id)


def take_following(client: redis.Redis, script: Any, job: Job, absorbed_key: str,
                   limit: int) -> list[str]:
    """Move up to ``limit`` jobs queued after ``job`` into ``absorbed_key`` (or return what
    an earlier run of ``job`` had moved there); their ids, in queue order."""
    held = script(keys=[queue_key(job.origin), absorbed_key], args=[limit])
    return [_text(i) for i in held]


def give_back(client: redis.Redis, job: Job, absorbed: list[Job], absorbed_key: str) -> None:
    """Return jobs taken along to the front of ``job``'s queue, in their order."""
    with client.pipeline(transaction=True) as p:
        for j in reversed(absorbed):
            p.lpush(queue_key(job.origin), j.id)
        p.delete(absorbed_key)
        p.execute()


def drop_taken(client: redis.Redis, absorbed: list[Job], absorbed_key: str | None) -> None:
    """Delete jobs whose work was done inside another job's run."""
    with client.pipeline(transaction=True) as p:
        for j in absorbed:
            p.delete(j.key)
        if absorbed_key is not None:
            p.delete(absorbed_key)
        p.execute()


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else str(value)
