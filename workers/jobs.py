"""The jobs the gateway queues: apply a batch of consent events, record reply deliveries.

``apply_events`` is the SMS path's only way into the store. It is safe to run twice: the
store answers a replayed event id with its first outcome, and a reply already queued for
an event is not queued again.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import redis
import structlog
from rq.job import Job, get_current_job
from rq.serializers import JSONSerializer

from consent_core.changes import (
    BadUpdate,
    ChangeRequest,
    DeliveryUpdate,
    ReceiptUpdate,
    SubmitResult,
    parse_update,
)
from consent_queue import rq_port, scripts
from consent_queue.backlog import sms_texts
from consent_queue.events import ReplicasBehind, replicas_holding
from consent_queue.keys import APPLY_EVENTS_JOB, RECORD_DELIVERIES_JOB
from consent_queue.outcomes import (
    HANDOVER_KIND,
    LEAVE_KIND,
    is_reset,
    outcomes_in,
    publish_outcomes,
    wants_outcome,
)
from consent_queue.replies import Reply
from consent_store.errors import BadRequest, NotFound, StoreError, StoreUnavailable
from workers import runtime

log = structlog.get_logger("worker")
T = TypeVar("T")


def apply_events(requests: list[dict[str, Any]],
                 deliveries: list[dict[str, Any]] | None = None) -> dict[str, int]:
    """Apply queued events in one transaction, then queue their confirmation replies;
    then record the delivery updates that travelled with them.

    When the shard's queue has fallen behind, the job takes the jobs queued after it
    along (up to ``queue.absorb_max_jobs``): one transaction and one RQ round for all of
    them, in queue order. They are moved into a list named after this job first, so a
    run that dies half-way finds them again when RQ runs this job again; they are deleted
    only after everything they carried is applied, answered and recorded.
    """
    rt = runtime.current()
    started = time.perf_counter()
    absorbed = _absorb(rt)
    me = get_current_job()
    counted = [(job.id, sms_texts(job.args[0])) for job in absorbed
               if job.func_name == APPLY_EVENTS_JOB]
    if me is not None:
        counted.append((me.id, sms_texts(requests)))
    for job in absorbed:
        if job.func_name == APPLY_EVENTS_JOB:
            requests = [*requests, *job.args[0]]
            deliveries = [*(deliveries or []), *((job.kwargs or {}).get("deliveries") or [])]
        else:  # a deliveries-only job
            deliveries = [*(deliveries or []), *job.args[0]]
    try:
        _await_replicas(rt)
        result = _apply(rt, requests, deliveries, counted)
    except Exception:
        # Hand the jobs taken along back to the queue's front, so a failing job fails alone
        # (RQ's retry and failed registry then see exactly the jobs that failed).
        _release_absorbed(rt, absorbed)
        raise
    if absorbed:
        _forget_absorbed(rt, absorbed)
    runtime.JOB_SECONDS.labels(job="apply_events").observe(time.perf_counter() - started)
    result["absorbed_jobs"] = len(absorbed)
    return result


def _await_replicas(rt: runtime.Runtime) -> None:
    """With ``redis.min_replicas_ack``, apply only jobs the replicas hold too.

    A gateway queues a batch on the primary, then WAITs for the replicas; when they do not
    confirm in time it gives the SMSC a temporary error and the SMSC sends the texts again.
    If the primary then dies before the batch reached a replica, the new primary knows
    neither the batch nor its redelivery entries, so the copies are queued as new texts —
    and a worker that had already applied the batch from the old primary applied them
    twice (seen in the failover test). The marker WAITed for here is written after this
    job and the jobs taken along were queued (and after the absorb script moved them), so
    a replica holding it holds them. While the replicas are behind, the job waits: the
    gateways refuse new texts then too. A Redis error fails the job (it may have come
    from a primary that is gone); its job timeout bounds the wait."""
    wanted = rt.settings.redis.min_replicas_ack
    if not wanted:
        return
    timeout_ms = rt.settings.redis.wait_timeout_ms
    announced = False
    while replicas_holding(rt.redis, rt.keys, wanted, timeout_ms) < wanted:
        if not announced:
            runtime.REPLICA_WAITS.inc()
            job = get_current_job()
            log.warning("job.replicas_behind", job_id=job.id if job else None, wanted=wanted,
                        action="applied once the replicas hold it")
            announced = True
        if runtime.STOPPING.is_set():
            raise ReplicasBehind(f"fewer than {wanted} replicas hold the job; stopping")
        runtime.STOPPING.wait(0.1)


def _off_backlog(rt: runtime.Runtime, counted: list[tuple[str, int]]) -> None:
    """The texts are applied: off the backlog the gateways bound (consent_queue/backlog.py).
    A Redis error here costs only a too-high backlog figure until the next job; the
    texts themselves are applied and answered."""
    try:
        rt.backlog.done(counted)
    except redis.RedisError as exc:
        log.warning("backlog.not_counted", error=str(exc), jobs=len(counted))


def _absorb(rt: runtime.Runtime) -> list[Job]:
    limit = rt.settings.queue.absorb_max_jobs
    job = get_current_job()
    if job is None or limit <= 0:
        return []
    ids = rq_port.take_following(rt.redis, rt.absorb, job, rt.keys.absorbed(job.id), limit)
    if not ids:
        return []
    jobs = Job.fetch_many(ids, connection=rt.redis, serializer=JSONSerializer)
    found = [j for j in jobs if j is not None and j.func_name in (APPLY_EVENTS_JOB,
                                                                   RECORD_DELIVERIES_JOB)]
    if len(found) != len(ids):
        log.error("job.absorbed_missing", job_id=job.id, wanted=len(ids), found=len(found))
    return found


def _release_absorbed(rt: runtime.Runtime, absorbed: list[Job]) -> None:
    job = get_current_job()
    if job is None or not absorbed:
        return
    rq_port.give_back(rt.redis, job, absorbed, rt.keys.absorbed(job.id))


def _forget_absorbed(rt: runtime.Runtime, absorbed: list[Job]) -> None:
    job = get_current_job()
    rq_port.drop_taken(rt.redis, absorbed, None if job is None else rt.keys.absorbed(job.id))


def _apply(rt: runtime.Runtime, requests: list[dict[str, Any]],
           deliveries: list[dict[str, Any]] | None,
           counted: list[tuple[str, int]] | None = None) -> dict[str, int]:
    """Apply ``requests`` with ``deliveries`` in one transaction, then queue the replies,
    publish awaited outcomes and take ``counted`` off the backlog."""
    if any(is_reset(d) for d in requests):
        totals = _apply_with_resets(rt, requests, deliveries)
        _off_backlog(rt, counted or [])
        return totals
    reqs: list[ChangeRequest] = []
    reported = {str(d.get("event_id")) for d in requests if wants_outcome(d)}
    for data in requests:
        try:
            reqs.append(ChangeRequest.from_dict(data))
        except BadRequest as exc:
            runtime.BAD_EVENTS.inc()
            log.error("event.unreadable", error=str(exc),
                      correlation_id=data.get("correlation_id") if isinstance(data, dict) else None,
                      action="skipped; the job's payload stays in RQ's records")
    window = timedelta(minutes=rt.settings.consent.confirm_minutes)
    budget = max(1.0, rt.settings.queue.job_timeout - 10)
    # The delivery updates that rode along go into the events' transaction: one commit per
    # batch (issue 15: the second transaction was a third of the worker's time per job).
    submits, receipts = _parse_deliveries(deliveries or [])
    try:
        results = _with_db_retry(lambda: rt.store.apply_batch(
            reqs, catalog=rt.catalog, confirm_window=window, submits=submits,
            receipts=receipts), budget=budget)
        together = True
    except StoreError as exc:
        if isinstance(exc, StoreUnavailable) or not (submits or receipts):
            raise
        # Something in the updates the store refuses must not hold the texts back: the
        # events alone, then the updates in their own transaction (which fails the job
        # as before, after the texts were applied and answered).
        log.warning("deliveries.apart", error=str(exc),
                    action="events applied alone; the delivery updates retried on their own")
        results = _with_db_retry(lambda: rt.store.apply_batch(
            reqs, catalog=rt.catalog, confirm_window=window), budget=budget)
        together = False
    replies = []
    outcomes: Counter[str] = Counter()
    detail = log.isEnabledFor(logging.DEBUG)
    for req, res in zip(reqs, results, strict=True):
        outcomes[res.outcome.value] += 1
        if detail:
            log.debug("event.applied", correlation_id=req.correlation_id, msisdn=req.msisdn,
                      consent=res.consent, outcome=res.outcome.value, replayed=res.replayed)
        if req.channel == "sms" and res.reply_text:
            replies.append(Reply(event_id=req.event_id, msisdn=req.msisdn, text=res.reply_text,
                                 correlation_id=req.correlation_id or req.event_id[:16],
                                 received_at=req.received_at))
    for outcome, n in outcomes.items():
        runtime.EVENTS.labels(outcome=outcome).inc(n)
    # One info line per batch, not per text: at saturation a line per text cost more CPU
    # than the rest of the worker's own Python (issue 15). Every text's correlation id is
    # in it, so grepping the info log for one still finds when it was applied; the
    # per-text detail (number, consent, outcome) is at debug.
    log.info("batch.applied", count=len(reqs), replayed=sum(r.replayed for r in results),
             outcomes=dict(outcomes),
             correlation_ids=[r.correlation_id or r.event_id[:16] for r in reqs])
    # Changes from the API and the console wait for their own outcome (outcomes.py).
    awaited = [res.to_dict() for res in results if res.event_id in reported]
    statuses = _after_commit(rt, replies, awaited, counted or [])
    limits = rt.settings.limits
    withheld = []
    for rep, status in zip(replies, statuses, strict=True):
        runtime.REPLIES.labels(result=status).inc()
        if status == "limited":
            log.warning("reply.rate_limited", correlation_id=rep.correlation_id,
                        msisdn=rep.msisdn, action="no reply sent; the change itself was applied")
            withheld.append((rep.event_id, f"per-number reply limit ({limits.replies_per_minute} "
                                           f"a minute, {limits.replies_per_day} a day)"))
    if withheld:
        # The reply row says what really happened instead of staying pending for ever.
        _with_db_retry(lambda: rt.store.record_suppressed(withheld), budget=budget)
    if not together:  # the updates parsed above, in their own transaction
        _store_deliveries(rt, submits, receipts)
    _count_receipts(receipts)
    return {"events": len(reqs), "replayed": sum(r.replayed for r in results),
            "replies": statuses.count("queued"), "deliveries": len(deliveries or [])}


def _after_commit(rt: runtime.Runtime, replies: list[Reply], awaited: list[dict[str, Any]],
                  counted: list[tuple[str, int]]) -> list[str]:
    """The Redis steps that follow a batch's commit — awaited outcomes, replies, the
    backlog — in one round trip (each was one of its own); the replies' statuses.

    Each step may run again whole (outcomes rewritten, a reply queued once per event id,
    a job counted off the backlog once), so the batch is retried whole through a failover.
    A backlog count that fails only costs a too-high backlog figure until the next job."""
    limits = rt.settings.limits
    now = rt.store.clock().timestamp()

    def round_trip() -> list[Any]:
        with rt.redis.pipeline(transaction=False) as p:
            outcomes_in(p, rt.keys, awaited)
            rt.replies.push_in(p, replies, per_minute=limits.replies_per_minute,
                               per_day=limits.replies_per_day, now=now)
            rt.backlog.done_in(p, counted)
            return p.execute(raise_on_error=False)

    def send() -> list[str]:
        answers = round_trip()
        if scripts.missing(answers):  # Redis forgot the scripts: every step may run again
            scripts.load(rt.redis, [*rt.replies.scripts, *rt.backlog.scripts])
            answers = round_trip()
        published, rest = answers[:3 * len(awaited)], answers[3 * len(awaited):]
        for answer in published:
            if isinstance(answer, Exception):
                raise answer
        statuses: list[str] = []
        if replies:
            if isinstance(rest[0], Exception):
                raise rest[0]
            statuses, rest = rt.replies.statuses(rest[0]), rest[1:]
        if rest and isinstance(rest[0], Exception):
            log.warning("backlog.not_counted", error=str(rest[0]), jobs=len(counted))
        return statuses

    return _with_redis_retry(send)


def _apply_with_resets(rt: runtime.Runtime, requests: list[dict[str, Any]],
                       deliveries: list[dict[str, Any]] | None) -> dict[str, int]:
    """Apply the changes before a reset, the reset, then the changes after it: a number's
    handover takes its place in the shard's order like any other change."""
    totals: dict[str, int] = {"events": 0, "replayed": 0, "replies": 0, "deliveries": 0,
                              "resets": 0}
    run: list[dict[str, Any]] = []
    for item in [*requests, None]:
        if item is not None and not is_reset(item):
            run.append(item)
            continue
        if run:
            for k, v in _apply(rt, run, None).items():
                totals[k] = totals.get(k, 0) + v
            run = []
        if item is not None:
            _reset(rt, item)
            totals["resets"] += 1
    if deliveries:
        record_deliveries(deliveries)
        totals["deliveries"] = len(deliveries)
    return totals


