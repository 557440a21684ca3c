"""Submit results wait in the queue's sink: they ride with the next batch of texts, ahead
of its receipts, or go on their own once no batch came for the sink's linger."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import fakeredis
import pytest
import redis
from rq import Queue
from rq.serializers import JSONSerializer

from consent_core.changes import ReceiptUpdate, SubmitResult
from consent_queue.deliveries import DeliverySink
from consent_queue.events import EventQueue, JobOptions
from consent_queue.keys import RECORD_DELIVERIES_JOB, Keys
from tests.support.texts import queued_text

KEYS = Keys("t", "q", 1)
AT = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def queue() -> tuple[EventQueue, Any, Clock]:
    r = fakeredis.FakeRedis()
    clock = Clock()
    return EventQueue(r, KEYS, JobOptions(retry_max=0),
                      deliveries=DeliverySink(linger=0.05, clock=clock)), r, clock


def jobs(r: Any) -> list[tuple[str, list[Any], dict[str, Any]]]:
    q = Queue(KEYS.event_queue(0), connection=r, serializer=JSONSerializer)
    return [(j.func_name, list(j.args), dict(j.kwargs)) for j in q.get_jobs()]


def test_submit_results_ride_with_the_next_batch_ahead_of_its_receipts() -> None:
    events, r, _clock = queue()
    events.deliveries.add(SubmitResult("e1", "m1", "0x00", AT, "smsc"))
    receipt = ReceiptUpdate("m1", "DELIVRD", AT, "smsc", "37129123456")
    events.enqueue([queued_text("37129123456", "VIETA")], [receipt], "b1", "c1")
    [(_func, _args, kwargs)] = jobs(r)
    assert [u["kind"] for u in kwargs["deliveries"]] == ["submit", "receipt"]
    assert len(events.deliveries) == 0


def test_without_a_batch_they_go_on_their_own_once_the_linger_is_over() -> None:
    events, r, clock = queue()
    events.deliveries.add(SubmitResult("e1", "m1", "0x00", AT, "smsc"))
    assert events.queue_due_deliveries() == 0  # a batch may still come to take them
    clock.now += 0.06
    assert events.queue_due_deliveries() == 1
    [(func, args, _kwargs)] = jobs(r)
    assert func == RECORD_DELIVERIES_JOB and args[0][0]["event_id"] == "e1"


def test_a_batch_that_could_not_be_queued_gives_them_back() -> None:
    events, r, _clock = queue()
    events.deliveries.add(SubmitResult("e1", "m1", "0x00", AT, "smsc"))
    r.connection_pool.disconnect()

    def down(*args: Any, **kwargs: Any) -> Any:
        raise redis.ConnectionError("Redis went away")

    r.pipeline = down  # type: ignore[method-assign]
    with pytest.raises(redis.ConnectionError):
        events.enqueue([queued_text("37129123456", "VIETA")], [], "b1", "c1")
    assert len(events.deliveries) == 1
