"""The redelivery rule (docs/guarantees.md "Redelivery"), over the queue with fakeredis:
a pending text only absorbs a redelivery while it cannot hide a newer text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import fakeredis
import pytest

from consent_core.clock import FixedClock
from consent_queue.events import EventQueue, JobOptions, QueuedText
from consent_queue.keys import Keys

N = "37129123456"


@pytest.fixture
def queue() -> tuple[EventQueue, FixedClock]:
    clock = FixedClock(datetime(2026, 1, 5, 12, 0, tzinfo=UTC))
    q = EventQueue(fakeredis.FakeRedis(), Keys("t", "q", 1), JobOptions(pending_ttl=600),
                   clock=clock)
    return q, clock


def text(words: str, n: str = N) -> QueuedText:
    import uuid

    eid = uuid.uuid4().hex
    return QueuedText(request={"event_id": eid, "msisdn": n, "text": words},
                      fingerprint=f"fp-{n}-{words}")


def test_redelivery_of_the_latest_text_is_recognised(queue: tuple[EventQueue, FixedClock]) -> None:
    q, _clock = queue
    q.enqueue([text("VIETA STOP")], [], "b1", "conn1")  # queued, never acknowledged
    again = text("VIETA STOP")
    q.enqueue([again], [], "b2", "conn2")
    assert again.duplicate


def test_retyped_command_after_another_text_is_queued(queue: tuple[EventQueue, FixedClock]) -> None:
    """Hole 3: VIETA STOP in flight when the link drops, then VIETA, then VIETA STOP."""
    q, _clock = queue
    q.enqueue([text("VIETA STOP")], [], "b1", "conn1")  # the link drops before the answer
    vieta = text("VIETA")
    q.enqueue([vieta], [], "b2", "conn2")
    q.acknowledged([vieta])
    stop = text("VIETA STOP")
    q.enqueue([stop], [], "b3", "conn2")
    assert not vieta.duplicate and not stop.duplicate
    # Same within one batch.
    a, b = text("VIETA", "37129000001"), text("VIETA STOP", "37129000001")
    q.enqueue([text("VIETA STOP", "37129000001")], [], "b4", "conn1")
    q.enqueue([a, b], [], "b5", "conn2")
    assert not a.duplicate and not b.duplicate


def test_pending_text_older_than_the_window_absorbs_nothing(
        queue: tuple[EventQueue, FixedClock]) -> None:
    q, clock = queue
    q.enqueue([text("VIETA STOP")], [], "b1", "conn1")
    clock.advance(timedelta(seconds=601))
    late = text("VIETA STOP")
    q.enqueue([late], [], "b2", "conn2")
    assert not late.duplicate


def test_unanswered_text_is_recognised_even_after_later_texts(
        queue: tuple[EventQueue, FixedClock]) -> None:
    """A text whose answer was never written (its link died first) is redelivered by the
    SMSC, possibly after the number's next text: still recognised, never doubled."""
    q, _clock = queue
    first = text("VIETA")
    q.enqueue([first], [], "b1", "conn1")
    q.unanswered([first])
    later = text("VIETA STOP")
    q.enqueue([later], [], "b2", "conn2")
    q.acknowledged([later])
    again = text("VIETA")
    q.enqueue([again], [], "b3", "conn2")
    assert again.duplicate


def test_acknowledged_text_redelivered_after_the_link_died_is_recognised(
        queue: tuple[EventQueue, FixedClock]) -> None:
    """The answer was written, but the link died before the SMSC read it: it redelivers on
    the next bind, and the text is not applied twice."""
    q, _clock = queue
    first = text("VIETA")
    q.enqueue([first], [], "b1", "conn1")
    q.acknowledged([first])
    again = text("VIETA")
    q.enqueue([again], [], "b2", "conn2")
    assert again.duplicate


def test_after_an_unknown_outcome_only_the_links_unacknowledged_entries_match(
        queue: tuple[EventQueue, FixedClock]) -> None:
    """A link that met an enqueue error with an unknown outcome files under ``<link>~1``:
    the batch Redis may have queued (never acknowledged) is recognised when the SMSC
    redelivers it on the same bind; a text this link got acknowledged is not."""
    q, _clock = queue
    lost = text("VIETA STOP")
    q.enqueue([lost], [], "b1", "conn1")  # queued; its answer never came back
    again = text("VIETA STOP")
    q.enqueue([again], [], "b2", "conn1~1")
    assert again.duplicate

    n = "37129000003"
    done = text("VIETA", n)
    q.enqueue([done], [], "b3", "conn1~1")
    q.acknowledged([done])
    retyped = text("VIETA", n)
    q.enqueue([retyped], [], "b4", "conn1~2")
    assert not retyped.duplicate
    same_epoch = text("VIETA", n)
    q.enqueue([same_epoch], [], "b5", "conn1~2")  # the same link and name: never a match
    assert not same_epoch.duplicate