def _reset(rt: runtime.Runtime, item: dict[str, Any]) -> None:
    if item.get("kind") in (HANDOVER_KIND, LEAVE_KIND):
        _directory_change(rt, item)
        return
    event_id, msisdn = str(item.get("event_id")), str(item.get("msisdn"))
    if rt.redis.exists(rt.keys.outcome(event_id)):
        return  # this job ran before and the reset was applied: never twice
    try:
        done = _with_db_retry(lambda: rt.store.reset(msisdn, str(item.get("reason") or ""),
                                                     channel=str(item.get("channel"))),
                              budget=max(1.0, rt.settings.queue.job_timeout - 10))
        outcome: dict[str, Any] = {
            "event_id": event_id, "msisdn": msisdn, "consent": None, "outcome": "reset",
            "withdrawn": [c.consent for c in done if c.consent],
            "events": [c.event_id for c in done]}
    except (NotFound, BadRequest) as exc:
        outcome = {"event_id": event_id, "msisdn": msisdn, "consent": None,
                   "outcome": "not_found" if isinstance(exc, NotFound) else "refused",
                   "detail": str(exc)}
    runtime.EVENTS.labels(outcome=outcome["outcome"]).inc()
    log.info("reset.applied", msisdn=msisdn, event_id=event_id, outcome=outcome["outcome"])
    _with_redis_retry(lambda: publish_outcomes(rt.redis, rt.keys, [outcome]))


