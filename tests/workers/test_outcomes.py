"""consent_queue/outcomes.py against a real Redis: a change queued on its number's shard,
the worker's outcome waited for, kept for later readers, and a timeout when none comes."""

from __future__ import annotations

import json
import threading
import time

import redis
from rq import Queue
from rq.serializers import JSONSerializer

from consent_queue.events import JobOptions
from consent_queue.keys import APPLY_EVENTS_JOB, Keys
from consent_queue.outcomes import (
    REPORT_FLAG,
    ChangeQueue,
    is_reset,
    publish_outcomes,
    reset_request,
    wants_outcome,
)

KEYS = Keys("t", "q", 4)


def test_change_goes_to_its_numbers_shard_with_the_report_flag(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    changes = ChangeQueue(client, KEYS, JobOptions())
    msisdn = "37129000001"
    changes.submit({"event_id": "e1", "msisdn": msisdn, "channel": "web"})
    shard = KEYS.shard_of(msisdn)
    queue = Queue(KEYS.event_queue(shard), connection=client, serializer=JSONSerializer)
    (job,) = queue.get_jobs()
    assert job.func_name == APPLY_EVENTS_JOB
    assert job.args[0][0]["event_id"] == "e1" and job.args[0][0][REPORT_FLAG] is True
    assert wants_outcome(job.args[0][0]) and not wants_outcome({"event_id": "x"})
    assert changes.depth(msisdn) == 1
    assert all(client.llen(KEYS.event_queue(s)) == 0 for s in range(4) if s != shard)


def test_waiting_wakes_when_the_worker_reports_and_leaves_the_outcome(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    changes = ChangeQueue(client, KEYS, JobOptions())
    outcome = {"event_id": "e2", "msisdn": "371", "consent": "VIETA", "outcome": "given"}
    timer = threading.Timer(0.3, publish_outcomes, (client, KEYS, [outcome]))
    started = time.monotonic()
    timer.start()
    assert changes.wait("e2", 10) == outcome
    assert time.monotonic() - started < 5
    assert changes.outcome("e2") == outcome and changes.wait("e2", 1) == outcome
    assert client.ttl(KEYS.outcome("e2")) > 86400
    publish_outcomes(client, KEYS, [{**outcome, "outcome": "already_given"}])
    assert client.llen(KEYS.outcome("e2")) == 1  # a replay's report replaces, never piles up
    assert json.loads(client.lindex(KEYS.outcome("e2"), 0))["outcome"] == "already_given"


def test_waiting_gives_up_after_the_timeout(redis_url: str) -> None:
    changes = ChangeQueue(redis.Redis.from_url(redis_url), KEYS, JobOptions())
    started = time.monotonic()
    assert changes.wait("never", 0.3) is None
    assert 0.2 < time.monotonic() - started < 3
    assert changes.wait("never", 0) is None


def test_reset_entries_are_recognised() -> None:
    entry = reset_request("r1", "371", "handover", "operator")
    assert is_reset(entry) and not is_reset({"event_id": "x"}) and not is_reset(None)
