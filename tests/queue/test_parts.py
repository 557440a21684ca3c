"""Parts of long texts held in a real Redis (consent_queue/parts.py): two instances share a
set, exactly one queues its text; a claim that lapses is taken over; an expired set is
queued as received by any instance; the number's sequence is Redis's, not an instance's."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta

import redis
from rq import Queue
from rq.serializers import JSONSerializer

from consent_core.clock import FixedClock
from consent_core.concat import Concat
from consent_queue.events import EventQueue, JobOptions, QueuedText
from consent_queue.keys import Keys
from consent_queue.parts import HeldSet, Part, PartStore
from tests.support.pipeline import wait_until
from tests.support.texts import queued_text

KEYS = Keys("smsgw", "consent-events", 1)
N = "37129440001"


def part(n: int, total: int, text: str, ref: int = 5) -> tuple[str, Concat, Part]:
    digest = hashlib.blake2b(f"{ref}/{n}/{text}".encode(), digest_size=8).hexdigest()
    return N, Concat(ref, total, n), Part(n, text, 0, text.encode().hex(), digest,
                                          time.time(), {"conn": f"c{n}"})


def as_text(held: HeldSet) -> QueuedText:
    return queued_text(held.msisdn, held.text, fingerprint="set:" + held.key, held=held)


def queued(client: redis.Redis) -> list[dict[str, object]]:
    """The events of every job waiting in the shard's queue, in order."""
    out: list[dict[str, object]] = []
    for job in Queue("consent-events-0", connection=client, serializer=JSONSerializer).jobs:
        out += job.args[0]
    return out


def test_parts_over_two_instances_complete_once_and_the_text_is_queued_once(
        redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    a = PartStore(client, KEYS, timeout=60, instance="a")
    b = PartStore(client, KEYS, timeout=60, instance="b")
    [first] = a.hold([part(1, 3, "VIE")])
    [third] = b.hold([part(3, 3, "STOP")])
    [again] = a.hold([part(1, 3, "VIE")])  # the SMSC delivers part 1 again
    assert (first.status, third.status, again.status) == ("held", "held", "duplicate")
    [second] = b.hold([part(2, 3, "TA ")])
    assert second.status == "complete" and second.completed is not None
    assert second.completed.text == "VIETA STOP" and second.completed.how == "completed"
    EventQueue(client, KEYS, JobOptions(retry_max=0)).enqueue(
        [as_text(second.completed)], [], "b1", "c2")
    assert [e["text"] for e in queued(client)] == ["VIETA STOP"]
    # Queued: a late copy of any part is known from the tombstone, not held as a new set.
    assert [r.status for r in a.hold([part(2, 3, "TA ")])] == ["duplicate"]
    assert a.claim_due() == [] and client.zcard(KEYS.parts_due) == 0


def test_a_lapsed_claim_is_taken_over_and_only_one_instance_queues_the_text(
        redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    slow = PartStore(client, KEYS, timeout=60, instance="slow", claim_ttl=0.3)
    other = PartStore(client, KEYS, timeout=60, instance="other", claim_ttl=0.3)
    slow.hold([part(1, 2, "VIE")])
    [done] = slow.hold([part(2, 2, "TA")])
    assert done.completed is not None  # "slow" claimed it ... and does not queue it in time
    taken: list[HeldSet] = []
    assert wait_until(lambda: bool(taken.extend(other.claim_due()) or taken), 10)
    [held] = taken
    assert held.how == "claimed" and held.complete and held.text == "VIETA"
    q = EventQueue(client, KEYS, JobOptions(retry_max=0))
    late = as_text(done.completed)
    q.enqueue([late], [], "b-slow", "c-slow")  # the slow one wakes up: refused, not queued
    assert late.duplicate
    q.enqueue([as_text(held)], [], "b-other", "c-other")
    assert [e["text"] for e in queued(client)] == ["VIETA"]


def test_an_incomplete_set_is_claimed_by_any_instance_after_the_timeout(
        redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    a = PartStore(client, KEYS, timeout=0.3, instance="a")
    b = PartStore(client, KEYS, timeout=0.3, instance="b")
    a.hold([part(1, 2, "JAUNUMI ")])  # part 2 never comes
    taken: list[HeldSet] = []
    assert wait_until(lambda: bool(taken.extend(b.claim_due()) or taken), 10)
    [held] = taken
    assert (held.how, held.complete, held.text) == ("expired", False, "JAUNUMI ")
    # Part 2 arriving while b queues the set without it: not silently added (and lost),
    # but refused for now; the SMSC brings it again.
    assert [r.status for r in a.hold([part(2, 2, "STOP")])] == ["busy"]
    EventQueue(client, KEYS, JobOptions(retry_max=0)).enqueue([as_text(held)], [], "b1", "c")
    assert [e["text"] for e in queued(client)] == ["JAUNUMI "]
    # Its redelivery after that is a set of its own, queued as received in its turn.
    assert [r.status for r in a.hold([part(2, 2, "STOP")])] == ["held"]


def test_sequence_follows_the_order_of_queueing_not_the_instances_clocks(
        redis_url: str) -> None:
    """Two gateways whose clocks are an hour apart: the number's texts are numbered in the
    order they were queued (before: each instance numbered by its own clock, and the texts
    of the one behind were superseded)."""
    client = redis.Redis.from_url(redis_url)
    ahead = EventQueue(client, KEYS, JobOptions(retry_max=0),
                       clock=FixedClock(datetime.now(UTC) + timedelta(hours=1)))
    behind = EventQueue(client, KEYS, JobOptions(retry_max=0),
                        clock=FixedClock(datetime.now(UTC) - timedelta(hours=1)))

    def text(words: str) -> QueuedText:
        return queued_text(N, words, fingerprint=f"fp-{words}")

    for i, (q, words) in enumerate([(ahead, "VIETA"), (behind, "VIETA STOP"),
                                    (ahead, "METADATI"), (behind, "METADATI STOP"),
                                    (behind, "METADATI")]):
        q.enqueue([text(words)], [], f"b{i}", f"conn{i}")
    events = queued(client)
    seqs = [int(str(e["ingest_seq"])) for e in events]
    assert [e["text"] for e in events] == ["VIETA", "VIETA STOP", "METADATI",
                                           "METADATI STOP", "METADATI"]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5