def _directory_change(rt: runtime.Runtime, item: dict[str, Any]) -> None:
    """A handover or a number that left LMT, from the directory (docs/store.md, "The
    directory"). Its ledger rows are named after the event id, so a job that runs twice
    records it once."""
    kind, event_id = str(item["kind"]), str(item.get("event_id"))
    msisdn, reason = str(item.get("msisdn")), str(item.get("reason") or "")
    budget = max(1.0, rt.settings.queue.job_timeout - 10)
    if kind == HANDOVER_KIND:
        note = f"holder {item.get('old_holder')} -> {item.get('new_holder')}"
        try:
            done = _with_db_retry(lambda: rt.store.reset(
                msisdn, reason, channel="directory", event_id=event_id, note=note),
                budget=budget)
        except NotFound:
            done = []  # nothing held about the number: no earlier holder's record to close
    else:
        done = _with_db_retry(lambda: rt.store.leave(msisdn, event_id, reason, rt.catalog),
                              budget=budget)
    fresh = [c for c in done if not c.replayed]
    for c in fresh:
        runtime.EVENTS.labels(outcome=c.outcome.value).inc()
    log.info("directory.applied", kind=kind, msisdn=msisdn, event_id=event_id,
             rows=len(done), replayed=len(done) - len(fresh),
             consents=[c.consent for c in done if c.consent])
    if wants_outcome(item):
        outcome = {"event_id": event_id, "msisdn": msisdn, "consent": None,
                   "outcome": kind if done else "unchanged",
                   "changed": [c.consent for c in done if c.consent]}
        _with_redis_retry(lambda: publish_outcomes(rt.redis, rt.keys, [outcome]))


