"""``consentctl jobs failed`` / ``jobs requeue``: jobs RQ gave up on, and sending them back.

A job lands in RQ's failed registry once its retries are spent (a database outage longer
than the retry budget, an event the store refuses). Its events are not applied and not
answered until an operator requeues it; replaying one that did apply changes nothing
(the ledger's event ids, design.md).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, dataclass
from typing import Any

import redis

from config.settings import Settings
from consent_core.instants import as_utc, iso
from consent_queue.keys import Keys
from consentctl.cli import EXIT_NOT_FOUND, EXIT_OK, EXIT_UNAVAILABLE, Context, UsageError
from consentctl.output import print_json, print_table

SUMMARY_WIDTH = 100


@dataclass(frozen=True, slots=True)
class FailedJob:
    id: str
    queue: str
    function: str
    failed_at: str | None  # ISO 8601 UTC
    exception: str  # the last line of the traceback: "Type: message"
    events: int | None  # events (or delivery updates) the job carries; None if unreadable


def redis_for(settings: Settings) -> redis.Redis:
    """A client that gives up after the configured socket timeout instead of hanging."""
    from consent_queue.connection import redis_client

    return redis_client(settings.redis)


def failed_registries(client: redis.Redis, keys: Keys) -> list[Any]:
    from rq.registry import FailedJobRegistry
    from rq.serializers import JSONSerializer

    return [FailedJobRegistry(name, connection=client, serializer=JSONSerializer)
            for name in keys.rq_queues]


def failed_jobs(client: redis.Redis, keys: Keys) -> list[FailedJob]:
    """Every job in the failed registry of our queues, oldest failure first."""
    found: list[tuple[float, FailedJob]] = []
    for registry in failed_registries(client, keys):
        for job_id in registry.get_job_ids(cleanup=False):
            found.append(_describe(client, registry.name, job_id))
    # By the exact failure time (the listing shows whole seconds); stable for ties.
    return [job for _, job in sorted(found, key=lambda pair: pair[0])]


def _describe(client: redis.Redis, queue: str, job_id: str) -> tuple[float, FailedJob]:
    from rq.exceptions import NoSuchJobError
    from rq.job import Job
    from rq.serializers import JSONSerializer

    try:
        job = Job.fetch(job_id, connection=client, serializer=JSONSerializer)
    except NoSuchJobError:
        return 0.0, FailedJob(job_id, queue, "?", None, "job data gone (expired or deleted)",
                              None)
    except Exception as exc:  # a payload we cannot read must not hide the other jobs
        return 0.0, FailedJob(job_id, queue, "?", None, f"job data unreadable: {exc}", None)
    exc_string = ""
    failed_at = job.ended_at
    result = job.latest_result()
    if result is not None and result.exc_string:
        exc_string = result.exc_string
        failed_at = result.created_at or failed_at
    exc_string = exc_string or (job._exc_info or "")
    try:
        events: int | None = len(job.args[0])
    except (IndexError, TypeError, ValueError, KeyError):
        events = None
    when = as_utc(failed_at).timestamp() if failed_at else 0.0  # rq: naive UTC in places
    return when, FailedJob(job_id, queue, (job.func_name or "?").rsplit(".", 1)[-1],
                           iso(failed_at, "seconds"), _summary(exc_string), events)


def _summary(exc_string: str) -> str:
    lines = [line.strip() for line in exc_string.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no exception recorded)"


def requeue(client: redis.Redis, keys: Keys, job_ids: list[str] | None,
            retries: int) -> tuple[list[FailedJob], list[str]]:
    """Put failed jobs back at the front of their queues (all of them when ``job_ids`` is
    None), each with ``retries`` retries again. Returns (requeued, ids not found)."""
    from rq.exceptions import InvalidJobOperation

    listed = failed_jobs(client, keys)
    if job_ids is None:
        chosen, missing = listed, []
    else:
        wanted = set(job_ids)
        chosen = [j for j in listed if j.id in wanted]  # failure order, not argument order
        listed_ids = {j.id for j in listed}
        missing = [i for i in dict.fromkeys(job_ids) if i not in listed_ids]
    registries = {r.name: r for r in failed_registries(client, keys)}
    done: list[FailedJob] = []
    # Newest first: each goes to the front, so the oldest ends up first in line, and a
    # number's events keep the order the SMSC delivered them in.
    for fj in reversed(chosen):
        registry = registries[fj.queue]
        try:
            job = _fetch(client, fj.id)
            if job is None:
                missing.append(fj.id)
                registry.remove(fj.id)
                continue
            job.retries_left = retries or None
            registry.requeue(job, at_front=True)
        except InvalidJobOperation:  # someone else requeued or deleted it meanwhile
            missing.append(fj.id)
            continue
        done.append(fj)
    done.reverse()
    return done, missing


def _fetch(client: redis.Redis, job_id: str) -> Any:
    from rq.exceptions import NoSuchJobError
    from rq.job import Job
    from rq.serializers import JSONSerializer

    try:
        return Job.fetch(job_id, connection=client, serializer=JSONSerializer)
    except NoSuchJobError:
        return None


# ------------------------------------------------------------------ commands

def register(sub: Any, common: argparse.ArgumentParser) -> None:
    jobs = sub.add_parser("jobs", parents=[common], help="queued jobs that failed")
    jobs_sub = jobs.add_subparsers(dest="jobs_command", metavar="ACTION", required=True)

    p = jobs_sub.add_parser("failed", parents=[common],
                            help="list jobs whose retries are spent (RQ's failed registry)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=show_failed)

    p = jobs_sub.add_parser("requeue", parents=[common],
                            help="put failed jobs back at the front of their queue")
    p.add_argument("job_ids", nargs="*", metavar="JOB_ID")
    p.add_argument("--all", action="store_true", help="every failed job")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=requeue_failed)


def show_failed(args: argparse.Namespace, ctx: Context) -> int:
    client = redis_for(ctx.settings)
    try:
        jobs = failed_jobs(client, Keys.from_settings(ctx.settings))
    except redis.RedisError as exc:
        return _unreachable(ctx, exc)
    finally:
        client.close()
    if args.json:
        print_json([asdict(j) for j in jobs])
        return EXIT_OK
    if not jobs:
        print("no failed jobs")
        return EXIT_OK
    print_table(["JOB ID", "QUEUE", "FAILED AT", "EVENTS", "EXCEPTION"],
                [(j.id, j.queue, j.failed_at, j.events, _clip(j.exception)) for j in jobs])
    print(f"\n{len(jobs)} failed; `consentctl jobs requeue JOB_ID…` or `--all` to retry them")
    return EXIT_OK


def requeue_failed(args: argparse.Namespace, ctx: Context) -> int:
    if args.all == bool(args.job_ids):
        raise UsageError("jobs requeue: name JOB_IDs or give --all (not both)")
    client = redis_for(ctx.settings)
    try:
        done, missing = requeue(client, Keys.from_settings(ctx.settings),
                                None if args.all else list(args.job_ids),
                                ctx.settings.queue.retry_max)
    except redis.RedisError as exc:
        return _unreachable(ctx, exc)
    finally:
        client.close()
    if args.json:
        print_json({"requeued": [{"id": j.id, "queue": j.queue} for j in done],
                    "not_found": missing})
    else:
        for j in done:
            print(f"requeued {j.id} at the front of {j.queue} ({j.events} events)")
        for job_id in missing:
            print(f"not among the failed jobs: {job_id}")
        if not done and not missing:
            print("no failed jobs")
    return EXIT_NOT_FOUND if missing else EXIT_OK


def _clip(text: str) -> str:
    return text if len(text) <= SUMMARY_WIDTH else text[:SUMMARY_WIDTH - 1] + "…"


def _unreachable(ctx: Context, exc: redis.RedisError) -> int:
    print(f"consentctl: Redis at {redis_where(ctx.settings)} did not answer: {exc}",
          file=sys.stderr)
    return EXIT_UNAVAILABLE


def redis_where(settings: Settings) -> str:
    """Where Redis is (URL without its password, or the Sentinel service), for messages."""
    from consent_queue.connection import redis_where as where

    return where(settings.redis)
