"""A reply moved into the gateway's in-flight list by a take whose answer was lost (Redis
shut down right after running it) is submitted once Redis answers again, not left there
until the gateway's next start (found by the Redis-outage fault test, 2026-12-03)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import redis

from consent_queue.events import EventQueue, JobOptions
from consent_queue.keys import Keys
from consent_queue.replies import Reply, ReplyQueue
from gateway.metrics import GatewayMetrics
from gateway.outbound import Outbound
from tests.gateway.test_driver import FakeLink, settings
from tests.support import servers
from tests.support.pipeline import wait_until


class SubmittingLink(FakeLink):
    def __init__(self) -> None:
        super().__init__()
        self.submitted: list[bytes] = []

    def submit(self, frames: list[tuple[Callable[[int], bytes], Any]], timeout: float) -> list[int]:
        seqs = []
        for i, (frame_for, _context) in enumerate(frames, start=len(self.submitted) + 1):
            self.submitted.append(frame_for(i))
            seqs.append(i)
        return seqs


def _reply(n: int) -> Reply:
    return Reply(f"e{n}", "37129123456", f"Paldies {n}", f"c{n}", datetime(2026, 1, 1, tzinfo=UTC))


def test_a_reply_stranded_in_flight_by_a_lost_answer_is_submitted_after_the_outage(
        own_redis: servers.RedisServer) -> None:
    s = settings(redis={"url": own_redis.url})
    client = redis.Redis.from_url(own_redis.url, socket_timeout=2)
    keys = Keys("resync", "q", 1)
    client.delete(keys.replies, keys.inflight("gw"))
    metrics = GatewayMetrics()
    events = EventQueue(client, keys, JobOptions(retry_max=0))
    ob = Outbound(s, ReplyQueue(client, keys), client, events, metrics, "gw")
    link = SubmittingLink()
    ob.attach(link)  # type: ignore[arg-type]
    sender = threading.Thread(target=ob.run, daemon=True)
    sender.start()
    try:
        ReplyQueue(client, keys).push([_reply(1)], per_minute=0, per_day=0, now=time.time())
        assert wait_until(lambda: len(link.submitted) == 1, 5), "the queued reply was not sent"
        # What a take whose answer never arrived leaves: a reply in our in-flight list
        # that this process does not hold.
        client.rpush(keys.inflight("gw"), _reply(2).dumps())
        own_redis.stop()
        time.sleep(1.5)  # the taker meets the outage
        own_redis.start()
        assert wait_until(lambda: len(link.submitted) == 2, 10), \
            "the stranded reply stayed in the in-flight list"
        assert b"Paldies 2" in link.submitted[1]
        assert metrics.replies_resynced._value.get() == 1
        # Held replies are not taken for stranded ones: nothing is submitted twice.
        time.sleep(1.0)
        assert len(link.submitted) == 2
    finally:
        ob.stop_taking()
        ob.stop()
        sender.join(5)
        client.close()
