"""consent_queue.backlog against a real Redis: counted in with the enqueue, out once per job."""

from __future__ import annotations

from datetime import UTC, datetime

import redis

from consent_queue.backlog import Backlog, sms_texts
from consent_queue.events import EventQueue, JobOptions, QueuedText
from consent_queue.keys import Keys
from tests.support.texts import queued_text

KEYS = Keys("t", "q", 2)


def _text(i: int, event_id: str = "") -> QueuedText:
    return queued_text(f"3712900{i:04d}", "AUTO", action="give", consent="AUTO",
                       event_id=event_id or f"e{i}", fingerprint=f"f{i}",
                       received_at=datetime(2026, 1, 1, tzinfo=UTC))


def test_queued_texts_count_in_and_applied_jobs_count_out_once(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    events = EventQueue(client, KEYS, JobOptions())
    events.enqueue([_text(i) for i in range(5)], [], "b1", "conn-1")
    assert events.backlog.size() == 5
    backlog = Backlog(client, KEYS)
    assert backlog.done([("b1-0", 2)]) == 2
    assert backlog.done([("b1-0", 2)]) == 0  # the same job run again counts nothing
    assert backlog.size() == 3
    assert backlog.done([("b1-1", 3), ("b1-0", 2)]) == 3
    assert backlog.size() == 0


def test_redeliveries_do_not_count_in_again(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    events = EventQueue(client, KEYS, JobOptions())
    first = [_text(1)]
    events.enqueue(first, [], "b1", "conn-1")
    events.unanswered(first)  # the link died before the answer went out
    again = [_text(1, "e1-redelivered")]
    events.enqueue(again, [], "b2", "conn-2")
    assert again[0].duplicate
    assert events.backlog.size() == 1


def test_only_sms_texts_count() -> None:
    assert sms_texts([{"channel": "sms"}, {"channel": "web"}, {"kind": "reset"}, "x"]) == 1


def test_counters_reset_by_hand_never_give_a_negative_backlog(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    backlog = Backlog(client, KEYS)
    backlog.done([("j", 4)])
    assert backlog.size() == 0
