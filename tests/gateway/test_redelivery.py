"""The redelivery rule (docs/guarantees.md "Redelivery"), over the queue with fakeredis:
a pending text only absorbs a redelivery while it cannot hide a newer text, and an
ambiguous one is decided on the safe side (a withdrawal applied, a give not twice)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import fakeredis
import pytest
import redis

from consent_core.arrival import POSSIBLE_REDELIVERY_OF
from consent_core.clock import FixedClock
from consent_core.model import Give, Withdraw
from consent_core.parse import parse
from consent_queue.events import (
    EntryState,
    EventQueue,
    JobOptions,
    PendingEntry,
    QueuedText,
    UnsureEntries,
)
from consent_queue.keys import Keys
from tests.support.lost_answer import lose_next_transaction_answer
from tests.support.texts import queued_text

N = "37129123456"
NOON = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


@pytest.fixture
def queue() -> tuple[EventQueue, FixedClock]:
    clock = FixedClock(datetime(2026, 1, 5, 12, 0, tzinfo=UTC))
    q = EventQueue(fakeredis.FakeRedis(), Keys("t", "q", 1), JobOptions(pending_ttl=600),
                   clock=clock)
    return q, clock


def text(words: str, n: str = N, arrived: float | None = None) -> QueuedText:
    """A text as the gateway queues it: an exact command as give/withdraw, else unknown;
    ``arrived``: seconds after noon on 2026-01-05 its deliver_sm reached the gateway (now,
    when not given)."""
    command = parse(words)
    action, consent = ("give", command.consent) if isinstance(command, Give) else \
        ("withdraw", command.consent) if isinstance(command, Withdraw) else ("unknown", None)
    return queued_text(n, words, action=action, consent=consent,
                       received_at=None if arrived is None
                       else NOON + timedelta(seconds=arrived))


def possible_redelivery_of(t: QueuedText) -> str | None:
    return t.request.smsc.get(POSSIBLE_REDELIVERY_OF)  # type: ignore[no-any-return]


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
    # Same within one batch (the texts stamped in the order they arrived).
    first = text("VIETA STOP", "37129000001")
    a, b = text("VIETA", "37129000001"), text("VIETA STOP", "37129000001")
    q.enqueue([first], [], "b4", "conn1")
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


def test_after_an_unknown_outcome_the_links_own_entries_match_their_redelivery(
        queue: tuple[EventQueue, FixedClock]) -> None:
    """An enqueue whose answer was lost: Redis holds the batch, the SMSC got the temporary
    error and redelivers on the same bind — after the number's next text, as in the Redis
    failover test (the next text was queued before the redelivery's 8 s were up). The
    link remembers the entries (UnsureEntries), so the redelivery is recognised whatever
    came in between; without them it is not (the link's own entries never match)."""
    q, _clock = queue
    unsure = UnsureEntries()
    lost = text("VIETA")
    q.enqueue([lost], [], "b1", "conn1")  # Redis ran it; pretend its answer never came
    unsure.add([lost])
    q.enqueue([text("JAUNUMI")], [], "b2", "conn1")  # the number's next text, acknowledged
    forgetful = text("VIETA")
    q.enqueue([forgetful], [], "b3", "conn1")  # the same link without its memory
    assert not forgetful.duplicate
    again = text("VIETA")
    q.enqueue([again], [], "b4", "conn1", unsure=unsure)
    assert again.duplicate


def test_a_link_never_matches_an_entry_it_filed_and_knows_the_outcome_of(
        queue: tuple[EventQueue, FixedClock]) -> None:
    """What this link got acknowledged (or never queued) is no redelivery on this link: the
    same words typed again are a new text, even with entries of its own remembered."""
    q, _clock = queue
    unsure = UnsureEntries()
    never_ran = text("VIETA STOP")
    never_ran._entry = PendingEntry("conn1", never_ran.fingerprint, never_ran.request.event_id,
                                    1000, EntryState.QUEUED)
    unsure.add([never_ran])  # the transaction did not run: no such entry in Redis
    done = text("VIETA STOP")
    q.enqueue([done], [], "b1", "conn1", unsure=unsure)
    assert not done.duplicate
    q.acknowledged([done])
    retyped = text("VIETA STOP")
    q.enqueue([retyped], [], "b2", "conn1", unsure=unsure)
    assert not retyped.duplicate


def test_a_recognised_redelivery_whose_outcome_is_unknown_is_recognised_again(
        queue: tuple[EventQueue, FixedClock]) -> None:
    """conn1 died with a text pending; conn2 got its redelivery, but that enqueue's answer
    was lost (its transaction had taken over conn1's entry). The SMSC redelivers on conn2
    again: the taken-over entry matches, and the text is queued once in all."""
    q, _clock = queue
    q.enqueue([text("VIETA")], [], "b1", "conn1")
    unsure = UnsureEntries()
    second = text("VIETA")
    q.enqueue([second], [], "b2", "conn2", unsure=unsure)
    assert second.duplicate
    unsure.add([second])  # pretend the answer to b2 was lost
    q.enqueue([text("JAUNUMI")], [], "b3", "conn2", unsure=unsure)
    third = text("VIETA")
    q.enqueue([third], [], "b4", "conn2", unsure=unsure)
    assert third.duplicate
    assert q.depths() == {"q-0": 2}  # VIETA and JAUNUMI, once each


def test_a_try_whose_answer_was_lost_is_not_queued_again_by_the_next(
        queue: tuple[EventQueue, FixedClock]) -> None:
    """redis-py reports a connection that broke while watching as a WatchError, also when
    EXEC had run (tests/faults/test_lost_exec_answer.py cuts the answer so). The enqueue's
    next try must find the batch queued, not queue it a second time."""
    q, _clock = queue
    cut = lose_next_transaction_answer(q._r, redis.WatchError(
        "A ConnectionError occurred while watching one or more keys"))
    t = text("VIETA STOP")
    q.enqueue([t], [], "b1", "conn1")
    assert not cut[0]
    assert q.depths() == {"q-0": 1}
    assert t.duplicate  # the second try recognised the first one's batch


def test_an_unknown_outcome_is_recognised_on_the_next_bind_too(
        queue: tuple[EventQueue, FixedClock]) -> None:
    """The bind that met the unknown outcome died before the SMSC redelivered: the copy
    comes on a new connection, after the number's next text. The gateway's memory of the
    entry (one UnsureEntries for all its links) still makes it the redelivery."""
    q, _clock = queue
    unsure = UnsureEntries()
    lost = text("VIETA")
    q.enqueue([lost], [], "b1", "conn1")  # Redis ran it; its answer never came back
    unsure.add([lost])
    q.enqueue([text("JAUNUMI")], [], "b2", "conn1")
    again = text("VIETA")
    q.enqueue([again], [], "b3", "conn2", unsure=unsure)
    assert again.duplicate


def queued(q: EventQueue, words: str, conn: str, answered: bool | None) -> QueuedText:
    """``words`` queued on ``conn``, then acknowledged (True), never answered (False) or
    left as the enqueue left it (None)."""
    t = text(words)
    q.enqueue([t], [], t.request.event_id, conn)
    if answered is not None:
        (q.acknowledged if answered else q.unanswered)([t])
    return t


def test_retyped_withdrawal_after_an_unanswered_one_is_applied_and_marked(
        queue: tuple[EventQueue, FixedClock]) -> None:
    """The issue's retype sequence: VIETA; VIETA STOP queued but its deliver_sm_resp lost
    with the link; VIETA on the new bind; VIETA STOP again. The second STOP may be the
    SMSC's redelivery of the first or the person's new word: on the safe side it is queued
    (the number ends withdrawn), naming the entry it may repeat for an audit."""
    q, _clock = queue
    queued(q, "VIETA", "conn1", answered=True)
    stop = queued(q, "VIETA STOP", "conn1", answered=False)  # the link died first
    again_vieta = queued(q, "VIETA", "conn2", answered=True)
    again_stop = queued(q, "VIETA STOP", "conn2", answered=None)
    assert not again_vieta.duplicate and not again_stop.duplicate
    assert possible_redelivery_of(again_stop) == stop.request.event_id
    assert possible_redelivery_of(again_vieta) is None
    assert q.depths() == {"q-0": 4}


@pytest.mark.parametrize("words", ["VIETA STOP", "VISS STOP", "vieta stpo"])
def test_withdrawal_redelivered_after_an_unknown_outcome_and_a_later_text_is_applied_again(
        queue: tuple[EventQueue, FixedClock], words: str) -> None:
    """The Redis failover's case for a withdrawal (exact, or one the worker reads as one):
    applied a second time, marked, rather than risk swallowing a person's new "stop"."""
    q, _clock = queue
    unsure = UnsureEntries()
    lost = text(words)
    q.enqueue([lost], [], "b1", "conn1")  # Redis ran it; its answer never came back
    unsure.add([lost])
    q.enqueue([text("JAUNUMI")], [], "b2", "conn1")
    again = text(words)
    q.enqueue([again], [], "b3", "conn2", unsure=unsure)
    assert not again.duplicate
    assert possible_redelivery_of(again) == lost.request.event_id


def test_withdrawal_redelivered_while_still_the_latest_text_is_only_the_redelivery(
        queue: tuple[EventQueue, FixedClock]) -> None:
    q, _clock = queue
    queued(q, "VIETA STOP", "conn1", answered=False)
    again = queued(q, "VIETA STOP", "conn2", answered=None)
    assert again.duplicate and possible_redelivery_of(again) is None


def test_same_words_again_after_a_text_that_arrived_between_them_are_a_new_text(
        queue: tuple[EventQueue, FixedClock]) -> None:
    """Two instances: METADATI (conn2, arrived at 0.050) and METADATI STOP (conn1, 0.075)
    were queued in the other order, then METADATI again (conn1, 0.100). The number's latest
    text is the one that *arrived* last, METADATI STOP, so the second METADATI is no
    redelivery of the first (in queue order the first was still the latest, and it was
    swallowed: the number ended with METADATI withdrawn)."""
    q, _clock = queue
    stop = text("METADATI STOP", arrived=0.075)
    q.enqueue([stop], [], "b1", "conn1")
    q.acknowledged([stop])
    first = text("METADATI", arrived=0.050)
    q.enqueue([first], [], "b2", "conn2")  # its answer not yet written
    again = text("METADATI", arrived=0.100)
    q.enqueue([again], [], "b3", "conn1")
    assert not again.duplicate
    assert q.depths() == {"q-0": 3}


def test_a_withdrawal_redelivered_again_and_again_is_applied_again_once(
        queue: tuple[EventQueue, FixedClock]) -> None:
    """The SMSC retries a withdrawal it never had an answer for several times after the
    number's next text (the Redis failover with min_replicas_ack: every copy gets the
    temporary error for seconds). The first copy is applied as a possible redelivery and
    stands for the entry from then on; the next copies are its redeliveries."""
    q, _clock = queue
    lost = queued(q, "VIETA STOP", "conn1", answered=False)
    queued(q, "JAUNUMI", "conn1", answered=True)
    copy = queued(q, "VIETA STOP", "conn2", answered=False)
    assert not copy.duplicate and possible_redelivery_of(copy) == lost.request.event_id
    for conn in ("conn3", "conn4"):
        again = queued(q, "VIETA STOP", conn, answered=False)
        assert again.duplicate
    assert q.depths() == {"q-0": 3}
