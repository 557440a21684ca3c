"""The in-flight replies of a gateway instance that is gone (its status expired) go back to
the queue for the others; those of an instance still reporting stay its own. Real Redis."""

from __future__ import annotations

import redis

from consent_queue.keys import Keys
from consent_queue.replies import ReplyQueue

KEYS = Keys("smsgw", "consent-events", 1)


def test_replies_of_a_gone_instance_are_queued_again_and_a_live_ones_are_not(
        redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    replies = ReplyQueue(client, KEYS)
    client.rpush(KEYS.replies, "r-waiting")
    for instance in ("gone", "alive", "me"):
        client.sadd(KEYS.gateways, instance)
        client.rpush(KEYS.inflight(instance), f"r-{instance}-1", f"r-{instance}-2")
    client.hset(KEYS.link_state("alive"), "state", "bound")
    client.hset(KEYS.link_state("me"), "state", "bound")
    assert replies.adopt_gone("me") == {"gone": 2}
    assert [x.decode() for x in client.lrange(KEYS.replies, 0, -1)] == [
        "r-gone-1", "r-gone-2", "r-waiting"]  # at the head, in their order
    assert client.llen(KEYS.inflight("alive")) == 2 and client.llen(KEYS.inflight("me")) == 2
    assert replies.adopt_gone("me") == {}  # taken once