# SMPP 3.4 Appendix B message states; anything else is counted as OTHER (bounded labels).
RECEIPT_STATS = frozenset({"DELIVRD", "EXPIRED", "DELETED", "UNDELIV", "ACCEPTD", "UNKNOWN",
                           "REJECTD", "ENROUTE"})


def record_deliveries(updates: list[dict[str, Any]]) -> dict[str, int]:
    """Record what the SMSC said about our replies: accepted (message id), failed, delivered."""
    rt = runtime.current()
    started = time.perf_counter()
    submits, receipts = _parse_deliveries(updates)
    _store_deliveries(rt, submits, receipts)
    _count_receipts(receipts)
    runtime.JOB_SECONDS.labels(job="record_deliveries").observe(time.perf_counter() - started)
    return {"submits": len(submits), "receipts": len(receipts)}


def _parse_deliveries(updates: list[dict[str, Any]],
                      ) -> tuple[list[SubmitResult], list[ReceiptUpdate]]:
    """Queued delivery updates as the store takes them: (submits, receipts); an unreadable
    one is counted, logged and skipped."""
    submits: list[SubmitResult] = []
    receipts: list[ReceiptUpdate] = []
    for data in updates:
        try:
            u: DeliveryUpdate = parse_update(data)
        except BadUpdate as exc:
            runtime.BAD_EVENTS.inc()
            log.error("delivery.unreadable", error=str(exc), action="skipped")
            continue
        if isinstance(u, SubmitResult):
            submits.append(u)
        else:
            receipts.append(u)
    return submits, receipts


def _store_deliveries(rt: runtime.Runtime, submits: list[SubmitResult],
                      receipts: list[ReceiptUpdate]) -> None:
    _with_db_retry(lambda: rt.store.record_deliveries(submits, receipts),
                   budget=max(1.0, rt.settings.queue.job_timeout - 10))


def _count_receipts(receipts: list[ReceiptUpdate]) -> None:
    for r in receipts:
        known = r.stat.upper()
        runtime.RECEIPTS.labels(stat=known if known in RECEIPT_STATS else "OTHER").inc()


# Seconds a post-commit Redis step retries: a Sentinel failover takes 2-10 s here.
REDIS_RETRY_BUDGET = 30.0


def _with_db_retry(work: Callable[[], T], *, budget: float) -> T:
    """Run ``work``, retrying while the database is unavailable, within ``budget`` seconds.

    Retrying inside the job keeps the shard's order (later jobs wait behind this one);
    when the budget is spent the job fails and RQ's retry (at the queue's front) and then
    its failed registry take over.
    """
    return _retrying(work, budget=budget, errors=(StoreUnavailable,),
                     counter=runtime.DB_RETRIES, event="store.unavailable")


def _with_redis_retry(work: Callable[[], T]) -> T:
    """Run a Redis step that follows the commit (replies, outcomes), retrying through a
    Redis failover (Sentinel promotes a replica in seconds). Each step is idempotent by
    event id. Without this the job failed after its commit, RQ's own bookkeeping failed
    on the same outage and the worker quit, to be restarted by systemd."""
    return _retrying(work, budget=REDIS_RETRY_BUDGET,
                     errors=(redis.ConnectionError, redis.TimeoutError),
                     counter=runtime.REDIS_RETRIES, event="redis.unavailable")


def _retrying(work: Callable[[], T], *, budget: float, errors: tuple[type[Exception], ...],
              counter: Any, event: str) -> T:
    deadline = time.monotonic() + budget
    delay = 0.2
    while True:
        try:
            return work()
        except errors as exc:
            if time.monotonic() + delay > deadline or runtime.STOPPING.is_set():
                raise
            counter.inc()
            log.warning(event, error=str(exc), retry_in_s=round(delay, 2))
            runtime.STOPPING.wait(delay)
            delay = min(delay * 2, 5.0)
